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

    /// The worst difference from the naive twin, relative to the sum of |weight·input| of each
    /// output (a float sum of many terms rounds in proportion to that sum, not to its result:
    /// the full row of `matrix` sums hundreds of large terms that largely cancel).
    static func error(_ csr: CSRMatrix, _ xt: [Float], n: Int, _ yt: [Float]) -> Double {
        let expected = naiveSparseProduct(csr, xt, n: n)
        var worst = 0.0
        for r in 0..<csr.rows {
            for j in 0..<n {
                var magnitude = 0.0
                for p in Int(csr.rowStarts[r])..<Int(csr.rowStarts[r + 1]) {
                    magnitude += abs(Double(csr.values[p]) * Double(xt[columnOf(csr, p) * n + j]))
                }
                worst = max(worst, abs(Double(yt[r * n + j]) - Double(expected[r * n + j])) / max(1, magnitude))
            }
        }
        return worst
    }

    static func columnOf(_ csr: CSRMatrix, _ p: Int) -> Int {
        switch csr.columnIndices {
        case let .narrow(c): return Int(c[p])
        case let .wide(c): return Int(c[p])
        }
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
        // Columns must rise strictly within a row (a repeated one would be added twice by the
        // kernels but kept once by dense()); a new row may start lower.
        #expect(CSRMatrix(rows: 1, columns: 3, rowStarts: [0, 2], columnIndices: .narrow([1, 1]), values: [1, 2]) == nil)
        #expect(CSRMatrix(rows: 1, columns: 3, rowStarts: [0, 2], columnIndices: .wide([2, 0]), values: [1, 2]) == nil)
        #expect(CSRMatrix(rows: 2, columns: 3, rowStarts: [0, 1, 2], columnIndices: .narrow([2, 0]), values: [1, 2]) != nil)
        // Sizes whose product overflows are refused, not trapped on.
        #expect(BitmaskMatrix(rows: Int.max, columns: 3, bits: [], values: []) == nil)
    }

    @Test("sparse × vector matches the naive twin", arguments: shapes)
    func vectorProduct(_ shape: (Int, Int)) {
        for sparsity in [0.0, 0.7, 0.95] {
            let csr = CSRMatrix(Self.matrix(shape.0, shape.1, sparsity: sparsity, seed: 5))
            let x = randomTensor([shape.1], seed: 6).scalars
            let y = csr.multiply(vector: Tensor(shape: [shape.1], scalars: x)).scalars
            #expect(Self.error(csr, x, n: 1, y) < 1e-6)
        }
    }

    @Test("a row's last entries read the next row's and drop them: an infinite input there stays out of the row")
    func vectorTail() {
        // Row 0: columns 0–2 (a 3-entry tail); row 1: columns 3–15; x[5] is infinite.
        var m = Tensor.zeros([2, 16])
        for j in 0..<3 { m[flat: j] = Float(j + 1) }
        for j in 3..<16 { m[flat: 16 + j] = 1 }
        let csr = CSRMatrix(m)
        var x = [Float](repeating: 1, count: 16)
        x[5] = .infinity
        let y = csr.multiply(vector: Tensor(shape: [16], scalars: x)).scalars
        #expect(y[0] == 6)
        #expect(y[1] == .infinity)
    }

    @Test("sparse × batch (feature-major) matches the naive twin for odd and vector-sized batches", arguments: [1, 3, 8, 13, 64, 70, 128, 200])
    func batchProduct(_ n: Int) {
        for (rows, columns) in [(7, 13), (33, 65), (100, 300)] {
            let csr = CSRMatrix(Self.matrix(rows, columns, sparsity: 0.8, seed: UInt64(n)))
            let xt = randomTensor([columns, n], seed: 9).scalars
            let yt = csr.multiply(transposedBatch: Tensor(shape: [columns, n], scalars: xt)).scalars
            #expect(Self.error(csr, xt, n: n, yt) < 1e-6, "\(rows)×\(columns) batch \(n)")
        }
    }

    @Test("row ranges split the stored entries evenly and cover every row once")
    func partition() {
        let csr = CSRMatrix(Self.matrix(100, 300, sparsity: 0.9, seed: 3))
        let longest = (0..<100).map { Int(csr.rowStarts[$0 + 1] - csr.rowStarts[$0]) }.max()!
        for parts in [1, 2, 3, 7, 150] {
            let b = csr.rowPartition(parts)
            #expect(b.count == parts + 1 && b.first == 0 && b.last == 100)
            #expect(zip(b, b.dropFirst()).allSatisfy { $0 <= $1 })
            for i in 0..<parts {
                let share = Int(csr.rowStarts[b[i + 1]] - csr.rowStarts[b[i]])
                #expect(abs(share - csr.nonZeroCount / parts) <= longest + 1, "part \(i) of \(parts): \(share)")
            }
        }
        #expect(CSRMatrix(Tensor.zeros([0, 4])).rowPartition(2) == [0, 0, 0])
    }

    @Test("products split between threads match the naive twin", arguments: [2, 3])
    func threaded(_ threads: Int) {
        let pool = WorkerPool(count: threads)
        let csr = CSRMatrix(Self.matrix(300, 784, sparsity: 0.8, seed: 21))
        for n in [1, 5, 130] {
            let xt = randomTensor([784, n], seed: 22).scalars
            let yt = csr.multiply(transposedBatch: Tensor(shape: [784, n], scalars: xt), pool: pool).scalars
            #expect(Self.error(csr, xt, n: n, yt) < 1e-6, "batch \(n), \(threads) threads")
        }
    }

    @Test("dense → bitmask → dense and bitmask → CSR are exact; bad arrays are refused", arguments: shapes)
    func bitmask(_ shape: (Int, Int)) {
        for sparsity in [0.0, 0.5, 0.93, 1.0] {
            let m = Self.matrix(shape.0, shape.1, sparsity: sparsity, seed: UInt64(shape.1 * 7 + shape.0))
            let b = BitmaskMatrix(m)
            #expect(b.values.count == m.nonZeroCount())
            #expect(b.bits.count == (m.count + 7) / 8)
            #expect(b.dense().scalars.map(\.bitPattern) == m.scalars.map(\.bitPattern))
            #expect(b.csr() == CSRMatrix(m), "\(shape) at \(sparsity)")
            #expect(BitmaskMatrix(rows: shape.0, columns: shape.1, bits: b.bits, values: b.values) == b)
            #expect(BitmaskMatrix(rows: shape.0, columns: shape.1, bits: b.bits, values: b.values + [1]) == nil)
            #expect(BitmaskMatrix(rows: shape.0, columns: shape.1, bits: b.bits + [0], values: b.values) == nil)
        }
        // A mask keeps a zero; padding bits past the end are refused.
        let kept = BitmaskMatrix(Tensor(shape: [1, 3], scalars: [0, 2, 0]), mask: Tensor(shape: [1, 3], scalars: [1, 1, 0]))
        #expect(kept.bits == [0b011] && kept.values == [0, 2])
        #expect(BitmaskMatrix(rows: 1, columns: 3, bits: [0b1001], values: [1, 2]) == nil)
        // A matrix wider than 65,536 gets 32-bit CSR indices.
        var wide = Tensor.zeros([2, 70_000])
        wide[flat: 70_000 + 69_999] = 3
        #expect(BitmaskMatrix(wide).csr() == CSRMatrix(wide))
    }

    @Test("N:M: dense → N:M → dense is exact, the product matches the naive twin, over-full groups are refused",
          arguments: [(2, 4), (1, 4), (4, 8), (3, 5)])
    func nm(_ pattern: (Int, Int)) throws {
        let (n, m) = pattern
        for (rows, columns) in [(1, 4), (7, 13), (33, 65), (100, 300)] {
            var rng = SeededGenerator(seed: UInt64(rows * 100 + columns + n))
            var matrix = Tensor.uniform([rows, columns], low: -1, high: 1, using: &rng)
            // Keep at most n per group: the n entries of largest magnitude, or fewer.
            for r in 0..<rows {
                for g in stride(from: 0, to: columns, by: m) {
                    let group = (g..<min(g + m, columns)).sorted { abs(matrix[r, $0]) > abs(matrix[r, $1]) }
                    let keep = (r + g) % 3 == 0 ? n - 1 : n   // some groups keep fewer
                    for j in group.dropFirst(max(keep, 0)) { matrix[r, j] = 0 }
                }
            }
            let packed = try #require(NMMatrix(matrix, n: n, m: m), "\(rows)×\(columns) \(n):\(m)")
            #expect(packed.values.count == rows * ((columns + m - 1) / m) * n)
            #expect(packed.positions.count == (packed.values.count + 1) / 2)
            #expect(packed.dense().scalars.map(\.bitPattern) == matrix.scalars.map(\.bitPattern))
            #expect(packed.csr() == CSRMatrix(matrix))
            let x = randomTensor([columns], seed: 31).scalars
            let y = packed.multiply(vector: Tensor(shape: [columns], scalars: x)).scalars
            #expect(Self.error(CSRMatrix(matrix), x, n: 1, y) < 1e-6)
        }
        // One group too many keeps more than n.
        var full = Tensor(shape: [2, 8], repeating: 1)
        #expect(NMMatrix(full, n: n, m: m) == nil || n == m)
        full = Tensor.zeros([2, 8])
        #expect(NMMatrix(full, n: n, m: m)?.dense() == full)
    }

    @Test("the transpose (CSC) is exact, and Aᵀ·x skipping zero inputs matches the naive twin, whole or by row ranges", arguments: shapes)
    func transposedProduct(_ shape: (Int, Int)) {
        let m = Self.matrix(shape.0, shape.1, sparsity: 0.8, seed: 41)
        let csr = CSRMatrix(m)
        let t = csr.transposed()
        #expect(t.rows == shape.1 && t.columns == shape.0)
        #expect(t.dense() == CSRMatrix(transpose(m)).dense())
        #expect(t.transposed() == csr)
        // x over A's rows, a third of it zero.
        var x = randomTensor([shape.0], seed: 42).scalars
        for i in stride(from: 0, to: x.count, by: 3) { x[i] = 0 }
        let expected = naiveSparseProduct(t, x, n: 1)   // Aᵀ·x as the CSR product of the transpose
        let xv = Tensor(shape: [shape.0], scalars: x)
        let y = csr.multiplyTransposed(vector: xv).scalars
        #expect(Self.error(t, x, n: 1, y) < 1e-6)
        // Two row ranges add up to the whole.
        let half = shape.0 / 2
        let a = csr.multiplyTransposed(vector: xv, rows: 0..<half).scalars
        let b = csr.multiplyTransposed(vector: xv, rows: half..<shape.0).scalars
        #expect(maxRelativeError(zip(a, b).map { $0 + $1 }, expected) < 1e-5)
    }

    func transpose(_ m: Tensor) -> Tensor {
        let (r, c) = (m.shape[0], m.shape[1])
        return Tensor(shape: [c, r], scalars: (0..<r * c).map { m[flat: ($0 % r) * c + $0 / r] })
    }

    @Test("the row-major batch product (panels transposed in and out) matches the naive twin, with and without threads",
          arguments: [1, 5, 8, 63, 64, 70, 130])
    func rowMajorBatch(_ n: Int) {
        let csr = CSRMatrix(Self.matrix(300, 83, sparsity: 0.7, seed: UInt64(n)))
        let x = randomTensor([n, 83], seed: 50).scalars                  // [n, columns], row-major
        let xt = (0..<83 * n).map { x[($0 % n) * 83 + $0 / n] }          // [columns, n] for the twin
        let expected = naiveSparseProduct(csr, xt, n: n)                  // [rows, n]
        for pool in [nil, WorkerPool(count: 2)] {
            let y = csr.multiply(batch: Tensor(shape: [n, 83], scalars: x), pool: pool).scalars
            let yt = (0..<300 * n).map { y[($0 % n) * 300 + $0 / n] }
            #expect(Self.error(csr, xt, n: n, yt) < 1e-6, "batch \(n), \(pool == nil ? 1 : 2) threads")
            #expect(maxRelativeError(yt, expected) < 1e-3)
        }
    }

    @Test("entries regrouped by blocks of columns: every entry once, in its block; the batch products match the naive twin",
          arguments: [(700, 90, 16), (1030, 300, 64), (5, 3, 256), (9, 20, 1)])
    func columnBlocks(_ shape: (Int, Int, Int)) throws {
        let (rows, columns, width) = shape
        let plain = CSRMatrix(Self.matrix(rows, columns, sparsity: 0.8, seed: UInt64(rows + width)))
        let csr = plain.withColumnBlocks(width: width)
        #expect(csr == plain, "the regrouped copy does not change what the matrix is")
        let blocks = try #require(csr.columnBlocks)
        #expect(blocks.blockCount == (columns + width - 1) / width && blocks.width == width)
        #expect(blocks.matrix.rows == blocks.blockCount * rows && blocks.matrix.nonZeroCount == plain.nonZeroCount)
        // Stacked row b·rows + r holds row r's entries in columns b·width ..< (b + 1)·width.
        var rebuilt = Tensor.zeros([rows, columns])
        let m = blocks.matrix
        for b in 0..<blocks.blockCount {
            for r in 0..<rows {
                for p in Int(m.rowStarts[b * rows + r])..<Int(m.rowStarts[b * rows + r + 1]) {
                    let j = Self.columnOf(m, p)
                    #expect(j / width == b, "entry of column \(j) filed under block \(b)")
                    rebuilt[flat: r * columns + j] = m.values[p]
                }
            }
        }
        #expect(rebuilt.scalars.map(\.bitPattern) == plain.dense().scalars.map(\.bitPattern))

        for pool in [nil, WorkerPool(count: 2)] {
            for n in [128, 130, 200] {   // feature-major: full 64-sample panels go through the blocks
                let xt = randomTensor([columns, n], seed: 31).scalars
                let yt = csr.multiply(transposedBatch: Tensor(shape: [columns, n], scalars: xt), pool: pool).scalars
                #expect(Self.error(plain, xt, n: n, yt) < 1e-6, "feature-major batch \(n)")
            }
            for n in [2, 63, 64, 130] {      // row-major: every panel does
                let x = randomTensor([n, columns], seed: 32).scalars
                let xt = (0..<columns * n).map { x[($0 % n) * columns + $0 / n] }
                let y = csr.multiply(batch: Tensor(shape: [n, columns], scalars: x), pool: pool).scalars
                let yt = (0..<rows * n).map { y[($0 % n) * rows + $0 / n] }
                #expect(Self.error(plain, xt, n: n, yt) < 1e-6, "row-major batch \(n)")
            }
        }
        #expect(CSRMatrix(Tensor.zeros([0, 4])).withColumnBlocks(width: 2).columnBlocks?.matrix.rows == 0)
    }

    @Test("transpose moves every entry of odd and 8-aligned blocks, with strides")
    func transposeBlocks() {
        for (rows, columns) in [(1, 1), (3, 17), (8, 8), (16, 9), (21, 40)] {
            let a = (0..<rows * (columns + 3)).map { Float($0) }              // source stride columns + 3
            var out = [Float](repeating: -1, count: columns * (rows + 2))      // destination stride rows + 2
            a.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { TensorCore.transpose(src.baseAddress!, rows: rows, columns: columns, sourceStride: columns + 3, into: $0.baseAddress!, destinationStride: rows + 2) }
            }
            for r in 0..<rows { for c in 0..<columns { #expect(out[c * (rows + 2) + r] == a[r * (columns + 3) + c]) } }
            for c in 0..<columns { for r in rows..<rows + 2 { #expect(out[c * (rows + 2) + r] == -1, "padding untouched") } }
            let m = randomTensor([rows, columns], seed: UInt64(rows * 100 + columns))
            #expect(m.transposed() == transpose(m), "the Tensor-level transpose, \(rows)×\(columns)")
        }
    }
}

@Suite("CSR invariants")
struct CSRInvariantTests {
    @Test("consistent arrays pass; each broken invariant is named")
    func violations() {
        let good = CSRMatrix(Tensor(shape: [2, 3], scalars: [1, 0, 2, 0, 3, 0]))
        #expect(good.invariantViolation() == nil)
        good.checkInvariants()
        func violation(_ starts: [Int32], _ columns: [UInt16], values: Int? = nil, rows: Int = 2) -> String? {
            CSRMatrix.invariantViolation(rows: rows, columns: 3, rowStarts: starts, columnIndices: .narrow(columns),
                                         valueCount: values ?? columns.count)
        }
        #expect(violation([0, 2, 3], [0, 2, 1]) == nil)
        #expect(violation([0, 2], [0, 2]) == "2 row offsets for 2 rows (needs 3)")
        #expect(violation([1, 2, 3], [0, 2, 1]) == "the first row offset is 1, not 0")
        #expect(violation([0, 2, 3], [0, 2, 1], values: 4) == "the last row offset is 3, but there are 4 values")
        #expect(violation([0, 3, 2, 3], [0, 1, 2], rows: 3) == "row offsets fall at row 1: 3 then 2")
        #expect(violation([0, 2, 3], [2, 0, 1]) == "row 0 stores column 0 after column 2")
        #expect(violation([0, 2, 3], [0, 0, 1]) == "row 0 stores column 0 after column 0")
        #expect(violation([0, 2, 3], [0, 3, 1]) == "row 0 stores column 3, outside 0..<3")
        #expect(CSRMatrix.invariantViolation(rows: 2, columns: 3, rowStarts: [0, 2, 3], columnIndices: .wide([0, 2]),
                                             valueCount: 3) == "2 column indices for 3 values")
        // The failable initializer refuses what the check names.
        #expect(CSRMatrix(rows: 2, columns: 3, rowStarts: [0, 2, 3], columnIndices: .narrow([2, 0, 1]), values: [1, 2, 3]) == nil)
        #expect(CSRMatrix(rows: 2, columns: 3, rowStarts: [0, 2, 3], columnIndices: .narrow([0, 2, 1]), values: [1, 2, 3]) != nil)
    }
}
