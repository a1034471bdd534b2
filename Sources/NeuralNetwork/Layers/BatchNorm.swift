import TensorCore

/// Batch normalization over the channel axis of `[N, C]` (1-D) or `[N, C, H, W]` (2-D) input.
///
/// Training: per channel, `x̂ = (x − μ_B)/√(σ²_B + ε)` with batch statistics, and
/// `y = γ·x̂ + β`; running statistics move by `running = (1 − momentum)·running +
/// momentum·batch` (unbiased variance, as in PyTorch). Evaluation uses the running
/// statistics. https://arxiv.org/abs/1502.03167
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
        let plane = x.count / (n * c)
        let m = n * plane
        var mean = [Float](repeating: 0, count: c)
        var invStd = [Float](repeating: 0, count: c)
        x.withUnsafeBufferPointer { px in
            if training {
                for ch in 0..<c {
                    var s = 0.0, ss = 0.0
                    for i in 0..<n {
                        let p = px.baseAddress! + (i * c + ch) * plane
                        s += Double(relaxedSum(p, count: plane))
                        ss += Double(relaxedDot(p, p, count: plane))
                    }
                    let mu = s / Double(m)
                    let variance = max(ss / Double(m) - mu * mu, 0)
                    mean[ch] = Float(mu)
                    invStd[ch] = Float(1 / (variance + Double(epsilon)).squareRoot())
                    let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                    runningMean.value.scalars[ch] = (1 - momentum) * runningMean.value.scalars[ch] + momentum * Float(mu)
                    runningVariance.value.scalars[ch] = (1 - momentum) * runningVariance.value.scalars[ch] + momentum * Float(unbiased)
                }
            } else {
                for ch in 0..<c {
                    mean[ch] = runningMean.value.scalars[ch]
                    invStd[ch] = 1 / (runningVariance.value.scalars[ch] + epsilon).squareRoot()
                }
            }
        }
        var xhat = Tensor(shape: x.shape) { out in
            x.withUnsafeBufferPointer { px in
                for i in 0..<n {
                    for ch in 0..<c {
                        let o = (i * c + ch) * plane
                        let mu = mean[ch], s = invStd[ch]
                        for j in 0..<plane { out[o + j] = (px[o + j] - mu) * s }
                    }
                }
            }
        }
        if training { normalized = xhat; inverseStd = invStd }
        let gamma = scale.value.scalars, beta = shift.value.scalars
        xhat.withUnsafeMutableBufferPointer { y in
            for i in 0..<n {
                for ch in 0..<c {
                    let o = (i * c + ch) * plane
                    let g = gamma[ch], b = beta[ch]
                    for j in 0..<plane { y[o + j] = y[o + j] * g + b }
                }
            }
        }
        return xhat
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == normalized.shape, "\(name): backward without a matching training forward")
        let n = dy.shape[0], c = features
        let plane = dy.count / (n * c)
        let m = Float(n * plane)
        var sumDy = [Float](repeating: 0, count: c)
        var sumDyXhat = [Float](repeating: 0, count: c)
        dy.withUnsafeBufferPointer { g in
            normalized.withUnsafeBufferPointer { xh in
                for i in 0..<n {
                    for ch in 0..<c {
                        let o = (i * c + ch) * plane
                        sumDy[ch] += relaxedSum(g.baseAddress! + o, count: plane)
                        sumDyXhat[ch] += relaxedDot(g.baseAddress! + o, xh.baseAddress! + o, count: plane)
                    }
                }
            }
        }
        shift.gradient = Tensor(shape: [c], scalars: sumDy)
        scale.gradient = Tensor(shape: [c], scalars: sumDyXhat)
        let gamma = scale.value.scalars
        return Tensor(shape: dy.shape) { dx in
            dy.withUnsafeBufferPointer { g in
                normalized.withUnsafeBufferPointer { xh in
                    for i in 0..<n {
                        for ch in 0..<c {
                            let o = (i * c + ch) * plane
                            let k = gamma[ch] * inverseStd[ch] / m
                            let a = sumDy[ch], b = sumDyXhat[ch]
                            for j in 0..<plane { dx[o + j] = k * (m * g[o + j] - a - xh[o + j] * b) }
                        }
                    }
                }
            }
        }
    }
}
