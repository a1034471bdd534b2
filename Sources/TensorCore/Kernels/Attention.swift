import RealModule

/// Multi-head scaled dot-product attention over `[N, T, ·]` sequences, forward and backward,
/// with the scale, the masks and the softmax fused into one pass over each score row.
///
/// For each sample and head `h`: `S = Q_h·K_hᵀ / √dₕ`, masked (a key outside the sample's
/// padding mask, or after the query under the causal mask, gets probability 0), `P =
/// softmax(S)` by rows, and `O_h = P·V_h`. The per-head products run on the backend that
/// `BLAS.gemm` uses (`attentionProduct`): the system BLAS, or the packed GEMM's micro-kernel with
/// K and V packed once per head. Both read Q, the scores and the probabilities in place, so a
/// fused QKV projection (`[N, T, 3d]`) is not split. The calibration's choice holds here too: on
/// a Zen 4 with OpenBLAS's Cooperlake kernels, BLAS ran these 128×128×32 products 1.4–1.7× faster
/// than the micro-kernel, which wins where OpenBLAS falls back to generic kernels.

/// Where one of Q, K or V sits: a `[N, T, width]` tensor and the column its `d` features start at.
/// A fused QKV tensor gives `(qkv, 0)`, `(qkv, d)` and `(qkv, 2d)`.
public struct AttentionOperand {
    /// The tensor holding the operand, `[N, T, width]`.
    public var tensor: Tensor
    /// The first of its `d` columns.
    public var column: Int
    /// Creates an operand view.
    public init(_ tensor: Tensor, column: Int = 0) { self.tensor = tensor; self.column = column }
    var width: Int { tensor.shape[2] }
}

/// The dimensions of one attention call.
public struct AttentionShape: Equatable, Sendable {
    /// Samples.
    public var batch: Int
    /// Query tokens per sample.
    public var length: Int
    /// Key (and value) tokens per sample: `length`, or more when the queries are the last
    /// `length` tokens of a longer sequence whose keys were cached (generation).
    public var keyLength: Int
    /// Heads.
    public var heads: Int
    /// Features per head.
    public var headDimension: Int
    /// Whether query `i` sees only keys `j ≤ i + keyLength − length` (itself and the tokens before it).
    public var causal: Bool
    /// The model width, `heads · headDimension`.
    public var features: Int { heads * headDimension }
    /// Creates a shape.
    public init(batch: Int, length: Int, keyLength: Int? = nil, heads: Int, headDimension: Int, causal: Bool) {
        self.batch = batch; self.length = length; self.keyLength = keyLength ?? length; self.heads = heads
        self.headDimension = headDimension; self.causal = causal
    }
}

/// The output `[N, T, d]` of multi-head attention and, when `keepProbabilities`, the probabilities
/// `[N, heads, T, T]` that `attentionBackward` needs.
///
/// - Parameters:
///   - keyMask: `[N, Tk]`, 1 for a real token and 0 for padding, or nil when every key counts.
///     A query whose every key is masked gets a zero output.
///   - backend: where the per-head products run; `BLAS.backend` (the calibrated choice) unless a
///     test or benchmark names one.
/// - Precondition: Q is `[N, T, width]` and K, V are `[N, Tk, width]` (`Tk` = `shape.keyLength`)
///   with `d` columns from their offsets, and the mask (when given) is `[N, Tk]`.
/// - Complexity: O(N·T²·d).
public func attention(query: AttentionOperand, key: AttentionOperand, value: AttentionOperand,
                      shape: AttentionShape, keyMask: Tensor? = nil,
                      keepProbabilities: Bool = false, backend: GEMMBackend = BLAS.backend)
    -> (output: Tensor, probabilities: Tensor?) {
    checkOperands([query, key, value], shape: shape, keyMask: keyMask)
    let (t, tk, hd, d) = (shape.length, shape.keyLength, shape.headDimension, shape.features)
    let scale = 1 / Float(hd).squareRoot()
    // Every entry is written below: the visible ones by the products and the softmax, the
    // rest of each row (keys after a causal block's last) with zeros; no zero fill first.
    var probabilities = keepProbabilities ? Tensor(shape: [shape.batch, shape.heads, t, tk], uninitialized: { _ in })
        : Tensor.zeros([0])
    var scratch = [Float](repeating: 0, count: keepProbabilities ? 0 : t * tk)
    // Per head: Kᵀ and V packed once (the B operands of the two products).
    // The packed kernel's tile (the one `BLAS.gemm` uses: calibrated, or set by `setChoice`),
    // or nil on the system BLAS, which reads the operands in place (nothing is packed).
    let tile = BLAS.tile, packing: GEMMTile? = backend == .blas ? nil : tile
    let keysCapacity = AttentionOperandPanels.capacity(depth: hd, width: tk, tile: packing)
    let valuesCapacity = AttentionOperandPanels.capacity(depth: tk, width: hd, tile: packing)
    let panels = UnsafeMutableRawPointer.allocate(byteCount: 4 * (keysCapacity + valuesCapacity), alignment: 64)
        .bindMemory(to: Float.self, capacity: keysCapacity + valuesCapacity)
    let work = AttentionScratch(tile: tile, depth: max(tk, hd))
    defer { panels.deallocate(); work.deallocate() }
    let blocks = attentionBlocks(shape, rows: backend == .blas ? blasBlockRows : tile.rows)
    let output = Tensor(shape: [shape.batch, t, d]) { out in
        query.tensor.withUnsafeBufferPointer { pq in
        key.tensor.withUnsafeBufferPointer { pk in
        value.tensor.withUnsafeBufferPointer { pv in
        probabilities.withUnsafeMutableBufferPointer { pp in
        scratch.withUnsafeMutableBufferPointer { ps in
        withScalars(of: keyMask) { mask in
            let (lq, lk, lv) = (query.width, key.width, value.width)
            for n in 0..<shape.batch {
                for h in 0..<shape.heads {
                    let p = keepProbabilities ? pp.baseAddress! + (n * shape.heads + h) * t * tk : ps.baseAddress!
                    let q = pq.baseAddress! + n * t * lq + query.column + h * hd
                    let keysT = AttentionOperandPanels(.transposed, pk.baseAddress! + n * tk * lk + key.column + h * hd, ldb: lk,
                                                       depth: hd, width: tk, tile: packing, into: panels)
                    let values = AttentionOperandPanels(.none, pv.baseAddress! + n * tk * lv + value.column + h * hd, ldb: lv,
                                                        depth: tk, width: hd, tile: packing, into: panels + keysCapacity)
                    let o = out.baseAddress! + n * t * d + h * hd
                    for (r0, rows, columns) in blocks {
                        let pb = p + r0 * tk
                        attentionProduct(tile, rows: rows, columns: columns, depth: hd, alpha: scale, a: q + r0 * lq,
                                         rowStride: lq, stepStride: 1, b: keysT, c: pb, ldc: tk, scratch: work)
                        maskedSoftmaxRows(pb, rows: rows, columns: columns, stride: tk,
                                          firstVisible: shape.causal ? r0 + 1 + tk - t : nil, mask: mask.map { $0 + n * tk })
                        if keepProbabilities && columns < tk {
                            for i in 0..<rows { (pb + i * tk + columns).update(repeating: 0, count: tk - columns) }
                        }
                        attentionProduct(tile, rows: rows, columns: hd, depth: columns, a: pb, rowStride: tk, stepStride: 1,
                                         b: values, c: o + r0 * d, ldc: d, scratch: work)
                    }
                }
            }
        }
        }
        }
        }
        }
        }
    }
    return (output, keepProbabilities ? probabilities : nil)
}

/// The gradients of `attention` with respect to Q, K and V, from the gradient `dOutput` of its
/// output (`[N, T, d]`) and the probabilities it kept. Each is `[N, T, d]`, or, for a fused
/// QKV input, one `[N, T, 3d]` tensor (`fusedWidth` = 3d) holding all three at the operands'
/// columns.
///
/// Per head: `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √dₕ`, `dQ = dS·K`, `dK = dSᵀ·Q`,
/// `dV = Pᵀ·dO`. Masked entries have `P = 0`, so they pass no gradient. `backend` as in `attention`.
/// - Precondition: the operands and the probabilities are the ones the forward pass used.
/// - Complexity: O(N·T²·d).
public func attentionBackward(_ dOutput: Tensor, probabilities: Tensor,
                              query: AttentionOperand, key: AttentionOperand, value: AttentionOperand,
                              shape: AttentionShape, fusedWidth: Int? = nil, backend: GEMMBackend = BLAS.backend)
    -> (query: Tensor, key: Tensor, value: Tensor) {
    checkOperands([query, key, value], shape: shape, keyMask: nil)
    precondition(shape.keyLength == shape.length, "attentionBackward: cached keys (generation) have no backward pass")
    let (t, hd, d) = (shape.length, shape.headDimension, shape.features)
    precondition(dOutput.shape == [shape.batch, t, d] && probabilities.shape == [shape.batch, shape.heads, t, t],
                 "attentionBackward: gradient \(dOutput.shape) or probabilities \(probabilities.shape) do not fit \(shape)")
    let scale = 1 / Float(hd).squareRoot()
    let width = fusedWidth ?? d
    // The fused case writes dQ, dK and dV into one tensor, at the operands' columns.
    let columns = fusedWidth == nil ? (0, 0, 0) : (query.column, key.column, value.column)
    var dq = Tensor.zeros([shape.batch, t, width])
    var dk = fusedWidth == nil ? Tensor.zeros([shape.batch, t, d]) : Tensor.zeros([0])
    var dv = dk
    var dScores = [Float](repeating: 0, count: t * t)
    // Per head: Vᵀ, K, Q and dO packed once (the B operands of the four products).
    let tile = BLAS.tile, packing: GEMMTile? = backend == .blas ? nil : tile   // as in `attention`
    let transposedCapacity = AttentionOperandPanels.capacity(depth: hd, width: t, tile: packing)
    let rowsCapacity = AttentionOperandPanels.capacity(depth: t, width: hd, tile: packing)
    let panels = UnsafeMutableRawPointer.allocate(byteCount: 4 * (transposedCapacity + 3 * rowsCapacity), alignment: 64)
        .bindMemory(to: Float.self, capacity: transposedCapacity + 3 * rowsCapacity)
    let work = AttentionScratch(tile: tile, depth: max(t, hd))
    defer { panels.deallocate(); work.deallocate() }
    let blocks = attentionBlocks(shape, rows: backend == .blas ? blasBlockRows : tile.rows)
    dOutput.withUnsafeBufferPointer { pg in
    probabilities.withUnsafeBufferPointer { pp in
    query.tensor.withUnsafeBufferPointer { pq in
    key.tensor.withUnsafeBufferPointer { pk in
    value.tensor.withUnsafeBufferPointer { pv in
    dq.withUnsafeMutableBufferPointer { bq in
    dk.withUnsafeMutableBufferPointer { bk in
    dv.withUnsafeMutableBufferPointer { bv in
    dScores.withUnsafeMutableBufferPointer { ds in
        let (lq, lk, lv) = (query.width, key.width, value.width)
        let gq = bq.baseAddress!
        let gk = fusedWidth == nil ? bk.baseAddress! : gq, gv = fusedWidth == nil ? bv.baseAddress! : gq
        let s = ds.baseAddress!
        for n in 0..<shape.batch {
            for h in 0..<shape.heads {
                let p = pp.baseAddress! + (n * shape.heads + h) * t * t
                let go = pg.baseAddress! + n * t * d + h * hd
                let q = pq.baseAddress! + n * t * lq + query.column + h * hd
                let valuesT = AttentionOperandPanels(.transposed, pv.baseAddress! + n * t * lv + value.column + h * hd, ldb: lv,
                                                     depth: hd, width: t, tile: packing, into: panels)
                let keys = AttentionOperandPanels(.none, pk.baseAddress! + n * t * lk + key.column + h * hd, ldb: lk,
                                                  depth: t, width: hd, tile: packing, into: panels + transposedCapacity)
                let queries = AttentionOperandPanels(.none, q, ldb: lq, depth: t, width: hd, tile: packing,
                                                     into: panels + transposedCapacity + rowsCapacity)
                let outputGradient = AttentionOperandPanels(.none, go, ldb: d, depth: t, width: hd, tile: packing,
                                                            into: panels + transposedCapacity + 2 * rowsCapacity)
                let row = n * t * width + h * hd
                // By blocks of query rows: dP = dO·Vᵀ, then dS in place, then dQ = dS·K.
                for (r0, rows, visible) in blocks {
                    attentionProduct(tile, rows: rows, columns: visible, depth: hd, a: go + r0 * d, rowStride: d, stepStride: 1,
                                     b: valuesT, c: s + r0 * t, ldc: t, scratch: work)
                    for i in r0..<(r0 + rows) {
                        let pr = p + i * t, sr = s + i * t
                        var dot: Float = 0
                        for j in 0..<visible { dot = Relaxed.multiplyAdd(pr[j], sr[j], dot) }
                        for j in 0..<visible { sr[j] = pr[j] * (sr[j] - dot) * scale }
                    }
                    attentionProduct(tile, rows: rows, columns: hd, depth: visible, a: s + r0 * t, rowStride: t, stepStride: 1,
                                     b: keys, c: gq + row + r0 * width + columns.0, ldc: width, scratch: work)
                }
                // By blocks of keys: key j gets gradient only from queries i ≥ j under the causal
                // mask, the rows from the block's first key on (whose blocks computed these columns).
                for (c0, count, _) in blocks {
                    let first = shape.causal ? c0 : 0
                    attentionProduct(tile, rows: count, columns: hd, depth: t - first, a: s + first * t + c0, rowStride: 1,
                                     stepStride: t, b: queries, firstStep: first, c: gk + row + c0 * width + columns.1,
                                     ldc: width, scratch: work)
                    attentionProduct(tile, rows: count, columns: hd, depth: t - first, a: p + first * t + c0, rowStride: 1,
                                     stepStride: t, b: outputGradient, firstStep: first, c: gv + row + c0 * width + columns.2,
                                     ldc: width, scratch: work)
                }
            }
        }
    }
    }
    }
    }
    }
    }
    }
    }
    }
    return (dq, dk, dv)
}

/// Softmax of each of `rows` score rows (row stride `stride`) over its first `columns`
/// entries, in place: keys outside `mask` (`[keys]`, 0 = padding) and, when `firstVisible` is
/// set, keys `j ≥ firstVisible + i` of row `i` (the causal mask) get probability 0. A row with no
/// visible key becomes all zeros. The exponentials go sixteen lanes at a time (`vectorExp`):
/// libm's `expf` per entry took about as long as the two score products.
private func maskedSoftmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int,
                               firstVisible: Int?, mask: UnsafePointer<Float>?) {
    typealias V = SIMD16<Float>
    let lane = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    for i in 0..<rows {
        let row = p + i * stride
        let visible = min(columns, firstVisible.map { $0 + i } ?? columns)
        // Hidden keys become −∞, whose exponential is 0.
        if let mask { for j in 0..<visible where mask[j] == 0 { row[j] = -.infinity } }
        let raw = UnsafeMutableRawPointer(row)
        // Sixteen entries from `j`, the lanes past `visible` −∞. A whole vector is read (and
        // written) where the row's storage reaches that far; only a row's last part near the end
        // of its stride goes lane by lane.
        @inline(__always) func load(_ j: Int) -> V {
            var x: V
            if j + 16 <= stride {
                x = raw.loadUnaligned(fromByteOffset: 4 * j, as: V.self)
            } else {
                x = V(repeating: -.infinity)
                for l in 0..<(visible - j) { x[l] = row[j + l] }
            }
            if j + 16 > visible { x.replace(with: -.infinity, where: lane .>= SIMD16<Int32>(repeating: Int32(visible - j))) }
            return x
        }
        @inline(__always) func store(_ x: V, _ j: Int) {
            if j + 16 <= stride {
                raw.storeBytes(of: x, toByteOffset: 4 * j, as: V.self)
            } else {
                for l in 0..<(visible - j) { row[j + l] = x[l] }
            }
        }
        // The row's maximum, sixteen lanes at a time (a scalar `max` chain does not vectorize).
        var maxima = V(repeating: -.infinity)
        var j = 0
        while j < visible {
            let x = load(j)
            maxima.replace(with: x, where: x .> maxima)
            j += 16
        }
        let m = maxima.max()
        guard m > -Float.infinity else {
            row.update(repeating: 0, count: columns)
            continue
        }
        // Exponentials (0 in the lanes past `visible`, which are written as zeros), then the scale.
        var sums = V()
        j = 0
        while j < visible {
            let e = vectorExp(load(j) - m)
            store(e, j)
            sums += e
            j += 16
        }
        let inverse = 1 / sums.sum()
        j = 0
        while j < visible {
            store(load(j).replacing(with: 0, where: lane .>= SIMD16<Int32>(repeating: Int32(visible - j))) * inverse, j)
            j += 16
        }
        if visible < columns { (row + visible).update(repeating: 0, count: columns - visible) }
    }
}

/// Query rows per causal block on the system BLAS: each block is one BLAS call per product, so
/// blocks are larger than a register tile (fewer calls) at the price of computing more of the
/// masked triangle (62.5% of the full scores at T = 128 against 55% with 12-row blocks).
let blasBlockRows = 32

/// The blocks of query rows `(first, rows, columns)` an attention call works in: under a
/// causal mask, blocks of `rows` rows (one register tile) whose score rows stop at the block's
/// last visible key, so the products skip the masked upper triangle but for the blocks' own
/// corners; otherwise one block of every row and key.
private func attentionBlocks(_ shape: AttentionShape, rows size: Int) -> [(Int, Int, Int)] {
    let (t, tk) = (shape.length, shape.keyLength)
    guard shape.causal else { return [(0, t, tk)] }
    return stride(from: 0, to: t, by: size).map { r0 in
        let rows = min(size, t - r0)
        return (r0, rows, r0 + rows + tk - t)
    }
}

private func checkOperands(_ operands: [AttentionOperand], shape: AttentionShape, keyMask: Tensor?) {
    for (i, o) in operands.enumerated() {
        precondition(o.tensor.rank == 3 && o.tensor.shape[0] == shape.batch
                     && o.tensor.shape[1] == (i == 0 ? shape.length : shape.keyLength)
                     && o.column >= 0 && o.column + shape.features <= o.width,
                     "attention: operand \(o.tensor.shape) at column \(o.column) does not hold \(shape)")
    }
    precondition(shape.keyLength >= shape.length, "attention: \(shape.length) queries but only \(shape.keyLength) keys")
    precondition(keyMask == nil || keyMask!.shape == [shape.batch, shape.keyLength],
                 "attention: key mask \(keyMask!.shape) is not [\(shape.batch), \(shape.keyLength)]")
}

/// The naive twin of `attention` in Double, for tests: `[N, T, d]` from separate
/// `[N, T, d]` Q, K and V.
package func naiveAttention(query: Tensor, key: Tensor, value: Tensor, shape: AttentionShape,
                            keyMask: Tensor? = nil) -> Tensor {
    let (t, hd, d) = (shape.length, shape.headDimension, shape.features)
    var out = Tensor.zeros([shape.batch, t, d])
    for n in 0..<shape.batch {
        for h in 0..<shape.heads {
            for i in 0..<t {
                var scores = [Double?](repeating: nil, count: t)
                for j in 0..<t where (!shape.causal || j <= i) && (keyMask == nil || keyMask!.scalars[n * t + j] != 0) {
                    var s = 0.0
                    for c in 0..<hd {
                        s += Double(query.scalars[(n * t + i) * d + h * hd + c]) * Double(key.scalars[(n * t + j) * d + h * hd + c])
                    }
                    scores[j] = s / Double(hd).squareRoot()
                }
                guard let m = scores.compactMap({ $0 }).max() else { continue }
                let weights = scores.map { $0.map { Double.exp($0 - m) } ?? 0 }
                let total = weights.reduce(0, +)
                for c in 0..<hd {
                    var o = 0.0
                    for j in 0..<t { o += weights[j] / total * Double(value.scalars[(n * t + j) * d + h * hd + c]) }
                    out.scalars[(n * t + i) * d + h * hd + c] = Float(o)
                }
            }
        }
    }
    return out
}
