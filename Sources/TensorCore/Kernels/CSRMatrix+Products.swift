/// The CSR products: `CSRMatrix` times dense vectors and batches. The Tensor-level methods
/// check sizes once and call the pointer forms below, which split the work between threads;
/// the loops themselves live in SparseKernels.swift.

extension CSRMatrix {
    /// `A·x` for a vector `x` of `columns` entries (any shape holding that many): a `[rows]`
    /// tensor. With a `pool`, its threads take row ranges holding equal shares of the stored entries.
    /// - Precondition: `x.count == columns`.
    /// - Complexity: O(rows + non-zeros).
    public func multiply(vector x: Tensor, pool: WorkerPool? = nil) -> Tensor {
        precondition(x.count == columns, "CSR product: x has \(x.count) entries, the matrix is \(rows)×\(columns)")
        return Tensor(shape: [rows]) { y in
            x.withUnsafeBufferPointer { multiply(vector: $0.baseAddress!, into: y.baseAddress!, pool: pool) }
        }
    }

    /// `X·Aᵀ` for a row-major batch `x` (`[n, columns]`): an `[n, rows]` tensor (a Dense
    /// layer's product with A as its weight). See `multiply(batch:count:into:pool:)`.
    /// - Precondition: `x` is `[n, columns]`.
    /// - Complexity: O(non-zeros · n + (rows + columns) · n).
    public func multiply(batch x: Tensor, pool: WorkerPool? = nil) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == columns, "CSR batch product: x is \(x.shape), needs [n, \(columns)]")
        let n = x.shape[0]
        return Tensor(shape: [n, rows]) { y in
            x.withUnsafeBufferPointer { multiply(batch: $0.baseAddress!, count: n, into: y.baseAddress!, pool: pool) }
        }
    }

    /// `A·Xᵀ` for a batch stored feature-major, `xt` `[columns, n]`: a `[rows, n]` tensor.
    /// See `multiply(transposedBatch:count:into:pool:)`.
    /// - Precondition: `xt` is `[columns, n]`.
    /// - Complexity: O(non-zeros · n).
    public func multiply(transposedBatch xt: Tensor, pool: WorkerPool? = nil) -> Tensor {
        precondition(xt.rank == 2 && xt.shape[0] == columns, "CSR batch product: xt is \(xt.shape), needs [\(columns), n]")
        let n = xt.shape[1]
        return Tensor(shape: [rows, n]) { y in
            xt.withUnsafeBufferPointer { multiply(transposedBatch: $0.baseAddress!, count: n, into: y.baseAddress!, pool: pool) }
        }
    }

    /// `A·Xᵀ` for a feature-major batch `xt` (`[columns, n]`), written into `yt` (`[rows, n]`,
    /// allocated once by the caller): the form a benchmark times without allocating.
    /// - Precondition: `xt` is `[columns, n]` and `yt` is `[rows, n]`.
    /// - Complexity: O(non-zeros · n).
    public func multiply(transposedBatch xt: Tensor, into yt: inout Tensor, pool: WorkerPool? = nil) {
        precondition(xt.rank == 2 && xt.shape[0] == columns && yt.shape == [rows, xt.shape[1]],
                     "CSR batch product: xt \(xt.shape) and yt \(yt.shape) do not fit [\(columns), n] → [\(rows), n]")
        let n = xt.shape[1]
        xt.withUnsafeBufferPointer { x in
            yt.withUnsafeMutableBufferPointer { multiply(transposedBatch: x.baseAddress!, count: n, into: $0.baseAddress!, pool: pool) }
        }
    }

    /// `Aᵀ·x` for a vector `x` of `rows` entries (any shape holding that many): a `[columns]`
    /// tensor, skipping the rows of A whose entry of `x` is zero (see
    /// `multiplyTransposed(vector:into:rows:)`). With `rows`, only those rows take part. With a
    /// `pool` (and no `rows`), each thread scatters the inputs of its row range into its own
    /// sums, which are then added up.
    /// - Precondition: `x.count == rows`; `rows` lies inside `0..<rows`.
    /// - Complexity: O(rows + non-zeros in the rows where x is not zero).
    public func multiplyTransposed(vector x: Tensor, rows range: Range<Int>? = nil, pool: WorkerPool? = nil) -> Tensor {
        precondition(x.count == rows, "CSR transposed product: x has \(x.count) entries, the matrix is \(rows)×\(columns)")
        let width = columns
        return Tensor(shape: [width]) { y in
            x.withUnsafeBufferPointer { px in
                let (x, y) = (px.baseAddress!, y.baseAddress!)
                guard range == nil, let pool, pool.count > 1, nonZeroCount >= 8192 else {
                    multiplyTransposed(vector: x, into: y, rows: range)
                    return
                }
                let parts = rowPartition(pool.count)
                let partial = UnsafeMutablePointer<Float>.allocate(capacity: (pool.count - 1) * width)
                defer { partial.deallocate() }
                pool.run { i in
                    multiplyTransposed(vector: x, into: i == 0 ? y : partial + (i - 1) * width, rows: parts[i]..<parts[i + 1])
                }
                for i in 1..<pool.count { for c in 0..<width { y[c] += partial[(i - 1) * width + c] } }
            }
        }
    }

    /// `y = A·x` for a vector `x` of `columns` entries (batch 1): `rows` entries. With a
    /// `pool`, its threads take row ranges holding equal shares of the stored entries.
    /// - Complexity: O(rows + non-zeros).
    package func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil) {
        let bounds = rowPartition(pool.map { nonZeroCount >= 4096 ? $0.count : 1 } ?? 1)
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                let part: (Int) -> Void
                switch columnIndices {
                case let .narrow(c): part = { i in c.withUnsafeBufferPointer { spmvNarrow(starts, $0, v, x, y, bounds[i], bounds[i + 1]) } }
                case let .wide(c): part = { i in c.withUnsafeBufferPointer { spmv(starts, $0, v, x, y, bounds[i], bounds[i + 1]) } }
                }
                if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
            }
        }
    }

    /// `Yᵀ = A·Xᵀ` for a batch stored feature-major: `xt` is `[columns, n]` (sample j of
    /// feature k at `k·n + j`) and `yt` is `[rows, n]`. Vectorized across the batch (a batch
    /// of one is `multiply(vector:into:pool:)`); with a `pool`, split by rows likewise. With
    /// `columnBlocks` attached, full 64-sample panels of a batch of 128 or more go through them.
    /// - Complexity: O(non-zeros · n).
    package func multiply(transposedBatch xt: UnsafePointer<Float>, count n: Int, into yt: UnsafeMutablePointer<Float>,
                         pool: WorkerPool? = nil) {
        // One sample: feature-major is a plain vector, and the vector kernel is the fast one.
        if n == 1 { return multiply(vector: xt, into: yt, pool: pool) }
        let bounds = rowPartition(pool.map { nonZeroCount * n >= 16_384 ? $0.count : 1 } ?? 1)
        let k = columns
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                withBlockedBuffers { blocked in
                    let part: (Int) -> Void
                    switch columnIndices {
                    case let .narrow(c):
                        part = { i in c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, k, yt, bounds[i], bounds[i + 1], blocked?.narrowForm) } }
                    case let .wide(c):
                        part = { i in c.withUnsafeBufferPointer { spmm(starts, $0, v, xt, n, k, yt, bounds[i], bounds[i + 1], blocked?.wideForm) } }
                    }
                    if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
                }
            }
        }
    }

    /// `y = Aᵀ·x` (`x`: `rows` entries, `y`: `columns` entries), skipping the rows of A whose
    /// entry of `x` is zero. With A the CSR form of Wᵀ, this is W·x that costs only the
    /// stored weights of the non-zero inputs: the batch-1 path for inputs with many zeros
    /// (ReLU outputs, image backgrounds).
    /// - Complexity: O(rows + non-zeros in the rows where x is not zero).
    /// With `rows`, only those rows of A take part (the others count as zero inputs).
    func multiplyTransposed(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows range: Range<Int>? = nil) {
        y.update(repeating: 0, count: columns)
        let range = range ?? 0..<rows
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside 0..<\(rows)")
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                switch columnIndices {
                case let .narrow(c):
                    c.withUnsafeBufferPointer { c in
                        guard let c = c.baseAddress, let v = v.baseAddress else { return }
                        // Four 16-bit indices as one 64-bit load, split with shifts.
                        let indices = UnsafeRawPointer(c)
                        scatterRows(starts, c, v, x, y, range) { p in
                            let q = indices.loadUnaligned(fromByteOffset: 2 * p, as: UInt64.self)
                            return (Int(truncatingIfNeeded: q & 0xFFFF), Int(truncatingIfNeeded: (q >> 16) & 0xFFFF),
                                    Int(truncatingIfNeeded: (q >> 32) & 0xFFFF), Int(truncatingIfNeeded: q >> 48))
                        }
                    }
                case let .wide(c):
                    c.withUnsafeBufferPointer { c in
                        guard let c = c.baseAddress, let v = v.baseAddress else { return }
                        scatterRows(starts, c, v, x, y, range) { p in (Int(c[p]), Int(c[p + 1]), Int(c[p + 2]), Int(c[p + 3])) }
                    }
                }
            }
        }
    }

    /// `Y = X·Aᵀ` for a row-major batch: `x` is `[n, columns]` and `y` is `[n, rows]` (a
    /// Dense layer's product with A as its weight). Each 64-sample panel of `x` is
    /// transposed into a contiguous `[columns, 64]` block, multiplied as in
    /// `multiply(transposedBatch:count:into:pool:)` and transposed into `y`: no
    /// feature-major copy of the whole batch is made. With a `pool`, split by rows. With
    /// `columnBlocks` attached, each panel goes through them.
    /// - Complexity: O(non-zeros · n + (rows + columns) · n).
    package func multiply(batch x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil) {
        let bounds = rowPartition(pool.map { nonZeroCount * n >= 16_384 ? $0.count : 1 } ?? 1)
        let (k, m) = (columns, rows)
        // One transposed panel, shared by the threads; one output block per row range.
        let panel = allocateLineAligned(k * 64)
        defer { panel.deallocate() }
        let out = allocateLineAligned(m * 64)
        defer { out.deallocate() }
        rowStarts.withUnsafeBufferPointer { starts in
            values.withUnsafeBufferPointer { v in
                withBlockedBuffers { blocked in
                    var j = 0
                    while j < n {
                        let w = Swift.min(64, n - j)
                        if w < 64 { panel.update(repeating: 0, count: k * 64) }
                        transpose(x + j * k, rows: w, columns: k, sourceStride: k, into: panel, destinationStride: 64)
                        let part = { (i: Int) in
                            let (r0, r1) = (bounds[i], bounds[i + 1])
                            guard r1 > r0 else { return }
                            switch self.columnIndices {
                            case let .narrow(c): c.withUnsafeBufferPointer { panelProduct(starts, $0, v, blocked?.narrowForm, panel, out, r0, r1) }
                            case let .wide(c): c.withUnsafeBufferPointer { panelProduct(starts, $0, v, blocked?.wideForm, panel, out, r0, r1) }
                            }
                            transpose(out + r0 * 64, rows: r1 - r0, columns: w, sourceStride: 64, into: y + j * m + r0, destinationStride: m)
                        }
                        if bounds.count > 2, let pool { pool.run { i in if i < bounds.count - 1 { part(i) } } } else { part(0) }
                        j += 64
                    }
                }
            }
        }
    }
}

extension CSRMatrix {
    /// Runs `body` with pointers to the column-blocked entries, or nil when none are attached.
    func withBlockedBuffers<R>(_ body: (BlockedBuffers?) -> R) -> R {
        guard let blocks = columnBlocks else { return body(nil) }
        let m = blocks.matrix
        return m.rowStarts.withUnsafeBufferPointer { s in
            m.values.withUnsafeBufferPointer { v in
                switch m.columnIndices {
                case let .narrow(c):
                    return c.withUnsafeBufferPointer { body(BlockedBuffers(blocks: blocks, starts: s, values: v, narrow: $0, wide: nil)) }
                case let .wide(c):
                    return c.withUnsafeBufferPointer { body(BlockedBuffers(blocks: blocks, starts: s, values: v, narrow: nil, wide: $0)) }
                }
            }
        }
    }
}

/// The naive twin of the CSR products, in Double, for tests: `Yᵀ = A·Xᵀ` with `xt` `[columns, n]`.
package func naiveSparseProduct(_ a: CSRMatrix, _ xt: [Float], n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: a.rows * n)
    for r in 0..<a.rows {
        for j in 0..<n {
            var s = 0.0
            for p in Int(a.rowStarts[r])..<Int(a.rowStarts[r + 1]) {
                s += Double(a.values[p]) * Double(xt[a.column(at: p) * n + j])
            }
            out[r * n + j] = Float(s)
        }
    }
    return out
}
