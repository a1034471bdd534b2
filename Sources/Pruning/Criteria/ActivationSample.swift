import NeuralNetwork
import TensorCore

/// Each unit's activation on every sample of a data sample, read at the model's ReLU and
/// GELU layers (the layers a `DependencyGroup` lists as its `activations`), with the samples'
/// labels: what the information criteria bin.
///
/// In a sequence model (`[N, T, C]` activations, a transformer's feed-forward GELU) a few
/// tokens of each sample are the observations, each with its own label when the data has a
/// label per position (next-token prediction), see `tokenPositions`.
///
/// A unit of a feature map is one value per sample: the mean of its channel over all
/// positions. Information about the label is carried per sample, so mutual information
/// needs one value per sample; the spatial mean is also the value a global pooling would
/// pass on, and it keeps entropy from rewarding a filter merely for varying across the
/// positions of one image (edges against background) while saying the same for every image.
struct ActivationSample {
    /// Per ReLU layer name, per unit (channel), its value on each sample in order.
    var values: [String: [[Float]]]
    /// The samples' class labels in order (empty for regression data).
    var labels: [Int32]

    /// Runs the first `min(batches · batchSize, data.count)` samples of `data` through
    /// `model` in evaluation mode, `batchSize` at a time, and keeps every ReLU layer's
    /// per-sample unit values. Weights, masks and running statistics are left as they were.
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   fewer than one batch or sample, fewer than two bins (the caller's histograms), or
    ///   an activation that is not finite.
    init(measuring model: Graph, on data: Dataset, batches: Int, batchSize: Int, bins: Int, criterion: String) throws {
        // Only the inputs are read: regression data is checked as for the mse loss.
        try Trainer.check(data, fits: model)
        guard batches >= 1, batchSize >= 1, data.count >= 1 else {
            throw PruningError.criterion(name: criterion, problem: "needs at least one batch of one sample, got \(batches) × \(batchSize) from \(data.count) samples")
        }
        guard bins >= 2 else { throw PruningError.criterion(name: criterion, problem: "needs at least 2 histogram bins, got \(bins)") }
        var relus: [Int: String] = [:]
        for (i, node) in model.nodes.enumerated() where node.module is ReLU || node.module is GELU { relus[i] = node.module.name }
        let total = min(batches * batchSize, data.count)
        var values: [String: [[Float]]] = [:]
        var tokenLabels: [Int32] = []
        for lo in stride(from: 0, to: total, by: batchSize) {
            let batch = data.batch(lo..<min(lo + batchSize, total))
            let positions = model.takesSequences ? Self.tokenPositions(batch.inputs.shape[1]) : []
            if data.labelsPerSample > 1 {
                let width = data.labelsPerSample
                for s in 0..<batch.inputs.shape[0] { for t in positions { tokenLabels.append(batch.labels[s * width + t]) } }
            }
            _ = model.forward(batch.inputs, training: false) { i, output in
                guard let name = relus[i], output.rank >= 2 else { return }
                if model.takesSequences && output.rank == 3 {
                    // [N, T, C], units on the last axis: each kept token is an observation.
                    let (n, t, c) = (output.shape[0], output.shape[1], output.shape[2])
                    var units = values[name] ?? [[Float]](repeating: [], count: c)
                    let x = output.scalars
                    for s in 0..<n { for position in positions { for j in 0..<c { units[j].append(x[(s * t + position) * c + j]) } } }
                    values[name] = units
                    return
                }
                let n = output.shape[0], c = output.shape[1]
                // Entry s·c + j is channel j of sample s, averaged over its positions.
                let means = output.sliceMeans(count: n * c)
                var units = values[name] ?? [[Float]](repeating: [], count: c)
                for (k, mean) in means.enumerated() { units[k % c].append(mean) }
                values[name] = units
            }
        }
        for (name, units) in values {
            if let j = units.firstIndex(where: { $0.contains { !$0.isFinite } }) {
                throw PruningError.criterion(name: criterion, problem: "unit \(j) of layer '\(name)' has an activation that is not finite on the data sample: the model has diverged")
            }
        }
        self.values = values
        self.labels = data.labelsPerSample > 1 ? tokenLabels : Array(data.labels.prefix(total))
    }

    /// The token positions of a sequence that count as observations: four, spread evenly
    /// over the `length` tokens (all of them for shorter sequences). Every token of a 2,560-sample
    /// measurement would be 327k observations of each of 512 units a layer (over 1 GB); four
    /// keep the sample at 10k observations, past the first position, whose unit values differ
    /// in kind from the rest (no context).
    static func tokenPositions(_ length: Int) -> [Int] {
        guard length > 4 else { return Array(0..<length) }
        return (1...4).map { $0 * length / 4 - 1 }
    }

    /// Per ReLU layer name, `score` of each unit's values.
    func perUnit(_ score: ([Float]) -> Double) -> [String: [Float]] {
        values.mapValues { units in units.map { Float(score($0)) } }
    }
}

/// The score of each unit of `group`: the mean, over the group's ReLU layers, of the
/// per-unit scores `measured` for them; nil when none of them was measured with the
/// group's unit count (the group then ranks by its producers' weights).
/// - Throws: `PruningError.criterion` when nothing has been measured yet.
func meanActivationScores(_ measured: [String: [Float]]?, for group: DependencyGroup, criterion: String) throws -> [Float]? {
    guard let measured else {
        throw PruningError.criterion(name: criterion, problem: "has not measured any activations; prepare it on a data sample (PruningRun does)")
    }
    let layers = group.activations.compactMap { measured[$0] }.filter { $0.count == group.units }
    guard !layers.isEmpty else { return nil }
    var scores = [Float](repeating: 0, count: group.units)
    for s in layers { for j in 0..<group.units { scores[j] += s[j] / Float(layers.count) } }
    return scores
}
