import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

extension PredictionOutput: ExpressibleByArgument {}

/// `prune predict`: a model's outputs for a batch of inputs from an .npy file.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model file on inputs from an .npy file and write its outputs.",
        discussion: """
            The inputs are [N, …] float or uint8 (scaled by 1/255, as training data is); each sample is \
            reshaped to the model's input shape when it has as many values ([N, 784] for a [1, 28, 28] \
            model). The output file holds float32 [N, classes]: logits, or softmax probabilities with \
            --probabilities.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: ArgumentHelp("The inputs: an .npy file of [N, …] float or uint8 values.", valueName: "x.npy"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the outputs, float32 [N, classes] (.npy).", valueName: "y.npy"))
    var out: String?

    @Flag(help: "Write softmax probabilities instead of logits.")
    var probabilities = false

    @Option(help: ArgumentHelp("Print the K best classes of each sample, with their scores.", valueName: "k"))
    var topK: Int?

    @Option(help: "Samples per forward pass.")
    var batchSize = 256

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let topK { try requireAtLeast(1, topK, for: "--top-k") }
        try requireAtLeast(1, batchSize, for: "--batch-size")
        guard out != nil || topK != nil || output.json else {
            throw ValidationError("nothing to do: give --out y.npy, --top-k K or --json")
        }
        try validateOutputPath(out, option: "--out")
    }

    /// One sample's best classes.
    struct Ranked: Encodable { var sample: Int, classes: [Int], scores: [Float] }
    /// The `--json` summary.
    struct Summary: Encodable {
        var model: String, input: String, output: String?
        var samples: Int, classes: Int, inputShape: [Int], values: PredictionOutput
        var top: [Ranked]?
    }

    func run() throws {
        let model = try ModelFile.load(source.modelPath).model
        let inputs = try NPY.read(input).inputs(path: input)
        let scores: Tensor
        do {
            scores = try model.predict(inputs, output: probabilities ? .probabilities : .logits, batchSize: batchSize)
        } catch let error as ModelError {
            throw FormatError(path: input, .other("\(error)"))
        }
        if let out { try NPY.write(NPY.Array(scores), to: out) }
        let ranked = topK.map { k in
            topClasses(scores, k: k).enumerated().map { Ranked(sample: $0, classes: $1.map(\.classIndex), scores: $1.map(\.score)) }
        }
        let values: PredictionOutput = probabilities ? .probabilities : .logits
        if output.json {
            try printJSON(Summary(model: source.modelPath, input: input, output: out, samples: scores.shape[0],
                                  classes: scores.shape[1], inputShape: model.inputShape, values: values, top: ranked))
            return
        }
        for r in ranked ?? [] {
            print("\(r.sample): " + zip(r.classes, r.scores).map { String(format: "%d (%.4g)", $0, $1) }.joined(separator: ", "))
        }
        if let out { print("wrote \(out): \(values.rawValue) of \(scores.shape[0]) samples × \(scores.shape[1]) classes") }
    }
}
