// Packing for the packed GEMM (PackedGEMM.swift): op(A) and op(B) blocks laid out as the
// micro-kernels read them, and the edge tiles written back.

/// Packs `op(A)[row..<row+height, column..<column+depth]` into panels of `panel` rows: panel p
/// holds, for each of the `depth` steps, the `panel` elements of one column of op(A) side by
/// side (`depth × panel` floats, zero-padded past `height`).
@inline(__always)
func packA(_ trans: Transpose, _ a: UnsafePointer<Float>, _ lda: Int, row: Int, column: Int,
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
func packB(_ trans: Transpose, _ b: UnsafePointer<Float>, _ ldb: Int, row: Int, column: Int,
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
func addEdge(_ t: UnsafePointer<Float>, _ ldt: Int, into c: UnsafeMutablePointer<Float>, _ ldc: Int,
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
