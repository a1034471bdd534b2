import Testing
import TensorCore
import TestSupport

@Suite("Row kernels: scatter-add, row blocks, masked token means, unit rows")
struct RowKernelTests {
    @Test("scatter-add sums repeated ids into their rows and leaves the others at zero")
    func scatterAdd() {
        let rows = Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])
        let table = scatterAddRows(rows, at: [2, 0, 2], count: 4, features: 2)
        #expect(table.shape == [4, 2])
        #expect(table.scalars == [3, 4, 0, 0, 6, 8, 0, 0])
    }

    @Test("a block of rows and its gradient land at the same offset")
    func rowBlock() {
        let table = Tensor(shape: [4, 2], scalars: [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(table.rows(1..<3).scalars == [2, 3, 4, 5])
        var gradient = Tensor.zeros([4, 2])
        gradient.addRows(Tensor(shape: [4], scalars: [1, 1, 2, 2]), from: 2)
        #expect(gradient.scalars == [0, 0, 0, 0, 1, 1, 2, 2])
    }

    @Test("the masked mean counts only weighted tokens; its backward is the adjoint")
    func maskedMean() {
        let x = randomTensor([2, 3, 4], seed: 11)
        let mask = Tensor(shape: [2, 3], scalars: [1, 1, 0, 1, 0, 0])
        let y = meanOverTokens(x, weights: mask)
        for j in 0..<4 {
            #expect(abs(y.scalars[j] - (x.scalars[j] + x.scalars[4 + j]) / 2) < 1e-6)
            #expect(y.scalars[4 + j] == x.scalars[12 + j])
        }
        #expect(abs(meanOverTokens(x, weights: nil).scalars[0] - (x.scalars[0] + x.scalars[4] + x.scalars[8]) / 3) < 1e-6)
        // ⟨dy, mean(x)⟩ = ⟨backward(dy), x⟩ for a linear map.
        let dy = randomTensor([2, 4], seed: 12)
        let dx = meanOverTokensBackward(dy, weights: mask, tokens: 3)
        #expect(abs(dy.dot(y) - dx.dot(x)) < 1e-5)
        #expect(dx.scalars[8..<12].allSatisfy { $0 == 0 })
    }

    @Test("unit rows: norms, a zero row at the floor, and the backward by central differences")
    func unitRows() {
        var x = randomTensor([3, 5], seed: 13)
        for j in 0..<5 { x.scalars[10 + j] = 0 }
        let (y, norms) = normalizeRows(x, floor: 1e-12)
        let first = (0..<5).map { x.scalars[$0] * x.scalars[$0] }.reduce(0, +).squareRoot()
        #expect(abs(norms[0] - first) < 1e-5)
        #expect(norms[2] == 1e-12)
        #expect(abs((0..<5).map { y.scalars[$0] * y.scalars[$0] }.reduce(0, +) - 1) < 1e-5)
        let r = randomTensor([3, 5], seed: 14)
        let dx = normalizeRowsBackward(r, rows: y, norms: norms, floor: 1e-12)
        for i in 0..<10 {
            var plus = x, minus = x
            plus.scalars[i] += 1e-3; minus.scalars[i] -= 1e-3
            let numeric = (normalizeRows(plus, floor: 1e-12).rows.dot(r) - normalizeRows(minus, floor: 1e-12).rows.dot(r)) / 2e-3
            #expect(abs(numeric - dx.scalars[i]) < 2e-2 * max(1, abs(numeric)))
        }
    }

    @Test("column square sums skip the flagged rows; scaling columns multiplies each column by its factor")
    func columns() {
        let x = randomTensor([3, 4, 5], seed: 71)   // 12 rows of 5
        let skipped = (0..<12).map { $0 % 4 == 3 }
        let sums = columnSquareSums(x, columns: 5, skipping: skipped)
        for j in 0..<5 {
            let naive = (0..<12).filter { !skipped[$0] }.reduce(0.0) { $0 + Double(x.scalars[$1 * 5 + j]) * Double(x.scalars[$1 * 5 + j]) }
            #expect(abs(sums[j] - naive) <= 1e-9 * max(naive, 1))
        }
        #expect(columnSquareSums(x, columns: 5)[0] > sums[0])
        let factors: [Float] = [2, 0, -1, 0.5, 3]
        let scaled = scalingColumns(x, by: factors)
        #expect(scaled.shape == x.shape)
        for i in 0..<x.count { #expect(scaled.scalars[i] == x.scalars[i] * factors[i % 5]) }
    }
}
