import NeuralNetwork
import TensorCore

/// The values of a model's parameters at one moment, for lottery-ticket rewinding
/// (Frankle & Carbin 2019, https://arxiv.org/abs/1803.03635).
public struct WeightSnapshot {
    /// Values by parameter path.
    public let values: [String: Tensor]

    /// Records every parameter of `model`.
    public init(_ model: Graph) {
        values = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.path, $0.parameter.value) })
    }

    /// A snapshot of the given values (one restored from a checkpoint).
    public init(values: [String: Tensor]) { self.values = values }

    /// Resets every parameter to its recorded value and keeps its current mask, so the
    /// surviving weights restart from the snapshot and the cut ones stay zero.
    /// - Throws: `PruningError.parameter` when the model's parameters differ from the snapshot's.
    public func rewind(_ model: Graph) throws {
        for (path, p) in model.parameters {
            guard let value = values[path], value.shape == p.value.shape else {
                throw PruningError.parameter(path: path, problem: "cannot rewind: the snapshot has \(values[path].map { "\($0.shape)" } ?? "no such parameter")")
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
    /// - Parameter taken: the snapshot already taken (a run resumed from a checkpoint).
    public init(step: Int, model: Graph, taken: WeightSnapshot? = nil) {
        self.step = step
        snapshot = taken ?? (step == 0 ? WeightSnapshot(model) : nil)
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        if snapshot == nil, report.step + 1 == step { snapshot = WeightSnapshot(trainer.model) }
    }
}
