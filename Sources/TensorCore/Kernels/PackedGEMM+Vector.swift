/// The packed GEMM's products with one row or one column (`m == 1` or `n == 1`: a matrix
/// times a vector). Packing would copy the whole matrix to use each element once, so these
/// stream the matrix as stored instead: one pass, in SIMD16 pieces, memory-bound.
///
/// Either product is one of two loops over a stored matrix `M` and a contiguous vector `x`:
/// - dots: `y[j] = Σ_p M[j·ld + p]·x[p]`, when the vector runs along M's stored rows;
/// - row sums: `y[j] = Σ_p x[p]·M[p·ld + j]`, when it runs down M's columns.

/// `C = alpha·op(A)·op(B) + beta·C` when `m == 1` or `n == 1`; the contract of `packedGEMM`.
/// - Precondition: `m == 1 || n == 1`, `k ≥ 1`, `alpha != 0`.
/// - Complexity: O(m·n·k) time, O(k + max(m, n)) scratch.
func vectorGEMM(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    // One row: c[0, j] = Σ_p op(A)[0, p]·op(B)[p, j], the vector is A's row, the matrix op(B)
    // (stored rows run along p when transposed). One column: c[i, 0] = Σ_p op(A)[i, p]·op(B)[p, 0],
    // the vector is B's column, the matrix op(A) (stored rows run along p unless transposed).
    let oneRow = m == 1
    let (count, outputStride) = oneRow ? (n, 1) : (m, ldc)
    let (matrix, ld) = oneRow ? (b, ldb) : (a, lda)
    let alongRows = oneRow ? transB == .transposed : transA == .none
    // The vector and its element stride.
    let (vector, step) = oneRow ? (a, transA == .none ? 1 : lda) : (b, transB == .none ? ldb : 1)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: k + count) { scratch in
        let x = scratch.baseAddress!, y = x + k
        let contiguous: UnsafePointer<Float>
        if step == 1 {
            contiguous = vector
        } else {
            for p in 0..<k { x[p] = vector[p * step] }
            contiguous = UnsafePointer(x)
        }
        if alongRows {
            dots(matrix, ld, rows: count, length: k, contiguous, into: y)
        } else {
            rowSums(matrix, ld, rows: k, width: count, contiguous, into: y)
        }
        for j in 0..<count {
            let target = c + j * outputStride
            target.pointee = beta == 0 ? alpha * y[j] : (alpha * y[j]).addingProduct(beta, target.pointee)
        }
    }
}

/// `y[j] = Σ_p M[j·ld + p]·x[p]` for `rows` rows of `length`: four rows at a time share each
/// load of `x`, with SIMD16 partial sums.
private func dots(_ matrix: UnsafePointer<Float>, _ ld: Int, rows: Int, length: Int, _ x: UnsafePointer<Float>,
                  into y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    let vx = UnsafeRawPointer(x)
    let body = length / 16 * 16
    var j = 0
    while j + 4 <= rows {
        let r0 = UnsafeRawPointer(matrix + j * ld), r1 = UnsafeRawPointer(matrix + (j + 1) * ld)
        let r2 = UnsafeRawPointer(matrix + (j + 2) * ld), r3 = UnsafeRawPointer(matrix + (j + 3) * ld)
        var s0 = V(), s1 = V(), s2 = V(), s3 = V()
        var p = 0
        while p < body {
            let offset = 4 * p
            let xv = vx.loadUnaligned(fromByteOffset: offset, as: V.self)
            s0 = s0.addingProduct(r0.loadUnaligned(fromByteOffset: offset, as: V.self), xv)
            s1 = s1.addingProduct(r1.loadUnaligned(fromByteOffset: offset, as: V.self), xv)
            s2 = s2.addingProduct(r2.loadUnaligned(fromByteOffset: offset, as: V.self), xv)
            s3 = s3.addingProduct(r3.loadUnaligned(fromByteOffset: offset, as: V.self), xv)
            p += 16
        }
        var t0 = s0.sum(), t1 = s1.sum(), t2 = s2.sum(), t3 = s3.sum()
        let m = matrix + j * ld
        for p in body..<length {
            t0 = t0.addingProduct(m[p], x[p]); t1 = t1.addingProduct(m[ld + p], x[p])
            t2 = t2.addingProduct(m[2 * ld + p], x[p]); t3 = t3.addingProduct(m[3 * ld + p], x[p])
        }
        y[j] = t0; y[j + 1] = t1; y[j + 2] = t2; y[j + 3] = t3
        j += 4
    }
    while j < rows {
        let r = UnsafeRawPointer(matrix + j * ld)
        var s = V()
        var p = 0
        while p < body {
            s = s.addingProduct(r.loadUnaligned(fromByteOffset: 4 * p, as: V.self), vx.loadUnaligned(fromByteOffset: 4 * p, as: V.self))
            p += 16
        }
        var t = s.sum()
        for p in body..<length { t = t.addingProduct(matrix[j * ld + p], x[p]) }
        y[j] = t
        j += 1
    }
}

/// `y[j] = Σ_p x[p]·M[p·ld + j]` for `rows` stored rows of `width`: the rows are added into
/// `y` four at a time (one load and store of `y` per four rows), in SIMD16 pieces.
private func rowSums(_ matrix: UnsafePointer<Float>, _ ld: Int, rows: Int, width: Int, _ x: UnsafePointer<Float>,
                     into y: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    y.update(repeating: 0, count: width)
    let vy = UnsafeMutableRawPointer(y)
    let body = width / 16 * 16
    var p = 0
    while p + 4 <= rows {
        let (x0, x1, x2, x3) = (x[p], x[p + 1], x[p + 2], x[p + 3])
        let m0 = matrix + p * ld, m1 = m0 + ld, m2 = m0 + 2 * ld, m3 = m0 + 3 * ld
        let (r0, r1, r2, r3) = (UnsafeRawPointer(m0), UnsafeRawPointer(m1), UnsafeRawPointer(m2), UnsafeRawPointer(m3))
        var j = 0
        while j < body {
            let offset = 4 * j
            var s = vy.loadUnaligned(fromByteOffset: offset, as: V.self)
            s = s.addingProduct(x0, r0.loadUnaligned(fromByteOffset: offset, as: V.self))
            s = s.addingProduct(x1, r1.loadUnaligned(fromByteOffset: offset, as: V.self))
            s = s.addingProduct(x2, r2.loadUnaligned(fromByteOffset: offset, as: V.self))
            s = s.addingProduct(x3, r3.loadUnaligned(fromByteOffset: offset, as: V.self))
            vy.storeBytes(of: s, toByteOffset: offset, as: V.self)
            j += 16
        }
        for j in body..<width {
            y[j] = y[j].addingProduct(x0, m0[j]).addingProduct(x1, m1[j]).addingProduct(x2, m2[j]).addingProduct(x3, m3[j])
        }
        p += 4
    }
    while p < rows {
        let (xp, m0) = (x[p], matrix + p * ld)
        let r0 = UnsafeRawPointer(m0)
        var j = 0
        while j < body {
            let offset = 4 * j
            let s = vy.loadUnaligned(fromByteOffset: offset, as: V.self)
                .addingProduct(xp, r0.loadUnaligned(fromByteOffset: offset, as: V.self))
            vy.storeBytes(of: s, toByteOffset: offset, as: V.self)
            j += 16
        }
        for j in body..<width { y[j] = y[j].addingProduct(xp, m0[j]) }
        p += 1
    }
}
