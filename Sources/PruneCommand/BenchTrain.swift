import ArgumentParser
import Foundation
import NeuralNetwork

/// `prune bench train`: whole-epoch samples/s.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Whole-epoch training throughput (samples/s) on the training split.")

    @Option(help: "Architecture.")
    var model: Architecture = .lenet300
    @OptionGroup var batch: BenchBatchOptions
    @Option(help: "Epochs to time (the median is reported).")
    var epochs: Int = 3
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, epochs, for: "--epochs")
    }

    func run() throws {
        threadOptions.apply()
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
