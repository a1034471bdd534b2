/// The kept entries of a masked `[rows, columns]` weight, fixed while its mask is: what a
/// Dense layer needs to train through CSR instead of dense products.
///
/// A training step with weight `W` (`[out, in]`), input `x` (`[n, in]`) and output gradient
/// `dy` (`[n, out]`) needs `x·Wᵀ`, `dy·W` and `dyᵀ·x` at the kept entries only. The pattern
/// holds the CSR structure of `W` and of `Wᵀ` with, for each stored entry, its place in the
/// row-major weight; `matrix(from:)` and `transposedMatrix(from:)` fill them with the weight's
/// current values (one read of the kept entries) and `sampledProduct(_:_:)` computes the weight gradient at the kept
/// entries only (a sampled dense-dense product: one dot product over the batch per entry).
public struct SparsePattern: Sendable {
    /// The structure of `W` (values are the mask's, replaced on use).
    public let matrix: CSRMatrix
    /// The structure of `Wᵀ`.
    public let transposedMatrix: CSRMatrix
    /// For stored entry `p` of `matrix`, its row-major index `r·columns + j` in the weight.
    let positions: [Int32]
    /// The same for `transposedMatrix`'s entries.
    let transposedPositions: [Int32]

    /// The pattern of `mask`'s non-zero entries.
    /// - Precondition: `mask` is rank 2 with fewer than 2³¹ entries.
    public init(mask: Tensor) {
        precondition(mask.rank == 2, "a sparse pattern needs a matrix mask, got shape \(mask.shape)")
        precondition(mask.count < Int(Int32.max), "a sparse pattern holds 32-bit positions: \(mask.count) entries is too many")
        let columns = mask.shape[1]
        let byRow = CSRMatrix(mask, mask: mask)
        matrix = byRow
        var positions = [Int32](repeating: 0, count: byRow.nonZeroCount)
        for r in 0..<byRow.rows {
            for p in Int(byRow.rowStarts[r])..<Int(byRow.rowStarts[r + 1]) { positions[p] = Int32(r * columns + byRow.column(at: p)) }
        }
        self.positions = positions
        let byColumn = byRow.transposed()
        transposedMatrix = byColumn
        var transposedPositions = [Int32](repeating: 0, count: byColumn.nonZeroCount)
        for j in 0..<byColumn.rows {
            for q in Int(byColumn.rowStarts[j])..<Int(byColumn.rowStarts[j + 1]) {
                transposedPositions[q] = Int32(byColumn.column(at: q) * columns + j)
            }
        }
        self.transposedPositions = transposedPositions
    }

    /// The number of kept entries.
    public var nonZeroCount: Int { positions.count }

    /// `W` in CSR form with `weight`'s current values at the kept entries.
    /// - Precondition: `weight` has the mask's shape.
    /// - Complexity: O(kept entries).
    public func matrix(from weight: Tensor) -> CSRMatrix { filled(matrix, positions, from: weight) }

    /// `Wᵀ` in CSR form with `weight`'s current values at the kept entries.
    /// - Precondition: `weight` has the mask's shape.
    /// - Complexity: O(kept entries).
    public func transposedMatrix(from weight: Tensor) -> CSRMatrix { filled(transposedMatrix, transposedPositions, from: weight) }

    private func filled(_ structure: CSRMatrix, _ places: [Int32], from weight: Tensor) -> CSRMatrix {
        precondition(weight.shape == [matrix.rows, matrix.columns], "weight \(weight.shape) does not fit the pattern's [\(matrix.rows), \(matrix.columns)]")
        return weight.withUnsafeBufferPointer { w in structure.withValues(places.map { w[Int($0)] }) }
    }

    /// `dyᵀ·x` at the kept entries, zero elsewhere: the `[rows, columns]` gradient of a
    /// weight that only has its kept entries, from a batch of output gradients `dy`
    /// (`[n, rows]`) and inputs `x` (`[n, columns]`).
    /// - Precondition: `dy` is `[n, rows]`, `x` is `[n, columns]`.
    /// - Complexity: O(kept entries · n + (rows + columns) · n).
    public func sampledProduct(_ dy: Tensor, _ x: Tensor) -> Tensor {
        let (rows, columns) = (matrix.rows, matrix.columns)
        precondition(dy.rank == 2 && dy.shape[1] == rows && x.rank == 2 && x.shape == [dy.shape[0], columns],
                     "sampled product: dy \(dy.shape) and x \(x.shape) do not fit [n, \(rows)] and [n, \(columns)]")
        let n = dy.shape[0]
        // Feature-major copies, so that each kept entry is one dot product of two contiguous rows.
        let dyt = dy.transposed(), xt = x.transposed()
        return Tensor(shape: [rows, columns]) { g in
            for i in 0..<g.count { g[i] = 0 }
            dyt.withUnsafeBufferPointer { d in
                xt.withUnsafeBufferPointer { v in
                    positions.withUnsafeBufferPointer { pos in
                        sampledDots(matrix.rowStarts, matrix.columnIndices, d.baseAddress!, v.baseAddress!, n: n,
                                    positions: pos.baseAddress!, into: g.baseAddress!)
                    }
                }
            }
        }
    }
}

/// For every stored entry `p` (row `r`, column `j`) of the structure, `g[positions[p]] =
/// Σₖ a[r·n + k] · b[j·n + k]`.
private func sampledDots(_ starts: [Int32], _ columns: CSRMatrix.ColumnIndices, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                         n: Int, positions: UnsafePointer<Int32>, into g: UnsafeMutablePointer<Float>) {
    func run<Index: FixedWidthInteger & UnsignedInteger>(_ c: UnsafeBufferPointer<Index>) {
        for r in 0..<starts.count - 1 {
            let rowA = a + r * n
            var p = Int(starts[r])
            let end = Int(starts[r + 1])
            // Four entries at a time: one load of the row of `a` serves four dot products, whose
            // eight accumulator chains hide the multiply-add latency.
            while p + 4 <= end {
                let sums = dot4(rowA, b + Int(c[p]) * n, b + Int(c[p + 1]) * n, b + Int(c[p + 2]) * n, b + Int(c[p + 3]) * n, n)
                g[Int(positions[p])] = sums[0]; g[Int(positions[p + 1])] = sums[1]
                g[Int(positions[p + 2])] = sums[2]; g[Int(positions[p + 3])] = sums[3]
                p += 4
            }
            while p < end {
                g[Int(positions[p])] = dot(rowA, b + Int(c[p]) * n, n)
                p += 1
            }
        }
    }
    switch columns {
    case let .narrow(c): c.withUnsafeBufferPointer(run)
    case let .wide(c): c.withUnsafeBufferPointer(run)
    }
}

/// The four sums `Σₖ a[k]·bᵢ[k]`, sixteen lanes at a time, two accumulators each.
@inline(__always)
private func dot4(_ a: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>,
                  _ b2: UnsafePointer<Float>, _ b3: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
    let ra = UnsafeRawPointer(a)
    let (r0, r1, r2, r3) = (UnsafeRawPointer(b0), UnsafeRawPointer(b1), UnsafeRawPointer(b2), UnsafeRawPointer(b3))
    var s0 = SIMD8<Float>.zero, t0 = s0, s1 = s0, t1 = s0, s2 = s0, t2 = s0, s3 = s0, t3 = s0
    var k = 0
    while k + 16 <= n {
        let (lo, hi) = (4 * k, 4 * k + 32)
        let x = ra.loadUnaligned(fromByteOffset: lo, as: SIMD8<Float>.self), y = ra.loadUnaligned(fromByteOffset: hi, as: SIMD8<Float>.self)
        s0.addProduct(x, r0.loadUnaligned(fromByteOffset: lo, as: SIMD8<Float>.self)); t0.addProduct(y, r0.loadUnaligned(fromByteOffset: hi, as: SIMD8<Float>.self))
        s1.addProduct(x, r1.loadUnaligned(fromByteOffset: lo, as: SIMD8<Float>.self)); t1.addProduct(y, r1.loadUnaligned(fromByteOffset: hi, as: SIMD8<Float>.self))
        s2.addProduct(x, r2.loadUnaligned(fromByteOffset: lo, as: SIMD8<Float>.self)); t2.addProduct(y, r2.loadUnaligned(fromByteOffset: hi, as: SIMD8<Float>.self))
        s3.addProduct(x, r3.loadUnaligned(fromByteOffset: lo, as: SIMD8<Float>.self)); t3.addProduct(y, r3.loadUnaligned(fromByteOffset: hi, as: SIMD8<Float>.self))
        k += 16
    }
    // Each pair to 8 lanes, then the four reduced together: lanes of 0 and 1 interleaved by
    // halves, then 2 and 3, so that three rounds of adds leave one sum per lane.
    let e0 = s0 + t0, e1 = s1 + t1, e2 = s2 + t2, e3 = s3 + t3
    let f01 = SIMD8(lowHalf: e0.lowHalf, highHalf: e1.lowHalf) + SIMD8(lowHalf: e0.highHalf, highHalf: e1.highHalf)
    let f23 = SIMD8(lowHalf: e2.lowHalf, highHalf: e3.lowHalf) + SIMD8(lowHalf: e2.highHalf, highHalf: e3.highHalf)
    // f01 = [e0 four lanes | e1 four lanes]; pair the lanes within each four.
    let g = SIMD8(lowHalf: SIMD4(f01[0], f01[2], f01[4], f01[6]), highHalf: SIMD4(f23[0], f23[2], f23[4], f23[6]))
        + SIMD8(lowHalf: SIMD4(f01[1], f01[3], f01[5], f01[7]), highHalf: SIMD4(f23[1], f23[3], f23[5], f23[7]))
    // g = [e0 two, e1 two, e2 two, e3 two].
    var sums = SIMD4<Float>(g[0] + g[1], g[2] + g[3], g[4] + g[5], g[6] + g[7])
    while k < n {
        let x = a[k]
        sums += SIMD4(x * b0[k], x * b1[k], x * b2[k], x * b3[k])
        k += 1
    }
    return sums
}

/// `Σₖ a[k]·b[k]`, sixteen lanes at a time in two accumulators.
@inline(__always)
private func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var s0 = SIMD8<Float>.zero, s1 = SIMD8<Float>.zero
    var k = 0
    while k + 16 <= n {
        s0.addProduct(ra.loadUnaligned(fromByteOffset: 4 * k, as: SIMD8<Float>.self), rb.loadUnaligned(fromByteOffset: 4 * k, as: SIMD8<Float>.self))
        s1.addProduct(ra.loadUnaligned(fromByteOffset: 4 * k + 32, as: SIMD8<Float>.self), rb.loadUnaligned(fromByteOffset: 4 * k + 32, as: SIMD8<Float>.self))
        k += 16
    }
    if k + 8 <= n {
        s0.addProduct(ra.loadUnaligned(fromByteOffset: 4 * k, as: SIMD8<Float>.self), rb.loadUnaligned(fromByteOffset: 4 * k, as: SIMD8<Float>.self))
        k += 8
    }
    let eight = s0 + s1
    let four = eight.lowHalf + eight.highHalf
    let two = four.lowHalf + four.highHalf
    var sum = two[0] + two[1]
    while k < n { sum += a[k] * b[k]; k += 1 }
    return sum
}
