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
    /// The same entries regrouped by blocks of columns, for the batch products of wide
    /// matrices; attached by `withColumnBlocks(width:)`, nil otherwise.
    public private(set) var columnBlocks: ColumnBlocks?

    /// A CSR matrix's entries regrouped by blocks of `width` columns: a matrix of
    /// `blockCount · rows` rows whose row `b·rows + r` holds the entries of row `r` that fall
    /// in columns `b·width ..< (b + 1)·width`.
    ///
    /// The batch products then walk the input one block of features at a time for a block
    /// of 512 rows: that slice of a 64-sample panel (64 KB at width 256) and the rows' output
    /// (128 KB) stay in L2, where the whole panel of a 4,096-wide input (1 MB) does not. On
    /// the development machine this took 4096² at 90%, batch 128, from 16–19 to about 10 ms.
    public final class ColumnBlocks: Sendable {
        /// Columns per block.
        public let width: Int
        /// The number of blocks, `⌈columns / width⌉` (at least 1).
        public let blockCount: Int
        /// The regrouped entries.
        public let matrix: CSRMatrix
        init(width: Int, blockCount: Int, matrix: CSRMatrix) {
            self.width = width; self.blockCount = blockCount; self.matrix = matrix
        }
    }

    /// Whether the batch products gain from `withColumnBlocks(width:)`: when a 64-sample
    /// panel of the input (256 bytes per column) no longer fits in 256 KB.
    public var benefitsFromColumnBlocks: Bool { columns > 1024 }

    /// The same matrix with its entries also stored by blocks of `width` columns, which the
    /// batch products (`multiply(batch:…)`, `multiply(transposedBatch:…)` for batches of 128
    /// or more) then use. Costs a second copy of the values and indices.
    public func withColumnBlocks(width: Int = 256) -> CSRMatrix {
        precondition(width >= 1, "a column block needs a width of at least 1, got \(width)")
        let blockCount = Swift.max(1, (columns + width - 1) / width)
        let rows = self.rows
        let regrouped = self.regrouped(slots: blockCount * rows, width: columns,
                                       slot: { r, j in (j / width) * rows + r }, index: { _, j in j })
        var copy = self
        copy.columnBlocks = ColumnBlocks(width: width, blockCount: blockCount, matrix: regrouped)
        return copy
    }

    /// Equal entries in equal places (whether `columnBlocks` is attached does not count).
    public static func == (a: CSRMatrix, b: CSRMatrix) -> Bool {
        a.rows == b.rows && a.columns == b.columns && a.rowStarts == b.rowStarts && a.columnIndices == b.columnIndices
            && a.values == b.values
    }

    /// The number of stored entries.
    public var nonZeroCount: Int { values.count }
    /// The CSR form of the transpose (that is, the CSC form of this matrix), built by a
    /// counting pass over the columns.
    public func transposed() -> CSRMatrix {
        regrouped(slots: columns, width: rows, slot: { _, j in j }, index: { r, _ in r })
    }

    /// The entries sorted by `slot(row, column)` with a counting sort (stable: within a slot
    /// they keep their order), as a matrix of `slots` rows and `width` columns that stores
    /// `index(row, column)` as each entry's column.
    private func regrouped(slots: Int, width: Int, slot: (Int, Int) -> Int, index: (Int, Int) -> Int) -> CSRMatrix {
        var starts = [Int32](repeating: 0, count: slots + 1)
        for r in 0..<rows {
            for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) { starts[slot(r, column(at: p)) + 1] += 1 }
        }
        for i in 0..<slots { starts[i + 1] += starts[i] }
        var next = starts
        var kept = [Float](repeating: 0, count: values.count)
        let useNarrow = width <= 65_536
        var narrow = [UInt16](repeating: 0, count: useNarrow ? values.count : 0)
        var wide = [UInt32](repeating: 0, count: useNarrow ? 0 : values.count)
        for r in 0..<rows {
            for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) {
                let j = column(at: p)
                let s = slot(r, j)
                let q = Int(next[s])
                next[s] += 1
                kept[q] = values[p]
                if useNarrow { narrow[q] = UInt16(truncatingIfNeeded: index(r, j)) } else { wide[q] = UInt32(index(r, j)) }
            }
        }
        return CSRMatrix(rows: slots, columns: width, rowStarts: starts,
                         columnIndices: useNarrow ? .narrow(narrow) : .wide(wide), values: kept)!
    }

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
    ///   value count, a column out of range or not rising strictly within its row, counts
    ///   that differ).
    public init?(rows: Int, columns: Int, rowStarts: [Int32], columnIndices: ColumnIndices, values: [Float]) {
        guard rows >= 0, columns >= 0, rows < Int.max, rowStarts.count == rows + 1, rowStarts.first == 0,
              Int(rowStarts.last ?? -1) == values.count, columnIndices.count == values.count,
              zip(rowStarts, rowStarts.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
        func rising<T: FixedWidthInteger>(_ c: [T]) -> Bool {
            for r in 0..<rows {
                var previous = -1
                for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) {
                    let column = Int(c[p])
                    guard column > previous, column < columns else { return false }
                    previous = column
                }
            }
            return true
        }
        switch columnIndices {
        case let .narrow(c): guard rising(c) else { return nil }
        case let .wide(c): guard rising(c) else { return nil }
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

    /// A 0/1 matrix with 1 at every stored entry (a stored zero included).
    public func storedMask() -> Tensor {
        var out = Tensor.zeros([rows, columns])
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) { o[r * columns + column(at: p)] = 1 }
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

    /// `y = A·x` for a vector `x` of `columns` entries (batch 1): `rows` entries. With a
    /// `pool`, its threads take row ranges holding equal shares of the stored entries.
    /// - Complexity: O(rows + non-zeros).
    public func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil) {
        let bounds = rowPartition(pool.map { nonZeroCount >= 4096 ? $0.count : 1 } ?? 1)
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                let part: (Int) -> Void
                switch columnIndices {
                case let .narrow(c): part = { i in c.withUnsafeBufferPointer { spmvNarrow(starts, $0, v, x, y, bounds[i], bounds[i + 1]) } }
                case let .wide(c): part = { i in c.withUnsafeBufferPointer { spmv(starts, $0, v, x, y, bounds[i], bounds[i + 1]) } }
                }
                if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
            }
        }
    }

    /// `Yᵀ = A·Xᵀ` for a batch stored feature-major: `xt` is `[columns, n]` (sample j of
    /// feature k at `k·n + j`) and `yt` is `[rows, n]`. Vectorized across the batch (a batch
    /// of one is `multiply(vector:into:pool:)`); with a `pool`, split by rows likewise. With
    /// `columnBlocks` attached, full 64-sample panels of a batch of 128 or more go through them.
    /// - Complexity: O(non-zeros · n).
    public func multiply(transposedBatch xt: UnsafePointer<Float>, count n: Int, into yt: UnsafeMutablePointer<Float>,
                         pool: WorkerPool? = nil) {
        // One sample: feature-major is a plain vector, and the vector kernel is the fast one.
        if n == 1 { return multiply(vector: xt, into: yt, pool: pool) }
        let bounds = rowPartition(pool.map { nonZeroCount * n >= 16_384 ? $0.count : 1 } ?? 1)
        let k = columns
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                withBlockedBuffers { blocked in
                    let part: (Int) -> Void
                    switch columnIndices {
                    case let .narrow(c):
                        part = { i in c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, k, yt, bounds[i], bounds[i + 1], blocked?.narrowForm) } }
                    case let .wide(c):
                        part = { i in c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, k, yt, bounds[i], bounds[i + 1], blocked?.wideForm) } }
                    }
                    if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
                }
            }
        }
    }

    /// `y = Aᵀ·x` (`x`: `rows` entries, `y`: `columns` entries), skipping the rows of A whose
    /// entry of `x` is zero. With A the CSR form of Wᵀ, this is W·x that costs only the
    /// stored weights of the non-zero inputs: the batch-1 path for inputs with many zeros
    /// (ReLU outputs, image backgrounds).
    /// - Complexity: O(rows + non-zeros in the rows where x is not zero).
    /// With `rows`, only those rows of A take part (the others count as zero inputs).
    public func multiplyTransposed(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows range: Range<Int>? = nil) {
        y.update(repeating: 0, count: columns)
        let range = range ?? 0..<rows
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                switch columnIndices {
                case let .narrow(c):
                    c.withUnsafeBufferPointer { c in
                        guard let c = c.baseAddress, let v = v.baseAddress else { return }
                        // Four 16-bit indices as one 64-bit load, split with shifts.
                        let indices = UnsafeRawPointer(c)
                        scatterRows(starts, c, v, x, y, range) { p in
                            let q = indices.loadUnaligned(fromByteOffset: 2 * p, as: UInt64.self)
                            return (Int(truncatingIfNeeded: q & 0xFFFF), Int(truncatingIfNeeded: (q >> 16) & 0xFFFF),
                                    Int(truncatingIfNeeded: (q >> 32) & 0xFFFF), Int(truncatingIfNeeded: q >> 48))
                        }
                    }
                case let .wide(c):
                    c.withUnsafeBufferPointer { c in
                        guard let c = c.baseAddress, let v = v.baseAddress else { return }
                        scatterRows(starts, c, v, x, y, range) { p in (Int(c[p]), Int(c[p + 1]), Int(c[p + 2]), Int(c[p + 3])) }
                    }
                }
            }
        }
    }

    /// `Y = X·Aᵀ` for a row-major batch: `x` is `[n, columns]` and `y` is `[n, rows]` (a
    /// Dense layer's product with A as its weight). Each 64-sample panel of `x` is
    /// transposed into a contiguous `[columns, 64]` block, multiplied as in
    /// `multiply(transposedBatch:count:into:pool:)` and transposed into `y`: no
    /// feature-major copy of the whole batch is made. With a `pool`, split by rows. With
    /// `columnBlocks` attached, each panel goes through them.
    /// - Complexity: O(non-zeros · n + (rows + columns) · n).
    public func multiply(batch x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil) {
        let bounds = rowPartition(pool.map { nonZeroCount * n >= 16_384 ? $0.count : 1 } ?? 1)
        let (k, m) = (columns, rows)
        // One transposed panel, shared by the threads; one output block per row range.
        let panel = allocateLineAligned(k * 64)
        defer { panel.deallocate() }
        let out = allocateLineAligned(m * 64)
        defer { out.deallocate() }
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                withBlockedBuffers { blocked in
                    var j = 0
                    while j < n {
                        let w = Swift.min(64, n - j)
                        if w < 64 { panel.update(repeating: 0, count: k * 64) }
                        transpose(x + j * k, rows: w, columns: k, sourceStride: k, into: panel, destinationStride: 64)
                        let part = { (i: Int) in
                            let (r0, r1) = (bounds[i], bounds[i + 1])
                            guard r1 > r0 else { return }
                            switch self.columnIndices {
                            case let .narrow(c): c.withUnsafeBufferPointer { panelProduct(starts, $0, v, blocked?.narrowForm, panel, out, r0, r1) }
                            case let .wide(c): c.withUnsafeBufferPointer { panelProduct(starts, $0, v, blocked?.wideForm, panel, out, r0, r1) }
                            }
                            transpose(out + r0 * 64, rows: r1 - r0, columns: w, sourceStride: 64, into: y + j * m + r0, destinationStride: m)
                        }
                        if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
                        j += 64
                    }
                }
            }
        }
    }

    /// `parts + 1` row boundaries, from 0 to `rows`, that give each of the `parts` ranges
    /// about the same number of stored entries (a range may be empty).
    public func rowPartition(_ parts: Int) -> [Int] {
        precondition(parts >= 1, "a partition needs at least one part, got \(parts)")
        var bounds = [0]
        let total = nonZeroCount
        for i in 1..<parts {
            let target = Int32(total * i / parts)
            // The first row whose start reaches the target (binary search on the offsets).
            var lo = bounds.last!, hi = rows
            while lo < hi {
                let mid = (lo + hi) / 2
                if rowStarts[mid] < target { lo = mid + 1 } else { hi = mid }
            }
            bounds.append(lo)
        }
        bounds.append(rows)
        return bounds
    }
}

/// `spmv` for 16-bit column indices, which it reads four at a time as one 64-bit word and
/// splits with shifts: one load instead of four per group of indices leaves the load
/// ports to the gathers of `x`, the real cost (4096² at 90%: 3.0× → 4.9–5.5× dense sgemv
/// in a C prototype of the same loop; in Swift, side by side with `spmv`, the medians
/// overlap within this machine's noise).
@inline(__always)
private func spmvNarrow(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<UInt16>, _ values: UnsafeBufferPointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    guard let c = columns.baseAddress, let v = values.baseAddress else {
        for r in r0..<r1 { y[r] = 0 }
        return
    }
    let indices = UnsafeRawPointer(c)
    spmvRows(starts, c, v, x, y, r0, r1) { p in
        let a = indices.loadUnaligned(fromByteOffset: 2 * p, as: UInt64.self)
        let b = indices.loadUnaligned(fromByteOffset: 2 * p + 8, as: UInt64.self)
        return SIMD8<Float>(x[Int(truncatingIfNeeded: a & 0xFFFF)], x[Int(truncatingIfNeeded: (a >> 16) & 0xFFFF)],
                            x[Int(truncatingIfNeeded: (a >> 32) & 0xFFFF)], x[Int(truncatingIfNeeded: a >> 48)],
                            x[Int(truncatingIfNeeded: b & 0xFFFF)], x[Int(truncatingIfNeeded: (b >> 16) & 0xFFFF)],
                            x[Int(truncatingIfNeeded: (b >> 32) & 0xFFFF)], x[Int(truncatingIfNeeded: b >> 48)])
    }
}

/// Row-by-row sparse matrix × vector: 16 entries per step into two independent SIMD8
/// accumulators (the gathers of `x` hit L1; the stream of values and indices is the cost).
@inline(__always)
private func spmv<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    guard let c = columns.baseAddress, let v = values.baseAddress else {
        for r in r0..<r1 { y[r] = 0 }
        return
    }
    spmvRows(starts, c, v, x, y, r0, r1) { p in
        SIMD8<Float>(x[Int(c[p])], x[Int(c[p + 1])], x[Int(c[p + 2])], x[Int(c[p + 3])],
                     x[Int(c[p + 4])], x[Int(c[p + 5])], x[Int(c[p + 6])], x[Int(c[p + 7])])
    }
}

/// `y += x[r] · row r` for every row with `x[r] ≠ 0`, four entries per step: `four(p)`
/// gives the columns of entries `p ..< p + 4`. The stored columns of one row are
/// distinct, so the four updates of a step never touch the same entry of `y`.
@inline(__always)
private func scatterRows<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ c: UnsafePointer<Index>, _ v: UnsafePointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ rows: Range<Int>,
    _ four: (Int) -> (Int, Int, Int, Int)
) {
    let raw = UnsafeRawPointer(v)
    for r in rows {
        let a = x[r]
        if a == 0 { continue }
        var p = Int(starts[r])
        let end = Int(starts[r + 1])
        while p + 4 <= end {
            let (c0, c1, c2, c3) = four(p)
            let w = raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD4<Float>.self) * a
            y[c0] += w[0]; y[c1] += w[1]; y[c2] += w[2]; y[c3] += w[3]
            p += 4
        }
        while p < end { y[Int(c[p])] += a * v[p]; p += 1 }
    }
}

/// The row loop of the sparse × vector kernels: `gather(p)` gives `x` at the columns of
/// stored entries `p ..< p + 8`.
@inline(__always)
private func spmvRows<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ c: UnsafePointer<Index>, _ v: UnsafePointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int,
    _ gather: (Int) -> SIMD8<Float>
) {
    let raw = UnsafeRawPointer(v)
    let total = Int(starts[starts.count - 1])
    let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    for r in r0..<r1 {
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
        // The last 1–7 entries as one masked step when 8 entries can be read (the next row's
        // are read and dropped): a chain of up to 7 dependent scalar FMAs cost more than the
        // row's other work at 78 entries a row. Both factors are zeroed in the dropped lanes,
        // so an infinite input elsewhere cannot turn them into NaN.
        if p < end && p + 8 <= total {
            let drop = .!(lane .< SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: end - p)))
            let w = raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self).replacing(with: 0, where: drop)
            acc1.addProduct(w, gather(p).replacing(with: 0, where: drop))
            p = end
        }
        // Halving tree (3 dependent adds); `SIMD8.sum()` adds the lanes one after another.
        let eight = acc0 + acc1
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        var sum = two[0] + two[1]
        while p < end { sum += v[p] * x[Int(c[p])]; p += 1 }
        y[r] = sum
    }
}

/// Sparse × dense with the batch contiguous, for rows `r0 ..< r1`: the batch is walked in
/// panels (outer loop), so the part of `xt` one panel reads stays in cache while every
/// row's stored weights scale its rows into the output. `lanes` SIMD8 accumulators
/// (1, 2, 4 or 8) stay in registers: a panel is `8·lanes` samples wide.
@inline(__always)
private func spmmPanel<Index: FixedWidthInteger & UnsignedInteger>(
    lanes: Int, accumulate: Bool = false, _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>,
    _ values: UnsafeBufferPointer<Float>,
    _ xt: UnsafePointer<Float>, _ n: Int, _ j: Int, _ yt: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    let raw = UnsafeRawPointer(xt + j)
    for r in r0..<r1 {
        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        if accumulate {
            // Adds to the row's output (a block of columns at a time): nothing to add, nothing to do.
            if starts[r] == starts[r + 1] { continue }
            let o = UnsafeRawPointer(yt + r * n + j)
            a0 = o.loadUnaligned(as: SIMD8<Float>.self)
            if lanes >= 2 { a1 = o.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) }
            if lanes >= 4 {
                a2 = o.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                a3 = o.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
            }
            if lanes >= 8 {
                a4 = o.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self)
                a5 = o.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self)
                a6 = o.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self)
                a7 = o.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self)
            }
        }
        for p in Int(starts[r])..<Int(starts[r + 1]) {
            let w = SIMD8<Float>(repeating: values[p])
            let row = raw + 4 * Int(columns[p]) * n
            a0.addProduct(w, row.loadUnaligned(as: SIMD8<Float>.self))
            if lanes >= 2 { a1.addProduct(w, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)) }
            if lanes >= 4 {
                a2.addProduct(w, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(w, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
            }
            if lanes >= 8 {
                a4.addProduct(w, row.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self))
                a5.addProduct(w, row.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self))
                a6.addProduct(w, row.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self))
                a7.addProduct(w, row.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self))
            }
        }
        let o = UnsafeMutableRawPointer(yt + r * n + j)
        o.storeBytes(of: a0, as: SIMD8<Float>.self)
        if lanes >= 2 { o.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self) }
        if lanes >= 4 {
            o.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            o.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
        }
        if lanes >= 8 {
            o.storeBytes(of: a4, toByteOffset: 128, as: SIMD8<Float>.self)
            o.storeBytes(of: a5, toByteOffset: 160, as: SIMD8<Float>.self)
            o.storeBytes(of: a6, toByteOffset: 192, as: SIMD8<Float>.self)
            o.storeBytes(of: a7, toByteOffset: 224, as: SIMD8<Float>.self)
        }
    }
}

/// Pointers to a CSR matrix's column-blocked entries (valid inside
/// `CSRMatrix.withBlockedBuffers`); the kernels take them as `Blocked<Index>`.
private struct BlockedBuffers {
    let blocks: CSRMatrix.ColumnBlocks
    let starts: UnsafeBufferPointer<Int32>
    let values: UnsafeBufferPointer<Float>
    let narrow: UnsafeBufferPointer<UInt16>?
    let wide: UnsafeBufferPointer<UInt32>?
    var narrowForm: Blocked<UInt16>? { narrow.map { Blocked(blocks: blocks, starts: starts, columns: $0, values: values) } }
    var wideForm: Blocked<UInt32>? { wide.map { Blocked(blocks: blocks, starts: starts, columns: $0, values: values) } }
}

/// The column-blocked entries with their index type.
private struct Blocked<Index: FixedWidthInteger & UnsignedInteger> {
    let blocks: CSRMatrix.ColumnBlocks
    let starts: UnsafeBufferPointer<Int32>
    let columns: UnsafeBufferPointer<Index>
    let values: UnsafeBufferPointer<Float>

    /// One contiguous 64-sample panel (`panel` is `[columns, 64]`) times rows `r0 ..< r1`:
    /// for each block of 512 rows, block by block of columns, so that slice of the panel
    /// and the rows' outputs stay in L2. `out` row `r` is at `out + 64·r`.
    @inline(__always)
    func panel(_ panel: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ rows: Int, _ r0: Int, _ r1: Int) {
        guard r1 > r0 else { return }
        (out + 64 * r0).update(repeating: 0, count: 64 * (r1 - r0))
        var lo = r0
        while lo < r1 {
            let hi = Swift.min(lo + 512, r1)
            for b in 0..<blocks.blockCount {
                let block = UnsafeBufferPointer(rebasing: starts[(b * rows)...(b * rows + rows)])
                spmmPanel(lanes: 8, accumulate: true, block, columns, values, panel, 64, 0, out, lo, hi)
            }
            lo = hi
        }
    }
}

extension CSRMatrix {
    /// Runs `body` with pointers to the column-blocked entries, or nil when none are attached.
    fileprivate func withBlockedBuffers<R>(_ body: (BlockedBuffers?) -> R) -> R {
        guard let blocks = columnBlocks else { return body(nil) }
        let m = blocks.matrix
        return m.rowStarts.withUnsafeBufferPointer { s in
            m.values.withUnsafeBufferPointer { v in
                switch m.columnIndices {
                case let .narrow(c):
                    return c.withUnsafeBufferPointer { body(BlockedBuffers(blocks: blocks, starts: s, values: v, narrow: $0, wide: nil)) }
                case let .wide(c):
                    return c.withUnsafeBufferPointer { body(BlockedBuffers(blocks: blocks, starts: s, values: v, narrow: nil, wide: $0)) }
                }
            }
        }
    }
}

/// Rows `r0 ..< r1` times one contiguous 64-sample panel (`[columns, 64]`) into `out`
/// (row `r` at `out + 64·r`): through the column-blocked entries when there are any.
@inline(__always)
private func panelProduct<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ blocked: Blocked<Index>?, _ panel: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    if let blocked {
        blocked.panel(panel, out, starts.count - 1, r0, r1)
    } else {
        spmmPanel(lanes: 8, starts, columns, values, panel, 64, 0, out, r0, r1)
    }
}

/// `spmmPanel` over the whole batch. Full 64-sample panels of a batch of 128 or more are
/// first copied into a contiguous `[k, 64]` block: read in place, a panel is a 256-byte
/// slice of every row of `xt` and the stride crowds it into a fraction of the cache
/// sets (measured 25 → 17–20 ms for 4096² at 90%, batch 128).
@inline(__always)
private func spmm<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ xt: UnsafePointer<Float>, _ n: Int, _ k: Int, _ yt: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int,
    _ blocked: Blocked<Index>?
) {
    let width = 64
    var j = 0
    if n >= 2 * width && r1 > r0 {
        let panel = allocateLineAligned(k * width)
        defer { panel.deallocate() }
        let out = allocateLineAligned((r1 - r0) * width)
        defer { out.deallocate() }
        while j + width <= n {
            for c in 0..<k { (panel + c * width).update(from: xt + c * n + j, count: width) }
            panelProduct(starts, columns, values, blocked, panel, out - r0 * width, r0, r1)
            for r in r0..<r1 { (yt + r * n + j).update(from: out + (r - r0) * width, count: width) }
            j += width
        }
    }
    while j + 64 <= n { spmmPanel(lanes: 8, starts, columns, values, xt, n, j, yt, r0, r1); j += 64 }
    while j + 32 <= n { spmmPanel(lanes: 4, starts, columns, values, xt, n, j, yt, r0, r1); j += 32 }
    while j + 16 <= n { spmmPanel(lanes: 2, starts, columns, values, xt, n, j, yt, r0, r1); j += 16 }
    while j + 8 <= n { spmmPanel(lanes: 1, starts, columns, values, xt, n, j, yt, r0, r1); j += 8 }
    while j < n {
        for r in r0..<r1 {
            var s: Float = 0
            for p in Int(starts[r])..<Int(starts[r + 1]) { s += values[p] * xt[Int(columns[p]) * n + j] }
            yt[r * n + j] = s
        }
        j += 1
    }
}

/// Room for `count` floats starting on a 64-byte cache line, for the panels of the batch
/// products: a feature's 256-byte slice then spans exactly four lines and no 32-byte load
/// straddles two (which cost about a tenth of the batch-128 product's time).
private func allocateLineAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: 4 * count, alignment: 64).bindMemory(to: Float.self, capacity: count)
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

/// A `[rows, columns]` Float32 matrix as a bitmask and its kept values: bit `i` of the
/// row-major entries (byte `i / 8`, least significant bit first) says whether entry `i` is
/// stored, and `values` holds the stored entries in order. At moderate sparsity this is
/// the smallest form (1/8 byte per entry plus the values; CSR costs 2 bytes of index per
/// stored value, so the bitmask is smaller above 1/16 density). Products go through
/// `csr()`, which builds the CSR arrays straight from the bits.
public struct BitmaskMatrix: Equatable, Sendable {
    /// The matrix height.
    public let rows: Int
    /// The matrix width.
    public let columns: Int
    /// `(rows · columns + 7) / 8` bytes; padding bits are zero.
    public let bits: [UInt8]
    /// The stored values in row-major order.
    public let values: [Float]

    /// The form of a rank-2 `matrix`, storing the entries where `mask` is not zero (every
    /// non-zero entry when `mask` is nil). A kept zero is stored as a value.
    public init(_ matrix: Tensor, mask: Tensor? = nil) {
        precondition(matrix.rank == 2, "a bitmask matrix needs a matrix, got shape \(matrix.shape)")
        precondition(mask == nil || mask!.shape == matrix.shape, "mask shape \(mask!.shape) differs from \(matrix.shape)")
        rows = matrix.shape[0]
        columns = matrix.shape[1]
        var bits = [UInt8](repeating: 0, count: (matrix.count + 7) / 8)
        var kept: [Float] = []
        let m = matrix.scalars, k = mask?.scalars ?? m
        for i in 0..<m.count where k[i] != 0 {
            bits[i >> 3] |= 1 << UInt8(i & 7)
            kept.append(m[i])
        }
        self.bits = bits
        values = kept
    }

    /// Creates a matrix from its arrays.
    /// - Returns: nil when the bitmask has the wrong length, sets padding bits, or sets a
    ///   different number of bits than there are values.
    public init?(rows: Int, columns: Int, bits: [UInt8], values: [Float]) {
        guard rows >= 0, columns >= 0, case let (n, overflow) = rows.multipliedReportingOverflow(by: columns),
              !overflow, n <= Int.max - 7, bits.count == (n + 7) / 8,
              bits.reduce(0, { $0 + $1.nonzeroBitCount }) == values.count,
              n % 8 == 0 || bits[n / 8] >> UInt8(n % 8) == 0 else { return nil }
        self.rows = rows; self.columns = columns; self.bits = bits; self.values = values
    }

    /// The dense matrix (zeros where nothing is stored).
    public func dense() -> Tensor {
        var out = Tensor.zeros([rows, columns])
        var next = 0
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<o.count where bits[i >> 3] >> UInt8(i & 7) & 1 != 0 {
                o[i] = values[next]
                next += 1
            }
        }
        return out
    }

    /// The same stored entries in CSR form, built from the bits (the dense matrix is never made).
    public func csr() -> CSRMatrix {
        var starts = [Int32](repeating: 0, count: rows + 1)
        var narrow: [UInt16] = [], wide: [UInt32] = []
        let useNarrow = columns <= 65_536
        if useNarrow { narrow.reserveCapacity(values.count) } else { wide.reserveCapacity(values.count) }
        var count = 0
        for r in 0..<rows {
            var i = r * columns
            let end = i + columns
            while i < end {
                // Skip whole zero bytes, then walk the set bits one by one.
                if i & 7 == 0, i + 8 <= end, bits[i >> 3] == 0 { i += 8; continue }
                if bits[i >> 3] >> UInt8(i & 7) & 1 != 0 {
                    let c = i - r * columns
                    if useNarrow { narrow.append(UInt16(truncatingIfNeeded: c)) } else { wide.append(UInt32(c)) }
                    count += 1
                }
                i += 1
            }
            starts[r + 1] = Int32(count)
        }
        return CSRMatrix(rows: rows, columns: columns, rowStarts: starts,
                         columnIndices: useNarrow ? .narrow(narrow) : .wide(wide), values: values)!
    }
}

/// A `[rows, columns]` Float32 matrix with at most `n` kept entries in every group of `m`
/// consecutive entries of a row (N:M sparsity, e.g. 2:4): each group stores exactly `n`
/// values and `n` 4-bit positions within the group (two to a byte), padding with zero
/// values at position 0 when a group keeps fewer. 2:4 thus takes half the values of the
/// dense matrix plus 1/4 byte of index per value, with no row offsets: every row has the
/// same length. The last group of a row may be shorter than `m` when `m` does not divide
/// `columns`. A kept entry whose value is zero cannot be told from padding: conversions
/// reproduce the values exactly, not such a mask.
public struct NMMatrix: Equatable, Sendable {
    /// The matrix height and width.
    public let rows: Int, columns: Int
    /// Kept entries per group, and the group length (`1 ≤ n ≤ m ≤ 16`).
    public let n: Int, m: Int
    /// `rows · groups · n` values, group by group.
    public let values: [Float]
    /// The position within its group of each value, 4 bits each, the first in the low nibble.
    public let positions: [UInt8]

    /// Groups per row.
    public var groups: Int { (columns + m - 1) / m }
    /// Bytes of the values and positions.
    public var bytes: Int { 4 * values.count + positions.count }

    /// The N:M form of a rank-2 `matrix`, storing the entries where `mask` is not zero
    /// (every non-zero entry when `mask` is nil).
    /// - Returns: nil when a group keeps more than `n` entries.
    public init?(_ matrix: Tensor, mask: Tensor? = nil, n: Int, m: Int) {
        precondition(matrix.rank == 2, "an N:M matrix needs a matrix, got shape \(matrix.shape)")
        precondition(mask == nil || mask!.shape == matrix.shape, "mask shape \(mask!.shape) differs from \(matrix.shape)")
        precondition(1 <= n && n <= m && m <= 16, "N:M needs 1 ≤ n ≤ m ≤ 16, got \(n):\(m)")
        rows = matrix.shape[0]; columns = matrix.shape[1]; self.n = n; self.m = m
        let groups = (columns + m - 1) / m
        var values = [Float](repeating: 0, count: rows * groups * n)
        var nibbles = [UInt8](repeating: 0, count: values.count)
        let w = matrix.scalars, k = mask?.scalars ?? w
        for r in 0..<rows {
            for g in 0..<groups {
                var slot = (r * groups + g) * n
                let end = slot + n
                for j in g * m..<Swift.min(g * m + m, columns) where k[r * columns + j] != 0 {
                    guard slot < end else { return nil }
                    values[slot] = w[r * columns + j]
                    nibbles[slot] = UInt8(j - g * m)
                    slot += 1
                }
            }
        }
        self.values = values
        positions = stride(from: 0, to: nibbles.count, by: 2).map { i in
            nibbles[i] | (i + 1 < nibbles.count ? nibbles[i + 1] << 4 : 0)
        }
    }

    /// The position within its group of value `i`.
    @inline(__always) public func position(_ i: Int) -> Int { Int(positions[i >> 1] >> UInt8((i & 1) << 2) & 0xF) }

    /// The dense matrix (padding values are zeros, so they add nothing).
    public func dense() -> Tensor {
        var out = Tensor.zeros([rows, columns])
        let groups = self.groups
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                for g in 0..<groups {
                    for s in 0..<n {
                        let i = (r * groups + g) * n + s
                        if values[i] != 0 { o[r * columns + g * m + position(i)] = values[i] }
                    }
                }
            }
        }
        return out
    }

    /// `y = A·x` for a vector `x` of `columns` entries: `rows` entries. Each row runs over its
    /// `groups · n` slots, reading `x` at `group·m + position` (no row offsets to load).
    public func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let groups = self.groups, (n, m) = (self.n, self.m)
        values.withUnsafeBufferPointer { v in
            positions.withUnsafeBufferPointer { pos in
                for r in 0..<rows {
                    var sum: Float = 0
                    var i = r * groups * n
                    for g in 0..<groups {
                        let base = g * m
                        for _ in 0..<n {
                            sum += v[i] * x[base + Int(pos[i >> 1] >> UInt8((i & 1) << 2) & 0xF)]
                            i += 1
                        }
                    }
                    y[r] = sum
                }
            }
        }
    }

    /// The CSR form of the non-zero stored entries (batch products go through it: at 2:4
    /// the values are half the matrix, where a dense product is the faster one anyway).
    public func csr() -> CSRMatrix {
        var starts = [Int32](repeating: 0, count: rows + 1)
        var kept: [Float] = [], columnsOf: [UInt32] = []
        let groups = self.groups
        for r in 0..<rows {
            for g in 0..<groups {
                // Slots in position order, skipping zero padding.
                let slots = (0..<n).map { (r * groups + g) * n + $0 }.filter { values[$0] != 0 }.sorted { position($0) < position($1) }
                for i in slots { kept.append(values[i]); columnsOf.append(UInt32(g * m + position(i))) }
            }
            starts[r + 1] = Int32(kept.count)
        }
        let indices: CSRMatrix.ColumnIndices = columns <= 65_536 ? .narrow(columnsOf.map { UInt16($0) }) : .wide(columnsOf)
        return CSRMatrix(rows: rows, columns: columns, rowStarts: starts, columnIndices: indices, values: kept)!
    }
}
