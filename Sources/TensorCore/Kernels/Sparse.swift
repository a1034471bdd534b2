/// Compressed sparse rows (CSR) of a `[rows, columns]` Float32 matrix, and the sparse ×
/// dense products that make pruned weights fast.
///
/// Row `r` holds the entries `rowStarts[r] ..< rowStarts[r + 1]` of `values`, at the
/// columns given by the same range of the column indices. Column indices are stored in
/// the narrowest type that fits: `UInt16` when the matrix is at most 65,536 columns wide
/// (6 bytes per non-zero with the value), `UInt32` otherwise.
public struct CSRMatrix: Equatable, Sendable {
    /// The column indices, narrow when they fit.
    public enum ColumnIndices: Equatable, Sendable {
        case narrow([UInt16])
        case wide([UInt32])

        /// The number of indices.
        public var count: Int {
            switch self {
            case let .narrow(c): return c.count
            case let .wide(c): return c.count
            }
        }

        /// Bytes per index.
        public var width: Int {
            switch self {
            case .narrow: return 2
            case .wide: return 4
            }
        }
    }

    /// The matrix height.
    public let rows: Int
    /// The matrix width.
    public let columns: Int
    /// `rows + 1` offsets into `values`.
    public let rowStarts: [Int32]
    /// The column of each stored value.
    public let columnIndices: ColumnIndices
    /// The stored values, row by row.
    public let values: [Float]

    /// The number of stored entries.
    public var nonZeroCount: Int { values.count }
    /// Bytes of the three arrays.
    public var bytes: Int { 4 * rowStarts.count + columnIndices.width * columnIndices.count + 4 * values.count }

    /// Builds the CSR form of a rank-2 `matrix`, keeping the entries where `mask` is not zero
    /// (every non-zero entry when `mask` is nil). A kept zero is stored as a value.
    public init(_ matrix: Tensor, mask: Tensor? = nil) {
        precondition(matrix.rank == 2, "CSR needs a matrix, got shape \(matrix.shape)")
        precondition(mask == nil || mask!.shape == matrix.shape, "mask shape \(mask!.shape) differs from \(matrix.shape)")
        precondition(matrix.count < Int(Int32.max), "CSR offsets are 32-bit: \(matrix.count) entries is too many")
        rows = matrix.shape[0]
        columns = matrix.shape[1]
        var starts = [Int32](repeating: 0, count: rows + 1)
        var kept: [Float] = []
        var narrow: [UInt16] = [], wide: [UInt32] = []
        let useNarrow = columns <= 65_536
        let (r, c) = (rows, columns)
        matrix.withUnsafeBufferPointer { m in
            let keep: (Int) -> Bool
            if let mask {
                let maskScalars = mask.scalars
                keep = { maskScalars[$0] != 0 }
            } else {
                keep = { m[$0] != 0 }
            }
            for i in 0..<r {
                for j in 0..<c where keep(i * c + j) {
                    kept.append(m[i * c + j])
                    if useNarrow { narrow.append(UInt16(truncatingIfNeeded: j)) } else { wide.append(UInt32(j)) }
                }
                starts[i + 1] = Int32(kept.count)
            }
        }
        rowStarts = starts
        values = kept
        columnIndices = useNarrow ? .narrow(narrow) : .wide(wide)
    }

    /// Creates a matrix from its arrays.
    /// - Returns: nil when the arrays are inconsistent (offsets not rising from 0 to the
    ///   value count, a column out of range, counts that differ).
    public init?(rows: Int, columns: Int, rowStarts: [Int32], columnIndices: ColumnIndices, values: [Float]) {
        guard rows >= 0, columns >= 0, rowStarts.count == rows + 1, rowStarts.first == 0,
              Int(rowStarts.last ?? -1) == values.count, columnIndices.count == values.count,
              zip(rowStarts, rowStarts.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
        switch columnIndices {
        case let .narrow(c): guard c.allSatisfy({ Int($0) < columns }) else { return nil }
        case let .wide(c): guard c.allSatisfy({ Int($0) < columns }) else { return nil }
        }
        self.rows = rows; self.columns = columns; self.rowStarts = rowStarts
        self.columnIndices = columnIndices; self.values = values
    }

    /// The dense matrix (zeros where nothing is stored).
    public func dense() -> Tensor {
        var out = Tensor.zeros([rows, columns])
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) { o[r * columns + column(at: p)] = values[p] }
            }
        }
        return out
    }

    /// The column of stored entry `p`.
    @inline(__always) func column(at p: Int) -> Int {
        switch columnIndices {
        case let .narrow(c): return Int(c[p])
        case let .wide(c): return Int(c[p])
        }
    }

    /// `y = A·x` for a vector `x` of `columns` entries (batch 1): `rows` entries.
    /// - Complexity: O(rows + non-zeros).
    public func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                switch columnIndices {
                case let .narrow(c): c.withUnsafeBufferPointer { spmv(starts, $0, v, x, y, rows) }
                case let .wide(c): c.withUnsafeBufferPointer { spmv(starts, $0, v, x, y, rows) }
                }
            }
        }
    }

    /// `Yᵀ = A·Xᵀ` for a batch stored feature-major: `xt` is `[columns, n]` (sample j of
    /// feature k at `k·n + j`) and `yt` is `[rows, n]`. Vectorized across the batch.
    /// - Complexity: O(non-zeros · n).
    public func multiply(transposedBatch xt: UnsafePointer<Float>, count n: Int, into yt: UnsafeMutablePointer<Float>) {
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                switch columnIndices {
                case let .narrow(c): c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, yt, rows) }
                case let .wide(c): c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, yt, rows) }
                }
            }
        }
    }
}

/// Row-by-row sparse matrix × vector: 16 entries per step into two independent SIMD8
/// accumulators (the gathers of `x` hit L1; the stream of values and indices is the cost).
@inline(__always)
private func spmv<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ rows: Int
) {
    guard let c = columns.baseAddress, let v = values.baseAddress else {
        for r in 0..<rows { y[r] = 0 }
        return
    }
    @inline(__always) func gather(_ p: Int) -> SIMD8<Float> {
        SIMD8<Float>(x[Int(c[p])], x[Int(c[p + 1])], x[Int(c[p + 2])], x[Int(c[p + 3])],
                     x[Int(c[p + 4])], x[Int(c[p + 5])], x[Int(c[p + 6])], x[Int(c[p + 7])])
    }
    let raw = UnsafeRawPointer(v)
    for r in 0..<rows {
        var p = Int(starts[r])
        let end = Int(starts[r + 1])
        var acc0 = SIMD8<Float>.zero, acc1 = SIMD8<Float>.zero
        while p + 16 <= end {
            acc0.addProduct(raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self), gather(p))
            acc1.addProduct(raw.loadUnaligned(fromByteOffset: 4 * (p + 8), as: SIMD8<Float>.self), gather(p + 8))
            p += 16
        }
        if p + 8 <= end {
            acc0.addProduct(raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self), gather(p))
            p += 8
        }
        var sum = (acc0 + acc1).sum()
        while p < end { sum += v[p] * x[Int(c[p])]; p += 1 }
        y[r] = sum
    }
}

/// Sparse × dense with the batch contiguous: each stored weight scales one row of `xt`
/// into the output row, 64 samples at a time (eight SIMD8 accumulators stay in registers).
@inline(__always)
private func spmm<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ xt: UnsafePointer<Float>, _ n: Int, _ yt: UnsafeMutablePointer<Float>, _ rows: Int
) {
    let raw = UnsafeRawPointer(xt)
    for r in 0..<rows {
        let lo = Int(starts[r]), hi = Int(starts[r + 1])
        let out = yt + r * n
        var j = 0
        while j + 64 <= n {
            var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for p in lo..<hi {
                let w = SIMD8<Float>(repeating: values[p])
                let row = raw + 4 * (Int(columns[p]) * n + j)
                a0.addProduct(w, row.loadUnaligned(as: SIMD8<Float>.self))
                a1.addProduct(w, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                a2.addProduct(w, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(w, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
                a4.addProduct(w, row.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self))
                a5.addProduct(w, row.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self))
                a6.addProduct(w, row.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self))
                a7.addProduct(w, row.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self))
            }
            let o = UnsafeMutableRawPointer(out + j)
            o.storeBytes(of: a0, as: SIMD8<Float>.self)
            o.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self)
            o.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            o.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
            o.storeBytes(of: a4, toByteOffset: 128, as: SIMD8<Float>.self)
            o.storeBytes(of: a5, toByteOffset: 160, as: SIMD8<Float>.self)
            o.storeBytes(of: a6, toByteOffset: 192, as: SIMD8<Float>.self)
            o.storeBytes(of: a7, toByteOffset: 224, as: SIMD8<Float>.self)
            j += 64
        }
        while j + 8 <= n {
            var a = SIMD8<Float>.zero
            for p in lo..<hi {
                a.addProduct(SIMD8<Float>(repeating: values[p]),
                             (raw + 4 * (Int(columns[p]) * n + j)).loadUnaligned(as: SIMD8<Float>.self))
            }
            UnsafeMutableRawPointer(out + j).storeBytes(of: a, as: SIMD8<Float>.self)
            j += 8
        }
        while j < n {
            var s: Float = 0
            for p in lo..<hi { s += values[p] * xt[Int(columns[p]) * n + j] }
            out[j] = s
            j += 1
        }
    }
}

/// The naive twin of the CSR products, in Double, for tests: `Yᵀ = A·Xᵀ` with `xt` `[columns, n]`.
package func naiveSparseProduct(_ a: CSRMatrix, _ xt: [Float], n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: a.rows * n)
    for r in 0..<a.rows {
        for j in 0..<n {
            var s = 0.0
            for p in Int(a.rowStarts[r])..<Int(a.rowStarts[r + 1]) {
                s += Double(a.values[p]) * Double(xt[a.column(at: p) * n + j])
            }
            out[r * n + j] = Float(s)
        }
    }
    return out
}
