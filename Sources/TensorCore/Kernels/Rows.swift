/// Row operations for token sequences: adding rows into a table by index (an embedding's
/// gradient), a contiguous block of a table's rows, masked means over the tokens of each sample
/// (sentence pooling) and unit-length rows.

/// Adds row `t` of `rows` (`[ids.count, d]`, or any shape with `ids.count · d` entries) into
/// row `ids[t]` of a `[count, d]` table of zeros: the gradient of gathering `ids` from a table.
/// - Precondition: every id is in `0..<count`.
/// - Complexity: O(ids.count · d).
public func scatterAddRows(_ rows: Tensor, at ids: [Int], count: Int, features d: Int) -> Tensor {
    precondition(rows.count == ids.count * d, "scatterAddRows: \(rows.shape) is not \(ids.count) rows of \(d)")
    var table = Tensor.zeros([count, d])
    table.withUnsafeMutableBufferPointer { g in
        rows.withUnsafeBufferPointer { src in
            for (t, id) in ids.enumerated() {
                precondition(id >= 0 && id < count, "scatterAddRows: row \(id) out of range 0..<\(count)")
                let row = g.baseAddress! + id * d, from = src.baseAddress! + t * d
                for j in 0..<d { row[j] += from[j] }
            }
        }
    }
    return table
}

extension Tensor {
    /// Rows `range` of a matrix (`[rows, columns]`), flattened to `[range.count · columns]`.
    /// - Precondition: the tensor is a matrix and `range` lies within its rows.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank == 2 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) of \(shape)")
        let d = shape[1]
        return Tensor(shape: [range.count * d], scalars: Array(scalars[(range.lowerBound * d)..<(range.upperBound * d)]))
    }

    /// Adds `block` (`[count · columns]`) into rows `first..<first + count` of this matrix: the
    /// gradient of `rows(_:)`.
    public mutating func addRows(_ block: Tensor, from first: Int) {
        precondition(rank == 2 && block.count % shape[1] == 0 && first >= 0 && first * shape[1] + block.count <= count,
                     "addRows: \(block.shape) at row \(first) of \(shape)")
        let start = first * shape[1]
        withUnsafeMutableBufferPointer { m in
            block.withUnsafeBufferPointer { b in
                for j in 0..<b.count { m[start + j] += b[j] }
            }
        }
    }
}

/// The weighted mean over the tokens of each sample: `[n, t, d]` in, `[n, d]` out, with
/// `out[s] = Σᵢ wₛᵢ·x[s, i] / max(Σᵢ wₛᵢ, 1e-9)`. Without weights every token counts once.
/// - Precondition: `weights`, when given, holds `n · t` entries.
/// - Complexity: O(n · t · d).
public func meanOverTokens(_ x: Tensor, weights: Tensor?) -> Tensor {
    precondition(x.rank == 3, "meanOverTokens needs [samples, tokens, features], got \(x.shape)")
    let (n, t, d) = (x.shape[0], x.shape[1], x.shape[2])
    precondition(weights == nil || weights!.count == n * t, "meanOverTokens: weights \(weights!.shape) are not \(n)×\(t)")
    return Tensor(shape: [n, d]) { out in
        out.initialize(repeating: 0)
        x.withUnsafeBufferPointer { px in
            for s in 0..<n {
                let o = out.baseAddress! + s * d
                for i in 0..<t {
                    let m = weights?.scalars[s * t + i] ?? 1
                    guard m != 0 else { continue }
                    let row = px.baseAddress! + (s * t + i) * d
                    for j in 0..<d { o[j] += m * row[j] }
                }
                let inverse = 1 / tokenWeightTotal(weights, sample: s, tokens: t)
                for j in 0..<d { o[j] *= inverse }
            }
        }
    }
}

/// The gradient of `meanOverTokens`: each token of sample `s` gets `dy[s]·wₛᵢ / Σᵢ wₛᵢ`;
/// `[n, d]` in, `[n, tokens, d]` out.
public func meanOverTokensBackward(_ dy: Tensor, weights: Tensor?, tokens t: Int) -> Tensor {
    precondition(dy.rank == 2, "meanOverTokensBackward needs [samples, features], got \(dy.shape)")
    let (n, d) = (dy.shape[0], dy.shape[1])
    precondition(weights == nil || weights!.count == n * t, "meanOverTokensBackward: weights are not \(n)×\(t)")
    return Tensor(shape: [n, t, d]) { out in
        dy.withUnsafeBufferPointer { g in
            for s in 0..<n {
                let total = tokenWeightTotal(weights, sample: s, tokens: t)
                for i in 0..<t {
                    let scale = (weights?.scalars[s * t + i] ?? 1) / total
                    let o = out.baseAddress! + (s * t + i) * d, from = g.baseAddress! + s * d
                    for j in 0..<d { o[j] = scale * from[j] }
                }
            }
        }
    }
}

/// `max(Σᵢ wₛᵢ, 1e-9)` over sample `s`'s tokens (`t` without weights).
private func tokenWeightTotal(_ weights: Tensor?, sample s: Int, tokens t: Int) -> Float {
    guard let weights else { return Float(t) }
    return max(weights.scalars[(s * t)..<((s + 1) * t)].reduce(0, +), 1e-9)
}

/// Scales each row (the last axis) to unit Euclidean length, `x / max(‖x‖₂, floor)`, summing
/// squares in double precision. Returns the rows and the divisors used.
public func normalizeRows(_ x: Tensor, floor: Float) -> (rows: Tensor, norms: [Float]) {
    let d = max(x.shape.last ?? 1, 1)
    var y = x
    var norms = [Float](repeating: 0, count: x.count / d)
    y.withUnsafeMutableBufferPointer { p in
        for r in norms.indices {
            let row = p.baseAddress! + r * d
            var squares = 0.0
            for j in 0..<d { squares += Double(row[j]) * Double(row[j]) }
            norms[r] = max(Float(squares.squareRoot()), floor)
            let inverse = 1 / norms[r]
            for j in 0..<d { row[j] *= inverse }
        }
    }
    return (y, norms)
}

/// The gradient of `normalizeRows`: `dx = (dy − y·(y·dy)) / ‖x‖` for rows above the floor, and
/// `dy / floor` (a plain scaling) for rows at it.
public func normalizeRowsBackward(_ dy: Tensor, rows y: Tensor, norms: [Float], floor: Float) -> Tensor {
    precondition(dy.shape == y.shape && dy.count == norms.count * max(dy.shape.last ?? 1, 1),
                 "normalizeRowsBackward: \(dy.shape) against rows \(y.shape) and \(norms.count) norms")
    let d = max(dy.shape.last ?? 1, 1)
    var dx = dy
    dx.withUnsafeMutableBufferPointer { g in
        y.withUnsafeBufferPointer { out in
            for r in norms.indices {
                let gr = g.baseAddress! + r * d, yr = out.baseAddress! + r * d
                var dot: Float = 0
                if norms[r] > floor { for j in 0..<d { dot += yr[j] * gr[j] } }
                let inverse = 1 / norms[r]
                for j in 0..<d { gr[j] = (gr[j] - yr[j] * dot) * inverse }
            }
        }
    }
    return dx
}
