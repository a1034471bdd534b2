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
            // Eight lanes at a time: a lane mask per comparison, summed as integers.
            var lanes = SIMD8<Int32>.zero
            let n = p.count, base = UnsafeRawPointer(p.baseAddress!)
            var i = 0
            while i + 8 <= n {
                let v = base.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                lanes &-= unsafeBitCast(v .!= SIMD8<Float>.zero, to: SIMD8<Int32>.self)   // true lanes are −1
                i += 8
            }
            var count = Int(lanes.wrappedSum())
            while i < n { count += p[i] != 0 ? 1 : 0; i += 1 }
            return count
        }
    }

    /// The sum of products with `other`, entry by entry (reassociated for speed).
    /// - Precondition: the shapes are equal.
    /// - Complexity: O(count).
    public func dot(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        return withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { relaxedDot(a.baseAddress!, $0.baseAddress!, count: a.count) } }
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

/// Sums `[N, C, …]` over every axis but the channel axis 1: `[C]` (the bias gradient of
/// a dense layer, `[N, C]`, or of a convolution, `[N, C, H, W]`).
/// - Complexity: O(count).
public func channelSums(_ x: Tensor) -> Tensor {
    precondition(x.rank >= 2, "channelSums needs [N, C, …], got \(x.shape)")
    let (n, c) = (x.shape[0], x.shape[1])
    let plane = x.count / max(n * c, 1)
    var out = Tensor.zeros([c])
    out.withUnsafeMutableBufferPointer { o in
        x.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let image = p.baseAddress! + i * c * plane
                if plane == 1 {
                    for j in 0..<c { o[j] += image[j] }   // vectorizes across channels
                } else {
                    for j in 0..<c { o[j] += relaxedSum(image + j * plane, count: plane) }
                }
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
package func relaxedSum(_ pointer: UnsafePointer<Float>, count: Int) -> Float {
    var s: Float = 0
    for i in 0..<count { s = Relaxed.sum(s, pointer[i]) }
    return s
}

/// The sum of products of `count` float pairs, reassociated so it vectorizes.
/// - Complexity: O(count).
@inlinable
package func relaxedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var s: Float = 0
    for i in 0..<count { s = Relaxed.multiplyAdd(a[i], b[i], s) }
    return s
}

/// The cosine similarity of each row of `a` with the same row of `b` (both `[rows, columns]`,
/// or any shapes of equal count whose last axis is the row), summing in double precision.
/// A row of zeros has cosine 0 with anything.
public func rowCosines(_ a: Tensor, _ b: Tensor) -> [Float] {
    precondition(a.count == b.count && a.shape.last == b.shape.last, "rowCosines: \(a.shape) against \(b.shape)")
    let d = max(a.shape.last ?? 1, 1)
    return a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            (0..<(a.count / d)).map { r in
                var (dot, aa, bb) = (0.0, 0.0, 0.0)
                for j in (r * d)..<((r + 1) * d) {
                    let (x, y) = (Double(pa[j]), Double(pb[j]))
                    dot += x * y; aa += x * x; bb += y * y
                }
                return aa > 0 && bb > 0 ? Float(dot / (aa * bb).squareRoot()) : 0
            }
        }
    }
}

/// The sum of squares of each column of `x` taken as rows of `columns` values (`[N, …, columns]`),
/// in Double, leaving out the rows where `skipped` is true (one flag per row, or nil for none).
/// Wanda's input norms `‖x_j‖₂²` over the tokens of calibration data.
/// - Precondition: `columns` divides `x.count`; `skipped`, when given, has one flag per row.
/// - Complexity: O(count).
public func columnSquareSums(_ x: Tensor, columns: Int, skipping skipped: [Bool]? = nil) -> [Double] {
    columnTotals(x, columns: columns, skipping: skipped, squared: true)
}

/// The sum of each column of `x` taken as rows of `columns` values (`[N, …, columns]`), in
/// Double, leaving out the rows where `skipped` is true (one flag per row, or nil for none):
/// the mean input a layer sees, once divided by the rows counted.
/// - Precondition: `columns` divides `x.count`; `skipped`, when given, has one flag per row.
/// - Complexity: O(count).
public func columnSums(_ x: Tensor, columns: Int, skipping skipped: [Bool]? = nil) -> [Double] {
    columnTotals(x, columns: columns, skipping: skipped, squared: false)
}

/// Per-column sums of `x`'s rows (of their squares when `squared`), skipped rows left out.
private func columnTotals(_ x: Tensor, columns: Int, skipping skipped: [Bool]?, squared: Bool) -> [Double] {
    precondition(columns > 0 && x.count % columns == 0, "column sums: \(columns) columns do not divide \(x.shape)")
    let rows = x.count / columns
    precondition(skipped == nil || skipped!.count == rows, "column sums: \(skipped!.count) flags for \(rows) rows")
    var sums = [Double](repeating: 0, count: columns)
    x.withUnsafeBufferPointer { p in
        sums.withUnsafeMutableBufferPointer { s in
            for r in 0..<rows where !(skipped?[r] ?? false) {
                let row = p.baseAddress! + r * columns
                if squared {
                    for j in 0..<columns { s[j] += Double(row[j]) * Double(row[j]) }
                } else {
                    for j in 0..<columns { s[j] += Double(row[j]) }
                }
            }
        }
    }
    return sums
}
