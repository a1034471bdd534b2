#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

extension BLAS {
    /// The upper Cholesky factor `U` of the inverse of a symmetric positive definite matrix:
    /// `A⁻¹ = Uᵀ·U`, from LAPACK (`dpotrf`, `dpotri`, `dpotrf` again), in double precision.
    /// SparseGPT reads its rows as the inverse Hessian of the weights it has not yet fixed.
    /// - Parameters:
    ///   - matrix: `n×n`, row-major and symmetric (only its upper triangle is read).
    /// - Returns: `U`, `n×n` row-major, zero below the diagonal; nil when `matrix` is not
    ///   positive definite (a factorization met a pivot ≤ 0).
    /// - Complexity: O(n³) time, O(n²) memory.
    public static func inverseCholeskyFactor(_ matrix: [Double], n: Int) -> [Double]? {
        precondition(n >= 1 && matrix.count == n * n, "inverseCholeskyFactor: \(matrix.count) entries for n = \(n)")
        // Symmetric, so the row-major upper triangle is LAPACK's column-major lower one.
        var a = matrix
        guard factor(&a, n: n), invertFactored(&a, n: n) else { return nil }
        // `a` holds A⁻¹ in its column-major lower triangle: mirror it into the upper one.
        for i in 0..<n { for j in (i + 1)..<n { a[j * n + i] = a[i * n + j] } }
        guard factor(&a, n: n) else { return nil }
        // A⁻¹ = L·Lᵀ with L column-major lower; read row-major, that storage is Lᵀ = U.
        for i in 0..<n { for j in 0..<i { a[i * n + j] = 0 } }
        return a
    }

    /// `dpotrf` on the column-major lower triangle of `a`; false when a pivot is not positive.
    private static func factor(_ a: inout [Double], n: Int) -> Bool { lapack(.factor, &a, n: n) }

    /// `dpotri` after `factor`: the inverse in the column-major lower triangle of `a`.
    private static func invertFactored(_ a: inout [Double], n: Int) -> Bool { lapack(.invert, &a, n: n) }

    private enum Routine { case factor, invert }

    /// Runs `routine` on the lower triangle of the column-major `n×n` matrix `a`; true on success.
    private static func lapack(_ routine: Routine, _ a: inout [Double], n: Int) -> Bool {
        var info: Int32 = 0
        a.withUnsafeMutableBufferPointer { p in
            #if canImport(Accelerate)
            var (uplo, size, lda) = (Int8(UInt8(ascii: "L")), __CLPK_integer(n), __CLPK_integer(n))
            switch routine {
            case .factor: dpotrf_(&uplo, &size, p.baseAddress!, &lda, &info)
            case .invert: dpotri_(&uplo, &size, p.baseAddress!, &lda, &info)
            }
            #else
            var (uplo, size, lda) = (CChar(UInt8(ascii: "L")), Int32(n), Int32(n))
            switch routine {
            case .factor: dpotrf_(&uplo, &size, p.baseAddress!, &lda, &info, 1)
            case .invert: dpotri_(&uplo, &size, p.baseAddress!, &lda, &info, 1)
            }
            #endif
        }
        return info == 0
    }
}
