/// A problem with a model's structure or data: a shape that does not fit, a bad spec, a
/// dataset whose parts disagree. Each case carries the place (layer, node, field) and the
/// values involved; `description` says what is wrong in one sentence.
public enum ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A layer or node that takes one input was given `got`.
    case notOneInput(layer: String, got: Int)
    /// A merge layer needs at least `minimum` inputs and was given `got`.
    case tooFewInputs(layer: String, minimum: Int, got: Int)
    /// A layer expects per-sample input of rank `rank` (described by `expected`, e.g. "a
    /// [C, H, W] image") and was given `shape`.
    case inputRank(layer: String, rank: Int, expected: String, shape: [Int])
    /// A dense layer expects `expected` input features and was given `got`.
    case inputFeatures(layer: String, expected: Int, got: Int)
    /// A convolution expects `expected` input channels; the input is `shape` (`[C, H, W]`).
    case inputChannels(layer: String, expected: Int, shape: [Int])
    /// A convolution's `kernel` is larger than its (padded) input `shape`.
    case kernelTooLarge(layer: String, kernel: Int, shape: [Int])
    /// A pooling `window` is larger than the input `shape`.
    case windowTooLarge(layer: String, window: Int, shape: [Int])
    /// A batch normalization of `features` channels was given input `shape`.
    case normalizedChannels(layer: String, features: Int, shape: [Int])
    /// A merge layer's inputs have different shapes.
    case mismatchedInputs(layer: String, shapes: [[Int]])
    /// A layer name is empty or contains a '.'.
    case invalidName(String)
    /// Two layers share a name.
    case duplicateName(String)
    /// A layer reads a node index that does not exist yet.
    case missingNode(layer: String, index: Int)
    /// A spec node reads a node name that is not defined before it.
    case unknownInput(node: String, input: String)
    /// A spec field is missing or outside `1...limit`.
    case specField(layer: String, kind: LayerKind, field: String, limit: Int, got: Int?)
    /// A spec's padding is outside `0...1024`.
    case padding(layer: String, padding: Int)
    /// A grouped convolution whose groups do not divide its channels.
    case groups(layer: String, groups: Int, inChannels: Int, outChannels: Int)
    /// Inputs of a channel concatenation that differ outside the channel axis.
    case concatenatedShapes(layer: String, shapes: [[Int]])
    /// A spec asks for absurd sizes.
    case implausiblyLarge(layer: String, kind: LayerKind)
    /// A dropout rate outside `[0, 1)`.
    case dropoutRate(layer: String, rate: Float)
    /// A module that is neither a `Layer` nor a `MergeLayer`.
    case unsupportedModule(String)
    /// An architecture cannot be built for `shape`: it needs `requirement`.
    case architectureInput(architecture: String, shape: [Int], requirement: String)
    /// An MLP's sizes are fewer than two, not all positive, or the first is not the input size.
    case mlpSizes(sizes: [Int], inputShape: [Int])
    /// A dataset's values do not split into whole samples of `sampleShape`.
    case datasetSize(values: Int, sampleShape: [Int])
    /// A dataset has `samples` samples but a different number of `answers` (labels or targets).
    case datasetAnswers(samples: Int, answers: Int, kind: String)
    /// A dataset has a negative label.
    case negativeLabel(Int32)
    /// A validation split of `fraction` cannot be taken from `samples` samples.
    case validationSplit(fraction: Double, samples: Int)
    /// Inputs of `shape` (batch first) cannot be read as samples of the model's `inputShape`.
    case predictionInput(shape: [Int], inputShape: [Int])
    /// A sequence layer's inputs do not fit it; `problem` says how (one clause, no layer name).
    case sequenceInput(layer: String, problem: String)
    /// A tied head names no embedding built before it.
    case tiedHead(layer: String, embedding: String?)

    /// What went wrong and where.
    public var description: String {
        switch self {
        case let .notOneInput(layer, got): return "layer '\(layer)' takes one input, got \(got)"
        case let .tooFewInputs(layer, minimum, got): return "layer '\(layer)' needs at least \(minimum) inputs, got \(got)"
        case let .inputRank(layer, _, expected, shape): return "layer '\(layer)' expects \(expected) per sample, got shape \(shape)"
        case let .inputFeatures(layer, expected, got): return "layer '\(layer)' expects \(expected) input features, got \(got)"
        case let .inputChannels(layer, expected, shape):
            return "layer '\(layer)' expects \(expected) input channels, got \(shape.first ?? 0) (input \(shape))"
        case let .kernelTooLarge(layer, kernel, shape): return "layer '\(layer)': kernel \(kernel) does not fit input \(shape)"
        case let .windowTooLarge(layer, window, shape): return "layer '\(layer)': window \(window) is larger than input \(shape)"
        case let .normalizedChannels(layer, features, shape):
            return "layer '\(layer)' normalizes \(features) channels of [C] or [C, H, W] input, got \(shape)"
        case let .mismatchedInputs(layer, shapes): return "layer '\(layer)' adds inputs of different shapes: \(shapes)"
        case let .invalidName(name):
            return "layer name '\(name)' must be non-empty, neither start nor end with '.', have no empty dotted part, and not be '\(GraphSpec.inputName)'"
        case let .tiedHead(layer, embedding):
            return "tied head '\(layer)' must name a token embedding built before it (tiedTo), got \(embedding.map { "'\($0)'" } ?? "none")"
        case let .groups(layer, groups, cin, cout):
            return "layer '\(layer)': \(groups) groups do not divide its \(cin) input and \(cout) output channels"
        case let .concatenatedShapes(layer, shapes):
            return "layer '\(layer)' concatenates inputs that differ outside the channel axis: \(shapes)"
        case let .duplicateName(name): return "two layers are named '\(name)'"
        case let .missingNode(layer, index): return "layer '\(layer)' reads node \(index), which does not exist yet"
        case let .unknownInput(node, input): return "node '\(node)' reads unknown node '\(input)'"
        case let .specField(layer, kind, field, limit, got):
            return "layer '\(layer)' (\(kind.rawValue)) needs '\(field)' between 1 and \(limit), got \(got.map(String.init) ?? "nothing")"
        case let .padding(layer, padding): return "layer '\(layer)': padding \(padding) is outside 0...1024"
        case let .implausiblyLarge(layer, kind): return "layer '\(layer)' (\(kind.rawValue)) is implausibly large"
        case let .dropoutRate(layer, rate): return "layer '\(layer)': dropout rate \(rate) is outside [0, 1)"
        case let .unsupportedModule(name): return "module '\(name)' is neither a Layer nor a MergeLayer"
        case let .architectureInput(architecture, shape, requirement): return "\(architecture) needs \(requirement), got \(shape)"
        case let .mlpSizes(sizes, inputShape):
            guard sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
                return "an mlp needs at least two positive layer sizes, got \(sizes)"
            }
            return "the mlp's first size \(sizes[0]) must equal the input size \(inputShape.product) (\(inputShape))"
        case let .datasetSize(values, sampleShape): return "dataset of \(values) values does not split into samples of shape \(sampleShape)"
        case let .datasetAnswers(samples, answers, kind): return "dataset has \(samples) samples but \(answers) \(kind)"
        case let .negativeLabel(label): return "dataset has a negative label \(label)"
        case let .validationSplit(fraction, samples):
            guard fraction.isFinite, fraction >= 0, fraction < 1 else { return "the validation split must be in [0, 1), got \(fraction)" }
            return "a validation split of \(fraction) holds out \(Int((fraction * Double(samples)).rounded())) of \(samples) samples; use 0 or a share that leaves both parts non-empty"
        case let .sequenceInput(layer, problem): return "layer '\(layer)': \(problem)"
        case let .predictionInput(shape, inputShape):
            return "inputs of shape \(shape) do not fit the model: it takes [N] + \(inputShape) (\(inputShape.product) values per sample, in any shape with that many)"
        }
    }
}
