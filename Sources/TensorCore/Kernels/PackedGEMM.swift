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
package enum GEMMTile: String, CaseIterable, Sendable {
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

/// Packs `op(A)[row..<row+height, column..<column+depth]` into panels of `panel` rows: panel p
/// holds, for each of the `depth` steps, the `panel` elements of one column of op(A) side by
/// side (`depth × panel` floats, zero-padded past `height`).
@inline(__always)
private func packA(_ trans: Transpose, _ a: UnsafePointer<Float>, _ lda: Int, row: Int, column: Int,
                   height: Int, depth: Int, panel: Int, into ap: UnsafeMutablePointer<Float>) {
    var i0 = 0
    while i0 < height {
        let rows = min(panel, height - i0)
        let dst = ap + i0 * depth
        if trans == .none {
            // op(A)[i, p] = a[i·lda + p]: each stored row becomes one lane of the panel. In
            // chunks of steps, so that the rows' strided writes meet in a few KiB of L1.
            transposeRows(from: a + (row + i0) * lda + column, lda, rows: rows, depth: depth, panel: panel, into: dst)
            if rows < panel {
                for p in 0..<depth { (dst + p * panel + rows).update(repeating: 0, count: panel - rows) }
            }
        } else {
            // op(A)[i, p] = a[p·lda + i]: each stored row is already one step of the panel.
            for p in 0..<depth {
                copyPadded(a + (column + p) * lda + row + i0, to: dst + p * panel, count: rows, panel: panel)
            }
        }
        i0 += panel
    }
}

/// Packs `op(B)[row..<row+depth, column..<column+width]` into panels of `panel` columns: panel
/// q holds, for each of the `depth` steps, `panel` consecutive elements of one row of op(B)
/// (`depth × panel` floats, zero-padded past `width`).
@inline(__always)
private func packB(_ trans: Transpose, _ b: UnsafePointer<Float>, _ ldb: Int, row: Int, column: Int,
                   depth: Int, width: Int, panel: Int, into bp: UnsafeMutablePointer<Float>) {
    var j0 = 0
    while j0 < width {
        let columns = min(panel, width - j0)
        let dst = bp + j0 * depth
        if trans == .none {
            // op(B)[p, j] = b[p·ldb + j]: a copy of a row segment per step.
            for p in 0..<depth {
                copyPadded(b + (row + p) * ldb + column + j0, to: dst + p * panel, count: columns, panel: panel)
            }
        } else {
            // op(B)[p, j] = b[j·ldb + p]: each stored row becomes one lane of the panel.
            transposeRows(from: b + (column + j0) * ldb + row, ldb, rows: columns, depth: depth, panel: panel, into: dst)
            if columns < panel {
                for p in 0..<depth { (dst + p * panel + columns).update(repeating: 0, count: panel - columns) }
            }
        }
        j0 += panel
    }
}

/// Copies `count` floats and zero-fills the panel's remaining `panel - count`. Whole panels
/// (12 or 32 floats) go in SIMD pieces rather than through `update(from:count:)`, which calls
/// `memmove` for every step's 48 or 128 bytes.
@inline(__always)
private func copyPadded(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int, panel: Int) {
    guard count == panel else {
        for i in 0..<count { dst[i] = src[i] }
        for i in count..<panel { dst[i] = 0 }
        return
    }
    let (s, d) = (UnsafeRawPointer(src), UnsafeMutableRawPointer(dst))
    var i = 0
    while i + 16 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    if i + 8 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self), toByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    if i + 4 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self), toByteOffset: 4 * i, as: SIMD4<Float>.self)
        i += 4
    }
    while i < count { dst[i] = src[i]; i += 1 }
}

/// Writes `rows` stored rows of `depth` floats (row stride `ld`) as lanes 0..<rows of a panel
/// `depth × panel`: `dst[p·panel + r] = src[r·ld + p]`.
///
/// Blocks of 16 rows × 16 steps go through a register transpose (`transpose16`): 64×384×384
/// `x·Wᵀ` (whose B is transposed) 89 → 96 GFLOP/s, attention scores Q·Kᵀ 93 → 100, against the
/// element-by-element loop below. That loop, for the steps left over, goes in chunks of 32
/// steps so that the strided writes of all rows land in one 32·panel·4-byte block while it is
/// in L1: writing a whole 384-step panel of 32 lanes (48 KiB) row by row ran the same product
/// at 31 GFLOP/s instead of 59 (a loaded machine; element loops both).
@inline(__always)
private func transposeRows(from src: UnsafePointer<Float>, _ ld: Int, rows: Int, depth: Int, panel: Int,
                           into dst: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    var p0 = 0
    while p0 + 16 <= depth {
        var r0 = 0
        while r0 < rows {
            let count = min(16, rows - r0)
            let s = UnsafeRawPointer(src + r0 * ld + p0), stride = 4 * ld
            @inline(__always) func row(_ i: Int) -> V { i < count ? s.loadUnaligned(fromByteOffset: i * stride, as: V.self) : V() }
            var block = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7),
                         row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
            transpose16(&block)
            let d = dst + p0 * panel + r0
            withUnsafeBytes(of: &block) { columns in
                for q in 0..<16 {
                    storePrefix(columns.load(fromByteOffset: 64 * q, as: V.self), count: count, to: d + q * panel)
                }
            }
            r0 += count
        }
        p0 += 16
    }
    while p0 < depth {
        let chunk = min(32, depth - p0)
        for r in 0..<rows {
            let s = src + r * ld + p0
            var d = dst + p0 * panel + r
            for q in 0..<chunk { d.pointee = s[q]; d += panel }
        }
        p0 += chunk
    }
}

/// Transposes a 16×16 block held as 16 rows: four rounds of perfect unshuffles, each taking
/// the even and the odd lanes of consecutive row pairs (`v[i] = even(r[2i], r[2i+1])`,
/// `v[i+8] = odd(r[2i], r[2i+1])`); after log₂16 rounds row i holds column i. LLVM turns the
/// half-vector moves into two-source permutes (`vpermt2ps` on AVX-512).
@inline(__always)
private func transpose16(_ r: inout (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>,
                                     SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>,
                                     SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>,
                                     SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)) {
    typealias V = SIMD16<Float>
    @inline(__always) func even(_ x: V, _ y: V) -> V { V(lowHalf: x.evenHalf, highHalf: y.evenHalf) }
    @inline(__always) func odd(_ x: V, _ y: V) -> V { V(lowHalf: x.oddHalf, highHalf: y.oddHalf) }
    for _ in 0..<4 {
        r = (even(r.0, r.1), even(r.2, r.3), even(r.4, r.5), even(r.6, r.7),
             even(r.8, r.9), even(r.10, r.11), even(r.12, r.13), even(r.14, r.15),
             odd(r.0, r.1), odd(r.2, r.3), odd(r.4, r.5), odd(r.6, r.7),
             odd(r.8, r.9), odd(r.10, r.11), odd(r.12, r.13), odd(r.14, r.15))
    }
}

/// Stores the first `count` lanes of `v` at `dst`, in SIMD pieces.
@inline(__always)
private func storePrefix(_ v: SIMD16<Float>, count: Int, to dst: UnsafeMutablePointer<Float>) {
    let d = UnsafeMutableRawPointer(dst)
    if count == 16 { d.storeBytes(of: v, as: SIMD16<Float>.self); return }
    var i = 0
    if count >= 8 { d.storeBytes(of: v.lowHalf, as: SIMD8<Float>.self); i = 8 }
    let rest = i == 8 ? v.highHalf : v.lowHalf
    if count - i >= 4 {
        d.storeBytes(of: rest.lowHalf, toByteOffset: 4 * i, as: SIMD4<Float>.self)
        for l in 4..<(count - i) { dst[i + l] = rest[l] }
    } else {
        for l in 0..<(count - i) { dst[i + l] = rest[l] }
    }
}

/// `C[0..<rows, 0..<columns] = alpha·T + beta·C` from a computed tile `T` (row stride `ldt`).
private func addEdge(_ t: UnsafePointer<Float>, _ ldt: Int, into c: UnsafeMutablePointer<Float>, _ ldc: Int,
                     rows: Int, columns: Int, alpha: Float, beta: Float) {
    for i in 0..<rows {
        let (src, dst) = (t + i * ldt, c + i * ldc)
        if beta == 0 {
            for j in 0..<columns { dst[j] = alpha * src[j] }
        } else {
            for j in 0..<columns { dst[j] = (alpha * src[j]).addingProduct(beta, dst[j]) }
        }
    }
}

/// Where a micro-kernel reads the tile's rows of A: element (r, p) at `base[r·rowStride + p·stepStride]`.
///
/// A packed panel has strides (1, MR). Whole panels are read in place instead: A as stored
/// with strides (lda, 1), transposed A with (1, lda). A's elements are only ever broadcast, so
/// packing them buys little locality and costs a pass over A for every column block, which
/// products with few columns amortize over few tiles. Measured (interleaved runs, best of 4-6,
/// AVX-512 Xeon), reading untransposed A in place: the attention product P·V (128×32×128)
/// 59 → 120 GFLOP/s, gpt-tiny's 4096×128×512 `x·Wᵀ` 106 → 138, 384×128×384 112 → 153, 1024³
/// 121 → 134; then transposed A in place: the attention gradient dK = dSᵀ·Q (128×32×128)
/// 96 → 136, weight gradients 384×128×k +6-11%, no shape slower.
private struct PanelA {
    var base: UnsafePointer<Float>, rowStride: Int, stepStride: Int
}

@inline(__always)
private func microKernel(_ tile: GEMMTile, _ depth: Int, _ a: PanelA, _ b: UnsafePointer<Float>,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, alpha: Float, beta: Float) {
    // Constant strides for packed panels, so those compile to one pointer and fixed offsets.
    switch (tile, a.stepStride == 1, a.rowStride == 1 && a.stepStride == tile.rows) {
    case (.wide, true, _): kernel12x32(depth, a.base, a.rowStride, 1, b, c, ldc, alpha: alpha, beta: beta)
    case (.wide, false, true): kernel12x32(depth, a.base, 1, 12, b, c, ldc, alpha: alpha, beta: beta)
    case (.wide, false, false): kernel12x32(depth, a.base, 1, a.stepStride, b, c, ldc, alpha: alpha, beta: beta)
    case (.narrow, true, _): kernel6x16(depth, a.base, a.rowStride, 1, b, c, ldc, alpha: alpha, beta: beta)
    case (.narrow, false, true): kernel6x16(depth, a.base, 1, 6, b, c, ldc, alpha: alpha, beta: beta)
    case (.narrow, false, false): kernel6x16(depth, a.base, 1, a.stepStride, b, c, ldc, alpha: alpha, beta: beta)
    }
}

/// One row of a tile: two SIMD vectors of accumulators.
private struct TileRow<V: SIMD> where V.Scalar == Float {
    var low = V(), high = V()
}

extension TileRow where V == SIMD16<Float> {
    /// `row += a · (b0, b1)`, fused.
    @inline(__always)
    mutating func add(_ a: Float, _ b0: V, _ b1: V) {
        low = low.addingProduct(a, b0)
        high = high.addingProduct(a, b1)
    }

    /// `c[0..<32] = alpha·row + beta·c[0..<32]` (C read only when `beta != 0`).
    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        let p = UnsafeMutableRawPointer(c), size = MemoryLayout<V>.stride
        var (x, y) = (low * alpha, high * alpha)
        if beta != 0 {
            x = x.addingProduct(beta, p.loadUnaligned(as: V.self))
            y = y.addingProduct(beta, p.loadUnaligned(fromByteOffset: size, as: V.self))
        }
        p.storeBytes(of: x, as: V.self)
        p.storeBytes(of: y, toByteOffset: size, as: V.self)
    }
}

extension TileRow where V == SIMD8<Float> {
    /// `row += a · (b0, b1)`, fused.
    @inline(__always)
    mutating func add(_ a: Float, _ b0: V, _ b1: V) {
        low = low.addingProduct(a, b0)
        high = high.addingProduct(a, b1)
    }

    /// `c[0..<16] = alpha·row + beta·c[0..<16]` (C read only when `beta != 0`).
    @inline(__always)
    func store(_ c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        let p = UnsafeMutableRawPointer(c), size = MemoryLayout<V>.stride
        var (x, y) = (low * alpha, high * alpha)
        if beta != 0 {
            x = x.addingProduct(beta, p.loadUnaligned(as: V.self))
            y = y.addingProduct(beta, p.loadUnaligned(fromByteOffset: size, as: V.self))
        }
        p.storeBytes(of: x, as: V.self)
        p.storeBytes(of: y, toByteOffset: size, as: V.self)
    }
}

/// The 12×32 tile: `C[12, 32] = alpha·(A panel · B panel) + beta·C` over `depth` steps, A
/// packed 12 per step, B 32 per step (64-byte aligned). Per step: 2 vector loads, 12
/// broadcasts, 24 FMAs on 16 lanes.
@inline(__always)
private func kernel12x32(_ depth: Int, _ a: UnsafePointer<Float>, _ rs: Int, _ ss: Int, _ b: UnsafePointer<Float>,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, alpha: Float, beta: Float) {
    typealias V = SIMD16<Float>
    var r0 = TileRow<V>(), r1 = TileRow<V>(), r2 = TileRow<V>(), r3 = TileRow<V>()
    var r4 = TileRow<V>(), r5 = TileRow<V>(), r6 = TileRow<V>(), r7 = TileRow<V>()
    var r8 = TileRow<V>(), r9 = TileRow<V>(), r10 = TileRow<V>(), r11 = TileRow<V>()
    var pa = a, pb = UnsafeRawPointer(b)
    for _ in 0..<depth {
        let b0 = pb.load(as: V.self), b1 = pb.load(fromByteOffset: 64, as: V.self)
        r0.add(pa[0], b0, b1); r1.add(pa[rs], b0, b1); r2.add(pa[2 * rs], b0, b1); r3.add(pa[3 * rs], b0, b1)
        r4.add(pa[4 * rs], b0, b1); r5.add(pa[5 * rs], b0, b1); r6.add(pa[6 * rs], b0, b1); r7.add(pa[7 * rs], b0, b1)
        r8.add(pa[8 * rs], b0, b1); r9.add(pa[9 * rs], b0, b1); r10.add(pa[10 * rs], b0, b1); r11.add(pa[11 * rs], b0, b1)
        pa += ss
        pb += 128
    }
    r0.store(c, alpha: alpha, beta: beta); r1.store(c + ldc, alpha: alpha, beta: beta)
    r2.store(c + 2 * ldc, alpha: alpha, beta: beta); r3.store(c + 3 * ldc, alpha: alpha, beta: beta)
    r4.store(c + 4 * ldc, alpha: alpha, beta: beta); r5.store(c + 5 * ldc, alpha: alpha, beta: beta)
    r6.store(c + 6 * ldc, alpha: alpha, beta: beta); r7.store(c + 7 * ldc, alpha: alpha, beta: beta)
    r8.store(c + 8 * ldc, alpha: alpha, beta: beta); r9.store(c + 9 * ldc, alpha: alpha, beta: beta)
    r10.store(c + 10 * ldc, alpha: alpha, beta: beta); r11.store(c + 11 * ldc, alpha: alpha, beta: beta)
}

/// The 6×16 tile: `C[6, 16] = alpha·(A panel · B panel) + beta·C` over `depth` steps, A packed
/// 6 per step, B 16 per step. Per step: 2 vector loads, 6 broadcasts, 12 FMAs on 8 lanes.
@inline(__always)
private func kernel6x16(_ depth: Int, _ a: UnsafePointer<Float>, _ rs: Int, _ ss: Int, _ b: UnsafePointer<Float>,
                        _ c: UnsafeMutablePointer<Float>, _ ldc: Int, alpha: Float, beta: Float) {
    typealias V = SIMD8<Float>
    var r0 = TileRow<V>(), r1 = TileRow<V>(), r2 = TileRow<V>()
    var r3 = TileRow<V>(), r4 = TileRow<V>(), r5 = TileRow<V>()
    var pa = a, pb = UnsafeRawPointer(b)
    for _ in 0..<depth {
        let b0 = pb.load(as: V.self), b1 = pb.load(fromByteOffset: 32, as: V.self)
        r0.add(pa[0], b0, b1); r1.add(pa[rs], b0, b1); r2.add(pa[2 * rs], b0, b1)
        r3.add(pa[3 * rs], b0, b1); r4.add(pa[4 * rs], b0, b1); r5.add(pa[5 * rs], b0, b1)
        pa += ss
        pb += 64
    }
    r0.store(c, alpha: alpha, beta: beta); r1.store(c + ldc, alpha: alpha, beta: beta)
    r2.store(c + 2 * ldc, alpha: alpha, beta: beta); r3.store(c + 3 * ldc, alpha: alpha, beta: beta)
    r4.store(c + 4 * ldc, alpha: alpha, beta: beta); r5.store(c + 5 * ldc, alpha: alpha, beta: beta)
}
