import NeuralNetwork
import TensorCore

/// Scores computed beforehand, by parameter path (for example averaged Taylor scores).
/// Parameters without an entry score by magnitude.
public struct PrecomputedScores: Criterion {
    /// A short name for reports.
    public var name: String
    /// Scores by parameter path, each shaped like its parameter.
    public var scores: [String: Tensor]
    /// Creates the criterion.
    public init(name: String, scores: [String: Tensor]) { self.name = name; self.scores = scores }
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        scores[path] ?? Magnitude().scores(for: parameter, path: path)
    }
}

/// First-order Taylor scores `|w·∂L/∂w|` averaged over `batches` batches of `data`
/// (Molchanov et al. 2017, https://arxiv.org/abs/1611.06440). The model's weights and
/// running statistics are left as they were; its gradients are left from the last batch.
/// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for a
///   batch size or batch count below 1.
public func averagedTaylorScores(_ model: Graph, data: Dataset, batches: Int = 10, batchSize: Int = 128,
                                 loss: Loss = .crossEntropy) throws -> PrecomputedScores {
    try Trainer.check(data, fits: model, loss: loss)
    guard batches >= 1, batchSize >= 1 else {
        throw PruningError("Taylor scores need at least one batch of at least one sample, got \(batches) × \(batchSize)")
    }
    // Training-mode passes move BatchNorm's running statistics: put them back afterwards.
    let statistics = model.parameters.filter { !$0.parameter.isTrainable }.map { ($0.parameter, $0.parameter.value) }
    defer { for (p, value) in statistics { p.value = value } }
    let parameters = model.trainableParameters
    var sums = parameters.map { Tensor.zeros($0.parameter.value.shape) }
    let count = max(1, min(batches, (data.count + batchSize - 1) / batchSize))
    for b in 0..<count {
        let lo = b * batchSize, hi = min(lo + batchSize, data.count)
        let batch = data.batch(lo..<hi)
        let output = model.forward(batch.inputs, training: true)
        model.backward(loss.evaluate(output, on: batch).gradient)
        for (i, (path, p)) in parameters.enumerated() {
            sums[i].add(Taylor().scores(for: p, path: path))
        }
    }
    var result: [String: Tensor] = [:]
    for (i, (path, _)) in parameters.enumerated() { result[path] = sums[i] * (1 / Float(count)) }
    return PrecomputedScores(name: "taylor", scores: result)
}
