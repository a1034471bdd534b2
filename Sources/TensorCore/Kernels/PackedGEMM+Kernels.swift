// The register-tiled micro-kernels of the packed GEMM (PackedGEMM.swift).

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
struct PanelA {
    var base: UnsafePointer<Float>, rowStride: Int, stepStride: Int
}

@inline(__always)
func microKernel(_ tile: GEMMTile, _ depth: Int, _ a: PanelA, _ b: UnsafePointer<Float>,
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

extension TileRow {
    /// `row += a · (b0, b1)`, fused.
    @inline(__always)
    mutating func add(_ a: Float, _ b0: V, _ b1: V) {
        low = low.addingProduct(a, b0)
        high = high.addingProduct(a, b1)
    }

    /// `c[0..<2·lanes] = alpha·row + beta·c[0..<2·lanes]` (C read only when `beta != 0`).
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
