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
        let (rows, columns) = (matrix.shape[0], matrix.shape[1])   // locals: the closures below cannot read self yet
        let groups = (columns + m - 1) / m, count = rows * groups * n
        var values = [Float](repeating: 0, count: count)
        var positions = [UInt8](repeating: 0, count: (count + 1) / 2)
        let fits = matrix.withUnsafeBufferPointer { w in
            (mask ?? matrix).withUnsafeBufferPointer { k in
                values.withUnsafeMutableBufferPointer { v in
                    positions.withUnsafeMutableBufferPointer { p in
                        for r in 0..<rows {
                            let row = r * columns
                            for g in 0..<groups {
                                var slot = (r * groups + g) * n
                                let end = slot + n
                                for j in g * m..<Swift.min(g * m + m, columns) where k[row + j] != 0 {
                                    guard slot < end else { return false }
                                    v[slot] = w[row + j]
                                    p[slot >> 1] |= UInt8(j - g * m) << UInt8((slot & 1) << 2)
                                    slot += 1
                                }
                            }
                        }
                        return true
                    }
                }
            }
        }
        guard fits else { return nil }
        self.values = values
        self.positions = positions
    }

    /// An N:M matrix from the arrays `values` and `positions` hold (as a model file stores
    /// them), or nil when they do not describe one: wrong counts, a position outside its group,
    /// two non-zero values of a group at one position, or set padding bits.
    public init?(rows: Int, columns: Int, n: Int, m: Int, values: [Float], positions: [UInt8]) {
        guard rows >= 0, columns >= 1, 1 <= n, n <= m, m <= 16 else { return nil }
        let groups = (columns + m - 1) / m
        guard values.count == rows * groups * n, positions.count == (values.count + 1) / 2 else { return nil }
        if values.count % 2 == 1, positions.last! >> 4 != 0 { return nil }
        self.rows = rows; self.columns = columns; self.n = n; self.m = m
        self.values = values; self.positions = positions
        for r in 0..<rows {
            for g in 0..<groups {
                let length = Swift.min(m, columns - g * m)
                var seen: UInt16 = 0
                for i in (r * groups + g) * n..<(r * groups + g + 1) * n {
                    let p = position(i)
                    guard p < length else { return nil }
                    if values[i] != 0 {
                        guard seen & (1 << p) == 0 else { return nil }
                        seen |= 1 << p
                    }
                }
            }
        }
    }

    /// The N:M pattern that the non-zero entries of a rank-2 `kept` (a mask, or a weight's
    /// non-zeros) follow, if any: the smallest `n` with at most `n` non-zero entries in every
    /// group of `m` consecutive entries of a row, for `m` of 4 and then 8, when `n ≤ m/2` and
    /// the entries fill at least 3/4 of the pattern's slots. A dense or lightly pruned matrix
    /// has no such pattern, and neither has a much sparser one that fits a pattern by chance
    /// (1 entry in 20 fits 1:4, but the N:M form would store and multiply 5 slots per entry).
    /// - Complexity: O(rows · columns).
    public static func pattern(of kept: Tensor) -> (n: Int, m: Int)? {
        guard kept.rank == 2 else { return nil }
        let (rows, columns) = (kept.shape[0], kept.shape[1])
        for m in [4, 8] where columns % m == 0 {
            var most = 0, total = 0
            kept.withUnsafeBufferPointer { k in
                for r in 0..<rows {
                    for g in stride(from: r * columns, to: (r + 1) * columns, by: m) {
                        var count = 0
                        for j in g..<g + m where k[j] != 0 { count += 1 }
                        most = Swift.max(most, count)
                        total += count
                    }
                    if 2 * most > m { break }
                }
            }
            if most >= 1, 2 * most <= m, 4 * total >= 3 * rows * (columns / m) * most { return (most, m) }
        }
        return nil
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
