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

/// First-order Taylor `|w·∂L/∂w|`: the estimated change of the loss when the weight is
/// removed (Molchanov et al. 2017, https://arxiv.org/abs/1611.06440), averaged over
/// `batches` training batches before each cut. Unprepared, it scores with the gradient
/// the parameter holds (from the last backward pass).
public struct Taylor: SampleCriterion {
    public var name: String { "taylor" }
    /// Batches averaged by `prepared`.
    public var batches: Int
    /// Samples per batch.
    public var batchSize: Int
    /// Creates the criterion.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128) {
        self.batches = batches; self.batchSize = batchSize
    }
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        parameter.value.zipMap(parameter.gradient) { abs($0 * $1) }
    }
    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        try averagedTaylorScores(model, data: sample, batches: batches, batchSize: batchSize)
    }
}

/// SNIP's connection sensitivity (Lee et al. 2019, https://arxiv.org/abs/1810.02340):
/// `|w·∂L/∂w|` on one batch at the moment of the cut. Before any training this is
/// pruning at initialization.
public struct SNIP: SampleCriterion {
    public var name: String { "snip" }
    /// Samples in the one batch.
    public var batchSize: Int
    /// Creates the criterion.
    public init(batchSize: Int = 128) { self.batchSize = batchSize }
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        parameter.value.zipMap(parameter.gradient) { abs($0 * $1) }
    }
    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        var scores = try averagedTaylorScores(model, data: sample, batches: 1, batchSize: batchSize)
        scores.name = name
        return scores
    }
}

/// First-order Taylor scores `|w·∂L/∂w|` averaged over `batches` batches of `data`
/// (Molchanov et al. 2017, https://arxiv.org/abs/1611.06440). The model's weights and
/// running statistics are left as they were; its gradients are left from the last batch.
/// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for a
///   batch size or batch count below 1.
public func averagedTaylorScores(_ model: Graph, data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                                 batchSize: Int = 128, loss: Loss? = nil) throws -> PrecomputedScores {
    let loss = loss ?? Loss(suitedTo: data)
    try Trainer.check(data, fits: model, loss: loss)
    guard batches >= 1, batchSize >= 1 else {
        throw PruningError.criterion(name: "taylor", problem: "needs at least one batch of at least one sample, got \(batches) × \(batchSize)")
    }
    // Training-mode passes move BatchNorm's running statistics: put them back afterwards.
    let statistics = model.parameters.filter { !$0.parameter.isTrainable }.map { ($0.parameter, $0.parameter.value) }
    let counters = model.nodes.compactMap { $0.module as? BatchNorm }.map { ($0, $0.batchesTracked) }
    defer {
        for (p, value) in statistics { p.value = value }
        for (bn, count) in counters { bn.batchesTracked = count }
    }
    let parameters = model.trainableParameters
    var sums = parameters.map { Tensor.zeros($0.parameter.value.shape) }
    let count = max(1, min(batches, (data.count + batchSize - 1) / batchSize))
    for b in 0..<count {
        let lo = b * batchSize, hi = min(lo + batchSize, data.count)
        let batch = data.batch(lo..<hi)
        let output = model.forward(batch.inputs, training: true)
        model.backward(loss.evaluate(output, on: batch, outputs: model.outputKind).gradient)
        for (i, (path, p)) in parameters.enumerated() {
            sums[i].add(Taylor().scores(for: p, path: path))
        }
    }
    var result: [String: Tensor] = [:]
    for (i, (path, _)) in parameters.enumerated() { result[path] = sums[i] * (1 / Float(count)) }
    return PrecomputedScores(name: "taylor", scores: result)
}
