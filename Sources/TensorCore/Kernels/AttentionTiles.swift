/// The small products inside attention (per head `T × T × dₕ`, with dₕ = 32 in MiniLM and
/// gpt-tiny) on the packed GEMM's micro-kernel, with each B operand (Kᵀ, V; in the backward
/// pass Vᵀ, K, Q and dO) packed once per head rather than once per product: called per block of
/// query rows, the general `packedGEMM` packed the same keys again for every block, and the
/// blocks' edges went through its scratch tile.
///
/// Query blocks are one register tile high (`GEMMTile.rows`), so under a causal mask each block's
/// products stop at its last visible key and every block but the last is a whole tile.

/// A B operand of the attention products, `op(B)` (`depth × width`: `b[p·ldb + j]`, or with
/// `.transposed` `b[j·ldb + p]`). For the packed kernel it is packed once into the packed
/// GEMM's layout (panels of `tile.columns` columns, each `depth` steps of `tile.columns` floats,
/// zero-padded past `width`, 64-byte aligned); the system BLAS reads it in place.
struct AttentionOperandPanels {
    /// The packed panels, or nil when the system BLAS reads the operand in place.
    let base: UnsafeMutablePointer<Float>?
    let depth: Int, width: Int, panel: Int
    let trans: Transpose, source: UnsafePointer<Float>, ldb: Int

    /// Floats the panels of a `depth × width` operand take (none with a nil tile: the system BLAS).
    static func capacity(depth: Int, width: Int, tile: GEMMTile?) -> Int {
        guard let tile else { return 0 }
        return depth * ((width + tile.columns - 1) / tile.columns * tile.columns)
    }

    /// Packs `op(B)` into `storage` for `tile`, or, with a nil tile (the system BLAS), only records where it is.
    init(_ trans: Transpose, _ b: UnsafePointer<Float>, ldb: Int, depth: Int, width: Int, tile: GEMMTile?,
         into storage: UnsafeMutablePointer<Float>) {
        self.depth = depth; self.width = width; self.trans = trans; source = b; self.ldb = ldb
        panel = tile?.columns ?? 0
        if let tile {
            base = storage
            packB(trans, b, ldb, row: 0, column: 0, depth: depth, width: width, panel: tile.columns, into: storage)
        } else {
            base = nil
        }
    }

    /// The panel holding columns from `column` (a multiple of the tile's width), from step `step` on.
    func at(column: Int, step: Int) -> UnsafePointer<Float> { UnsafePointer(base! + column * depth + step * panel) }

    /// Where `op(B)` starts at step `step`, for the system BLAS.
    func inPlace(step: Int) -> UnsafePointer<Float> { trans == .none ? source + step * ldb : source + step }
}

/// Scratch for `attentionProduct`: a partial A panel (`tile.rows × depth`) and an edge tile,
/// 64-byte aligned; `deallocate` when done.
struct AttentionScratch {
    let panelA: UnsafeMutablePointer<Float>, edge: UnsafeMutablePointer<Float>
    private let raw: UnsafeMutableRawPointer

    init(tile: GEMMTile, depth: Int) {
        let a = tile.rows * max(depth, 1), e = tile.rows * tile.columns
        raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * (a + e), alignment: 64)
        panelA = raw.bindMemory(to: Float.self, capacity: a + e)
        edge = panelA + a
    }

    func deallocate() { raw.deallocate() }
}

/// `C = alpha · A · B` for the first `columns` columns of `b` (packed, or in place on the system BLAS), over its steps
/// `firstStep ..< firstStep + depth`; A's element (r, s) is `a[r·rowStride + s·stepStride]` (read
/// in place: a row-major, transposed or strided view). C (`rows × columns`, row stride `ldc`) is
/// written, never read.
/// - Complexity: O(rows · columns · depth).
func attentionProduct(_ tile: GEMMTile, rows m: Int, columns n: Int, depth k: Int, alpha: Float = 1,
                      a: UnsafePointer<Float>, rowStride: Int, stepStride: Int,
                      b: AttentionOperandPanels, firstStep: Int = 0,
                      c: UnsafeMutablePointer<Float>, ldc: Int, scratch: AttentionScratch) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        for r in 0..<m { (c + r * ldc).update(repeating: 0, count: n) }
        return
    }
    if b.base == nil {
        // The system BLAS: A is row-major (step stride 1) or transposed (row stride 1) in place.
        precondition(stepStride == 1 || rowStride == 1, "attentionProduct: A must be row-major or transposed")
        let (transA, lda) = stepStride == 1 ? (Transpose.none, rowStride) : (Transpose.transposed, stepStride)
        BLAS.systemGEMM(transA, b.trans, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                        b: b.inPlace(step: firstStep), ldb: b.ldb, beta: 0, c: c, ldc: ldc)
        return
    }
    let (mr, nr) = (tile.rows, tile.columns)
    var ir = 0
    while ir < m {
        let rows = min(mr, m - ir)
        let panelA: PanelA
        if rows == mr {
            panelA = PanelA(base: a + ir * rowStride, rowStride: rowStride, stepStride: stepStride)
        } else {
            // A last panel of fewer rows, packed and zero-padded: the micro-kernel reads whole tiles.
            let packed = scratch.panelA
            for s in 0..<k {
                let step = packed + s * mr, source = a + ir * rowStride + s * stepStride
                for r in 0..<rows { step[r] = source[r * rowStride] }
                for r in rows..<mr { step[r] = 0 }
            }
            panelA = PanelA(base: packed, rowStride: 1, stepStride: mr)
        }
        var jr = 0
        while jr < n {
            let columns = min(nr, n - jr)
            let panelB = b.at(column: jr, step: firstStep)
            let target = c + ir * ldc + jr
            if rows == mr && columns == nr {
                microKernel(tile, k, panelA, panelB, target, ldc, alpha: alpha, beta: 0)
            } else {
                microKernel(tile, k, panelA, panelB, scratch.edge, nr, alpha: 1, beta: 0)
                addEdge(scratch.edge, nr, into: target, ldc, rows: rows, columns: columns, alpha: alpha, beta: 0)
            }
            jr += nr
        }
        ir += mr
    }
}
