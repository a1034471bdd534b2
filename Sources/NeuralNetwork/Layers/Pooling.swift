import TensorCore

/// Max pooling over `K×K` windows with a stride, on NCHW images (no padding).
///
/// Shapes: input `[N, C, H, W]`, output `[N, C, (H−K)/s+1, (W−K)/s+1]`.
/// Backward routes each output gradient to the input position that held the maximum.
public final class MaxPool2D: Layer {
    public var name: String
    /// Window size.
    public let kernelSize: Int
    /// Step between windows.
    public let stride: Int
    private var argmax: [Int32] = []   // per output element, flat index into the input
    private var inputShape: [Int] = []

    /// Creates a pooling layer; `stride` defaults to the window size.
    public init(name: String, kernelSize: Int, stride: Int? = nil) {
        precondition(kernelSize > 0, "pool size must be positive")
        self.name = name
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .maxPool2d); s.kernelSize = kernelSize; s.stride = stride
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try poolOutputShape(inputShapes, kernelSize, stride, name)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - kernelSize) / stride + 1, ow = (w - kernelSize) / stride + 1
        var indices = [Int32](repeating: 0, count: n * c * oh * ow)
        let k = kernelSize, s = stride
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
        if training { argmax = indices; inputShape = x.shape }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.count == argmax.count, "\(name): backward without a matching training forward")
        var dx = Tensor.zeros(inputShape)
        dx.withUnsafeMutableBufferPointer { pdx in
            dy.withUnsafeBufferPointer { pdy in
                argmax.withUnsafeBufferPointer { idx in
                    for i in 0..<pdy.count { pdx[Int(idx[i])] += pdy[i] }
                }
            }
        }
        return dx
    }
}

/// Average pooling over `K×K` windows with a stride, on NCHW images (no padding).
///
/// `y = (1/K²) Σ window`; backward spreads each output gradient evenly over its window.
public final class AvgPool2D: Layer {
    public var name: String
    /// Window size.
    public let kernelSize: Int
    /// Step between windows.
    public let stride: Int
    private var inputShape: [Int] = []

    /// Creates a pooling layer; `stride` defaults to the window size.
    public init(name: String, kernelSize: Int, stride: Int? = nil) {
        precondition(kernelSize > 0, "pool size must be positive")
        self.name = name
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .avgPool2d); s.kernelSize = kernelSize; s.stride = stride
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try poolOutputShape(inputShapes, kernelSize, stride, name)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - kernelSize) / stride + 1, ow = (w - kernelSize) / stride + 1
        let k = kernelSize, s = stride
        let scale = 1 / Float(k * k)
        if training { inputShape = x.shape }
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

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(inputShape.count == 4 && dy.rank == 4 && Array(dy.shape.prefix(2)) == Array(inputShape.prefix(2)) &&
                     dy.shape[2] == (inputShape[2] - kernelSize) / stride + 1 && dy.shape[3] == (inputShape[3] - kernelSize) / stride + 1,
                     "\(name): backward without a matching training forward")
        let (n, c, h, w) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let oh = dy.shape[2], ow = dy.shape[3]
        let k = kernelSize, s = stride
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
}

/// Averages each channel over all positions: `[N, C, H, W] → [N, C]`.
public final class GlobalAvgPool: Layer {
    public var name: String
    private var inputShape: [Int] = []

    /// Creates the layer.
    public init(name: String) { self.name = name }

    public var spec: LayerSpec { LayerSpec(kind: .globalAvgPool) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let s = try requireRank(inputShapes, 3, name, "a [C, H, W] image")
        return [s[0]]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, c) = (x.shape[0], x.shape[1])
        let plane = x.count / max(n * c, 1)
        if training { inputShape = x.shape }
        return Tensor(shape: [n, c]) { out in
            x.withUnsafeBufferPointer { p in
                for i in 0..<(n * c) {
                    out[i] = relaxedSum(p.baseAddress! + i * plane, count: plane) / Float(plane)
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
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
}

private func poolOutputShape(_ shapes: [[Int]], _ k: Int, _ s: Int, _ name: String) throws -> [Int] {
    let x = try requireRank(shapes, 3, name, "a [C, H, W] image")
    guard x[1] >= k, x[2] >= k else { throw ModelError.windowTooLarge(layer: name, window: k, shape: x) }
    return [x[0], (x[1] - k) / s + 1, (x[2] - k) / s + 1]
}
