import TensorCore
import TestSupport
import Testing

@Suite("CSR sparse matrices and products")
struct SparseTests {
    /// A `rows × columns` matrix with about `sparsity` zeros, row 0 empty and the last row full.
    static func matrix(_ rows: Int, _ columns: Int, sparsity: Double, seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        var m = Tensor.uniform([rows, columns], low: -1, high: 1, using: &rng)
        let keep = Tensor.uniform([rows, columns], low: 0, high: 1, using: &rng)
        for i in 0..<m.count where keep[flat: i] < Float(sparsity) { m[flat: i] = 0 }
        if rows > 1 {
            for j in 0..<columns { m[flat: j] = 0 }                                   // an empty row
            for j in 0..<columns { m[flat: (rows - 1) * columns + j] = Float(j + 1) } // a full row
        }
        return m
    }

    static let shapes: [(Int, Int)] = [(1, 1), (1, 17), (9, 1), (7, 13), (33, 65), (100, 300)]

    @Test("dense → CSR → dense is exact, for every shape and sparsity", arguments: shapes)
    func roundTrip(_ shape: (Int, Int)) {
        for sparsity in [0.0, 0.5, 0.9, 1.0] {
            let m = Self.matrix(shape.0, shape.1, sparsity: sparsity, seed: UInt64(shape.0 * 31 + shape.1))
            let csr = CSRMatrix(m)
            #expect(csr.nonZeroCount == m.nonZeroCount())
            #expect(csr.dense().scalars.map(\.bitPattern) == m.scalars.map(\.bitPattern))
            #expect(csr.rowStarts.count == shape.0 + 1)
            if case .narrow = csr.columnIndices {} else { Issue.record("expected 16-bit indices for \(shape)") }
        }
    }

    @Test("a mask keeps chosen entries, zeros included; a matrix wider than 65,536 uses 32-bit indices")
    func maskAndWidth() {
        let m = Tensor(shape: [2, 3], scalars: [0, 2, 3, 4, 0, 6])
        let mask = Tensor(shape: [2, 3], scalars: [1, 0, 1, 1, 1, 0])
        let csr = CSRMatrix(m, mask: mask)
        #expect(csr.values == [0, 3, 4, 0])
        #expect(csr.rowStarts == [0, 2, 4])
        #expect(csr.columnIndices == .narrow([0, 2, 0, 1]))
        #expect(csr.dense().scalars == [0, 0, 3, 4, 0, 0])
        var wide = Tensor.zeros([1, 70_000])
        wide[flat: 69_999] = 5
        let w = CSRMatrix(wide)
        #expect(w.columnIndices == .wide([69_999]))
        #expect(w.bytes == 8 + 4 + 4)
        #expect(w.dense() == wide)
    }

    @Test("inconsistent arrays are refused")
    func validation() {
        #expect(CSRMatrix(rows: 1, columns: 2, rowStarts: [0, 1], columnIndices: .narrow([1]), values: [3]) != nil)
        #expect(CSRMatrix(rows: 1, columns: 2, rowStarts: [0, 1], columnIndices: .narrow([2]), values: [3]) == nil)
        #expect(CSRMatrix(rows: 2, columns: 2, rowStarts: [0, 1], columnIndices: .narrow([1]), values: [3]) == nil)
        #expect(CSRMatrix(rows: 2, columns: 2, rowStarts: [0, 2, 1], columnIndices: .narrow([1, 0]), values: [3, 4]) == nil)
        #expect(CSRMatrix(rows: 1, columns: 2, rowStarts: [1, 1], columnIndices: .narrow([]), values: []) == nil)
        #expect(CSRMatrix(rows: 1, columns: 2, rowStarts: [0, 2], columnIndices: .wide([0]), values: [1, 2]) == nil)
    }

    @Test("sparse × vector matches the naive twin", arguments: shapes)
    func vectorProduct(_ shape: (Int, Int)) {
        for sparsity in [0.0, 0.7, 0.95] {
            let csr = CSRMatrix(Self.matrix(shape.0, shape.1, sparsity: sparsity, seed: 5))
            let x = randomTensor([shape.1], seed: 6).scalars
            var y = [Float](repeating: .nan, count: shape.0)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { csr.multiply(vector: xp.baseAddress!, into: $0.baseAddress!) } }
            #expect(maxRelativeError(y, naiveSparseProduct(csr, x, n: 1)) < 1e-5)
        }
    }

    @Test("sparse × batch (feature-major) matches the naive twin for odd and vector-sized batches", arguments: [1, 3, 8, 13, 64, 70, 128])
    func batchProduct(_ n: Int) {
        for (rows, columns) in [(7, 13), (33, 65), (100, 300)] {
            let csr = CSRMatrix(Self.matrix(rows, columns, sparsity: 0.8, seed: UInt64(n)))
            let xt = randomTensor([columns, n], seed: 9).scalars
            var yt = [Float](repeating: .nan, count: rows * n)
            xt.withUnsafeBufferPointer { xp in
                yt.withUnsafeMutableBufferPointer { csr.multiply(transposedBatch: xp.baseAddress!, count: n, into: $0.baseAddress!) }
            }
            #expect(maxRelativeError(yt, naiveSparseProduct(csr, xt, n: n)) < 1e-5, "\(rows)×\(columns) batch \(n)")
        }
    }
}
