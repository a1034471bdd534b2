#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// The one bridge to the system BLAS (OpenBLAS on Linux, Accelerate on Apple platforms).
public enum BLAS {
    /// Sets the number of threads BLAS may use. Prune's default is 1: on small
    /// matrices extra BLAS threads spin and lose (measured in docs/RESULTS.md); Prune's trainer
    /// parallelizes across samples instead.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "thread count must be at least 1, got \(count)")
        _ = defaultThreads
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(count))
        #endif
    }

    /// The system BLAS in words, with the kernels it chose for this CPU:
    /// `"OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"`, or
    /// `"Accelerate"`.
    package static var systemDescription: String {
        #if canImport(Accelerate)
        "Accelerate"
        #else
        String(cString: openblas_get_config())
        #endif
    }

    /// Applies the one-thread default once, before the first BLAS call.
    private static let defaultThreads: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// `C = alpha * op(A) * op(B) + beta * C` for row-major matrices, on `backend`: the system
    /// BLAS or Prune's packed kernel, whichever the calibration at first use found faster.
    ///
    /// `op(A)` is `m×k`, `op(B)` is `k×n`, `C` is `m×n`; `lda`, `ldb`, `ldc` are the
    /// row strides of the stored matrices. With `beta == 0`, C is not read.
    /// - Complexity: O(m·n·k).
    package static func gemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if backend == .packed {
            packedGEMM(tile: tile, transA, transB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        } else {
            systemGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
        }
    }

    /// `gemm` on the system BLAS, whatever the backend.
    /// - Complexity: O(m·n·k).
    package static func systemGEMM(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        _ = defaultThreads
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = alpha * op(A) * x + beta * y` for a row-major `rows×columns` matrix, on `backend`
    /// (the packed backend runs it as a one-column product, which streams A once).
    /// - Complexity: O(rows·columns).
    package static func gemv(
        _ trans: Transpose, rows: Int, columns: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        if backend == .packed {
            let (m, k) = trans == .none ? (rows, columns) : (columns, rows)
            packedGEMM(tile: tile, trans, .none, m: m, n: 1, k: k, alpha: alpha, a: a, lda: lda,
                       b: x, ldb: 1, beta: beta, c: y, ldc: 1)
            return
        }
        _ = defaultThreads
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(rows), Int32(columns), alpha,
                    a, Int32(lda), x, 1, beta, y, 1)
    }
}
