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
