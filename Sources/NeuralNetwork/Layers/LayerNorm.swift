import TensorCore

/// Layer normalization over the last axis, as PyTorch's `nn.LayerNorm(features)`: each token's
/// (or sample's) features are normalized by their own mean and variance, then scaled by `weight`
/// and shifted by `bias` (`[features]` each, named as PyTorch names them).
public final class LayerNorm: Layer {
    public var name: String
    /// `[features]`, the per-feature scale (starts at 1).
    public let weight: Parameter
    /// `[features]`, the per-feature shift (starts at 0).
    public let bias: Parameter
    /// Added to the variance.
    public let epsilon: Float
    private var cache: LayerNormCache?

    /// Features per row.
    public var features: Int { weight.count }

    /// Creates the layer with weight 1 and bias 0.
    public init(name: String, features: Int, epsilon: Float = 1e-5) {
        self.name = name
        self.epsilon = epsilon
        weight = Parameter(Tensor(shape: [features], repeating: 1))
        bias = Parameter(Tensor.zeros([features]))
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .layerNorm)
        s.features = features; s.epsilon = epsilon
        return s
    }

    public var namedParameters: [(String, Parameter)] { [("weight", weight), ("bias", bias)] }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ModelError.notOneInput(layer: name, got: inputShapes.count) }
        guard inputShapes[0].last == features else {
            throw ModelError.inputFeatures(layer: name, expected: features, got: inputShapes[0].last ?? 0)
        }
        return inputShapes[0]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training else { return layerNormalize(x, weight: weight.value, bias: bias.value, epsilon: epsilon) }
        let (y, cache) = layerNormalizeForTraining(x, weight: weight.value, bias: bias.value, epsilon: epsilon)
        self.cache = cache
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let cache else { preconditionFailure("\(name): backward without a training forward") }
        let (dx, dWeight, dBias) = layerNormalizeBackward(dy, cache: cache, weight: weight.value)
        weight.gradient = dWeight
        bias.gradient = dBias
        return dx
    }
}
