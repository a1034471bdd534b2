import TensorCore

/// Batch normalization over the channel axis of `[N, C]` (1-D) or `[N, C, H, W]` (2-D) input.
///
/// Training: per channel, `x̂ = (x − μ_B)/√(σ²_B + ε)` with batch statistics, and
/// `y = γ·x̂ + β`; running statistics move by `running = (1 − momentum)·running +
/// momentum·batch` (unbiased variance, as in PyTorch). Evaluation uses the running
/// statistics. Each training forward pass also counts one batch in `batchesTracked`
/// (PyTorch's `num_batches_tracked`, saved in model files). https://arxiv.org/abs/1502.03167
public final class BatchNorm: Layer {
    public var name: String
    /// Scale γ, `[C]`.
    public let scale: Parameter
    /// Shift β, `[C]`.
    public let shift: Parameter
    /// Running mean, `[C]` (not trained; saved in model files).
    public let runningMean: Parameter
    /// Running variance, `[C]` (not trained; saved in model files).
    public let runningVariance: Parameter
    /// Added to the variance for stability.
    public let epsilon: Float
    /// Weight of the newest batch in the running statistics.
    public let momentum: Float
    /// Training forward passes seen (PyTorch's `num_batches_tracked`). Counted, not used:
    /// the momentum is fixed, as in PyTorch's default.
    public var batchesTracked = 0
    private var normalized = Tensor.zeros([0])   // x̂, shaped like the input
    private var inverseStd: [Float] = []         // [C]

    /// The number of channels.
    public var features: Int { scale.count }

    /// Creates the layer with γ = 1, β = 0, running mean 0 and variance 1.
    public init(name: String, features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.name = name
        self.epsilon = epsilon
        self.momentum = momentum
        scale = Parameter(Tensor(shape: [features], repeating: 1))
        shift = Parameter(Tensor.zeros([features]))
        runningMean = Parameter(Tensor.zeros([features]), trainable: false)
        runningVariance = Parameter(Tensor(shape: [features], repeating: 1), trainable: false)
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .batchNorm)
        s.features = features; s.epsilon = epsilon; s.momentum = momentum
        return s
    }

    public var namedParameters: [(String, Parameter)] {
        [("weight", scale), ("bias", shift), ("running_mean", runningMean), ("running_var", runningVariance)]
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let s = try sameShape(inputShapes, name)
        guard s.count == 1 || s.count == 3, s[0] == features else {
            throw ModelError.normalizedChannels(layer: name, features: features, shape: s)
        }
        return s
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int { inputShapes.first?.product ?? 0 }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let n = x.shape[0], c = features
        precondition(x.shape.count >= 2 && x.shape[1] == c, "\(name): input \(x.shape) does not have \(c) channels")
        let m = n * (x.count / (n * c))
        var mean = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        if training {
            batchesTracked += 1
            let moments = channelMoments(x)
            for ch in 0..<c {
                let mu = moments.mean[ch], variance = moments.variance[ch]
                mean[ch] = Float(mu)
                invStd[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
                let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                runningMean.value[flat: ch] = (1 - momentum) * runningMean.value[flat: ch] + momentum * Float(mu)
                runningVariance.value[flat: ch] = (1 - momentum) * runningVariance.value[flat: ch] + momentum * Float(unbiased)
            }
        } else {
            for ch in 0..<c {
                mean[ch] = runningMean.value[flat: ch]
                invStd[ch] = 1 / (runningVariance.value[flat: ch] + epsilon).squareRoot()
            }
        }
        var y = normalizeChannels(x, mean: mean, inverseStd: invStd)
        if training { normalized = y; inverseStd = invStd }
        scaleAndShiftChannels(&y, scale: scale.value, shift: shift.value)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == normalized.shape, "\(name): backward without a matching training forward")
        let gradients = batchNormalizationBackward(dy, normalized: normalized, scale: scale.value, inverseStd: inverseStd)
        shift.gradient = gradients.shift
        scale.gradient = gradients.scale
        return gradients.input
    }
}
