import ArgumentParser
import FileFormats
import Pruning
import Dispatch
import Foundation
import NeuralNetwork
import TensorCore

/// `prune bench`: speed measurements (never part of the tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference throughput, GEMM speed and pruning cost.",
        subcommands: [BenchTrain.self, BenchGEMM.self, BenchLayers.self, BenchPrune.self, BenchInfer.self, BenchSpMM.self])
}

/// `prune bench train`: whole-epoch samples/s.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Whole-epoch training throughput (samples/s) on the training split.")

    @Option(help: "Architecture.")
    var model: Architecture = .lenet300
    @Option(help: "Samples per step.")
    var batchSize: Int = 128
    @Option(help: "Epochs to time (the median is reported).")
    var epochs: Int = 3
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, batchSize, for: "--batch-size")
        try requireAtLeast(1, epochs, for: "--epochs")
    }

    func run() throws {
        threadOptions.apply()
        let train = try dataOptions.training()
        let graph = try model.build(inputShape: train.sampleShape, classes: 10, seed: 1)
        let trainer = Trainer(model: graph, optimizer: Optimizer(SGD(momentum: 0.9)))
        let blocks = BlockTimer(stepsPerBlock: 50, batchSize: batchSize)
        trainer.callbacks.append(blocks)
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = batchSize
        options.schedule = .constant
        options.workers = threadOptions.threads
        let reports = try trainer.fit(train, options: options)
        let epochRates = reports.map(\.samplesPerSecond)
        let result = BenchResult(model: model.rawValue, threads: threadOptions.threads, batchSize: batchSize,
                                 epochSamplesPerSecond: median(epochRates), blockSamplesPerSecond: median(blocks.rates),
                                 epochs: epochRates.map { $0.rounded() }, blocks: blocks.rates.count)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "%@ batch %d threads %d: whole epoch %.0f samples/s (median of %d: %@), 50-step blocks %.0f samples/s (median of %d)",
                         model.rawValue, batchSize, threadOptions.threads, result.epochSamplesPerSecond, epochs,
                         epochRates.map { String(format: "%.0f", $0) }.joined(separator: ", "),
                         result.blockSamplesPerSecond, blocks.rates.count))
        }
    }
}

struct BenchResult: Encodable {
    var model: String, threads: Int, batchSize: Int
    var epochSamplesPerSecond: Double, blockSamplesPerSecond: Double
    var epochs: [Double], blocks: Int
}

/// Times blocks of consecutive training steps (steady-state throughput, as PyTorch's
/// anchor measured it). Blocks do not span epochs.
final class BlockTimer: TrainingCallback {
    let stepsPerBlock: Int, batchSize: Int
    private(set) var rates: [Double] = []
    private let clock = ContinuousClock()
    private var start: ContinuousClock.Instant?
    private var steps = 0

    init(stepsPerBlock: Int, batchSize: Int) { self.stepsPerBlock = stepsPerBlock; self.batchSize = batchSize }

    func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        if report.stepInEpoch == 0 { start = clock.now; steps = 0; return }   // the first step starts the clock
        steps += 1
        if steps == stepsPerBlock, let s = start {
            rates.append(Double(stepsPerBlock * batchSize) / (clock.now - s).seconds)
            start = clock.now; steps = 0
        }
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// `prune bench gemm`: GFLOP/s of the GEMMs a training step of LeNet-300-100 and LeNet-5
/// runs, next to a large square GEMM (the BLAS peak on this machine).
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GFLOP/s of the training GEMM shapes vs a 1024³ GEMM.")

    @Option(help: "Samples per step (the m or k of the shapes).")
    var batchSize: Int = 128
    @Option(help: "Run this many copies of each GEMM at once on separate threads (reports per-copy GFLOP/s).")
    var concurrent: Int = 1
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, batchSize, for: "--batch-size")
        guard (1...64).contains(concurrent) else { throw ValidationError("--concurrent must be between 1 and 64, got \(concurrent)") }
    }

    struct Shape: Encodable {
        var label: String, m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool
        var gflops: Double = 0
    }

    func run() throws {
        threadOptions.apply()
        let b = batchSize
        var shapes = [
            Shape(label: "square 1024", m: 1024, n: 1024, k: 1024, transposeA: false, transposeB: false),
            Shape(label: "lenet300 fc1 forward", m: b, n: 300, k: 784, transposeA: false, transposeB: true),
            Shape(label: "lenet300 fc1 weight grad", m: 300, n: 784, k: b, transposeA: true, transposeB: false),
            Shape(label: "lenet300 fc2 forward", m: b, n: 100, k: 300, transposeA: false, transposeB: true),
            Shape(label: "lenet300 fc2 weight grad", m: 100, n: 300, k: b, transposeA: true, transposeB: false),
            Shape(label: "lenet300 fc2 input grad", m: b, n: 300, k: 100, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv1 forward", m: 6, n: b * 784, k: 25, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv2 forward", m: 16, n: b * 100, k: 150, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv2 input grad", m: 150, n: b * 100, k: 16, transposeA: true, transposeB: false),
            Shape(label: "lenet5 conv2 weight grad", m: 16, n: 150, k: b * 100, transposeA: false, transposeB: true),
        ]
        var rng = SeededGenerator(seed: 7)
        let clock = ContinuousClock()
        for i in shapes.indices {
            let s = shapes[i]
            let a = Tensor.uniform(s.transposeA ? [s.k, s.m] : [s.m, s.k], low: -1, high: 1, using: &rng)
            let bm = Tensor.uniform(s.transposeB ? [s.n, s.k] : [s.k, s.n], low: -1, high: 1, using: &rng)
            let flops = 2.0 * Double(s.m * s.n * s.k)
            let reps = max(3, Int(2e9 / flops))
            var times: [Double] = []
            var checksum: Float = 0
            for _ in 0..<5 {
                let start = clock.now
                let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: concurrent)
                defer { sums.deallocate() }
                DispatchQueue.concurrentPerform(iterations: concurrent) { t in
                    var local: Float = 0
                    for _ in 0..<reps {
                        let c = matmul(a, s.transposeA ? .transposed : .none, bm, s.transposeB ? .transposed : .none)
                        local += c.scalars[0]
                    }
                    sums[t] = local
                }
                checksum += sums.reduce(0, +)
                times.append((clock.now - start).seconds / Double(reps))
            }
            precondition(checksum.isFinite, "GEMM produced a non-finite value")
            shapes[i].gflops = flops / times.sorted()[2] / 1e9
        }
        if output.json {
            try printJSON(shapes)
        } else {
            for s in shapes {
                print(String(format: "%@ %5d×%5d×%5d  %6.1f GFLOP/s  (%.0f%% of square)", s.label.padding(toLength: 28, withPad: " ", startingAt: 0), s.m, s.n, s.k,
                             s.gflops, 100 * s.gflops / shapes[0].gflops))
            }
        }
    }
}

/// `prune bench layers`: where a training step's time goes, layer by layer
/// (sequential architectures only).
struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers", abstract: "Forward and backward time of each layer in a training step (chain models).")

    @Option(help: "Architecture (a chain: mlp, lenet300, lenet5).")
    var model: Architecture = .lenet5
    @Option(help: "Samples per step.")
    var batchSize: Int = 128
    @Option(help: "Steps to time.")
    var steps: Int = 50

    func validate() throws {
        try requireAtLeast(1, batchSize, for: "--batch-size")
        try requireAtLeast(1, steps, for: "--steps")
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let graph = try model.build(seed: 1)
        guard graph.nodes.enumerated().allSatisfy({ i, n in n.inputs.map(\.index) == [i - 1] }) else {
            throw ValidationError("\(model.rawValue) is not a chain of layers")
        }
        let layers = graph.nodes.map { $0.module as! Layer }
        var forward = [Double](repeating: 0, count: layers.count), backward = forward
        let clock = ContinuousClock()
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.uniform([batchSize] + graph.inputShape, low: 0, high: 1, using: &rng)
        let labels = (0..<batchSize).map { Int32($0 % 10) }
        for step in 0..<(steps + 5) {
            var h = x
            for (i, l) in layers.enumerated() {
                let t = clock.now
                h = l.forward(h, training: true)
                if step >= 5 { forward[i] += (clock.now - t).seconds }
            }
            var g = softmaxCrossEntropy(logits: h, labels: labels).gradient
            for (i, l) in layers.enumerated().reversed() {
                let t = clock.now
                g = l.backward(g)
                if step >= 5 { backward[i] += (clock.now - t).seconds }
            }
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +)
        print(String(format: "%@ batch %d: %.1f µs per sample in layers", model.rawValue, batchSize, 1e6 * total / Double(steps * batchSize)))
        for (i, l) in layers.enumerated() {
            print(String(format: "  %@ forward %7.2f µs/sample  backward %7.2f µs/sample  (%.1f%%)",
                         l.name.padding(toLength: 8, withPad: " ", startingAt: 0),
                         1e6 * forward[i] / Double(steps * batchSize), 1e6 * backward[i] / Double(steps * batchSize),
                         100 * (forward[i] + backward[i]) / total))
        }
    }
}

/// `prune bench prune`: what pruning itself costs.
struct BenchPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Time one global magnitude cut of LeNet-300-100 and an exact threshold over many weights.")

    @Option(help: "Weights for the large threshold benchmark (default 100M, as 10 tensors).")
    var weights: Int = 100_000_000
    @Option(help: "Repetitions of the LeNet-300-100 cut (the median is reported).")
    var repetitions: Int = 41
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(10, weights, for: "--weights")
        try requireAtLeast(1, repetitions, for: "--repetitions")
    }

    struct Result: Encodable {
        var lenet300CutMilliseconds: Double
        var lenet300Sparsity: Double
        var thresholdWeights: Int
        var thresholdSeconds: Double
        var thresholdExtraMiB: Double
    }

    func run() throws {
        BLAS.setThreadCount(1)
        // One global magnitude cut to 90% of a fresh LeNet-300-100 per repetition.
        var times: [Double] = []
        var sparsity = 0.0
        for r in 0..<repetitions {
            let model = try Architecture.lenet300.build(seed: UInt64(r + 1))
            let result = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.9)))
            times.append(result.seconds)
            sparsity = result.sparsity
        }
        // The exact 90% magnitude threshold over `weights` values in 10 tensors, in place.
        var rng = SeededGenerator(seed: 5)
        let parts = (0..<10).map { i in
            Tensor.uniform([weights / 10 + (i < weights % 10 ? 1 : 0)], low: -1, high: 1, using: &rng)
        }
        let total = parts.reduce(0) { $0 + $1.count }
        let rssBefore = peakResidentMiB()
        let clock = ContinuousClock()
        let start = clock.now
        let threshold = withUnsafeBuffers(parts) { kthSmallestMagnitude(Int(0.9 * Double(total)), in: $0) }
        let seconds = (clock.now - start).seconds
        let extra = peakResidentMiB() - rssBefore
        if total >= 10_000 && !(threshold > 0.85 && threshold < 0.95) {
            throw ValidationError("self-check failed: the 90% magnitude threshold of U(-1, 1) came out \(threshold), not about 0.9")
        }
        let result = Result(lenet300CutMilliseconds: 1000 * median(times), lenet300Sparsity: sparsity,
                            thresholdWeights: total, thresholdSeconds: seconds, thresholdExtraMiB: extra)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "LeNet-300-100, one global magnitude cut to %.0f%%: %.3f ms (median of %d)",
                         100 * sparsity, result.lenet300CutMilliseconds, repetitions))
            print(String(format: "exact 90%% magnitude threshold over %d weights: %.3f s, %.1f MiB above the weights",
                         total, seconds, extra))
        }
    }
}

/// The process's peak resident set (VmHWM) in MiB, from /proc (0 where unavailable).
func peakResidentMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}

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
        enum CodingKeys: String, CodingKey {
            case model, batch, sparseLayers = "sparse_layers", denseMs = "dense_ms", denseP90Ms = "dense_p90_ms"
            case sparseMs = "sparse_ms", sparseP90Ms = "sparse_p90_ms", samplesPerSecond = "samples_per_second"
            case speedup, speedupVsFirst = "speedup_vs_first"
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
                results.append(Timing(model: path, batch: batch,
                                      sparseLayers: sparse[f].nodes.filter { $0.module is SparseDense || $0.module is SparseConv2D }.count,
                                      denseMs: 1000 * median(d), denseP90Ms: 1000 * percentile90(d),
                                      sparseMs: 1000 * median(s), sparseP90Ms: 1000 * percentile90(s),
                                      samplesPerSecond: Double(batch) / min(median(d), median(s)),
                                      speedup: median(d) / median(s),
                                      speedupVsFirst: f == 0 ? nil : firstDense / median(d)))
            }
        }
        if output.json {
            try printJSON(["results": results])
            return
        }
        for r in results {
            print(String(format: "%@  batch %d: dense %.4f ms (p90 %.4f), sparse %.4f ms (p90 %.4f, %d sparse layers) → %.2f×%@",
                         r.model, r.batch, r.denseMs, r.denseP90Ms, r.sparseMs, r.sparseP90Ms, r.sparseLayers, r.speedup,
                         r.speedupVsFirst.map { String(format: "; dense path %.2f× the first file's", $0) } ?? ""))
        }
    }
}

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
        var denseBytes: Int, sparseBytes: Int
        enum CodingKeys: String, CodingKey {
            case rows, cols, sparsity, batch, cache, nonZeros = "non_zeros", indexBytes = "index_bytes"
            case denseMs = "dense_ms", sparseMs = "sparse_ms", speedup, maxRelativeError = "max_relative_error"
            case denseBytes = "dense_bytes", sparseBytes = "sparse_bytes"
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
        let dense: () -> Void = {
            weights.withUnsafeBufferPointer { w in
                xt.withUnsafeBufferPointer { x in
                    denseOut.withUnsafeMutableBufferPointer { y in
                        // Rows lo..<hi of the product: one BLAS thread per participant.
                        let (w, x, y) = (w.baseAddress!, x.baseAddress!, y.baseAddress!)
                        let block = { (lo: Int, hi: Int) in
                            if batch == 1 {
                                BLAS.gemv(.none, rows: hi - lo, columns: cols, a: w + lo * cols, lda: cols, x: x, y: y + lo)
                            } else {
                                BLAS.gemm(.none, .none, m: hi - lo, n: batch, k: cols, a: w + lo * cols, lda: cols,
                                          b: x, ldb: batch, c: y + lo * batch, ldc: batch)
                            }
                        }
                        if let pool { pool.forEachRange(rows, minimum: 2, block) } else { block(0, rows) }
                    }
                }
            }
        }
        let sparse: () -> Void = {
            xt.withUnsafeBufferPointer { x in
                sparseOut.withUnsafeMutableBufferPointer { y in
                    csr.multiply(transposedBatch: x.baseAddress!, count: batch, into: y.baseAddress!, pool: pool)
                }
            }
        }
        let samples = timeInTurns([dense, sparse], count: runs, seconds: 0.5, maximumRuns: 5000, block: cache == .warm ? 20 : 1)
        let (td, ts) = (samples[0], samples[1])
        let count = td.count
        var worst = 0.0
        for (a, b) in zip(sparseOut.scalars, denseOut.scalars) { worst = max(worst, Double(abs(a - b)) / max(1, Double(abs(b)))) }
        let result = Result(rows: rows, cols: cols, sparsity: sparsity, batch: batch, cache: cache, nonZeros: csr.nonZeroCount,
                            indexBytes: csr.columnIndices.width, denseMs: 1000 * median(td), sparseMs: 1000 * median(ts),
                            speedup: median(td) / median(ts), maxRelativeError: worst,
                            denseBytes: 4 * weights.count, sparseBytes: csr.bytes)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "%d×%d at %.1f%% sparsity, batch %d: dense %.4f ms, CSR %.4f ms → %.2f× (%@ caches, median of %d each; CSR %@ bytes vs %@ dense, %d-byte indices; max relative difference %.1e)",
                         rows, cols, 100 * sparsity, batch, result.denseMs, result.sparseMs, result.speedup, cache.rawValue, count,
                         grouped(result.sparseBytes), grouped(result.denseBytes), result.indexBytes, worst))
        }
    }
}
