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
    let n = logits.rank == 2 ? logits.shape[0] : 0
    let (total, gradient) = softmaxCrossEntropySum(logits: logits, labels: labels, gradientScale: 1 / Float(n))
    return LossResult(value: Float(total / Double(n)), gradient: gradient)
}

/// Mean squared error `mean((prediction − target)²)` over all elements; gradient
/// `2(prediction − target)/count`.
public func meanSquaredError(prediction: Tensor, target: Tensor) -> LossResult {
    let count = max(prediction.count, 1)
    let (total, gradient) = squaredErrorSum(prediction: prediction, target: target, gradientScale: 1 / Float(count))
    return LossResult(value: Float(total / Double(count)), gradient: gradient)
}

/// The training objective: how outputs are compared with the data's answers.
public enum Loss: String, NamedChoice, Sendable {
    /// Softmax cross-entropy against class labels.
    case crossEntropy = "cross-entropy"
    /// Mean squared error against target vectors.
    case mse

    /// The loss the data calls for: mean squared error for regression targets, cross-entropy
    /// for class labels.
    public init(suitedTo data: Dataset) { self = data.targetWidth > 0 ? .mse : .crossEntropy }

    /// Computes the loss of `output` on `batch`; `outputs` says whether the model gives
    /// logits (or log-probabilities, which work as logits) or probabilities.
    /// Scores of a sequence model (`[N, T, C]`) are `N·T` rows with a label each.
    public func evaluate(_ output: Tensor, on batch: Batch, outputs: OutputKind = .logits) -> LossResult {
        if self == .crossEntropy && output.rank > 2 {
            var result = evaluate(scoreRows(output), on: batch, outputs: outputs)
            result.gradient.reshape(output.shape)
            return result
        }
        switch self {
        case .crossEntropy where outputs == .probabilities:
            let n = max(batch.labels.count, 1)
            let (total, gradient) = probabilityCrossEntropySum(probabilities: output, labels: batch.labels,
                                                               gradientScale: 1 / Float(n))
            return LossResult(value: Float(total / Double(n)), gradient: gradient)
        case .crossEntropy: return softmaxCrossEntropy(logits: output, labels: batch.labels)
        case .mse:
            return meanSquaredError(prediction: output, target: batch.targets ?? Tensor.zeros(output.shape))
        }
    }
}

/// What a classifier's outputs are.
public enum OutputKind: Sendable {
    /// Scores whose softmax gives the probabilities (also log-probabilities).
    case logits
    /// Probabilities: the model ends with a softmax.
    case probabilities
}

/// Class scores as rows: `[N, C]` as it is; a sequence's `[N, T, C]` as `[N·T, C]` (a row per
/// position, as its labels are laid out).
public func scoreRows(_ output: Tensor) -> Tensor {
    guard output.rank > 2, let classes = output.shape.last, classes > 0 else { return output }
    return output.reshaped([output.count / classes, classes])
}
