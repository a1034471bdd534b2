/// How SparseGPT's sweep chooses the weights it removes.
public enum ReconstructionPattern: Equatable, Sendable {
    /// `fraction` of the weights, chosen per block of columns over all rows together (the
    /// paper's adaptive mask selection).
    case fraction(Double)
    /// `fraction` of each row's weights in every block of columns: every output row loses the
    /// same share (Wanda's per-output comparison, applied to SparseGPT's saliency).
    case rowFraction(Double)
    /// `keep` of every `of` consecutive weights of a row, chosen as the sweep reaches them.
    case keep(Int, of: Int)
}

/// Adds `xᵀ·y` over the rows of `x` and `y` (`[N, …, columns]` each taken as rows of `columns`
/// values; `y` is `x` when nil), leaving out the rows where `skipped` is true, to `gram`
/// (`columns×columns`, row-major, in Double). With `y` nil this is `XᵀX`, the Hessian `2·XᵀX`
/// of a linear layer's squared reconstruction error up to its factor. The product runs in Float
/// on `BLAS.gemm`, one batch at a time; the sum is kept in Double.
/// - Precondition: `columns` divides `x.count`; `y`, when given, has `x`'s count; `gram` has
///   `columns²` entries; `skipped`, when given, has one flag per row.
/// - Complexity: O(rows·columns²).
public func accumulateGram(_ x: Tensor, _ y: Tensor? = nil, columns: Int, skipping skipped: [Bool]? = nil, into gram: inout [Double]) {
    precondition(columns > 0 && x.count % columns == 0, "accumulateGram: \(columns) columns do not divide \(x.shape)")
    precondition(y == nil || y!.count == x.count, "accumulateGram: \(x.shape) against \(y!.shape)")
    precondition(gram.count == columns * columns, "accumulateGram: \(gram.count) entries for \(columns) columns")
    let rows = x.count / columns
    precondition(skipped == nil || skipped!.count == rows, "accumulateGram: \(skipped!.count) flags for \(rows) rows")
    let kept = skipped.map { flags in (0..<rows).filter { !flags[$0] } } ?? Array(0..<rows)
    guard !kept.isEmpty else { return }
    func packed(_ t: Tensor) -> [Float] {
        var rowsKept = [Float](repeating: 0, count: kept.count * columns)
        t.withUnsafeBufferPointer { p in
            rowsKept.withUnsafeMutableBufferPointer { q in
                for (i, r) in kept.enumerated() {
                    (q.baseAddress! + i * columns).update(from: p.baseAddress! + r * columns, count: columns)
                }
            }
        }
        return rowsKept
    }
    let left = packed(x), right = y.map(packed) ?? left
    var product = [Float](repeating: 0, count: columns * columns)
    left.withUnsafeBufferPointer { a in
        right.withUnsafeBufferPointer { b in
            product.withUnsafeMutableBufferPointer { c in
                BLAS.gemm(.transposed, .none, m: columns, n: columns, k: kept.count, a: a.baseAddress!, lda: columns,
                          b: b.baseAddress!, ldb: columns, c: c.baseAddress!, ldc: columns)
            }
        }
    }
    for i in gram.indices { gram[i] += Double(product[i]) }
}

/// The weights that best map a layer's inputs as they now arrive to the outputs its dense
/// inputs gave: `W · Cᵀ · Uᵀ · U`, the least-squares solution of `Ŵ·(XᵀX + λI) = W·Cᵀ`,
/// where `C = XᵀX_d` pairs the inputs `X` with the dense ones `X_d` (plus `λI` to pull the
/// solution toward `W` rather than toward 0) and `(XᵀX + λI)⁻¹ = Uᵀ·U`.
/// SparseGPT's sweep from these weights then cuts toward the dense model's outputs rather than
/// toward the layer's own on inputs already changed by the cuts before it.
/// - Precondition: `weight` is `[rows, columns]`; `cross` and `factor` have `columns²` entries.
/// - Complexity: O(rows·columns²).
public func leastSquaresWeights(_ weight: Tensor, cross: [Double], factor: [Float]) -> Tensor {
    precondition(weight.rank == 2, "leastSquaresWeights: weight \(weight.shape)")
    let (rows, columns) = (weight.shape[0], weight.shape[1])
    precondition(cross.count == columns * columns && factor.count == columns * columns, "leastSquaresWeights: \(columns) columns")
    let c = cross.map { Float($0) }
    var first = [Float](repeating: 0, count: rows * columns), second = first
    var result = Tensor(shape: weight.shape, repeating: 0)
    weight.withUnsafeBufferPointer { w in
        c.withUnsafeBufferPointer { c in
            factor.withUnsafeBufferPointer { u in
                first.withUnsafeMutableBufferPointer { t1 in
                    second.withUnsafeMutableBufferPointer { t2 in
                        result.withUnsafeMutableBufferPointer { out in
                            BLAS.gemm(.none, .transposed, m: rows, n: columns, k: columns, a: w.baseAddress!, lda: columns,
                                      b: c.baseAddress!, ldb: columns, c: t1.baseAddress!, ldc: columns)
                            BLAS.gemm(.none, .transposed, m: rows, n: columns, k: columns, a: t1.baseAddress!, lda: columns,
                                      b: u.baseAddress!, ldb: columns, c: t2.baseAddress!, ldc: columns)
                            BLAS.gemm(.none, .none, m: rows, n: columns, k: columns, a: t2.baseAddress!, lda: columns,
                                      b: u.baseAddress!, ldb: columns, c: out.baseAddress!, ldc: columns)
                        }
                    }
                }
            }
        }
    }
    return result
}

/// SparseGPT's sweep (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be
/// Accurately Pruned in One-Shot", https://arxiv.org/abs/2301.00774, Algorithm 1): removes
/// weights of `weight` (`[rows, columns]`) column by column and, after each column, moves its
/// removed weights' error onto the columns not yet reached, so that `W·x` changes least over
/// the calibration inputs whose Hessian's inverse has the upper Cholesky factor `factor`.
///
/// Columns go in blocks of `blockSize`: within a block the update is applied column by column,
/// to the rest of the block only; the block's accumulated error then reaches the later columns
/// in one product (the paper's lazy batch update). A weight's saliency is `w² / U_jj²`, read
/// with the weights as updated so far. Entries `mask` already cuts are removed first; `mask`
/// ends holding every removed entry as 0, and those entries of `weight` are 0.
/// - Parameters:
///   - factor: `U`, `columns×columns` row-major upper triangular, `H⁻¹ = Uᵀ·U`
///     (`BLAS.inverseCholeskyFactor`).
///   - blockSize: columns per block; with `keep(_:of:)` it is rounded down to a multiple of
///     the group width (at least one group).
/// - Precondition: `weight` is `[rows, columns]`; `mask` has its shape; `factor` has `columns²`
///   entries with a positive diagonal; for `keep(n, of: m)`, `m` divides `columns` and `0 ≤ n ≤ m`.
/// - Complexity: O(rows·columns·(blockSize + columns)) time, O(rows·blockSize) extra memory.
public func sparseGPTSweep(weight: inout Tensor, mask: inout Tensor, factor: [Float], pattern: ReconstructionPattern,
                           blockSize: Int = 128) {
    precondition(weight.rank == 2 && mask.shape == weight.shape, "sparseGPTSweep: weight \(weight.shape), mask \(mask.shape)")
    let (rows, columns) = (weight.shape[0], weight.shape[1])
    precondition(factor.count == columns * columns, "sparseGPTSweep: factor of \(factor.count) entries for \(columns) columns")
    var width = max(blockSize, 1)
    if case let .keep(n, m) = pattern {
        precondition(m >= 1 && (0...m).contains(n) && columns % m == 0, "sparseGPTSweep: \(n):\(m) groups in rows of \(columns)")
        width = max(m, width / m * m)
    }
    var blockStorage = [Float](repeating: 0, count: rows * width)   // the block's weights, as updated
    var errorStorage = [Float](repeating: 0, count: rows * width)   // (w − q) / U_jj per removed entry
    var cut = [Bool](repeating: false, count: rows * width)
    var saliency = [Float](repeating: 0, count: rows * width)
    weight.withUnsafeMutableBufferPointer { w in
    mask.withUnsafeMutableBufferPointer { keep in
    factor.withUnsafeBufferPointer { u in
    blockStorage.withUnsafeMutableBufferPointer { block in
    errorStorage.withUnsafeMutableBufferPointer { errors in
        for start in stride(from: 0, to: columns, by: width) {
            let b = min(width, columns - start)
            for r in 0..<rows {
                for j in 0..<b {
                    block[r * b + j] = w[r * columns + start + j]
                    cut[r * b + j] = keep[r * columns + start + j] == 0
                    errors[r * b + j] = 0
                }
            }
            func score(_ r: Int, _ j: Int) -> Float {
                if keep[r * columns + start + j] == 0 { return -.infinity }
                let d = u[(start + j) * columns + start + j]
                return block[r * b + j] * block[r * b + j] / (d * d)
            }
            if case let .fraction(f) = pattern {
                let k = min(Int((f * Double(rows * b)).rounded()), rows * b)
                for r in 0..<rows { for j in 0..<b { saliency[r * b + j] = score(r, j) } }
                saliency.withUnsafeBufferPointer { s in
                    let scores = UnsafeBufferPointer(rebasing: s[0..<(rows * b)])
                    guard k > 0 else { return }
                    let pivot = kthSmallest(k - 1, in: [scores])
                    var ties = k - countBelow(pivot, in: scores)
                    for i in scores.indices where scores[i] < pivot || (scores[i] == pivot && ties > 0) {
                        if scores[i] == pivot { ties -= 1 }
                        cut[i] = true
                    }
                }
            }
            if case let .rowFraction(f) = pattern {
                let k = min(Int((f * Double(b)).rounded()), b)
                for r in 0..<rows where k > 0 {
                    for j in 0..<b { saliency[j] = score(r, j) }
                    let order = (0..<b).sorted { a, c in saliency[a] != saliency[c] ? saliency[a] < saliency[c] : a < c }
                    for j in order.prefix(k) { cut[r * b + j] = true }
                }
            }
            for j in 0..<b {
                if case let .keep(n, m) = pattern, j % m == 0 {
                    // The m − n least salient of each row's next group, as updated so far.
                    for r in 0..<rows {
                        let order = (0..<m).sorted { a, c in
                            let (sa, sc) = (score(r, j + a), score(r, j + c))
                            return sa != sc ? sa < sc : a < c
                        }
                        for t in order.prefix(m - n) { cut[r * b + j + t] = true }
                    }
                }
                let diagonal = u[(start + j) * columns + start + j]
                let factorRow = u.baseAddress! + (start + j) * columns + start
                for r in 0..<rows where cut[r * b + j] {
                    let e = block[r * b + j] / diagonal
                    errors[r * b + j] = e
                    block[r * b + j] = 0
                    guard e != 0 else { continue }
                    let rest = block.baseAddress! + r * b
                    for t in (j + 1)..<b { rest[t] -= e * factorRow[t] }
                }
            }
            for r in 0..<rows {
                for j in 0..<b {
                    w[r * columns + start + j] = block[r * b + j]
                    if cut[r * b + j] { keep[r * columns + start + j] = 0 }
                }
            }
            let after = start + b
            guard after < columns else { continue }
            // The lazy update: W[:, after...] −= E · U[start..<after, after...].
            BLAS.gemm(.none, .none, m: rows, n: columns - after, k: b, alpha: -1,
                      a: errors.baseAddress!, lda: b, b: u.baseAddress! + start * columns + after, ldb: columns,
                      beta: 1, c: w.baseAddress! + after, ldc: columns)
        }
    }
    }
    }
    }
    }
}
