import RealModule

/// Loss kernels: a value summed in Double and the gradient with respect to the prediction,
/// in one pass over the batch.

/// Softmax cross-entropy of each row of `logits` (`[N, C]`) against its label, stable as
/// `log Σ e^z = max + log Σ e^(z − max)`: the loss summed over rows, and the gradient
/// `(softmax(z) − onehot(label)) · gradientScale`.
/// - Precondition: `logits` is `[N, C]` with one label per row, each in `0..<C`.
/// - Complexity: O(N·C).
public func softmaxCrossEntropySum(logits: Tensor, labels: [Int32], gradientScale: Float) -> (sum: Double, gradient: Tensor) {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "logits \(logits.shape) do not match \(labels.count) labels")
    let (n, c) = (logits.shape[0], logits.shape[1])
    var total = 0.0
    let grad = Tensor(shape: [n, c]) { g in
        logits.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let row = z.baseAddress! + i * c, out = g.baseAddress! + i * c
                let (m, s) = exponentials(row, count: c, into: out)
                let label = Int(labels[i])
                precondition(label >= 0 && label < c, "label \(label) is outside 0..<\(c)")
                total += Double(Float.log(s) + m - row[label])
                let inv = gradientScale / s
                for j in 0..<c { g[i * c + j] *= inv }
                g[i * c + label] -= gradientScale
            }
        }
    }
    return (total, grad)
}

/// The row's maximum `m`, `out[j] = e^(row[j] − m)` and their sum: sixteen lanes at a time
/// (`vectorExp`) for rows of 16 or more (gpt-tiny's 256 byte logits: libm's `expf` per entry
/// took 3% of a training step), libm's `expf` for the rest and for shorter rows.
@inline(__always)
private func exponentials(_ row: UnsafePointer<Float>, count c: Int, into out: UnsafeMutablePointer<Float>) -> (Float, Float) {
    typealias V = SIMD16<Float>
    let whole = c / 16 * 16
    let source = UnsafeRawPointer(row), target = UnsafeMutableRawPointer(out)
    var maxima = V(repeating: -.infinity)
    for j in stride(from: 0, to: whole, by: 16) {
        let x = source.loadUnaligned(fromByteOffset: 4 * j, as: V.self)
        maxima.replace(with: x, where: x .> maxima)
    }
    var m = maxima.max()
    for j in whole..<c { m = max(m, row[j]) }
    var sums = V()
    for j in stride(from: 0, to: whole, by: 16) {
        let e = vectorExp(source.loadUnaligned(fromByteOffset: 4 * j, as: V.self) - m)
        target.storeBytes(of: e, toByteOffset: 4 * j, as: V.self)
        sums += e
    }
    var s = sums.sum()
    for j in whole..<c { let e = Float.exp(row[j] - m); out[j] = e; s += e }
    return (m, s)
}

/// The squared error `Σ (prediction − target)²` over all entries, and the gradient
/// `2·(prediction − target) · gradientScale`.
/// - Precondition: `prediction` and `target` have the same shape.
/// - Complexity: O(count).
public func squaredErrorSum(prediction: Tensor, target: Tensor, gradientScale: Float) -> (sum: Double, gradient: Tensor) {
    precondition(prediction.shape == target.shape, "prediction \(prediction.shape) and target \(target.shape) differ")
    let scale = 2 * gradientScale
    var total = 0.0
    let grad = Tensor(shape: prediction.shape) { g in
        prediction.withUnsafeBufferPointer { p in
            target.withUnsafeBufferPointer { t in
                for i in 0..<p.count {
                    let d = p[i] - t[i]
                    total += Double(d * d)
                    g[i] = scale * d
                }
            }
        }
    }
    return (total, grad)
}

/// Cross-entropy of each row of `probabilities` (`[N, C]`, e.g. a softmax output) against
/// its label, `−log max(pᵧ, 1e-30)`: the loss summed over rows, and the gradient with
/// respect to the probabilities, `−gradientScale / pᵧ` at the label and 0 elsewhere.
/// - Precondition: `probabilities` is `[N, C]` with one label per row, each in `0..<C`.
/// - Complexity: O(N·C).
public func probabilityCrossEntropySum(probabilities: Tensor, labels: [Int32], gradientScale: Float) -> (sum: Double, gradient: Tensor) {
    precondition(probabilities.rank == 2 && probabilities.shape[0] == labels.count,
                 "probabilities \(probabilities.shape) do not match \(labels.count) labels")
    let (n, c) = (probabilities.shape[0], probabilities.shape[1])
    var total = 0.0
    let grad = Tensor(shape: [n, c]) { g in
        g.update(repeating: 0)
        probabilities.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let label = Int(labels[i])
                precondition(label >= 0 && label < c, "label \(label) is outside 0..<\(c)")
                let py = max(p[i * c + label], 1e-30)
                total -= Double(Float.log(py))
                g[i * c + label] = -gradientScale / py
            }
        }
    }
    return (total, grad)
}

/// The Kullback–Leibler divergence `KL(softmax(t/T) ‖ softmax(s/T))` of each row of the
/// student's `logits` `s` from the teacher's `teacherLogits` `t` (both `[N, C]`), each
/// log-softmax stable as `z − (max + log Σ e^(z − max))`: the divergences summed over rows,
/// and the gradient with respect to `s`, `(softmax(s/T) − softmax(t/T)) / T · gradientScale`.
/// - Precondition: both are `[N, C]` of the same shape, `temperature > 0`.
/// - Complexity: O(N·C).
public func softenedDivergenceSum(logits: Tensor, teacherLogits: Tensor, temperature: Float,
                                  gradientScale: Float) -> (sum: Double, gradient: Tensor) {
    precondition(logits.rank == 2 && logits.shape == teacherLogits.shape,
                 "student logits \(logits.shape) and teacher logits \(teacherLogits.shape) differ")
    precondition(temperature > 0, "temperature must be positive, got \(temperature)")
    let (n, c) = (logits.shape[0], logits.shape[1])
    let inverse = 1 / temperature, scale = gradientScale / temperature
    var total = 0.0
    /// `log softmax(row / T)` written into `out`.
    func logSoftmax(_ row: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        var m = -Float.infinity
        for j in 0..<c { out[j] = row[j] * inverse; m = max(m, out[j]) }
        var s: Float = 0
        for j in 0..<c { s += Float.exp(out[j] - m) }
        let logSum = m + Float.log(s)
        for j in 0..<c { out[j] -= logSum }
    }
    let grad = Tensor(shape: [n, c]) { g in
        let teacherRow = UnsafeMutablePointer<Float>.allocate(capacity: c)
        defer { teacherRow.deallocate() }
        logits.withUnsafeBufferPointer { s in
            teacherLogits.withUnsafeBufferPointer { t in
                for i in 0..<n {
                    let student = g.baseAddress! + i * c
                    logSoftmax(s.baseAddress! + i * c, into: student)
                    logSoftmax(t.baseAddress! + i * c, into: teacherRow)
                    var row = 0.0
                    for j in 0..<c {
                        let pt = Float.exp(teacherRow[j])
                        row += Double(pt * (teacherRow[j] - student[j]))
                        student[j] = (Float.exp(student[j]) - pt) * scale
                    }
                    total += row
                }
            }
        }
    }
    return (total, grad)
}
