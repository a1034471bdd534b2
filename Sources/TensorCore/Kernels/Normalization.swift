/// Per-channel kernels of batch normalization over `[N, C, …]` tensors (channel axis 1; a
/// channel's "plane" is everything after it: 1 for `[N, C]`, `H·W` for images).

/// The plane size of `x` (`[N, C, …]`) for `channels` channels.
private func channelPlane(_ x: Tensor, _ channels: Int, _ kernel: String) -> Int {
    precondition(x.rank >= 2 && x.shape[1] == channels, "\(kernel): \(x.shape) does not have \(channels) channels on axis 1")
    return x.count / max(x.shape[0] * channels, 1)
}

/// The mean and biased variance of each channel of `x` (`[N, C, …]`) over every other axis,
/// summed in Double from reassociated Float runs: `variance = max(E[x²] − E[x]², 0)`.
/// - Precondition: `x` has rank 2 or more.
/// - Complexity: O(count).
public func channelMoments(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
    precondition(x.rank >= 2, "channelMoments needs [N, C, …], got \(x.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = channelPlane(x, c, "channelMoments")
    let m = Double(n * plane)
    var mean = [Double](repeating: 0, count: c), variance = mean
    x.withUnsafeBufferPointer { px in
        for ch in 0..<c {
            var s = 0.0, ss = 0.0
            for i in 0..<n {
                let p = px.baseAddress! + (i * c + ch) * plane
                s += Double(relaxedSum(p, count: plane))
                ss += Double(relaxedDot(p, p, count: plane))
            }
            mean[ch] = s / m
            variance[ch] = max(ss / m - mean[ch] * mean[ch], 0)
        }
    }
    return (mean, variance)
}

/// `(x − mean[c]) · inverseStd[c]` for every entry of channel `c` of `x` (`[N, C, …]`).
/// - Precondition: `mean` and `inverseStd` have one entry per channel.
/// - Complexity: O(count).
public func normalizeChannels(_ x: Tensor, mean: [Float], inverseStd: [Float]) -> Tensor {
    let c = mean.count
    let plane = channelPlane(x, c, "normalizeChannels")
    precondition(inverseStd.count == c, "normalizeChannels: \(inverseStd.count) inverse deviations for \(c) channels")
    let n = x.shape[0]
    return Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { px in
            for i in 0..<n {
                for ch in 0..<c {
                    let o = (i * c + ch) * plane
                    let mu = mean[ch], s = inverseStd[ch]
                    for j in 0..<plane { out[o + j] = (px[o + j] - mu) * s }
                }
            }
        }
    }
}

/// `x ← x · scale[c] + shift[c]` in place, for every entry of channel `c` of `x` (`[N, C, …]`).
/// - Precondition: `scale` and `shift` are `[C]`.
/// - Complexity: O(count).
public func scaleAndShiftChannels(_ x: inout Tensor, scale: Tensor, shift: Tensor) {
    let c = scale.count
    let plane = channelPlane(x, c, "scaleAndShiftChannels")
    precondition(scale.shape == [c] && shift.shape == [c], "scaleAndShiftChannels: scale \(scale.shape), shift \(shift.shape) for \(c) channels")
    let n = x.shape[0]
    let gamma = scale.scalars, beta = shift.scalars
    x.withUnsafeMutableBufferPointer { y in
        for i in 0..<n {
            for ch in 0..<c {
                let o = (i * c + ch) * plane
                let g = gamma[ch], b = beta[ch]
                for j in 0..<plane { y[o + j] = y[o + j] * g + b }
            }
        }
    }
}

/// The backward pass of batch normalization `y = γ·x̂ + β` with batch statistics, from the
/// output gradient `dy` and the normalized input `x̂` (both `[N, C, …]`): the gradients of
/// `β` (`Σ dy`), of `γ` (`Σ dy·x̂`), and of the input,
/// `dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))`.
/// - Precondition: `dy` and `normalized` have the same shape; `scale` is `[C]`;
///   `inverseStd` has `C` entries.
/// - Complexity: O(count).
public func batchNormalizationBackward(_ dy: Tensor, normalized: Tensor, scale: Tensor, inverseStd: [Float])
    -> (input: Tensor, scale: Tensor, shift: Tensor) {
    let c = scale.count
    precondition(dy.shape == normalized.shape, "batchNormalizationBackward: gradient \(dy.shape) and x̂ \(normalized.shape) differ")
    precondition(inverseStd.count == c, "batchNormalizationBackward: \(inverseStd.count) inverse deviations for \(c) channels")
    let plane = channelPlane(dy, c, "batchNormalizationBackward")
    let n = dy.shape[0]
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
    let gamma = scale.scalars
    let dx = Tensor(shape: dy.shape) { dx in
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
    return (dx, Tensor(shape: [c], scalars: sumDyXhat), Tensor(shape: [c], scalars: sumDy))
}
