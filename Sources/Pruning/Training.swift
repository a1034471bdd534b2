import NeuralNetwork
import TensorCore

/// Movement scores (Sanh et al. 2020, https://arxiv.org/abs/2005.07683): the sum over
/// training steps of `−w·∂L/∂w`. A weight moving away from zero scores high; one that
/// training pulls toward zero scores low and is cut first. Add it to a trainer's
/// callbacks and prune with it (it is a live criterion: AGP cuts during training use the
/// sums so far), or take a fixed copy with `criterion`.
public final class MovementScores: TrainingCallback, Criterion {
    private var sums: [String: Tensor] = [:]
    /// Path patterns of the parameters to track (`*` wildcard).
    public let parameters: [String]

    /// Tracks the parameters matching `parameters` (default: every weight).
    public init(parameters: [String] = ["*.weight"]) { self.parameters = parameters }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        // The gradient is the one the optimizer just used; the value is after the update.
        for (path, p) in trainer.model.trainableParameters where parameters.contains(where: { matches(path, pattern: $0) }) {
            let step = p.value.zipMap(p.gradient) { -$0 * $1 }
            if sums[path] == nil { sums[path] = step } else { sums[path]!.add(step) }
        }
    }

    /// The accumulated scores as a fixed criterion (parameters never seen score by magnitude).
    public var criterion: PrecomputedScores { PrecomputedScores(name: "movement", scores: sums) }

    public var name: String { "movement" }

    /// The sums so far for `path` (magnitude for a parameter never seen).
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        sums[path] ?? Magnitude().scores(for: parameter, path: path)
    }
}

/// SNIP's connection sensitivity at initialization (Lee et al. 2019,
/// https://arxiv.org/abs/1810.02340): `|w·∂L/∂w|` on a batch before any training, so a
/// network can be pruned once before it is trained.
/// - Throws: `TrainingError` when the data does not fit the model.
public func snipScores(_ model: Graph, data: Dataset, batchSize: Int = 128, loss: Loss = .crossEntropy) throws -> PrecomputedScores {
    var scores = try averagedTaylorScores(model, data: data, batches: 1, batchSize: batchSize, loss: loss)
    scores.name = "snip"
    return scores
}

/// The values of a model's parameters at one moment, for lottery-ticket rewinding
/// (Frankle & Carbin 2019, https://arxiv.org/abs/1803.03635).
public struct WeightSnapshot {
    /// Values by parameter path.
    public let values: [String: Tensor]

    /// Records every parameter of `model`.
    public init(_ model: Graph) {
        values = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.path, $0.parameter.value) })
    }

    /// Resets every parameter to its recorded value and keeps its current mask, so the
    /// surviving weights restart from the snapshot and the cut ones stay zero.
    /// - Throws: `PruningError` when the model's parameters differ from the snapshot's.
    public func rewind(_ model: Graph) throws {
        for (path, p) in model.parameters {
            guard let value = values[path], value.shape == p.value.shape else {
                throw PruningError("cannot rewind '\(path)': the snapshot has \(values[path].map { "\($0.shape)" } ?? "no such parameter")")
            }
            p.value = value
            p.applyMask()
        }
    }
}

/// Takes a `WeightSnapshot` after a given number of training steps (for rewinding to
/// step k instead of to initialization: Frankle et al. 2020, https://arxiv.org/abs/1912.05671).
public final class SnapshotAtStep: TrainingCallback {
    /// The number of optimizer steps after which the snapshot is taken.
    public let step: Int
    /// The snapshot, once taken.
    public private(set) var snapshot: WeightSnapshot?

    /// Snapshots after `step` steps; step 0 is taken at once from `model` (initialization).
    public init(step: Int, model: Graph) {
        self.step = step
        if step == 0 { snapshot = WeightSnapshot(model) }
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        if snapshot == nil, report.step + 1 == step { snapshot = WeightSnapshot(trainer.model) }
    }
}
