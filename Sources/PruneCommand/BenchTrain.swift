import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune bench train`: whole-epoch samples/s.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Whole-epoch training throughput (samples/s) on the training split.",
        discussion: """
            A fresh --model trains with SGD (momentum 0.9, lr 0.05). With --model-file, a pruned \
            model is fine-tuned as `prune prune --fine-tune-epochs` does (SGD, momentum 0.9, lr \
            0.01, masks kept) and --kernels sparse trains its masked Dense layers through CSR \
            (`Dense.trainSparse`: the forward and input-gradient products from the kept weights, \
            the weight gradient at the kept entries only); --kernels both fine-tunes two copies of \
            the file, one with dense products and one with sparse, an epoch each in turns, and \
            gives both rates, their ratio and both copies' test accuracy.
            """)

    @Option(help: "Architecture.")
    var model: Architecture = .lenet300
    @Option(help: "Fine-tune this model file (pruned, with masks) instead of training a fresh --model.")
    var modelFile: String?
    enum Kernels: String, ExpressibleByArgument, CaseIterable, Encodable { case dense, sparse, both, measured }
    @Option(help: "Products of masked Dense layers: dense, sparse (CSR where a layer keeps at most 20% of its weights), measured (sparse where timing the layer showed it faster), or both side by side (with --model-file).")
    var kernels: Kernels = .dense
    @OptionGroup var batch: BenchBatchOptions
    @Option(help: "Epochs to time (the median is reported).")
    var epochs: Int = 3
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, epochs, for: "--epochs")
        if kernels != .dense && modelFile == nil {
            throw ValidationError("--kernels \(kernels.rawValue) needs --model-file: a fresh model has no masks to train sparse")
        }
    }

    func run() throws {
        threadOptions.apply()
        if let modelFile { return try fineTune(modelFile) }
        let train = try dataOptions.training()
        let graph = try model.build(inputShape: train.sampleShape, classes: 10, seed: 1)
        let trainer = Trainer(model: graph, optimizer: Optimizer(SGD(momentum: 0.9)))
        let blocks = BlockTimer(stepsPerBlock: 50, batchSize: batch.batchSize)
        trainer.callbacks.append(blocks)
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = batch.batchSize
        options.schedule = .constant
        options.workers = threadOptions.threads
        let reports = try trainer.fit(train, options: options)
        let epochRates = reports.map(\.samplesPerSecond)
        let result = BenchResult(model: model.rawValue, threads: threadOptions.threads, batchSize: batch.batchSize,
                                 epochSamplesPerSecond: median(epochRates), blockSamplesPerSecond: median(blocks.rates),
                                 epochs: epochRates.map { $0.rounded() }, blocks: blocks.rates.count)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "%@ batch %d threads %d: whole epoch %.0f samples/s (median of %d: %@), 50-step blocks %.0f samples/s (median of %d)",
                         model.rawValue, batch.batchSize, threadOptions.threads, result.epochSamplesPerSecond, epochs,
                         epochRates.map { String(format: "%.0f", $0) }.joined(separator: ", "),
                         result.blockSamplesPerSecond, blocks.rates.count))
        }
    }
}

extension BenchTrain {
    struct FineTuneResult: Encodable {
        var modelFile: String, kernels: String, threads: Int, batchSize: Int
        var sparseLayers: [String]
        var epochSamplesPerSecond: Double, epochs: [Double], testAccuracy: Double
    }

    /// Fine-tunes the model file with each kernel choice asked for, an epoch each in turns.
    private func fineTune(_ path: String) throws {
        let train = try dataOptions.training(), test = try dataOptions.test()
        let choices: [Kernels] = kernels == .both ? [.dense, .sparse] : [kernels]
        var runs: [(trainer: Trainer, layers: [String], rates: [Double])] = try choices.map { choice in
            let graph = try ModelFile.load(path).model
            try Trainer.check(train, fits: graph)
            let layers: [String]
            switch choice {
            case .dense, .both: layers = graph.useSparseTraining(.off)
            case .sparse: layers = graph.useSparseTraining(.density(maximum: 0.2))
            case .measured: layers = graph.useSparseTraining(.measured(batchSize: batch.batchSize))
            }
            return (Trainer(model: graph, optimizer: Optimizer(SGD(momentum: 0.9))), layers, [])
        }
        var options = TrainingOptions()
        options.epochs = 1
        options.batchSize = batch.batchSize
        options.learningRate = 0.01
        options.schedule = .constant
        options.workers = threadOptions.threads
        for _ in 0..<epochs {
            for i in runs.indices {
                let reports = try runs[i].trainer.fit(train, options: options)
                runs[i].rates.append(reports[0].samplesPerSecond)
            }
        }
        let results = zip(choices, runs).map { choice, run in
            FineTuneResult(modelFile: path, kernels: choice.rawValue, threads: threadOptions.threads, batchSize: batch.batchSize,
                           sparseLayers: run.layers, epochSamplesPerSecond: median(run.rates), epochs: run.rates.map { $0.rounded() },
                           testAccuracy: Double(run.trainer.evaluate(test).accuracy))
        }
        if output.json {
            try printJSON(["results": results])
            return
        }
        for r in results {
            print(String(format: "%@ fine-tuned with %@ kernels (sparse layers: %@), batch %d threads %d: %.0f samples/s (median of %d epochs: %@), test accuracy %.2f%%",
                         r.modelFile, r.kernels, r.sparseLayers.isEmpty ? "none" : r.sparseLayers.joined(separator: ", "),
                         r.batchSize, r.threads, r.epochSamplesPerSecond, r.epochs.count,
                         r.epochs.map { String(format: "%.0f", $0) }.joined(separator: ", "), 100 * r.testAccuracy))
        }
        if results.count == 2 {
            print(String(format: "sparse over dense: %.2f×", results[1].epochSamplesPerSecond / results[0].epochSamplesPerSecond))
        }
    }
}

struct BenchResult: Encodable {
    var model: String, threads: Int, batchSize: Int
    var epochSamplesPerSecond: Double, blockSamplesPerSecond: Double
    var epochs: [Double], blocks: Int
}

/// The batch size of the training benchmarks.
struct BenchBatchOptions: ParsableArguments {
    @Option(help: "Samples per step.")
    var batchSize: Int = 128

    func validate() throws { try requireAtLeast(1, batchSize, for: "--batch-size") }
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
