import TensorCore

/// Anything that can sit in a `Graph`: it has a name, a serializable spec, and
/// named parameters. `Layer` (one input) and `MergeLayer` (several) refine it.
public protocol Module: AnyObject {
    /// The node name, the first component of parameter paths (`"fc1"` in `"fc1.weight"`).
    var name: String { get set }
    /// The kind and hyper-parameters, enough to rebuild the layer without its values.
    var spec: LayerSpec { get }
    /// This module's own parameters with local names (`"weight"`, `"bias"`, …).
    var namedParameters: [(String, Parameter)] { get }
    /// The per-sample output shape for per-sample input shapes, or a thrown error
    /// naming the mismatch.
    func outputShape(for inputShapes: [[Int]]) throws -> [Int]
    /// Multiply-adds of one forward pass of one sample, counting only non-zero weights
    /// when `nonZeroOnly` is true (the work a sparse kernel would do).
    func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int
}

extension Module {
    public var namedParameters: [(String, Parameter)] { [] }
    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int { 0 }
}

/// A module with one input: a forward/backward pair.
///
/// `forward` caches what `backward` needs; `backward` takes the gradient of the loss
/// with respect to the output, writes parameter gradients (overwriting, not
/// accumulating) and returns the gradient with respect to the input.
public protocol Layer: Module {
    /// Computes the output for a batch (`[N, …]`). `training` selects batch statistics
    /// and dropout.
    func forward(_ input: Tensor, training: Bool) -> Tensor
    /// Back-propagates `gradient` (shaped like the last output).
    func backward(_ gradient: Tensor) -> Tensor
}

/// A module that combines several inputs (for example a residual `Add`).
public protocol MergeLayer: Module {
    /// Combines a batch from each input.
    func forward(_ inputs: [Tensor], training: Bool) -> Tensor
    /// Returns one gradient per input.
    func backward(_ gradient: Tensor) -> [Tensor]
}

/// A layer that reads token ids (a float `[N, T]` batch of whole numbers). A graph whose input
/// only such layers read takes sequences of any length up to its declared `[T]`.
public protocol TokenInput: AnyObject {}

/// A layer that can skip computing its input gradient when nothing upstream needs
/// it (the first layer of a network), saving one GEMM.
public protocol InputGradientSkipping: AnyObject {
    /// When false, `backward` returns an empty tensor instead of the input gradient.
    var computesInputGradient: Bool { get set }
}

/// What kind of layer a spec describes.
public enum LayerKind: String, Codable, CaseIterable, Sendable {
    case dense, conv2d, maxPool2d, avgPool2d, globalAvgPool, flatten
    case relu, leakyRelu, tanh, sigmoid, batchNorm, dropout, add
    case gelu, softmax, logSoftmax, concat
    case embedding, positionEmbedding, tokenTypeEmbedding, layerNorm, paddingMask, selfAttention
    case meanPooling, l2Normalize, tiedHead
}

/// A layer's kind and hyper-parameters, stored as JSON in model files.
/// Only the fields the kind uses are set.
public struct LayerSpec: Codable, Equatable, Sendable {
    /// What the layer is.
    public var kind: LayerKind
    /// Dense: input features.
    public var inFeatures: Int?
    /// Dense: output features.
    public var outFeatures: Int?
    /// Conv2D: input channels.
    public var inChannels: Int?
    /// Conv2D: output channels (filters).
    public var outChannels: Int?
    /// Conv2D and pooling: the square window size.
    public var kernelSize: Int?
    /// Conv2D and pooling: step between windows (pooling defaults to the window size).
    public var stride: Int?
    /// Conv2D: zero padding on each border.
    public var padding: Int?
    /// Conv2D: distance between kernel taps (default 1).
    public var dilation: Int?
    /// Conv2D: channel groups (default 1; the input channels for a depthwise convolution).
    public var groups: Int?
    /// Dense and Conv2D: whether there is a bias (default true).
    public var bias: Bool?
    /// BatchNorm: channels normalized. LayerNorm and the embeddings: features per token.
    public var features: Int?
    /// Embeddings: rows of the table (the vocabulary, the positions or the token types).
    public var count: Int?
    /// SelfAttention: heads.
    public var heads: Int?
    /// SelfAttention: whether each token sees only itself and the tokens before it.
    public var causal: Bool?
    /// GELU: `"tanh"` for the tanh approximation (PyTorch's `approximate`), else exact.
    public var approximation: String?
    /// PaddingMask: the token id that marks padding.
    public var paddingID: Int?
    /// BatchNorm and LayerNorm: added to the variance.
    public var epsilon: Float?
    /// BatchNorm: weight of the newest batch in the running statistics.
    public var momentum: Float?
    /// LeakyReLU: slope for negative inputs.
    public var negativeSlope: Float?
    /// Dropout: probability of dropping an activation.
    public var rate: Float?
    /// Dropout: the generator's seed.
    public var seed: UInt64?
    /// TiedHead: the name of the embedding whose table it multiplies by.
    public var tiedTo: String?

    /// Creates a spec with only a kind; set the fields the kind needs.
    public init(kind: LayerKind) { self.kind = kind }
}

func requireRank(_ shapes: [[Int]], _ rank: Int, _ layer: String, _ what: String) throws -> [Int] {
    guard shapes.count == 1 else { throw ModelError.notOneInput(layer: layer, got: shapes.count) }
    guard shapes[0].count == rank else {
        throw ModelError.inputRank(layer: layer, rank: rank, expected: what, shape: shapes[0])
    }
    return shapes[0]
}
