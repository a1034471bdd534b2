import NeuralNetwork
import TensorCore

/// A run's state after a training step, after training or after a round: everything the
/// rest of the run depends on, so that `PruningRun.run(_:data:resumingFrom:)` continues it
/// to the same result (the same weights, bit for bit, and the same figures) as a run
/// never interrupted.
///
/// It holds the weights, masks and running statistics; the GEMM kernels in use; the optimizer's momentum or
/// moments and step counts; where training stands (epoch, step, the shuffling generator,
/// the epoch's sums so far, and so the learning rate); the dropout generators; what a
/// criterion has accumulated (movement); the lottery-ticket snapshot; the rounds so far
/// and the weights a round would roll back to; and the history, figures and timing so far.
/// The engine knows nothing of files: observers receive checkpoints and store them
/// (`state` is `Codable`, `tensors` are named tensors; the command line writes both into
/// one safetensors file).
public struct RunCheckpoint {
    /// The version of `State`; a checkpoint of another version is refused.
    public static let version = 1

    /// Everything but the tensors.
    public var state: State
    /// The tensors by name: `model/<path>` (every parameter's value), `mask/<path>`,
    /// `optimizer/<path>` (state slots, `[slots, count]`), `criterion/<name>`,
    /// `rewind/<path>` (the lottery-ticket snapshot), `rollback/<path>` and
    /// `rollback-mask/<path>` (the weights before the current round, under an accuracy budget).
    public var tensors: [String: Tensor]

    /// Creates a checkpoint from its parts (as read back from storage).
    public init(state: State, tensors: [String: Tensor]) {
        self.state = state
        self.tensors = tensors
    }

    /// Where the run stands.
    public var position: Position { state.position }
    /// The history so far (its `plan` is the resolved plan the run carries out).
    public var history: RunHistory { state.history }

    /// Where in the run a checkpoint was taken.
    public enum Position: Codable, Equatable, Sendable, CustomStringConvertible {
        /// During the plan's training.
        case training(TrainingProgress)
        /// After training, before any round.
        case afterTraining
        /// During the rounds after training: recovering in the current round (with the
        /// progress of its training), or between rounds (nil).
        case rounds(recovery: TrainingProgress?)
        /// During the final fine-tuning.
        case fineTuning(TrainingProgress)

        /// The training progress, when the position is inside a training phase.
        public var progress: TrainingProgress? {
            switch self {
            case let .training(p), let .fineTuning(p): return p
            case let .rounds(p): return p
            case .afterTraining: return nil
            }
        }

        public var description: String {
            func at(_ p: TrainingProgress) -> String { "epoch \(p.epoch), step \(p.stepInEpoch) of \(p.stepsPerEpoch)" }
            switch self {
            case let .training(p): return "training, \(at(p))"
            case .afterTraining: return "after training"
            case let .rounds(p): return p.map { "a round's recovery, \(at($0))" } ?? "between rounds"
            case let .fineTuning(p): return "fine-tuning, \(at(p))"
            }
        }
    }

    /// The part of a checkpoint that is not tensors. Its fields are the engine's business;
    /// it is `Codable` so that it can be stored.
    public struct State: Codable, Equatable, Sendable {
        var version: Int
        /// Data-parallel workers: another count gives other sums, so it must not change.
        var workers: Int
        var position: Position
        var history: RunHistory
        var timing: RunTiming
        /// The reports of the plan's training epochs (once it is over).
        var epochs: [EpochReport]
        var regularizedZeros: ZeroCount?
        /// Training steps done over all phases (checkpoints come every so many).
        var stepsDone: Int
        /// Each dropout layer's generator, by layer name.
        var dropout: [String: SeededGenerator]
        /// Each BatchNorm layer's count of training batches (PyTorch's `num_batches_tracked`), by layer name.
        var batchesTracked: [String: Int]
        /// The optimizer's step count per parameter path (its slots are tensors).
        var optimizerSteps: [String: Int]
        /// Whether the lottery-ticket snapshot was taken (its values are tensors).
        var rewindTaken: Bool
        var rounds: RoundsProgress?
        /// The kernels the products ran on: the calibrated choice can differ between processes
        /// (absent from checkpoints of earlier versions of Prune).
        var gemm: GEMMChoice?
    }
}

/// The rounds after training so far.
struct RoundsProgress: Codable, Equatable, Sendable {
    /// The selected parameters' sparsity when the rounds began.
    var start: Double
    /// The judging accuracy before the first round (under an accuracy budget).
    var baseline: Evaluation?
    /// Rounds begun (the current one, while it recovers).
    var round: Int
    /// The round being recovered: its cut and the figure right after it.
    var current: CurrentRound?

    struct CurrentRound: Codable, Equatable, Sendable {
        var record: CutRecord
        var afterCut: Evaluation
    }
}

extension RunPhase: CustomStringConvertible {
    public var description: String {
        switch self {
        case .training: return "training"
        case let .recovery(round, _): return "round \(round)'s recovery"
        case .fineTuning: return "fine-tuning"
        case .preparation: return "preparation"
        }
    }
}

/// A run that cannot go on: training diverged, or a checkpoint does not fit the run.
public enum RunError: Error, CustomStringConvertible, Equatable {
    /// Training diverged (`cause` says where: epoch, step, parameter) during `phase`. The
    /// model is left as it was after the last good step; `history` is the run so far.
    case diverged(phase: RunPhase, cause: TrainingError, history: RunHistory)
    /// The checkpoint cannot continue this run: `problem` says what differs.
    case checkpointMismatch(String)

    public var description: String {
        switch self {
        case let .diverged(phase, cause, _): return "the run stopped during \(phase): \(cause)"
        case let .checkpointMismatch(problem): return "the checkpoint does not fit this run: \(problem)"
        }
    }
}

extension Recipe {
    /// Where checkpoints go: `checkpoint.path`, else beside `output` (`pruned.safetensors`
    /// → `pruned.checkpoint.safetensors`); nil without either.
    public var checkpointPath: String? {
        if let path = checkpoint?.path { return path }
        return output.map { Self.sibling(of: $0, suffix: "checkpoint") }
    }

    /// `folder/name.safetensors` → `folder/name.<suffix>.safetensors` (a path without an
    /// extension gets `.<suffix>.safetensors`).
    public static func sibling(of path: String, suffix: String) -> String {
        let nameStart = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        if let dot = path[nameStart...].lastIndex(of: "."), dot > nameStart {
            return "\(path[..<dot]).\(suffix)\(path[dot...])"
        }
        return "\(path).\(suffix).safetensors"
    }

    /// The fields in which this plan and `other` differ, resolved (`seed`, `train`, …).
    func differingFields(from other: Recipe) -> [String] {
        let a = resolved(), b = other.resolved()
        let fields: [(String, Bool)] = [
            ("model", a.model == b.model), ("layers", a.layers == b.layers), ("initializer", a.initializer == b.initializer),
            ("data", a.data == b.data), ("seed", a.seed == b.seed), ("validation_split", a.validationSplit == b.validationSplit),
            ("train", a.train == b.train), ("prune", a.prune == b.prune), ("fine_tune", a.fineTune == b.fineTune),
        ]
        return fields.filter { !$0.1 }.map(\.0)
    }
}

extension RunCheckpoint.Position {
    /// Whether the position is inside the plan's training.
    var isTraining: Bool {
        if case .training = self { return true }
        return false
    }

    /// Whether the position is inside a training phase of `phase`'s kind.
    func isIn(_ phase: RunPhase) -> Bool {
        switch (self, phase) {
        case (.training, .training), (.rounds(.some), .recovery), (.fineTuning, .fineTuning): return true
        default: return false
        }
    }
}

// MARK: Taking and restoring checkpoints

extension RunState {
    /// Takes a checkpoint at `position` and hands it to the observers.
    /// - Parameter optimizer: the optimizer of the training phase in progress.
    func checkpoint(at position: RunCheckpoint.Position, optimizer: Optimizer? = nil) throws {
        var tensors: [String: Tensor] = [:]
        for (path, p) in model.parameters {
            tensors["model/" + path] = p.value
            if let mask = p.mask { tensors["mask/" + path] = mask }
        }
        var optimizerSteps: [String: Int] = [:]
        for (path, s) in optimizer?.state(of: model.trainableParameters) ?? [:] {
            tensors["optimizer/" + path] = s.slots
            optimizerSteps[path] = s.steps
        }
        for (name, t) in trainingCriterion?.accumulated ?? [:] { tensors["criterion/" + name] = t }
        let snapshot = rewind?.snapshot
        for (path, t) in snapshot?.values ?? [:] { tensors["rewind/" + path] = t }
        for ((path, _), saved) in zip(model.parameters, rollback) {
            tensors["rollback/" + path] = saved.value
            if let mask = saved.mask { tensors["rollback-mask/" + path] = mask }
        }
        var dropout: [String: SeededGenerator] = [:]
        var batchesTracked: [String: Int] = [:]
        for node in model.nodes {
            if let d = node.module as? Dropout { dropout[d.name] = d.generator }
            if let b = node.module as? BatchNorm { batchesTracked[b.name] = b.batchesTracked }
        }
        let state = RunCheckpoint.State(version: RunCheckpoint.version, workers: workers, position: position, history: history,
                                        timing: timing, epochs: epochs, regularizedZeros: regularizedZeros, stepsDone: stepsDone,
                                        dropout: dropout, batchesTracked: batchesTracked, optimizerSteps: optimizerSteps, rewindTaken: snapshot != nil,
                                        rounds: rounds, gemm: BLAS.choice)
        let checkpoint = RunCheckpoint(state: state, tensors: tensors)
        for o in observers { try o.run(didCheckpoint: checkpoint) }
    }

    /// Puts the model and the run where `checkpoint` stood; the phase it stands in takes up
    /// `resume` and `resumeOptimizer` when it starts.
    /// - Throws: `RunError.checkpointMismatch` naming what differs (the plan, the workers,
    ///   a tensor of the model).
    func restore(_ checkpoint: RunCheckpoint) throws {
        let s = checkpoint.state
        func mismatch(_ problem: String) -> RunError { .checkpointMismatch(problem) }
        guard s.version == RunCheckpoint.version else {
            throw mismatch("it is of version \(s.version), this Prune reads version \(RunCheckpoint.version)")
        }
        guard s.history.plan == recipe.resolved() else {
            let fields = recipe.differingFields(from: s.history.plan)
            throw mismatch("the plan changed since it was taken (\(fields.isEmpty ? "some field" : fields.joined(separator: ", ")) differ); run the same recipe, or start afresh")
        }
        guard s.workers == workers else {
            throw mismatch("it was taken with \(s.workers) workers (--threads), this run has \(workers): use the same number for the same result")
        }
        let parameters = model.parameters
        let paths = Set(parameters.map(\.path))
        for name in checkpoint.tensors.keys.sorted() {
            guard let slash = name.firstIndex(of: "/") else { throw mismatch("tensor '\(name)' is not one a checkpoint holds") }
            let kind = name[..<slash], path = String(name[name.index(after: slash)...])
            guard ["model", "mask", "optimizer", "rewind", "rollback", "rollback-mask"].contains(kind) && paths.contains(path)
                    || kind == "criterion" else {
                throw mismatch("tensor '\(name)' does not belong to this model")
            }
        }
        func tensor(_ kind: String, _ path: String, shape: [Int]) throws -> Tensor? {
            guard let t = checkpoint.tensors["\(kind)/\(path)"] else { return nil }
            guard t.shape == shape else { throw mismatch("tensor '\(kind)/\(path)' has shape \(t.shape), the model's '\(path)' is \(shape)") }
            return t
        }
        func values(_ kind: String, optional: Bool) throws -> [Tensor]? {
            var found: [Tensor] = []
            for (path, p) in parameters {
                guard let t = try tensor(kind, path, shape: p.value.shape) else {
                    if optional, found.isEmpty { continue }
                    throw mismatch("tensor '\(kind)/\(path)' is missing")
                }
                found.append(t)
            }
            if found.isEmpty && optional { return nil }
            guard found.count == parameters.count else { throw mismatch("'\(kind)' tensors are missing for some parameters") }
            return found
        }
        let modelValues = try values("model", optional: false)!
        let masks = try parameters.map { try tensor("mask", $0.path, shape: $0.parameter.value.shape) }
        for m in masks.compactMap({ $0 }) where m.scalars.contains(where: { $0 != 0 && $0 != 1 }) {
            throw mismatch("a mask holds values other than 0 and 1")
        }
        resumeOptimizer = [:]
        for (path, steps) in s.optimizerSteps {
            guard let slots = checkpoint.tensors["optimizer/" + path] else { throw mismatch("tensor 'optimizer/\(path)' is missing") }
            resumeOptimizer[path] = Optimizer.ParameterState(steps: steps, slots: slots)
        }
        guard checkpoint.tensors.keys.filter({ $0.hasPrefix("optimizer/") }).count == s.optimizerSteps.count else {
            throw mismatch("optimizer tensors and step counts disagree")
        }
        var dropout: [(Dropout, SeededGenerator)] = []
        for node in model.nodes {
            guard let d = node.module as? Dropout else { continue }
            guard let g = s.dropout[d.name] else { throw mismatch("no generator for dropout layer '\(d.name)'") }
            dropout.append((d, g))
        }
        var batchNorms: [(BatchNorm, Int)] = []
        for node in model.nodes {
            guard let b = node.module as? BatchNorm else { continue }
            guard let count = s.batchesTracked[b.name] else { throw mismatch("no batch count for BatchNorm layer '\(b.name)'") }
            batchNorms.append((b, count))
        }
        var accumulated: [String: Tensor] = [:]
        for (name, t) in checkpoint.tensors where name.hasPrefix("criterion/") {
            let key = String(name.dropFirst("criterion/".count))
            if let p = model.parameter(at: key), p.value.shape != t.shape {
                throw mismatch("tensor '\(name)' has shape \(t.shape), the model's '\(key)' is \(p.value.shape)")
            }
            accumulated[key] = t
        }
        if trainingCriterion == nil, !accumulated.isEmpty { throw mismatch("it holds criterion state, and this plan's criterion keeps none") }
        let rewindValues = try values("rewind", optional: !s.rewindTaken)
        guard (rewindValues != nil) == s.rewindTaken else { throw mismatch("the rewind snapshot is missing") }
        let rollbackValues = try values("rollback", optional: true)
        let rollbackMasks = try parameters.map { try tensor("rollback-mask", $0.path, shape: $0.parameter.value.shape) }
        if let progress = s.position.progress, progress.replicaDropout.count != workers - 1 {
            throw mismatch("its training progress has \(progress.replicaDropout.count + 1) workers, the run \(s.workers)")
        }

        // Everything checked: change the model and the run.
        for ((_, p), (value, mask)) in zip(parameters, zip(modelValues, masks)) { p.restore(value: value, mask: mask) }
        for (d, g) in dropout { d.generator = g }
        for (b, count) in batchNorms { b.batchesTracked = count }
        try trainingCriterion?.restore(accumulated: accumulated)
        if let step = schedule.rewindStep {
            guard step > 0 || rewindValues != nil else { throw mismatch("the snapshot of the initial weights is missing") }
            let snapshot = rewindValues.map { WeightSnapshot(values: Dictionary(uniqueKeysWithValues: zip(parameters.map(\.path), $0))) }
            rewind = SnapshotAtStep(step: step, model: model, taken: snapshot)
        } else if rewindValues != nil {
            throw mismatch("it holds a rewind snapshot, and this plan does not rewind")
        }
        rollback = rollbackValues.map { zip($0, rollbackMasks).map { (value: $0, mask: $1) } } ?? []
        history = s.history
        timing = s.timing
        epochs = s.epochs
        regularizedZeros = s.regularizedZeros
        stepsDone = s.stepsDone
        rounds = s.rounds
        resume = s.position
        // The same kernels, for the same bits (a no-op within the process that took it).
        if let gemm = s.gemm, gemm != BLAS.choice { BLAS.setChoice(gemm) }
    }
}
