import RealModule

/// Reductions. Sums use `Relaxed` arithmetic so they vectorize; Double twins live in the tests.

extension Tensor {
    /// The sum of all scalars (reassociated for speed).
    /// - Complexity: O(count).
    public func sum() -> Float {
        withUnsafeBufferPointer { p in
            var s: Float = 0
            for v in p { s = Relaxed.sum(s, v) }
            return s
        }
    }

    /// The number of scalars that are not zero.
    public func nonZeroCount() -> Int {
        withUnsafeBufferPointer { p in
            var n = 0
            for v in p where v != 0 { n += 1 }
            return n
        }
    }

    /// The largest absolute value (0 for an empty tensor).
    public func maxMagnitude() -> Float {
        withUnsafeBufferPointer { p in
            var m: Float = 0
            for v in p { m = Swift.max(m, abs(v)) }
            return m
        }
    }
}

/// Sums the rows of a `[rows, columns]` matrix into a `[columns]` vector (bias gradient).
/// - Complexity: O(rows·columns).
public func sumRows(_ matrix: Tensor, columns: Int) -> Tensor {
    precondition(columns > 0 && matrix.count % columns == 0, "cannot split \(matrix.shape) into rows of \(columns)")
    let rows = matrix.count / columns
    var out = Tensor.zeros([columns])
    out.withUnsafeMutableBufferPointer { o in
        matrix.withUnsafeBufferPointer { m in
            for r in 0..<rows {
                let row = m.baseAddress! + r * columns
                for c in 0..<columns { o[c] += row[c] }
            }
        }
    }
    return out
}

/// For each row of a `[rows, columns]` matrix, the column of the largest value.
public func argmaxRows(_ matrix: Tensor) -> [Int] {
    precondition(matrix.rank == 2, "argmaxRows needs a matrix, got \(matrix.shape)")
    let (rows, columns) = (matrix.shape[0], matrix.shape[1])
    return matrix.withUnsafeBufferPointer { m in
        (0..<rows).map { r in
            var best = 0
            var bestValue = -Float.infinity
            for c in 0..<columns where m[r * columns + c] > bestValue {
                bestValue = m[r * columns + c]; best = c
            }
            return best
        }
    }
}

/// The sum of `count` floats at `pointer`, reassociated so it vectorizes.
/// - Complexity: O(count).
@inlinable
public func relaxedSum(_ pointer: UnsafePointer<Float>, count: Int) -> Float {
    var s: Float = 0
    for i in 0..<count { s = Relaxed.sum(s, pointer[i]) }
    return s
}

/// The sum of products of `count` float pairs, reassociated so it vectorizes.
/// - Complexity: O(count).
@inlinable
public func relaxedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s: Float = 0
    for i in 0..<count { s = Relaxed.multiplyAdd(a[i], b[i], s) }
    return s
}
