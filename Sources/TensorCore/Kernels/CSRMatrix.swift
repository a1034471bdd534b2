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
    public private(set) var values: [Float]
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
        #if DEBUG
        regrouped.checkInvariants()
        #endif
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
        #if DEBUG
        checkInvariants()
        #endif
    }

    /// Creates a matrix from its arrays.
    /// - Returns: nil when the arrays are inconsistent (offsets not rising from 0 to the
    ///   value count, a column out of range or not rising strictly within its row, counts
    ///   that differ).
    public init?(rows: Int, columns: Int, rowStarts: [Int32], columnIndices: ColumnIndices, values: [Float]) {
        guard Self.invariantViolation(rows: rows, columns: columns, rowStarts: rowStarts, columnIndices: columnIndices,
                                      valueCount: values.count) == nil else { return nil }
        self.rows = rows; self.columns = columns; self.rowStarts = rowStarts
        self.columnIndices = columnIndices; self.values = values
    }

    /// The same structure with other values (in the same order); column blocks are dropped.
    /// - Precondition: `values.count == nonZeroCount`.
    public func withValues(_ values: [Float]) -> CSRMatrix {
        precondition(values.count == nonZeroCount, "\(values.count) values for \(nonZeroCount) stored entries")
        var copy = self
        copy.values = values
        copy.columnBlocks = nil
        return copy
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
