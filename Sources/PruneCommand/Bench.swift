import ArgumentParser
import Foundation
import NeuralNetwork
import TensorCore

/// `prune bench`: speed measurements (never part of the tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput and GEMM speed.",
        subcommands: [BenchTrain.self])
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

    func run() throws {
        threadOptions.apply()
        let train = try dataOptions.training()
        let graph = try model.build(inputShape: train.sampleShape, classes: 10, seed: 1)
        let trainer = Trainer(model: graph, optimizer: Optimizer(SGD(momentum: 0.9)))
        var options = TrainingOptions()
        options.epochs = epochs
        options.batchSize = batchSize
        let reports = try trainer.fit(train, options: options)
        let rates = reports.map(\.samplesPerSecond).sorted()
        let median = rates[rates.count / 2]
        if output.json {
            try printJSON(["model": model.rawValue, "threads": "\(threadOptions.threads)",
                           "batchSize": "\(batchSize)", "samplesPerSecond": String(format: "%.0f", median)])
        } else {
            print(String(format: "%@ batch %d threads %d: %.0f samples/s (median of %d epochs; each: %@)",
                         model.rawValue, batchSize, threadOptions.threads, median, epochs,
                         reports.map { String(format: "%.0f", $0.samplesPerSecond) }.joined(separator: ", ")))
        }
    }
}
