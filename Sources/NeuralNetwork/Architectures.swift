import TensorCore

/// The built-in architectures, by name.
public enum Architecture: String, NamedChoice, Sendable {
    /// A multilayer perceptron with ReLU between the sizes given in `layers`
    /// (first = input features, last = classes).
    case mlp
    /// LeNet-300-100: 784-300-100-10 with ReLU (LeCun et al. 1998; Han et al. 2015).
    case lenet300
    /// LeNet-5: conv 6@5×5 pad 2, ReLU, max-pool 2; conv 16@5×5, ReLU, max-pool 2;
    /// 400-120-84-10 with ReLU.
    case lenet5
    /// A small residual CNN with BatchNorm: a 3×3 stem of 16 channels, three basic
    /// blocks (16, 32 and 64 channels; the last two downsample with projection
    /// shortcuts), global average pooling and a classifier — 8 weight layers.
    case resnet8
    /// A byte-level GPT (issue #15's gpt-tiny): token ids 0–255 in, next-byte logits out; 4
    /// pre-LN blocks of width 128 with 4 heads, context 128 (the input shape), fused QKV, a
    /// tanh-GELU MLP of 512, an untied head: 875,264 parameters (`Graph.gptDecoder`).
    case gptTiny = "gpt-tiny"

    /// Whether the architecture is a causal language model (next-token labels per position).
    public var isLanguageModel: Bool { self == .gptTiny }

    /// gpt-tiny's configuration for a context of `length` tokens over `vocabulary` ids.
    public static func gptTinyConfiguration(length: Int = 128, vocabulary: Int = 256) -> TransformerConfiguration {
        TransformerConfiguration(vocabulary: vocabulary, positions: length, features: 128, heads: 4, layers: 4,
                                 intermediate: 512, normalization: .pre, causal: true, activation: .tanh, epsilon: 1e-5)
    }

    /// Builds the architecture for `inputShape` images (default `[1, 28, 28]`) and
    /// `classes` outputs, with weights drawn from `seed`.
    /// - Parameter layers: the MLP's sizes, e.g. `[784, 300, 100, 10]` (only for `.mlp`).
    /// - Throws: `ModelError` when the sizes do not fit.
    public func build(inputShape: [Int] = [1, 28, 28], classes: Int = 10, layers: [Int]? = nil,
                      seed: UInt64 = 1, initializer: Initializer = .default) throws -> Graph {
        var rng = SeededGenerator(seed: seed)
        switch self {
        case .mlp:
            let sizes = layers ?? [inputShape.product, 300, 100, classes]
            guard sizes.count >= 2, sizes.allSatisfy({ $0 > 0 }) else {
                throw ModelError.mlpSizes(sizes: sizes, inputShape: inputShape)
            }
            guard sizes[0] == inputShape.product else {
                throw ModelError.mlpSizes(sizes: sizes, inputShape: inputShape)
            }
            return try Self.mlp(inputShape: inputShape, sizes: sizes, initializer: initializer, rng: &rng)
        case .lenet300:
            return try Self.mlp(inputShape: inputShape, sizes: [inputShape.product, 300, 100, classes],
                                initializer: initializer, rng: &rng)
        case .lenet5:
            guard inputShape.count == 3 else { throw ModelError.architectureInput(architecture: "lenet5", shape: inputShape, requirement: "[C, H, W] images") }
            let c = inputShape[0]
            let h = ((inputShape[1] / 2) - 4) / 2, w = ((inputShape[2] / 2) - 4) / 2
            guard h > 0, w > 0 else { throw ModelError.architectureInput(architecture: "lenet5", shape: inputShape, requirement: "images of at least 12×12") }
            let layers: [Layer] = [
                Conv2D(name: "conv1", inChannels: c, outChannels: 6, kernelSize: 5, padding: 2, initializer: initializer, rng: &rng),
                ReLU(name: "relu1"), MaxPool2D(name: "pool1", kernelSize: 2),
                Conv2D(name: "conv2", inChannels: 6, outChannels: 16, kernelSize: 5, initializer: initializer, rng: &rng),
                ReLU(name: "relu2"), MaxPool2D(name: "pool2", kernelSize: 2),
                Flatten(name: "flatten"),
                Dense(name: "fc1", inFeatures: 16 * h * w, outFeatures: 120, initializer: initializer, rng: &rng),
                ReLU(name: "relu3"),
                Dense(name: "fc2", inFeatures: 120, outFeatures: 84, initializer: initializer, rng: &rng),
                ReLU(name: "relu4"),
                Dense(name: "fc3", inFeatures: 84, outFeatures: classes, initializer: initializer, rng: &rng),
            ]
            return try Graph(inputShape: inputShape, sequential: layers)
        case .resnet8:
            return try Self.resnet8(inputShape: inputShape, classes: classes, initializer: initializer, rng: &rng)
        case .gptTiny:
            guard inputShape.count == 1 else {
                throw ModelError.architectureInput(architecture: "gpt-tiny", shape: inputShape, requirement: "windows of token ids [T]")
            }
            return try Graph.gptDecoder(Self.gptTinyConfiguration(length: inputShape[0], vocabulary: classes), seed: seed)
        }
    }

    private static func mlp(inputShape: [Int], sizes: [Int], initializer: Initializer,
                            rng: inout SeededGenerator) throws -> Graph {
        var layers: [Layer] = []
        if inputShape.count != 1 { layers.append(Flatten(name: "flatten")) }
        for i in 1..<sizes.count {
            layers.append(Dense(name: "fc\(i)", inFeatures: sizes[i - 1], outFeatures: sizes[i],
                                initializer: initializer, rng: &rng))
            if i < sizes.count - 1 { layers.append(ReLU(name: "relu\(i)")) }
        }
        return try Graph(inputShape: inputShape, sequential: layers)
    }

    private static func resnet8(inputShape: [Int], classes: Int, initializer: Initializer,
                                rng: inout SeededGenerator) throws -> Graph {
        guard inputShape.count == 3 else { throw ModelError.architectureInput(architecture: "resnet8", shape: inputShape, requirement: "[C, H, W] images") }
        let g = Graph(inputShape: inputShape)
        func conv(_ name: String, _ cin: Int, _ cout: Int, _ k: Int, _ stride: Int) -> Conv2D {
            Conv2D(name: name, inChannels: cin, outChannels: cout, kernelSize: k, stride: stride,
                   padding: k / 2, bias: false, initializer: initializer, rng: &rng)
        }
        var x = try g.add(conv("conv1", inputShape[0], 16, 3, 1), after: .input)
        x = try g.add(BatchNorm(name: "bn1", features: 16), after: x)
        x = try g.add(ReLU(name: "relu1"), after: x)
        var channels = 16
        for (i, (width, stride)) in [(16, 1), (32, 2), (64, 2)].enumerated() {
            let p = "block\(i + 1)"
            var y = try g.add(conv("\(p)_conv1", channels, width, 3, stride), after: x)
            y = try g.add(BatchNorm(name: "\(p)_bn1", features: width), after: y)
            y = try g.add(ReLU(name: "\(p)_relu1"), after: y)
            y = try g.add(conv("\(p)_conv2", width, width, 3, 1), after: y)
            y = try g.add(BatchNorm(name: "\(p)_bn2", features: width), after: y)
            var shortcut = x
            if stride != 1 || width != channels {
                shortcut = try g.add(conv("\(p)_proj", channels, width, 1, stride), after: x)
                shortcut = try g.add(BatchNorm(name: "\(p)_proj_bn", features: width), after: shortcut)
            }
            let sum = try g.add(Add(name: "\(p)_add"), inputs: [y, shortcut])
            x = try g.add(ReLU(name: "\(p)_relu2"), after: sum)
            channels = width
        }
        x = try g.add(GlobalAvgPool(name: "pool"), after: x)
        try g.add(Dense(name: "fc", inFeatures: channels, outFeatures: classes, initializer: initializer, rng: &rng), after: x)
        return g
    }
}
