import RealModule

/// Layer normalization over the last axis (the features of each token or sample) and its
/// backward pass, as PyTorch's `nn.LayerNorm(d)`: each row of `d` features is normalized by its
/// own mean and biased variance, then scaled and shifted per feature.

/// What the backward pass of `layerNormalize` needs: the normalized rows and each row's
/// inverse standard deviation.
public struct LayerNormCache: Sendable {
    /// `x̂ = (x − μ) / √(σ² + ε)`, shaped like the input.
    public var normalized: Tensor
    /// `1 / √(σ² + ε)` of each row.
    public var inverseStd: [Float]
}

/// `y = (x − μ) / √(σ² + ε) · weight + bias` over the last axis of `x` (`[…, d]`), with μ and the
/// biased σ² of each row (two passes: the mean first, then centred squares).
///
/// - Parameters:
///   - weight: `[d]`, the per-feature scale.
///   - bias: `[d]`, the per-feature shift.
/// - Precondition: `x` has rank 1 or more and its last axis is `d`.
/// - Complexity: O(count).
public func layerNormalize(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float) -> Tensor {
    layerNormalize(x, weight: weight, bias: bias, epsilon: epsilon, keep: false).output
}

/// `layerNormalize`, also returning `x̂` and the inverse deviations for `layerNormalizeBackward`.
/// - Complexity: O(count).
public func layerNormalizeForTraining(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float)
    -> (output: Tensor, cache: LayerNormCache) {
    let (y, cache) = layerNormalize(x, weight: weight, bias: bias, epsilon: epsilon, keep: true)
    return (y, cache!)
}

private func layerNormalize(_ x: Tensor, weight: Tensor, bias: Tensor, epsilon: Float, keep: Bool)
    -> (output: Tensor, cache: LayerNormCache?) {
    let d = weight.count
    precondition(x.rank >= 1 && x.shape.last == d && bias.count == d,
                 "layerNormalize: input \(x.shape) does not end in the \(d) features of weight \(weight.shape) and bias \(bias.shape)")
    let rows = x.count / max(d, 1)
    var inverseStd = keep ? [Float](repeating: 0, count: rows) : []
    var normalized = keep ? Tensor.zeros(x.shape) : Tensor.zeros([0])
    let y = Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                bias.withUnsafeBufferPointer { pb in
                    normalized.withUnsafeMutableBufferPointer { pn in
                        for r in 0..<rows {
                            let row = px.baseAddress! + r * d, o = out.baseAddress! + r * d
                            let mean = relaxedSum(row, count: d) / Float(d)
                            var squares: Float = 0
                            for j in 0..<d { let c = row[j] - mean; squares = Relaxed.multiplyAdd(c, c, squares) }
                            let s = 1 / (squares / Float(d) + epsilon).squareRoot()
                            if pn.isEmpty {
                                for j in 0..<d { o[j] = (row[j] - mean) * s * pw[j] + pb[j] }
                            } else {
                                let n = pn.baseAddress! + r * d
                                for j in 0..<d {
                                    n[j] = (row[j] - mean) * s
                                    o[j] = n[j] * pw[j] + pb[j]
                                }
                                inverseStd[r] = s
                            }
                        }
                    }
                }
            }
        }
    }
    return (y, keep ? LayerNormCache(normalized: normalized, inverseStd: inverseStd) : nil)
}

/// The gradients of `layerNormalize` from the gradient `dy` of its output:
/// `dweight = Σ dy ⊙ x̂`, `dbias = Σ dy` (over rows), and per row, with `g = dy ⊙ weight`,
/// `dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / √(σ² + ε)`.
/// - Precondition: `dy` is shaped like the cached `x̂`.
/// - Complexity: O(count).
public func layerNormalizeBackward(_ dy: Tensor, cache: LayerNormCache, weight: Tensor)
    -> (input: Tensor, weight: Tensor, bias: Tensor) {
    let d = weight.count
    precondition(dy.shape == cache.normalized.shape && dy.shape.last == d,
                 "layerNormalizeBackward: gradient \(dy.shape) does not match the cached \(cache.normalized.shape)")
    let rows = dy.count / max(d, 1)
    var dWeight = Tensor.zeros([d]), dBias = Tensor.zeros([d])
    // Raw pointers throughout: the weight and bias sums indexed as Swift arrays inside the row
    // loop cost a uniqueness check and a bounds check per entry (this backward took 9× its
    // forward's time in gpt-tiny).
    let dx = Tensor(shape: dy.shape) { out in
        dy.withUnsafeBufferPointer { pg in
            cache.normalized.withUnsafeBufferPointer { pn in
                weight.withUnsafeBufferPointer { pw in
                    cache.inverseStd.withUnsafeBufferPointer { inverseStd in
                        dWeight.withUnsafeMutableBufferPointer { dw in
                            dBias.withUnsafeMutableBufferPointer { db in
                                guard rows > 0, d > 0 else { return }
                                let (w, dw, db) = (pw.baseAddress!, dw.baseAddress!, db.baseAddress!)
                                for r in 0..<rows {
                                    let g = pg.baseAddress! + r * d, n = pn.baseAddress! + r * d, o = out.baseAddress! + r * d
                                    var sumG: Float = 0, sumGN: Float = 0
                                    for j in 0..<d {
                                        let gw = g[j] * w[j]
                                        sumG = Relaxed.sum(sumG, gw)
                                        sumGN = Relaxed.multiplyAdd(gw, n[j], sumGN)
                                        dw[j] = Relaxed.multiplyAdd(g[j], n[j], dw[j])
                                        db[j] += g[j]
                                    }
                                    let meanG = sumG / Float(d), meanGN = sumGN / Float(d), s = inverseStd[r]
                                    for j in 0..<d { o[j] = (g[j] * w[j] - meanG - n[j] * meanGN) * s }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return (dx, dWeight, dBias)
}
