import RealModule

/// Elementwise kernels. Each loops over buffer pointers taken once per call, so the
/// compiler vectorizes them; each has a naive twin in the tests.

extension Tensor {
    /// Applies `transform` to every scalar, returning a new tensor of the same shape.
    @inlinable
    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = transform(src[i]) }
            }
        }
    }

    /// Combines two tensors of equal shape scalar by scalar.
    @inlinable
    public func zipMap(_ other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        return Tensor(shape: shape) { out in
            withUnsafeBufferPointer { a in
                other.withUnsafeBufferPointer { b in
                    for i in 0..<a.count { out[i] = combine(a[i], b[i]) }
                }
            }
        }
    }

    /// `|x|` for every scalar.
    public func magnitudes() -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = Swift.abs(src[i]) }
            }
        }
    }

    /// `x²` for every scalar.
    public func squares() -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { src in
                for i in 0..<src.count { out[i] = src[i] * src[i] }
            }
        }
    }

    /// Elementwise sum.
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, +) }
    /// Elementwise difference.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, -) }
    /// Elementwise (Hadamard) product.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.zipMap(rhs, *) }
    /// Multiplies every scalar by `scale`.
    public static func * (lhs: Tensor, scale: Float) -> Tensor { lhs.map { $0 * scale } }

    /// Adds `other` scaled by `alpha` into `self` (`self += alpha * other`).
    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        withUnsafeMutableBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += alpha * b[i] }
            }
        }
    }

    /// Multiplies `self` elementwise by `other` in place (used to apply masks).
    public mutating func multiply(by other: Tensor) {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        withUnsafeMutableBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] *= b[i] }
            }
        }
    }

    /// Multiplies every scalar by `scale` in place.
    public mutating func scale(by scale: Float) {
        withUnsafeMutableBufferPointer { a in
            for i in 0..<a.count { a[i] *= scale }
        }
    }

    /// Sets every scalar to `value`.
    public mutating func fill(_ value: Float) {
        withUnsafeMutableBufferPointer { a in
            for i in 0..<a.count { a[i] = value }
        }
    }
}

/// Adds a row vector to every row of a `[rows, columns]` buffer in place (bias add).
public func addRowVector(_ matrix: inout Tensor, _ vector: Tensor) {
    let columns = vector.count
    precondition(matrix.count % max(columns, 1) == 0, "bias of \(columns) does not divide \(matrix.shape)")
    matrix.withUnsafeMutableBufferPointer { m in
        vector.withUnsafeBufferPointer { v in
            let rows = m.count / max(columns, 1)
            for r in 0..<rows {
                let row = m.baseAddress! + r * columns
                for c in 0..<columns { row[c] += v[c] }
            }
        }
    }
}

/// Each entry times its column's factor: `x[…, j] · factors[j]` over the last axis of `x`
/// (a weight `[out, in]` scaled by one factor per input feature).
/// - Precondition: `factors.count` divides `x.count`.
/// - Complexity: O(count).
public func scalingColumns(_ x: Tensor, by factors: [Float]) -> Tensor {
    let columns = factors.count
    precondition(columns > 0 && x.count % columns == 0, "scalingColumns: \(columns) factors do not divide \(x.shape)")
    return Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { p in
            factors.withUnsafeBufferPointer { f in
                for r in 0..<(p.count / columns) {
                    for j in 0..<columns { out[r * columns + j] = p[r * columns + j] * f[j] }
                }
            }
        }
    }
}

/// Rectified linear unit, `max(x, 0)`.
public func relu(_ x: Tensor) -> Tensor { x.map { $0 > 0 ? $0 : 0 } }

/// The gradient of ReLU: passes `dy` where the layer's output `y` was positive.
public func reluBackward(output y: Tensor, gradient dy: Tensor) -> Tensor {
    y.zipMap(dy) { $0 > 0 ? $1 : 0 }
}

/// Returns true when every scalar is finite (no NaN, no infinity).
///
/// `v − v` is 0 for a finite `v` and NaN otherwise, and a NaN survives any order of
/// summation, so the sum may be relaxed: the loop vectorizes (the trainer checks every
/// weight after every step). Blocks of 4096 let a bad tensor stop early.
public func allFinite(_ x: Tensor) -> Bool {
    x.withUnsafeBufferPointer { p in
        var start = 0
        while start < p.count {
            let end = min(start + 4096, p.count)
            var s: Float = 0
            for i in start..<end { s = Relaxed.sum(s, p[i] - p[i]) }
            if !s.isFinite { return false }   // s is 0 unless some entry was NaN or infinite
            start = end
        }
        return true
    }
}
