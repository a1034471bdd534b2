import NeuralNetwork
import TensorCore

/// Each unit's activation on every sample of a data sample, read at the model's ReLU
/// layers (the layers a `DependencyGroup` lists as its `activations`), with the samples'
/// labels: what the information criteria bin.
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
        try Trainer.check(data, fits: model, loss: data.targetWidth > 0 ? .mse : .crossEntropy)
        guard batches >= 1, batchSize >= 1, data.count >= 1 else {
            throw PruningError.criterion(name: criterion, problem: "needs at least one batch of one sample, got \(batches) × \(batchSize) from \(data.count) samples")
        }
        guard bins >= 2 else { throw PruningError.criterion(name: criterion, problem: "needs at least 2 histogram bins, got \(bins)") }
        var relus: [Int: String] = [:]
        for (i, node) in model.nodes.enumerated() where node.module is ReLU { relus[i] = node.module.name }
        let total = min(batches * batchSize, data.count)
        var values: [String: [[Float]]] = [:]
        for lo in stride(from: 0, to: total, by: batchSize) {
            _ = model.forward(data.batch(lo..<min(lo + batchSize, total)).inputs, training: false) { i, output in
                guard let name = relus[i], output.rank >= 2 else { return }
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
        self.labels = Array(data.labels.prefix(total))
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
