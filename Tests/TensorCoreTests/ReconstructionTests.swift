import Testing
import TensorCore
import TestSupport

@Suite("SparseGPT's kernels: Cholesky factor of the inverse, Gram sums, the sweep, least-squares weights")
struct ReconstructionTests {
    /// `XᵀX` of `rows` random rows of `width` features, with features 0 and 1 correlated.
    static func gram(rows: Int, width: Int, seed: UInt64) -> (Tensor, [Double]) {
        var x = randomTensor([rows, width], seed: seed)
        for r in 0..<rows { x.scalars[r * width + 1] = 0.9 * x.scalars[r * width] + 0.1 * x.scalars[r * width + 1] }
        var h = [Double](repeating: 0, count: width * width)
        accumulateGram(x, columns: width, into: &h)
        return (x, h)
    }

    /// `gram`'s `XᵀX` and the factor `U` of `(XᵀX + 0.01·I)⁻¹`, in Float.
    static func dampedFactor(rows: Int, width: Int, seed: UInt64) throws -> ([Double], [Float]) {
        let (_, h) = gram(rows: rows, width: width, seed: seed)
        var damped = h
        for j in 0..<width { damped[j * width + j] += 0.01 }
        return (h, try #require(BLAS.inverseCholeskyFactor(damped, n: width)).map { Float($0) })
    }

    /// `Σ_r Δ_r·H·Δ_rᵀ`: the squared change of the layer's outputs over the rows behind `h`.
    static func error(_ before: Tensor, _ after: Tensor, _ h: [Double]) -> Double {
        let width = before.shape[1]
        var total = 0.0
        for r in 0..<before.shape[0] {
            let d = (0..<width).map { Double(before.scalars[r * width + $0] - after.scalars[r * width + $0]) }
            for i in 0..<width { for j in 0..<width { total += d[i] * h[i * width + j] * d[j] } }
        }
        return total
    }

    @Test("the factor U of A⁻¹ is upper triangular with UᵀU·A = I; an indefinite matrix gives nil")
    func inverseFactor() throws {
        let (_, h) = Self.gram(rows: 40, width: 6, seed: 2)
        let u = try #require(BLAS.inverseCholeskyFactor(h, n: 6))
        for i in 0..<6 { for j in 0..<i { #expect(u[i * 6 + j] == 0) } }
        for i in 0..<6 {
            for j in 0..<6 {
                // (UᵀU·A)_ij = Σ_k Σ_l U_ki U_kl A_lj
                var s = 0.0
                for k in 0..<6 { for l in 0..<6 { s += u[k * 6 + i] * u[k * 6 + l] * h[l * 6 + j] } }
                #expect(abs(s - (i == j ? 1 : 0)) < 1e-8, "(\(i), \(j)): \(s)")
            }
        }
        #expect(BLAS.inverseCholeskyFactor([1, 2, 2, 1], n: 2) == nil)
    }

    @Test("Gram sums leave out skipped rows and pair two inputs as XᵀY")
    func gramSums() {
        let x = randomTensor([5, 3], seed: 4), y = randomTensor([5, 3], seed: 5)
        let skipped = [false, true, false, false, true]
        var g = [Double](repeating: 0, count: 9), c = g
        accumulateGram(x, columns: 3, skipping: skipped, into: &g)
        accumulateGram(x, y, columns: 3, skipping: skipped, into: &c)
        for i in 0..<3 {
            for j in 0..<3 {
                let rows = (0..<5).filter { !skipped[$0] }
                let xx = rows.reduce(0.0) { $0 + Double(x.scalars[$1 * 3 + i]) * Double(x.scalars[$1 * 3 + j]) }
                let xy = rows.reduce(0.0) { $0 + Double(x.scalars[$1 * 3 + i]) * Double(y.scalars[$1 * 3 + j]) }
                #expect(abs(g[i * 3 + j] - xx) < 1e-5 && abs(c[i * 3 + j] - xy) < 1e-5)
            }
        }
        let sums = columnSums(x, columns: 3, skipping: skipped)
        #expect(abs(sums[2] - Double(x.scalars[2] + x.scalars[8] + x.scalars[11])) < 1e-6)
    }

    @Test("by hand: with correlated inputs the sweep cuts the larger weight and moves it onto the other, below magnitude's error")
    func handComputed() throws {
        // H = [[1, 0.9], [0.9, 1]], W = [1, 0.8]. Removing w₁ costs w₁²/[H⁻¹]₁₁ = 1·0.19 and moves
        // w₂ to w₂ + w₁·0.9 = 1.7; removing w₂ costs 0.8²/[H⁻¹]₂₂ = 0.64·0.19 = 0.1216 with the
        // update w₁ + 0.8·0.9 = 1.72, and magnitude's cut of w₂ without update costs 0.8²·1 = 0.64.
        let h: [Double] = [1, 0.9, 0.9, 1]
        let u = try #require(BLAS.inverseCholeskyFactor(h, n: 2)).map { Float($0) }
        // The sweep ranks by w²/U_jj²: U₁₁² = [H⁻¹]₁₁ = 1/0.19, U₂₂² = 1/H₂₂ = 1, so w₁ scores
        // 0.19 and w₂ 0.64: w₁ goes (a greedy, column-ordered choice), and w₂ takes its share.
        var weight = Tensor(shape: [1, 2], scalars: [1, 0.8]), mask = Tensor(shape: [1, 2], repeating: 1)
        sparseGPTSweep(weight: &weight, mask: &mask, factor: u, pattern: .fraction(0.5))
        #expect(mask.scalars == [0, 1])
        #expect(weight.scalars[0] == 0 && abs(weight.scalars[1] - 1.7) < 1e-5)
        let before = Tensor(shape: [1, 2], scalars: [1, 0.8])
        let sparse = Self.error(before, weight, h), magnitude = Self.error(before, Tensor(shape: [1, 2], scalars: [1, 0]), h)
        #expect(abs(sparse - 0.19) < 1e-5 && abs(magnitude - 0.64) < 1e-6)
    }

    @Test("N:M keeps exactly N of every group; lazy batches give the same weights for any block size")
    func nOfM() throws {
        let (h, u) = try Self.dampedFactor(rows: 64, width: 16, seed: 6)
        let w = randomTensor([4, 16], seed: 7)
        var results: [Tensor] = []
        for block in [4, 6, 16, 128] {
            var weight = w, mask = Tensor(shape: [4, 16], repeating: 1)
            sparseGPTSweep(weight: &weight, mask: &mask, factor: u, pattern: .keep(2, of: 4), blockSize: block)
            for g in 0..<16 {
                let kept = mask.scalars[(g * 4)..<(g * 4 + 4)]
                #expect(kept.filter { $0 == 1 }.count == 2, "group \(g), block \(block)")
                for i in (g * 4)..<(g * 4 + 4) where mask.scalars[i] == 0 { #expect(weight.scalars[i] == 0) }
            }
            results.append(weight)
        }
        for r in results.dropFirst() {
            #expect(zip(r.scalars, results[0].scalars).allSatisfy { abs($0 - $1) < 1e-4 })
        }
        // Magnitude's 2:4 of the same weights, without update, changes the outputs more.
        var magnitude = w
        for g in 0..<16 {
            let order = (0..<4).sorted { abs(w.scalars[g * 4 + $0]) < abs(w.scalars[g * 4 + $1]) }
            for t in order.prefix(2) { magnitude.scalars[g * 4 + t] = 0 }
        }
        #expect(Self.error(w, results[0], h) < Self.error(w, magnitude, h))
    }

    @Test("entries the mask already cuts are cut again and count toward the fraction")
    func premasked() throws {
        let (_, h) = Self.gram(rows: 32, width: 8, seed: 8)
        let u = try #require(BLAS.inverseCholeskyFactor(h, n: 8)).map { Float($0) }
        var weight = randomTensor([3, 8], seed: 9), mask = Tensor(shape: [3, 8], repeating: 1)
        for i in [0, 9, 17] { mask.scalars[i] = 0; weight.scalars[i] = 0 }
        sparseGPTSweep(weight: &weight, mask: &mask, factor: u, pattern: .fraction(0.5))
        #expect(mask.scalars.filter { $0 == 0 }.count == 12)
        #expect([0, 9, 17].allSatisfy { mask.scalars[$0] == 0 && weight.scalars[$0] == 0 })
    }

    @Test("row fractions cut the same count in every row of every block, the row's least salient first")
    func rowFraction() throws {
        let (_, u) = try Self.dampedFactor(rows: 48, width: 12, seed: 10)
        // Row 0 is ten times larger than the others: a layer-wide choice spares it, a per-row one does not.
        var w = randomTensor([5, 12], seed: 11)
        for j in 0..<12 { w.scalars[j] *= 10 }
        for block in [6, 12] {
            var weight = w, mask = Tensor(shape: [5, 12], repeating: 1)
            sparseGPTSweep(weight: &weight, mask: &mask, factor: u, pattern: .rowFraction(0.5), blockSize: block)
            for r in 0..<5 {
                for start in stride(from: 0, to: 12, by: block) {
                    let cut = (start..<(start + block)).filter { mask.scalars[r * 12 + $0] == 0 }
                    #expect(cut.count == block / 2, "row \(r), block at \(start)")
                    #expect(cut.allSatisfy { weight.scalars[r * 12 + $0] == 0 })
                }
            }
        }
        var layerWide = w, mask = Tensor(shape: [5, 12], repeating: 1)
        sparseGPTSweep(weight: &layerWide, mask: &mask, factor: u, pattern: .fraction(0.5))
        #expect(mask.scalars[0..<12].filter { $0 == 0 }.count < 6)
    }

    @Test("least-squares weights solve Ŵ·(XᵀX + λI) = W·(X_dᵀX + λI)")
    func leastSquares() throws {
        let (x, h) = Self.gram(rows: 50, width: 5, seed: 10)
        let xd = randomTensor([50, 5], low: -0.1, high: 0.1, seed: 11).zipMap(x) { $0 + $1 }
        var cross = [Double](repeating: 0, count: 25), damped = h
        accumulateGram(x, xd, columns: 5, into: &cross)
        for j in 0..<5 { damped[j * 5 + j] += 0.5; cross[j * 5 + j] += 0.5 }
        let u = try #require(BLAS.inverseCholeskyFactor(damped, n: 5)).map { Float($0) }
        let w = randomTensor([3, 5], seed: 12)
        let solved = leastSquaresWeights(w, cross: cross, factor: u)
        for r in 0..<3 {
            for j in 0..<5 {
                let left = (0..<5).reduce(0.0) { $0 + Double(solved.scalars[r * 5 + $1]) * damped[$1 * 5 + j] }
                let right = (0..<5).reduce(0.0) { $0 + Double(w.scalars[r * 5 + $1]) * cross[j * 5 + $1] }
                #expect(abs(left - right) < 1e-3 * max(1, abs(right)), "(\(r), \(j))")
            }
        }
    }
}
