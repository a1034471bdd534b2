/// Matrix products on rank-2 tensors, through BLAS.

/// Returns `op(a) · op(b)` for rank-2 tensors.
///
/// - Parameters:
///   - a: an `[m, k]` matrix (or `[k, m]` when `transposeA` is `.transposed`).
///   - b: a `[k, n]` matrix (or `[n, k]` when `transposeB` is `.transposed`).
/// - Returns: an `[m, n]` matrix.
/// - Complexity: O(m·n·k).
public func matmul(_ a: Tensor, _ transposeA: Transpose = .none,
                   _ b: Tensor, _ transposeB: Transpose = .none) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2, "matmul needs matrices, got \(a.shape) and \(b.shape)")
    let (m, k) = transposeA == .none ? (a.shape[0], a.shape[1]) : (a.shape[1], a.shape[0])
    let (k2, n) = transposeB == .none ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
    precondition(k == k2, "matmul inner dimensions differ: \(a.shape)\(transposeA == .none ? "" : "ᵀ") · \(b.shape)\(transposeB == .none ? "" : "ᵀ")")
    if k == 0 { return Tensor.zeros([m, n]) }
    return Tensor(shape: [m, n]) { c in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                BLAS.gemm(transposeA, transposeB, m: m, n: n, k: k,
                          a: pa.baseAddress!, lda: a.shape[1],
                          b: pb.baseAddress!, ldb: b.shape[1],
                          c: c.baseAddress!, ldc: n)
            }
        }
    }
}

/// The naive triple loop twin of `matmul`, in Double, for tests.
/// - Complexity: O(m·n·k).
package func naiveMatmul(_ a: Tensor, _ transposeA: Transpose = .none,
                        _ b: Tensor, _ transposeB: Transpose = .none) -> Tensor {
    let (m, k) = transposeA == .none ? (a.shape[0], a.shape[1]) : (a.shape[1], a.shape[0])
    let n = transposeB == .none ? b.shape[1] : b.shape[0]
    var out = Tensor.zeros([m, n])
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = transposeA == .none ? a.scalars[i * a.shape[1] + p] : a.scalars[p * a.shape[1] + i]
                let y = transposeB == .none ? b.scalars[p * b.shape[1] + j] : b.scalars[j * b.shape[1] + p]
                sum += Double(x) * Double(y)
            }
            out.scalars[i * n + j] = Float(sum)
        }
    }
    return out
}

/// `x · Wᵀ (+ b)` for a batch `x` (`[N, in]`), a weight `[out, in]` and an optional bias
/// `[out]`: the `[N, out]` product of a fully connected layer. One sample goes through gemv
/// (sgemm would repack the whole weight); with a `pool`, its threads take disjoint ranges of
/// output features. A bias is written into the output first and the product added to it
/// (`beta = 1`), which saves the separate pass over the output that adding it after took (and
/// the zero fill BLAS makes of the output for `beta = 0`).
/// - Precondition: `x` is `[N, in]`, `weight` is `[out, in]` and `bias`, if any, is `[out]`.
/// - Complexity: O(N·in·out).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, pool: WorkerPool? = nil) -> Tensor {
    precondition(x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1],
                 "linear: input \(x.shape) does not fit weight \(weight.shape) ([N, in] · [out, in]ᵀ)")
    precondition(bias == nil || bias!.shape == [weight.shape[0]], "linear: bias \(bias!.shape) is not [\(weight.shape[0])]")
    let (n, inFeatures, outFeatures) = (x.shape[0], weight.shape[1], weight.shape[0])
    return Tensor(shape: [n, outFeatures]) { y in
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                withScalars(of: bias) { pb in
                    let (x, w, y) = (px.baseAddress!, pw.baseAddress!, y.baseAddress!)
                    let beta: Float = pb == nil ? 0 : 1
                    // Output features lo..<hi.
                    let block = { (lo: Int, hi: Int) in
                        if let pb {
                            for r in 0..<n { (y + r * outFeatures + lo).update(from: pb + lo, count: hi - lo) }
                        }
                        if n == 1 {
                            BLAS.gemv(.none, rows: hi - lo, columns: inFeatures, a: w + lo * inFeatures, lda: inFeatures,
                                      x: x, beta: beta, y: y + lo)
                        } else {
                            BLAS.gemm(.none, .transposed, m: n, n: hi - lo, k: inFeatures, a: x, lda: inFeatures,
                                      b: w + lo * inFeatures, ldb: inFeatures, beta: beta, c: y + lo, ldc: outFeatures)
                        }
                    }
                    if let pool { pool.forEachRange(outFeatures, minimum: 2, block) } else { block(0, outFeatures) }
                }
            }
        }
    }
}


/// `a · b` for `a` `[m, k]` and `b` `[k, n]`, written into `c` (`[m, n]`, allocated once by
/// the caller), the rows of `a` split between the threads of `pool` (one BLAS thread each).
/// One column (`n == 1`) goes through gemv. The dense baseline of `prune bench spmm`.
/// - Precondition: the shapes agree.
/// - Complexity: O(m·n·k).
public func multiply(_ a: Tensor, _ b: Tensor, into c: inout Tensor, pool: WorkerPool? = nil) {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[0] && c.shape == [a.shape[0], b.shape[1]],
                 "multiply: \(a.shape) · \(b.shape) does not fit \(c.shape)")
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                let (a, b, c) = (pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                // Rows lo..<hi of the product.
                let block = { (lo: Int, hi: Int) in
                    if n == 1 {
                        BLAS.gemv(.none, rows: hi - lo, columns: k, a: a + lo * k, lda: k, x: b, y: c + lo)
                    } else {
                        BLAS.gemm(.none, .none, m: hi - lo, n: n, k: k, a: a + lo * k, lda: k, b: b, ldb: n,
                                  c: c + lo * n, ldc: n)
                    }
                }
                if let pool { pool.forEachRange(m, minimum: 2, block) } else { block(0, m) }
            }
        }
    }
}
