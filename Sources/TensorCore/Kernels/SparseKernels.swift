/// The inner loops of the CSR products (pointer kernels behind `CSRMatrix+Products`).

/// `spmv` for 16-bit column indices, which it reads four at a time as one 64-bit word and
/// splits with shifts: one load instead of four per group of indices leaves the load
/// ports to the gathers of `x`, the real cost (4096² at 90%: 3.0× → 4.9–5.5× dense sgemv
/// in a C prototype of the same loop; in Swift, side by side with `spmv`, the medians
/// overlap within this machine's noise).
@inline(__always)
func spmvNarrow(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<UInt16>, _ values: UnsafeBufferPointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    guard let c = columns.baseAddress, let v = values.baseAddress else {
        for r in r0..<r1 { y[r] = 0 }
        return
    }
    let indices = UnsafeRawPointer(c)
    spmvRows(starts, c, v, x, y, r0, r1) { p in
        let a = indices.loadUnaligned(fromByteOffset: 2 * p, as: UInt64.self)
        let b = indices.loadUnaligned(fromByteOffset: 2 * p + 8, as: UInt64.self)
        return SIMD8<Float>(x[Int(truncatingIfNeeded: a & 0xFFFF)], x[Int(truncatingIfNeeded: (a >> 16) & 0xFFFF)],
                            x[Int(truncatingIfNeeded: (a >> 32) & 0xFFFF)], x[Int(truncatingIfNeeded: a >> 48)],
                            x[Int(truncatingIfNeeded: b & 0xFFFF)], x[Int(truncatingIfNeeded: (b >> 16) & 0xFFFF)],
                            x[Int(truncatingIfNeeded: (b >> 32) & 0xFFFF)], x[Int(truncatingIfNeeded: b >> 48)])
    }
}

/// Row-by-row sparse matrix × vector: 16 entries per step into two independent SIMD8
/// accumulators (the gathers of `x` hit L1; the stream of values and indices is the cost).
@inline(__always)
func spmv<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    guard let c = columns.baseAddress, let v = values.baseAddress else {
        for r in r0..<r1 { y[r] = 0 }
        return
    }
    spmvRows(starts, c, v, x, y, r0, r1) { p in
        SIMD8<Float>(x[Int(c[p])], x[Int(c[p + 1])], x[Int(c[p + 2])], x[Int(c[p + 3])],
                     x[Int(c[p + 4])], x[Int(c[p + 5])], x[Int(c[p + 6])], x[Int(c[p + 7])])
    }
}

/// `y += x[r] · row r` for every row with `x[r] ≠ 0`, four entries per step: `four(p)`
/// gives the columns of entries `p ..< p + 4`. The stored columns of one row are
/// distinct, so the four updates of a step never touch the same entry of `y`.
@inline(__always)
func scatterRows<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ c: UnsafePointer<Index>, _ v: UnsafePointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ rows: Range<Int>,
    _ four: (Int) -> (Int, Int, Int, Int)
) {
    let raw = UnsafeRawPointer(v)
    for r in rows {
        let a = x[r]
        if a == 0 { continue }
        var p = Int(starts[r])
        let end = Int(starts[r + 1])
        while p + 4 <= end {
            let (c0, c1, c2, c3) = four(p)
            let w = raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD4<Float>.self) * a
            y[c0] += w[0]; y[c1] += w[1]; y[c2] += w[2]; y[c3] += w[3]
            p += 4
        }
        while p < end { y[Int(c[p])] += a * v[p]; p += 1 }
    }
}

/// The row loop of the sparse × vector kernels: `gather(p)` gives `x` at the columns of
/// stored entries `p ..< p + 8`.
@inline(__always)
func spmvRows<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ c: UnsafePointer<Index>, _ v: UnsafePointer<Float>,
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int,
    _ gather: (Int) -> SIMD8<Float>
) {
    let raw = UnsafeRawPointer(v)
    let total = Int(starts[starts.count - 1])
    let lane = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    for r in r0..<r1 {
        var p = Int(starts[r])
        let end = Int(starts[r + 1])
        var acc0 = SIMD8<Float>.zero, acc1 = SIMD8<Float>.zero
        while p + 16 <= end {
            acc0.addProduct(raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self), gather(p))
            acc1.addProduct(raw.loadUnaligned(fromByteOffset: 4 * (p + 8), as: SIMD8<Float>.self), gather(p + 8))
            p += 16
        }
        if p + 8 <= end {
            acc0.addProduct(raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self), gather(p))
            p += 8
        }
        // The last 1–7 entries as one masked step when 8 entries can be read (the next row's
        // are read and dropped): a chain of up to 7 dependent scalar FMAs cost more than the
        // row's other work at 78 entries a row. Both factors are zeroed in the dropped lanes,
        // so an infinite input elsewhere cannot turn them into NaN.
        if p < end && p + 8 <= total {
            let drop = .!(lane .< SIMD8<Int32>(repeating: Int32(truncatingIfNeeded: end - p)))
            let w = raw.loadUnaligned(fromByteOffset: 4 * p, as: SIMD8<Float>.self).replacing(with: 0, where: drop)
            acc1.addProduct(w, gather(p).replacing(with: 0, where: drop))
            p = end
        }
        // Halving tree (3 dependent adds); `SIMD8.sum()` adds the lanes one after another.
        let eight = acc0 + acc1
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        var sum = two[0] + two[1]
        while p < end { sum += v[p] * x[Int(c[p])]; p += 1 }
        y[r] = sum
    }
}

/// Sparse × dense with the batch contiguous, for rows `r0 ..< r1`: the batch is walked in
/// panels (outer loop), so the part of `xt` one panel reads stays in cache while every
/// row's stored weights scale its rows into the output. `lanes` SIMD8 accumulators
/// (1, 2, 4 or 8) stay in registers: a panel is `8·lanes` samples wide.
@inline(__always)
func spmmPanel<Index: FixedWidthInteger & UnsignedInteger>(
    lanes: Int, accumulate: Bool = false, _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>,
    _ values: UnsafeBufferPointer<Float>,
    _ xt: UnsafePointer<Float>, _ n: Int, _ j: Int, _ yt: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    let raw = UnsafeRawPointer(xt + j)
    for r in r0..<r1 {
        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        if accumulate {
            // Adds to the row's output (a block of columns at a time): nothing to add, nothing to do.
            if starts[r] == starts[r + 1] { continue }
            let o = UnsafeRawPointer(yt + r * n + j)
            a0 = o.loadUnaligned(as: SIMD8<Float>.self)
            if lanes >= 2 { a1 = o.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) }
            if lanes >= 4 {
                a2 = o.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                a3 = o.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
            }
            if lanes >= 8 {
                a4 = o.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self)
                a5 = o.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self)
                a6 = o.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self)
                a7 = o.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self)
            }
        }
        for p in Int(starts[r])..<Int(starts[r + 1]) {
            let w = SIMD8<Float>(repeating: values[p])
            let row = raw + 4 * Int(columns[p]) * n
            a0.addProduct(w, row.loadUnaligned(as: SIMD8<Float>.self))
            if lanes >= 2 { a1.addProduct(w, row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)) }
            if lanes >= 4 {
                a2.addProduct(w, row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self))
                a3.addProduct(w, row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self))
            }
            if lanes >= 8 {
                a4.addProduct(w, row.loadUnaligned(fromByteOffset: 128, as: SIMD8<Float>.self))
                a5.addProduct(w, row.loadUnaligned(fromByteOffset: 160, as: SIMD8<Float>.self))
                a6.addProduct(w, row.loadUnaligned(fromByteOffset: 192, as: SIMD8<Float>.self))
                a7.addProduct(w, row.loadUnaligned(fromByteOffset: 224, as: SIMD8<Float>.self))
            }
        }
        let o = UnsafeMutableRawPointer(yt + r * n + j)
        o.storeBytes(of: a0, as: SIMD8<Float>.self)
        if lanes >= 2 { o.storeBytes(of: a1, toByteOffset: 32, as: SIMD8<Float>.self) }
        if lanes >= 4 {
            o.storeBytes(of: a2, toByteOffset: 64, as: SIMD8<Float>.self)
            o.storeBytes(of: a3, toByteOffset: 96, as: SIMD8<Float>.self)
        }
        if lanes >= 8 {
            o.storeBytes(of: a4, toByteOffset: 128, as: SIMD8<Float>.self)
            o.storeBytes(of: a5, toByteOffset: 160, as: SIMD8<Float>.self)
            o.storeBytes(of: a6, toByteOffset: 192, as: SIMD8<Float>.self)
            o.storeBytes(of: a7, toByteOffset: 224, as: SIMD8<Float>.self)
        }
    }
}

/// Pointers to a CSR matrix's column-blocked entries (valid inside
/// `CSRMatrix.withBlockedBuffers`); the kernels take them as `Blocked<Index>`.
struct BlockedBuffers {
    let blocks: CSRMatrix.ColumnBlocks
    let starts: UnsafeBufferPointer<Int32>
    let values: UnsafeBufferPointer<Float>
    let narrow: UnsafeBufferPointer<UInt16>?
    let wide: UnsafeBufferPointer<UInt32>?
    var narrowForm: Blocked<UInt16>? { narrow.map { Blocked(blocks: blocks, starts: starts, columns: $0, values: values) } }
    var wideForm: Blocked<UInt32>? { wide.map { Blocked(blocks: blocks, starts: starts, columns: $0, values: values) } }
}

/// The column-blocked entries with their index type.
struct Blocked<Index: FixedWidthInteger & UnsignedInteger> {
    let blocks: CSRMatrix.ColumnBlocks
    let starts: UnsafeBufferPointer<Int32>
    let columns: UnsafeBufferPointer<Index>
    let values: UnsafeBufferPointer<Float>

    /// One contiguous 64-sample panel (`panel` is `[columns, 64]`) times rows `r0 ..< r1`:
    /// for each block of 512 rows, block by block of columns, so that slice of the panel
    /// and the rows' outputs stay in L2. `out` row `r` is at `out + 64·r`.
    @inline(__always)
    func panel(_ panel: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ rows: Int, _ r0: Int, _ r1: Int) {
        guard r1 > r0 else { return }
        (out + 64 * r0).update(repeating: 0, count: 64 * (r1 - r0))
        var lo = r0
        while lo < r1 {
            let hi = Swift.min(lo + 512, r1)
            for b in 0..<blocks.blockCount {
                let block = UnsafeBufferPointer(rebasing: starts[(b * rows)...(b * rows + rows)])
                spmmPanel(lanes: 8, accumulate: true, block, columns, values, panel, 64, 0, out, lo, hi)
            }
            lo = hi
        }
    }
}

/// Rows `r0 ..< r1` times one contiguous 64-sample panel (`[columns, 64]`) into `out`
/// (row `r` at `out + 64·r`): through the column-blocked entries when there are any.
@inline(__always)
func panelProduct<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ blocked: Blocked<Index>?, _ panel: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int
) {
    if let blocked {
        blocked.panel(panel, out, starts.count - 1, r0, r1)
    } else {
        spmmPanel(lanes: 8, starts, columns, values, panel, 64, 0, out, r0, r1)
    }
}

/// `spmmPanel` over the whole batch. Full 64-sample panels of a batch of 128 or more are
/// first copied into a contiguous `[k, 64]` block: read in place, a panel is a 256-byte
/// slice of every row of `xt` and the stride crowds it into a fraction of the cache
/// sets (measured 25 → 17–20 ms for 4096² at 90%, batch 128).
@inline(__always)
func spmm<Index: FixedWidthInteger & UnsignedInteger>(
    _ starts: UnsafeBufferPointer<Int32>, _ columns: UnsafeBufferPointer<Index>, _ values: UnsafeBufferPointer<Float>,
    _ xt: UnsafePointer<Float>, _ n: Int, _ k: Int, _ yt: UnsafeMutablePointer<Float>, _ r0: Int, _ r1: Int,
    _ blocked: Blocked<Index>?
) {
    let width = 64
    var j = 0
    if n >= 2 * width && r1 > r0 {
        let panel = allocateLineAligned(k * width)
        defer { panel.deallocate() }
        let out = allocateLineAligned((r1 - r0) * width)
        defer { out.deallocate() }
        while j + width <= n {
            for c in 0..<k { (panel + c * width).update(from: xt + c * n + j, count: width) }
            panelProduct(starts, columns, values, blocked, panel, out - r0 * width, r0, r1)
            for r in r0..<r1 { (yt + r * n + j).update(from: out + (r - r0) * width, count: width) }
            j += width
        }
    }
    while j + 64 <= n { spmmPanel(lanes: 8, starts, columns, values, xt, n, j, yt, r0, r1); j += 64 }
    while j + 32 <= n { spmmPanel(lanes: 4, starts, columns, values, xt, n, j, yt, r0, r1); j += 32 }
    while j + 16 <= n { spmmPanel(lanes: 2, starts, columns, values, xt, n, j, yt, r0, r1); j += 16 }
    while j + 8 <= n { spmmPanel(lanes: 1, starts, columns, values, xt, n, j, yt, r0, r1); j += 8 }
    while j < n {
        for r in r0..<r1 {
            var s: Float = 0
            for p in Int(starts[r])..<Int(starts[r + 1]) { s += values[p] * xt[Int(columns[p]) * n + j] }
            yt[r * n + j] = s
        }
        j += 1
    }
}

/// Room for `count` floats starting on a 64-byte cache line, for the panels of the batch
/// products: a feature's 256-byte slice then spans exactly four lines and no 32-byte load
/// straddles two (which cost about a tenth of the batch-128 product's time).
func allocateLineAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: 4 * count, alignment: 64).bindMemory(to: Float.self, capacity: count)
}
