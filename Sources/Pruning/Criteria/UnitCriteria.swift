import NeuralNetwork
import TensorCore

/// Network slimming's criterion (Liu et al. 2017, https://arxiv.org/abs/1708.06519): a
/// channel is as important as the mean |γ| of the BatchNorm layers in its dependency
/// group. Groups without BatchNorm rank by their producers' `|w|`; on a single parameter
/// it scores `|w|`.
public struct BatchNormScale: UnitCriterion {
    public var name: String { "bn-scale" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]? {
        let norms = group.members.filter { $0.role == .normalization }
        guard !norms.isEmpty else { return nil }
        var scores = [Float](repeating: 0, count: group.units)
        for m in norms {
            guard let bn = model.module(named: m.layer) as? BatchNorm else { continue }
            let means = bn.scale.value.magnitudes().sliceMeans(count: group.units)
            for j in scores.indices { scores[j] += means[j] / Float(norms.count) }
        }
        return scores
    }
}

/// APoZ, the average percentage of zeros of a unit's ReLU output over a data sample (Hu et
/// al. 2016, https://arxiv.org/abs/1607.03250): a unit that is almost always zero does
/// little. Structured cuts score a unit as 1 − its zero fraction (averaged over the ReLU
/// layers of its group); groups without a ReLU rank by their producers' `|w|`. On a
/// single parameter it scores `|w|`. Measured by `prepared` (or `init(measuring:on:)`).
public struct AveragePercentageOfZeros: UnitCriterion, SampleCriterion {
    public var name: String { "apoz" }
    /// Per ReLU layer name, the fraction of zero outputs of each channel (nil: not measured).
    public var zeros: [String: [Float]]?
    /// Batches measured by `prepared`.
    public var batches: Int
    /// Samples per batch.
    public var batchSize: Int

    /// An unmeasured criterion; `PruningRun` measures it before each cut.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128) {
        self.zeros = nil; self.batches = batches; self.batchSize = batchSize
    }

    /// Creates the criterion from measured fractions.
    public init(zeros: [String: [Float]]) {
        self.zeros = zeros; self.batches = Recipe.Defaults.sampleBatches; self.batchSize = 128
    }

    /// Measures the fractions on `batches` batches of `data` (evaluation mode).
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   fewer than one batch or sample.
    public init(measuring model: Graph, on data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                batchSize: Int = 128) throws {
        try Trainer.check(data, fits: model)
        guard batches >= 1, batchSize >= 1 else {
            throw PruningError.criterion(name: "apoz", problem: "needs at least one batch of one sample, got \(batches) × \(batchSize)")
        }
        let relus = Set(model.nodes.indices.filter { model.nodes[$0].module is ReLU })
        var zeroCounts: [Int: [Int]] = [:], totals: [Int: Int] = [:]
        for b in 0..<batches {
            let lo = (b * batchSize) % max(data.count, 1)
            let indices = (lo..<(lo + batchSize)).map { $0 % data.count }
            _ = model.forward(data.batch(indices[...]).inputs, training: false) { i, output in
                guard relus.contains(i), output.rank >= 2 else { return }
                let n = output.shape[0], c = output.shape[1]
                // Each sample's channels are c consecutive slices of its output.
                let zeroSlices = output.zeroEntriesPerSlice(count: n * c)
                var counts = zeroCounts[i] ?? [Int](repeating: 0, count: c)
                for (k, zeros) in zeroSlices.enumerated() { counts[k % c] += zeros }
                zeroCounts[i] = counts
                totals[i, default: 0] += output.count / c
            }
        }
        var result: [String: [Float]] = [:]
        for (i, counts) in zeroCounts {
            result[model.nodes[i].module.name] = counts.map { Float($0) / Float(max(totals[i] ?? 1, 1)) }
        }
        self.zeros = result; self.batches = batches; self.batchSize = batchSize
    }

    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        try AveragePercentageOfZeros(measuring: model, on: sample, batches: batches, batchSize: batchSize)
    }

    public func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]? {
        // Mostly-zero activations mean an unused unit: score = 1 − mean zero fraction.
        try meanActivationScores(zeros?.mapValues { $0.map { 1 - $0 } }, for: group, criterion: name)
    }
}
