/// Prune's own single-precision GEMM: packed panels, cache blocks and a register-tiled
/// micro-kernel, in the layered scheme of Goto and van de Geijn, "Anatomy of High-Performance
/// Matrix Multiplication" (ACM TOMS 34(3), 2008, https://doi.org/10.1145/1356052.1356053) and
/// BLIS (Van Zee and van de Geijn, ACM TOMS 41(3), 2015).
///
/// `C = alpha·op(A)·op(B) + beta·C`, row-major, with `op(A)` `m×k`, `op(B)` `k×n`:
///
/// ```
/// for pc in k by kc                       one block of the inner dimension
///   for jc in n by nc                     pack op(B)[pc.., jc..] (kc×nc, ~0.5 MiB: stays in L2)
///     for ir in m by MR                   A micro-panel kc×MR (≤ 18 KiB): stays in L1
///                                         (read in place, not packed: see `PanelA`)
///       for jr in nc by NR                B micro-panel kc×NR streams from L2
///         MR×NR tile += A panel · B panel     (MR·NR/lanes accumulators in registers)
/// ```
///
/// The tile's columns are SIMD lanes and its rows are broadcasts, so a C tile is MR rows of
/// contiguous floats (row-major C stores whole vectors). Keeping the small A micro-panel in L1
/// and streaming B from L2 (rather than BLIS's order, which keeps the B micro-panel in L1) is
/// the right way round here: a kc×32 B micro-panel is 48 KiB at kc = 384, an L1 by itself.
/// Packing handles both transposes and any row stride; packed panels are zero-padded to whole
/// tiles, so the micro-kernel never branches on edges: a partial tile is computed whole into a
/// scratch tile and only its valid part is added into C.

/// The register tile of the packed GEMM: how many rows of C (broadcasts of A) and columns
/// (SIMD lanes of B) one micro-kernel call accumulates.
///
/// Swift cannot test target features at compile time (`#if` knows the architecture, not
/// AVX-512), so both tiles are compiled everywhere and `BLAS`'s calibration picks the faster.
public enum GEMMTile: String, CaseIterable, Codable, Sendable {
    /// 12 rows × 32 columns in `SIMD16<Float>` halves: 24 accumulators + 2 B vectors, made for
    /// 32 vector registers of 16 lanes (AVX-512). With 16 registers of 8 lanes (AVX2) every
    /// SIMD16 takes two and the tile spills: a `-target-cpu haswell` build ran it at about half
    /// the 6×16 tile's rate.
    case wide = "12×32"
    /// 6 rows × 16 columns in `SIMD8<Float>` halves: 12 accumulators + 2 B vectors + a
    /// broadcast, made for 16 registers of 8 lanes (AVX2) or 32 of 4 (NEON, as pairs).
    case narrow = "6×16"

    /// Rows of C per tile (broadcast elements of A per step).
    package var rows: Int { self == .wide ? 12 : 6 }
    /// Columns of C per tile (elements of B per step).
    package var columns: Int { self == .wide ? 32 : 16 }
}

/// Cache blocks, sized for common caches (L1d ≥ 32 KiB, L2 ≥ 1 MiB) rather than tuned to one
/// machine. On the AVX-512 Xeon (48 KiB L1d, 2 MiB L2), depth 256 measured within ±5% of 384
/// on every benchmark shape; 768 columns ran some shapes up to 8% faster, but its 1.1 MiB B
/// block would overflow a 1 MiB L2 (Zen 4).
private enum Block {
    /// Largest inner-dimension block: an A micro-panel of 12×384 floats is 18 KiB (L1), and
    /// 384-wide transformer products take one block.
    static let depth = 384
    /// Largest column block: with `depth`, a packed B block of 384×384 floats is 576 KiB (L2).
    static let columns = 384
}

/// `C = alpha·op(A)·op(B) + beta·C` for row-major matrices, computed by Prune's packed
/// kernel with the given register tile; the same contract as `cblas_sgemm` in row-major order.
///
/// `op(A)` is `m×k` (`A` is stored `m×k`, or `k×m` when transposed) with row stride `lda`;
/// `op(B)` is `k×n` likewise with `ldb`; `C` is `m×n` with row stride `ldc`. With `beta == 0`
/// C is only written, never read, so it may hold garbage (NaN); with `k == 0`, `C = beta·C`.
/// Single-threaded: callers split rows between workers.
/// - Precondition: `m, n, k ≥ 0` and every stride at least its row's length.
/// - Complexity: O(m·n·k) arithmetic, O(n·k) packing, and O(nc·kc) scratch memory (at most
///   0.6 MiB).
package func packedGEMM(
    tile: GEMMTile = .wide,
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "packedGEMM: negative size m \(m), n \(n), k \(k)")
    precondition(lda >= max(1, transA == .none ? k : m) && ldb >= max(1, transB == .none ? n : k) && ldc >= max(1, n),
                 "packedGEMM: strides lda \(lda), ldb \(ldb), ldc \(ldc) too small for m \(m), n \(n), k \(k)")
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 {
        scale(c, rows: m, columns: n, ldc: ldc, by: beta)
        return
    }
    if m == 1 || n == 1 {
        vectorGEMM(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                   beta: beta, c: c, ldc: ldc)
        return
    }
    if thinProductIsTransposed(tile: tile, m: m, n: n) {
        transposedThinGEMM(tile: tile, transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                           beta: beta, c: c, ldc: ldc)
        return
    }
    let (mr, nr) = (tile.rows, tile.columns)
    // Equal blocks (rounded up to whole tiles) rather than full blocks and a thin remainder.
    let kc = evenBlock(k, maximum: Block.depth, multiple: 1)
    let nc = evenBlock(n, maximum: Block.columns, multiple: nr)
    // A is read in place, whole panels of MR rows at a time (see `PanelA`); only a last panel
    // of fewer rows is packed, zero-padded.
    let packedRow = m - m % mr
    let floats = nc * kc + mr * kc + mr * nr
    withUnsafeTemporaryAllocation(byteCount: 4 * floats, alignment: 64) { raw in
        // B first: its panels start at multiples of 64 bytes (`nr·depth` floats), as the
        // micro-kernel's aligned vector loads need.
        let bp = raw.baseAddress!.bindMemory(to: Float.self, capacity: floats)
        let ap = bp + nc * kc, scratch = ap + mr * kc
        var pc = 0
        while pc < k {
            let depth = min(kc, k - pc)
            // Later depth blocks add to what the first one stored.
            let blockBeta = pc == 0 ? beta : 1
            var jc = 0
            while jc < n {
                let width = min(nc, n - jc)
                packB(transB, b, ldb, row: pc, column: jc, depth: depth, width: width, panel: nr, into: bp)
                packA(transA, a, lda, row: packedRow, column: pc, height: m - packedRow, depth: depth, panel: mr, into: ap)
                var ir = 0
                while ir < m {
                    let rows = min(mr, m - ir)
                    let panelA = ir == packedRow
                        ? PanelA(base: ap, rowStride: 1, stepStride: mr)
                        : transA == .none
                        ? PanelA(base: a + ir * lda + pc, rowStride: lda, stepStride: 1)
                        : PanelA(base: a + pc * lda + ir, rowStride: 1, stepStride: lda)
                    var jr = 0
                    while jr < width {
                        let columns = min(nr, width - jr)
                        let panelB = bp + jr * depth
                        let target = c + ir * ldc + jc + jr
                        if rows == mr && columns == nr {
                            microKernel(tile, depth, panelA, panelB, target, ldc, alpha: alpha, beta: blockBeta)
                        } else {
                            microKernel(tile, depth, panelA, panelB, scratch, nr, alpha: 1, beta: 0)
                            addEdge(scratch, nr, into: target, ldc, rows: rows, columns: columns,
                                    alpha: alpha, beta: blockBeta)
                        }
                        jr += nr
                    }
                    ir += mr
                }
                jc += width
            }
            pc += depth
        }
    }
}

/// The block size for `total` items split into equal blocks of at most `maximum`, rounded up
/// to a multiple of `multiple` (one tile).
private func evenBlock(_ total: Int, maximum: Int, multiple: Int) -> Int {
    let blocks = (total + maximum - 1) / maximum
    let size = (total + blocks - 1) / blocks
    return (size + multiple - 1) / multiple * multiple
}

/// `C = beta·C` (`beta == 0` writes zeros without reading C).
private func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ldc: Int, by beta: Float) {
    if beta == 1 { return }
    for i in 0..<rows {
        let row = c + i * ldc
        if beta == 0 {
            row.update(repeating: 0, count: columns)
        } else {
            for j in 0..<columns { row[j] *= beta }
        }
    }
}

/// Whether a product of few rows (`m`, the tokens of one sentence) runs as its transpose: the
/// packing of op(B) (a whole layer's weights, for `x·Wᵀ`) costs about as much as the
/// arithmetic when few rows share it, while the transposed product reads those weights in
/// place as its A and packs only the few rows. At 20 rows times a 384×1536 weight, packing
/// took 56% of the product's time (perf, AVX-512 Xeon, `prune embed --batch 1`).
///
/// Rule: at most two column tiles of rows (`m ≤ 2·NR`), so that padding to whole tiles costs
/// at most what the row tiles would pad, and `n ≥ 4·m`, so that op(B) is the larger operand.
package func thinProductIsTransposed(tile: GEMMTile, m: Int, n: Int) -> Bool {
    m <= 2 * tile.columns && n >= 4 * m && n >= tile.rows
}

/// `C = alpha·op(A)·op(B) + beta·C` computed as `Cᵀ = op(B)ᵀ·op(A)ᵀ` into a scratch `[n, m]`,
/// then added into C transposed.
private func transposedThinGEMM(
    tile: GEMMTile, _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    let flip = { (t: Transpose) in t == .none ? Transpose.transposed : .none }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: n * m) { scratch in
        let ct = scratch.baseAddress!
        packedGEMM(tile: tile, flip(transB), flip(transA), m: n, n: m, k: k, alpha: alpha, a: b, lda: ldb, b: a, ldb: lda,
                   beta: 0, c: ct, ldc: m)
        for i in 0..<m {
            let row = c + i * ldc
            if beta == 0 {
                for j in 0..<n { row[j] = ct[j * m + i] }
            } else {
                for j in 0..<n { row[j] = ct[j * m + i].addingProduct(beta, row[j]) }   // fused, as the tiles store
            }
        }
    }
}
