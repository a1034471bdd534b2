/// Pooling kernels over NCHW images (no padding): max, average and global average, each a
/// forward/backward pair. Output size `(H − K)/s + 1` by `(W − K)/s + 1`.

/// Where each output of a max pooling came from (a flat index into the input, per output
/// element): what its backward pass routes the gradient through. Made only by `maxPool`,
/// so every index lies inside the input.
public struct MaxPoolingRoutes: Equatable, Sendable {
    /// Per output element, the flat index of its maximum in the input.
    let sources: [Int32]
    /// The pooled input's shape `[N, C, H, W]`.
    public let inputShape: [Int]
    /// The number of outputs routed.
    public var count: Int { sources.count }
    /// Routes for no outputs (before a first forward pass).
    public static let empty = MaxPoolingRoutes(sources: [], inputShape: [0])
}

/// Checks a pooling input and window; returns `(N, C, H, W, OH, OW)`.
private func poolingShape(_ x: [Int], _ k: Int, _ s: Int) -> (Int, Int, Int, Int, Int, Int) {
    precondition(x.count == 4 && k > 0 && s > 0 && x[2] >= k && x[3] >= k,
                 "pooling needs an [N, C, H, W] input at least \(k)×\(k) and a positive stride, got \(x), stride \(s)")
    return (x[0], x[1], x[2], x[3], (x[2] - k) / s + 1, (x[3] - k) / s + 1)
}

/// Max pooling over `window × window` windows `stride` apart: the `[N, C, OH, OW]` maxima and
/// where each came from.
/// - Precondition: `x` is `[N, C, H, W]` with `H, W ≥ window`.
/// - Complexity: O(N·C·OH·OW·window²).
public func maxPool(_ x: Tensor, window k: Int, stride s: Int) -> (output: Tensor, routes: MaxPoolingRoutes) {
    let (n, c, h, w, oh, ow) = poolingShape(x.shape, k, s)
    var indices = [Int32](repeating: 0, count: n * c * oh * ow)
    let y = Tensor(shape: [n, c, oh, ow]) { out in
        x.withUnsafeBufferPointer { px in
            indices.withUnsafeMutableBufferPointer { idx in
                if k == 2 && s == 2 {
                    // The common 2×2 window: four loads, no inner loops.
                    for plane in 0..<(n * c) {
                        let base = plane * h * w
                        for oy in 0..<oh {
                            let r0 = base + 2 * oy * w
                            let r1 = r0 + w
                            let o = (plane * oh + oy) * ow
                            for ox in 0..<ow {
                                var bi = r0 + 2 * ox
                                var b = px[bi]
                                if px[bi + 1] > b { b = px[bi + 1]; bi += 1 }
                                let j = r1 + 2 * ox
                                if px[j] > b { b = px[j]; bi = j }
                                if px[j + 1] > b { b = px[j + 1]; bi = j + 1 }
                                out[o + ox] = b
                                idx[o + ox] = Int32(truncatingIfNeeded: bi)
                            }
                        }
                    }
                    return
                }
                for plane in 0..<(n * c) {
                    let base = plane * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var best = -Float.infinity
                            var bestIndex = base + oy * s * w + ox * s
                            for ky in 0..<k {
                                let row = base + (oy * s + ky) * w + ox * s
                                for kx in 0..<k where px[row + kx] > best {
                                    best = px[row + kx]; bestIndex = row + kx
                                }
                            }
                            let o = (plane * oh + oy) * ow + ox
                            out[o] = best
                            idx[o] = Int32(bestIndex)
                        }
                    }
                }
            }
        }
    }
    return (y, MaxPoolingRoutes(sources: indices, inputShape: x.shape))
}

/// The input gradient of a max pooling: each output gradient goes to the input position
/// that held the maximum (summed where windows overlap).
/// - Precondition: `dy` has one entry per routed output.
/// - Complexity: O(input count + outputs).
public func maxPoolBackward(_ dy: Tensor, routes: MaxPoolingRoutes) -> Tensor {
    precondition(dy.count == routes.count, "max pooling backward: \(dy.count) gradients for \(routes.count) outputs")
    var dx = Tensor.zeros(routes.inputShape)
    dx.withUnsafeMutableBufferPointer { pdx in
        dy.withUnsafeBufferPointer { pdy in
            routes.sources.withUnsafeBufferPointer { idx in
                for i in 0..<pdy.count { pdx[Int(idx[i])] += pdy[i] }
            }
        }
    }
    return dx
}

/// Average pooling over `window × window` windows `stride` apart: `[N, C, OH, OW]`.
/// - Precondition: `x` is `[N, C, H, W]` with `H, W ≥ window`.
/// - Complexity: O(N·C·OH·OW·window²).
public func averagePool(_ x: Tensor, window k: Int, stride s: Int) -> Tensor {
    let (n, c, h, w, oh, ow) = poolingShape(x.shape, k, s)
    let scale = 1 / Float(k * k)
    return Tensor(shape: [n, c, oh, ow]) { out in
        x.withUnsafeBufferPointer { px in
            for plane in 0..<(n * c) {
                let base = plane * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var sum: Float = 0
                        for ky in 0..<k {
                            let row = base + (oy * s + ky) * w + ox * s
                            for kx in 0..<k { sum += px[row + kx] }
                        }
                        out[(plane * oh + oy) * ow + ox] = sum * scale
                    }
                }
            }
        }
    }
}

/// The input gradient `inputShape` of an average pooling: each output gradient spread
/// evenly over its window.
/// - Precondition: `dy` is the pooled shape of `inputShape`.
/// - Complexity: O(N·C·OH·OW·window²).
public func averagePoolBackward(_ dy: Tensor, inputShape: [Int], window k: Int, stride s: Int) -> Tensor {
    let (n, c, h, w, oh, ow) = poolingShape(inputShape, k, s)
    precondition(dy.shape == [n, c, oh, ow], "average pooling backward: gradient \(dy.shape) is not [\(n), \(c), \(oh), \(ow)]")
    let scale = 1 / Float(k * k)
    var dx = Tensor.zeros(inputShape)
    dx.withUnsafeMutableBufferPointer { pdx in
        dy.withUnsafeBufferPointer { pdy in
            for plane in 0..<(n * c) {
                let base = plane * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let g = pdy[(plane * oh + oy) * ow + ox] * scale
                        for ky in 0..<k {
                            let row = base + (oy * s + ky) * w + ox * s
                            for kx in 0..<k { pdx[row + kx] += g }
                        }
                    }
                }
            }
        }
    }
    return dx
}

/// The mean of each channel over all positions: `[N, C, …] → [N, C]`.
/// - Precondition: `x` has rank 2 or more.
/// - Complexity: O(count).
public func globalAveragePool(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 2, "global average pooling needs [N, C, …], got \(x.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    return Tensor(shape: [n, c]) { out in
        x.withUnsafeBufferPointer { p in
            for i in 0..<(n * c) {
                out[i] = relaxedSum(p.baseAddress! + i * plane, count: plane) / Float(plane)
            }
        }
    }
}

/// The input gradient `inputShape` (`[N, C, …]`) of a global average pooling: each `[N, C]`
/// gradient spread evenly over its channel's positions.
/// - Precondition: `dy` is `[N, C]` of `inputShape`.
/// - Complexity: O(input count).
public func globalAveragePoolBackward(_ dy: Tensor, inputShape: [Int]) -> Tensor {
    precondition(inputShape.count >= 2 && dy.shape == Array(inputShape.prefix(2)),
                 "global average pooling backward: gradient \(dy.shape) does not fit input \(inputShape)")
    let plane = inputShape.product / max(dy.count, 1)
    return Tensor(shape: inputShape) { dx in
        dy.withUnsafeBufferPointer { g in
            for i in 0..<g.count {
                let v = g[i] / Float(plane)
                for j in 0..<plane { dx[i * plane + j] = v }
            }
        }
    }
}
