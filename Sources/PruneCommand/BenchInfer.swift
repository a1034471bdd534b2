import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

/// `prune bench infer`: inference latency of model files, side by side, dense and sparse.
struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Inference latency of model files: the dense path and the sparse path (median and p90 per batch), timed side by side.",
        discussion: """
            Each file runs twice: dense (dense kernels, masks as zeros) and sparsified: Dense layers keeping at \
            most --max-density of their weights compute from CSR, where (with --choice measured, the default) \
            timing both forms of the layer at that batch size shows CSR faster. Everything is timed in turns \
            on the same inputs (test images), so the ratios hold even when the machine's speed drifts. \
            `speedup` is dense over sparse for the same file; `speedup_vs_first` compares each file's \
            dense path with the first file's. With --threads N, the Dense layers of both paths and the \
            sparse layers split each product between N threads by output features.

            The first line names the CPU (model, vector features) and the system BLAS. Each row \
            gives the bytes of weights each path reads per forward pass (dense: every parameter as \
            Float32; sparse: the CSR layers' values, column indices and row offsets, the rest as \
            dense), `bytes_bound` their ratio (the speedup the bytes allow when reading weights is the \
            cost, as at batch 1) and `of_bound` the fraction of it reached.
            """)

    @Argument(help: "Model files (safetensors) written by prune.")
    var modelPaths: [String]

    @Option(name: .customLong("batch"), help: "Batch size; repeat for several (default: 1 and 256).")
    var batches: [Int] = [1, 256]

    @Option(help: "Timed runs per model and batch size (after warm-up); the median is reported (0: about 0.3 s each).")
    var runs: Int = 0

    @Option(help: "Dense layers keeping at most this fraction of their weights may run sparse.")
    var maxDensity: Double = 0.5

    enum Choice: String, ExpressibleByArgument, CaseIterable { case measured, density }
    @Option(help: "measured: a candidate layer runs sparse only where that timed faster at the batch size; density: every candidate runs sparse.")
    var choice: Choice = .measured

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !modelPaths.isEmpty else { throw ValidationError("give at least one model file") }
        for b in batches { try requireAtLeast(1, b, for: "--batch") }
        try requireAtLeast(0, runs, for: "--runs")
        guard (0...1).contains(maxDensity) else { throw ValidationError("--max-density must be in [0, 1], got \(maxDensity)") }
    }

    struct Timing: Encodable {
        var model: String, batch: Int, sparseLayers: Int
        var denseMs: Double, denseP90Ms: Double, sparseMs: Double, sparseP90Ms: Double
        var samplesPerSecond: Double, speedup: Double
        var speedupVsFirst: Double?
        var denseBytes: Int, sparseBytes: Int, bytesBound: Double, ofBound: Double
        enum CodingKeys: String, CodingKey {
            case model, batch, sparseLayers = "sparse_layers", denseMs = "dense_ms", denseP90Ms = "dense_p90_ms"
            case sparseMs = "sparse_ms", sparseP90Ms = "sparse_p90_ms", samplesPerSecond = "samples_per_second"
            case speedup, speedupVsFirst = "speedup_vs_first"
            case denseBytes = "dense_bytes", sparseBytes = "sparse_bytes", bytesBound = "bytes_bound", ofBound = "of_bound"
        }
    }

    func run() throws {
        threadOptions.apply()
        let dense = try modelPaths.map { try ModelFile.load($0).model }
        let test = try dataOptions.test()
        for m in dense { try Trainer.check(test, fits: m) }
        let pool = threadOptions.threads > 1 ? WorkerPool(count: threadOptions.threads) : nil
        for m in dense { m.useThreads(pool) }
        var results: [Timing] = []
        for batch in batches {
            let sparse = try dense.map {
                try $0.sparsified(choice == .measured ? .measured(batchSize: batch, maximumDensity: maxDensity) : .density(maximum: maxDensity),
                                  pool: pool)
            }
            let models = zip(dense, sparse).flatMap { [$0.0, $0.1] }
            let x = test.batch(Array((0..<batch).map { $0 % test.count })[...]).inputs
            let samples = timeInTurns(models.map { m in { _ = m.forward(x, training: false) } }, count: runs)
            let firstDense = median(samples[0])
            for (f, path) in modelPaths.enumerated() {
                let d = samples[2 * f], s = samples[2 * f + 1]
                let (denseBytes, sparseBytes) = (Self.weightBytes(dense[f]), Self.weightBytes(sparse[f]))
                let bound = Double(denseBytes) / Double(max(1, sparseBytes))
                results.append(Timing(model: path, batch: batch,
                                      sparseLayers: sparse[f].nodes.filter { $0.module is SparseDense || $0.module is SparseConv2D }.count,
                                      denseMs: 1000 * median(d), denseP90Ms: 1000 * percentile90(d),
                                      sparseMs: 1000 * median(s), sparseP90Ms: 1000 * percentile90(s),
                                      samplesPerSecond: Double(batch) / min(median(d), median(s)),
                                      speedup: median(d) / median(s),
                                      speedupVsFirst: f == 0 ? nil : firstDense / median(d),
                                      denseBytes: denseBytes, sparseBytes: sparseBytes, bytesBound: bound,
                                      ofBound: median(d) / median(s) / bound))
            }
        }
        if output.json {
            try printJSON(Report(machine: Machine.current.description, blas: BLAS.systemDescription, results: results))
            return
        }
        print("CPU: \(Machine.current.description); BLAS: \(BLAS.systemDescription)")
        for r in results {
            print(String(format: "%@  batch %d: dense %.4f ms (p90 %.4f), sparse %.4f ms (p90 %.4f, %d sparse layers) → %.2f×%@",
                         r.model, r.batch, r.denseMs, r.denseP90Ms, r.sparseMs, r.sparseP90Ms, r.sparseLayers, r.speedup,
                         r.speedupVsFirst.map { String(format: "; dense path %.2f× the first file's", $0) } ?? ""))
            print(String(format: "    weights read: dense %@ bytes, sparse %@ → bound %.2f×, reached %.0f%% of it",
                         grouped(r.denseBytes), grouped(r.sparseBytes), r.bytesBound, 100 * r.ofBound))
        }
    }

    struct Report: Encodable { var machine: String, blas: String, results: [Timing] }

    /// Bytes of weights a forward pass reads: CSR layers their stored form (values, column
    /// indices, row offsets) and bias, every other parameter as Float32.
    static func weightBytes(_ model: Graph) -> Int {
        model.nodes.reduce(0) { total, node in
            switch node.module {
            case let s as SparseDense: return total + s.weight.bytes + 4 * (s.bias?.count ?? 0)
            case let s as SparseConv2D: return total + s.weight.bytes + 4 * (s.bias?.count ?? 0)
            default: return total + 4 * node.module.namedParameters.reduce(0) { $0 + $1.1.count }
            }
        }
    }
}
