import Testing
import TensorCore
import TestSupport

/// A `[rows, columns]` matrix keeping the `n` largest of every `m` entries of a row (some groups
/// keep fewer), as N:M pruning leaves it.
func nmPruned(rows: Int, columns: Int, n: Int, m: Int, seed: UInt64) -> Tensor {
    var matrix = randomTensor([rows, columns], seed: seed)
    for r in 0..<rows {
        for g in stride(from: 0, to: columns, by: m) {
            let group = (g..<min(g + m, columns)).sorted { abs(matrix[r, $0]) > abs(matrix[r, $1]) }
            let keep = (r + g) % 5 == 0 ? n - 1 : n
            for j in group.dropFirst(keep) { matrix[r, j] = 0 }
        }
    }
    return matrix
}

@Suite("The N:M batch kernel (NMPanels) matches the naive product")
struct NMPanelsTests {
    /// The largest difference between `x·Aᵀ` by `variant` and the Double-precision product,
    /// relative to max(1, |entry|).
    static func error(_ a: Tensor, n: Int, m: Int, tokens: Int, variant: NMPanels.Variant, pool: WorkerPool? = nil) throws -> Double {
        let panels = try #require(NMMatrix(a, n: n, m: m).flatMap(NMPanels.init))
        let (rows, columns) = (a.shape[0], a.shape[1])
        let x = randomTensor([tokens, columns], seed: UInt64(tokens))
        let y = panels.multiplyTransposed(batch: x, pool: pool, variant: variant)
        #expect(y.shape == [tokens, rows])
        var worst = 0.0
        for t in 0..<tokens {
            for r in 0..<rows {
                var sum = 0.0
                for j in 0..<columns { sum += Double(a[r, j]) * Double(x[t, j]) }
                worst = max(worst, abs(Double(y[t, r]) - sum) / max(1, abs(sum)))
            }
        }
        return worst
    }

    @Test("every kernel variant this CPU runs, for 2:4, 1:4, 3:4, 2:8 and 4:8, rows past whole panels, tokens past whole chunks",
          arguments: NMPanels.Variant.allCases)
    func variants(_ variant: NMPanels.Variant) throws {
        guard variant.rawValue <= NMPanels.Variant.best.rawValue else { return }   // not on this CPU
        for (n, m) in [(2, 4), (1, 4), (3, 4), (2, 8), (4, 8)] {
            for (rows, columns) in [(1, 8), (37, 40), (16, 96)] {
                let a = nmPruned(rows: rows, columns: columns, n: n, m: m, seed: UInt64(rows + n))
                // 1-7 tokens (a short chunk), 8, 17 (16 + 1), 30 (24 + 6), 41 (24 + 16 + 1).
                for tokens in [1, 7, 8, 17, 30, 41] {
                    let e = try Self.error(a, n: n, m: m, tokens: tokens, variant: variant)
                    #expect(e <= 1e-5, "\(variant) \(n):\(m) \(rows)×\(columns), \(tokens) tokens: error \(e)")
                }
            }
        }
    }

    @Test("threads sharing the panels give the same bits as one thread; the leading axes of the batch are kept")
    func threads() throws {
        let a = nmPruned(rows: 100, columns: 64, n: 2, m: 4, seed: 5)
        let panels = try #require(NMMatrix(a, n: 2, m: 4).flatMap(NMPanels.init))
        let x = randomTensor([3, 20, 64], seed: 6)
        let one = panels.multiplyTransposed(batch: x)
        let two = panels.multiplyTransposed(batch: x, pool: WorkerPool(count: 2))
        #expect(one.shape == [3, 20, 100])
        #expect(one.scalars.map(\.bitPattern) == two.scalars.map(\.bitPattern))
    }

    @Test("patterns without a panel form are refused: M other than 4 or 8, or not dividing the columns")
    func unsupported() throws {
        #expect(!NMPanels.supports(n: 1, m: 2, columns: 8))
        #expect(!NMPanels.supports(n: 2, m: 4, columns: 10))
        #expect(NMPanels.supports(n: 2, m: 4, columns: 12) && NMPanels.supports(n: 4, m: 8, columns: 16))
        let odd = try #require(NMMatrix(nmPruned(rows: 3, columns: 10, n: 2, m: 4, seed: 1), n: 2, m: 4))
        #expect(NMPanels(odd) == nil)
    }
}
