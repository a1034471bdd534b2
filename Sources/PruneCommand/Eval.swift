import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune eval`: accuracy and loss of a model file on the test split.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model file on the test split.",
        discussion: "Weights stored as CSR (`prune export --format sparse`) run through the sparse kernels as stored, never densified.")

    @OptionGroup var source: ModelFileArgument

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let model = try ModelFile.load(source.modelPath, sparse: true).model
        let test = try dataOptions.test(for: model)
        try Trainer.check(test, fits: model)
        let result = Trainer.evaluate(model, on: test)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "accuracy %.2f%%  loss %.4f  (%d samples)", 100 * result.accuracy, result.loss, result.samples))
        }
    }
}
