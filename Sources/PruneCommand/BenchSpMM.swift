import ArgumentParser
import Foundation
import TensorCore

/// `prune bench spmm`: one sparse layer against the dense BLAS product, side by side.
struct BenchSpMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spmm",
        abstract: "A CSR weight matrix times a batch, against the dense BLAS product on the same inputs (medians, timed in turns).",
        discussion: """
            The weights are uniform random with exactly the given fraction of zeros (seeded). Batch 1 \
            compares the sparse matrix-vector product with sgemv; larger batches compare the CSR \
            product (batch stored feature-major, vectorized across samples) with sgemm on the same layout. \
            With --threads N both sides split the rows between N threads (one BLAS thread each; \
            the CSR ranges hold equal shares of the non-zeros). Each side runs in blocks of \
            consecutive calls, the blocks taking turns (warm caches, as a loop of calls finds \
            them); --cache cold alternates single calls, so a matrix larger than the caches is \
            read from memory on every call.

            The first line names the CPU (model, vector features) and the system BLAS with the \
            kernels it chose. `bytes_bound` is the speedup the weights' bytes allow: the dense \
            matrix's bytes over the CSR form's (values, column indices and row offsets); at batch 1 \
            both products stream their weights once, so the ratio of bytes bounds the speedup when \
            memory is the limit, and `of_bound` is the fraction of it reached.
            """)

    @Option(help: "Output features (matrix rows).")
    var rows: Int = 4096
    @Option(help: "Input features (matrix columns).")
    var cols: Int = 4096
    @Option(help: "Fraction of weights that are zero, in [0, 1).")
    var sparsity: Double = 0.9
    @Option(help: "Samples per product.")
    var batch: Int = 1
    @Option(help: "Timed runs of each product (0: about 0.5 s each).")
    var runs: Int = 0
    @Option(help: "warm: each side runs in blocks of consecutive calls; cold: the sides alternate call by call.")
    var cache: CacheState = .warm
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    enum CacheState: String, ExpressibleByArgument, Encodable { case warm, cold }

    func validate() throws {
        try requireAtLeast(1, rows, for: "--rows")
        try requireAtLeast(1, cols, for: "--cols")
        try requireAtLeast(1, batch, for: "--batch")
        try requireAtLeast(0, runs, for: "--runs")
        guard sparsity >= 0, sparsity < 1 else { throw ValidationError("--sparsity must be in [0, 1), got \(sparsity)") }
    }

    struct Result: Encodable {
        var rows: Int, cols: Int, sparsity: Double, batch: Int, cache: CacheState, nonZeros: Int, indexBytes: Int
        var denseMs: Double, sparseMs: Double, speedup: Double, maxRelativeError: Double
        var denseBytes: Int, sparseBytes: Int, bytesBound: Double, ofBound: Double
        var machine: String, blas: String
        enum CodingKeys: String, CodingKey {
            case rows, cols, sparsity, batch, cache, nonZeros = "non_zeros", indexBytes = "index_bytes"
            case denseMs = "dense_ms", sparseMs = "sparse_ms", speedup, maxRelativeError = "max_relative_error"
            case denseBytes = "dense_bytes", sparseBytes = "sparse_bytes", bytesBound = "bytes_bound", ofBound = "of_bound"
            case machine, blas
        }
    }

    func run() throws {
        threadOptions.apply()
        let pool = threadOptions.threads > 1 ? WorkerPool(count: threadOptions.threads) : nil
        var rng = SeededGenerator(seed: 11)
        var weights = Tensor.uniform([rows, cols], low: -1, high: 1, using: &rng)
        // Exactly round(sparsity · count) zeros, at random places.
        var order = Array(0..<weights.count)
        rng.shuffle(&order)
        for i in order.prefix(Int((sparsity * Double(weights.count)).rounded())) { weights[flat: i] = 0 }
        // Built once, outside the timing, as a model's layers are when it is loaded; a wide
        // matrix also keeps its entries by blocks of columns for the batch product.
        let plain = CSRMatrix(weights)
        let csr = batch > 1 && plain.benefitsFromColumnBlocks ? plain.withColumnBlocks() : plain
        let xt = Tensor.uniform([cols, batch], low: 0, high: 1, using: &rng)
        var denseOut = Tensor.zeros([rows, batch]), sparseOut = Tensor.zeros([rows, batch])
        let dense: () -> Void = { multiply(weights, xt, into: &denseOut, pool: pool) }
        let sparse: () -> Void = { csr.multiply(transposedBatch: xt, into: &sparseOut, pool: pool) }
        let samples = timeInTurns([dense, sparse], count: runs, seconds: 0.5, maximumRuns: 5000, block: cache == .warm ? 20 : 1)
        let (td, ts) = (samples[0], samples[1])
        let count = td.count
        var worst = 0.0
        for (a, b) in zip(sparseOut.scalars, denseOut.scalars) { worst = max(worst, Double(abs(a - b)) / max(1, Double(abs(b)))) }
        // The bound counts the form the batch-1 product reads (the column blocks are only
        // read by batch products).
        let bound = Double(4 * weights.count) / Double(plain.bytes)
        let speedup = median(td) / median(ts)
        let result = Result(rows: rows, cols: cols, sparsity: sparsity, batch: batch, cache: cache, nonZeros: csr.nonZeroCount,
                            indexBytes: csr.columnIndices.width, denseMs: 1000 * median(td), sparseMs: 1000 * median(ts),
                            speedup: speedup, maxRelativeError: worst,
                            denseBytes: 4 * weights.count, sparseBytes: plain.bytes, bytesBound: bound, ofBound: speedup / bound,
                            machine: Machine.current.description, blas: BLAS.systemDescription)
        if output.json {
            try printJSON(result)
        } else {
            print("CPU: \(result.machine); BLAS: \(result.blas)")
            print(String(format: "%d×%d at %.1f%% sparsity, batch %d: dense %.4f ms, CSR %.4f ms → %.2f× (%@ caches, median of %d each; max relative difference %.1e)",
                         rows, cols, 100 * sparsity, batch, result.denseMs, result.sparseMs, result.speedup, cache.rawValue, count, worst))
            print(String(format: "bytes: CSR %@ (%d-byte indices, row offsets included) vs %@ dense → bound %.2f×; reached %.0f%% of it",
                         grouped(result.sparseBytes), result.indexBytes, grouped(result.denseBytes), bound, 100 * result.ofBound))
        }
    }
}
