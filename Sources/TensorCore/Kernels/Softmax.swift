import RealModule

/// Softmax and log-softmax over the rows of `[N, C]`, stable as
/// `log Σ e^z = max + log Σ e^(z − max)`, and their backward passes.

/// `softmax(z)ᵢⱼ = e^(zᵢⱼ) / Σₖ e^(zᵢₖ)` for each row of `x` (`[N, C]`).
/// - Complexity: O(N·C).
public func softmaxRows(_ x: Tensor) -> Tensor { rowwiseSoftmax(x, log: false) }

/// `log softmax(z)ᵢⱼ = zᵢⱼ − max − log Σₖ e^(zᵢₖ − max)` for each row of `x` (`[N, C]`).
/// - Complexity: O(N·C).
public func logSoftmaxRows(_ x: Tensor) -> Tensor { rowwiseSoftmax(x, log: true) }

/// The input gradient of `y = softmaxRows(x)`: `dx = y ⊙ (dy − Σⱼ dyⱼ·yⱼ)` per row.
/// - Precondition: `output` and `gradient` are both `[N, C]`.
/// - Complexity: O(N·C).
public func softmaxRowsBackward(output y: Tensor, gradient dy: Tensor) -> Tensor {
    rowwiseBackward(y, dy, log: false)
}

/// The input gradient of `y = logSoftmaxRows(x)`: `dx = dy − e^y · Σⱼ dyⱼ` per row.
/// - Precondition: `output` and `gradient` are both `[N, C]`.
/// - Complexity: O(N·C).
public func logSoftmaxRowsBackward(output y: Tensor, gradient dy: Tensor) -> Tensor {
    rowwiseBackward(y, dy, log: true)
}

private func rowwiseSoftmax(_ x: Tensor, log: Bool) -> Tensor {
    precondition(x.rank == 2, "softmax: \(x.shape) is not [N, C]")
    let (n, c) = (x.shape[0], x.shape[1])
    return Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let row = z.baseAddress! + i * c, o = out.baseAddress! + i * c
                var m = -Float.infinity
                for j in 0..<c { m = max(m, row[j]) }
                var s: Float = 0
                for j in 0..<c { s += Float.exp(row[j] - m) }
                if log {
                    let shift = m + Float.log(s)
                    for j in 0..<c { o[j] = row[j] - shift }
                } else {
                    let inv = 1 / s
                    for j in 0..<c { o[j] = Float.exp(row[j] - m) * inv }
                }
            }
        }
    }
}

private func rowwiseBackward(_ y: Tensor, _ dy: Tensor, log: Bool) -> Tensor {
    precondition(y.rank == 2 && y.shape == dy.shape, "softmax backward: output \(y.shape) and gradient \(dy.shape) differ")
    let (n, c) = (y.shape[0], y.shape[1])
    return Tensor(shape: y.shape) { out in
        y.withUnsafeBufferPointer { yb in
            dy.withUnsafeBufferPointer { gb in
                for i in 0..<n {
                    let yr = yb.baseAddress! + i * c, gr = gb.baseAddress! + i * c, o = out.baseAddress! + i * c
                    var s: Float = 0
                    if log {
                        for j in 0..<c { s += gr[j] }
                        for j in 0..<c { o[j] = gr[j] - Float.exp(yr[j]) * s }
                    } else {
                        for j in 0..<c { s += gr[j] * yr[j] }
                        for j in 0..<c { o[j] = yr[j] * (gr[j] - s) }
                    }
                }
            }
        }
    }
}
