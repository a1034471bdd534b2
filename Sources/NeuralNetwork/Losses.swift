import RealModule
import TensorCore


/// A loss value and its gradient with respect to the model output.
public struct LossResult {
    /// The mean loss over the batch.
    public var value: Float
    /// `∂loss/∂output`, shaped like the output.
    public var gradient: Tensor
}

/// Softmax cross-entropy on logits `[N, C]` with integer labels, averaged over the batch.
///
/// Numerically stable: `log Σ e^{z}` is computed as `max + log Σ e^{z − max}`.
/// Gradient: `(softmax(z) − onehot(y)) / N`.
public func softmaxCrossEntropy(logits: Tensor, labels: [Int32]) -> LossResult {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "logits \(logits.shape) do not match \(labels.count) labels")
    let (n, c) = (logits.shape[0], logits.shape[1])
    var total = 0.0
    let invN = 1 / Float(n)
    let grad = Tensor(shape: [n, c]) { g in
        logits.withUnsafeBufferPointer { z in
            for i in 0..<n {
                let row = z.baseAddress! + i * c
                var m = -Float.infinity
                for j in 0..<c { m = max(m, row[j]) }
                var s: Float = 0
                for j in 0..<c { let e = Float.exp(row[j] - m); g[i * c + j] = e; s += e }
                let label = Int(labels[i])
                precondition(label >= 0 && label < c, "label \(label) is outside 0..<\(c)")
                total += Double(Float.log(s) + m - row[label])
                let inv = invN / s
                for j in 0..<c { g[i * c + j] *= inv }
                g[i * c + label] -= invN
            }
        }
    }
    return LossResult(value: Float(total / Double(n)), gradient: grad)
}

/// Mean squared error `mean((prediction − target)²)` over all elements; gradient
/// `2(prediction − target)/count`.
public func meanSquaredError(prediction: Tensor, target: Tensor) -> LossResult {
    precondition(prediction.shape == target.shape, "prediction \(prediction.shape) and target \(target.shape) differ")
    let scale = 2 / Float(max(prediction.count, 1))
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
    return LossResult(value: Float(total / Double(max(prediction.count, 1))), gradient: grad)
}

/// The training objective: how outputs are compared with the data's answers.
public enum Loss: String, Codable, CaseIterable, Sendable {
    /// Softmax cross-entropy against class labels.
    case crossEntropy = "cross-entropy"
    /// Mean squared error against target vectors.
    case mse

    /// Computes the loss of `output` on `batch`.
    public func evaluate(_ output: Tensor, on batch: Batch) -> LossResult {
        switch self {
        case .crossEntropy: return softmaxCrossEntropy(logits: output, labels: batch.labels)
        case .mse:
            return meanSquaredError(prediction: output, target: batch.targets ?? Tensor.zeros(output.shape))
        }
    }
}
