import NeuralNetwork
import Pruning

/// Listens to a run (`PruningRun.observers`) and keeps what a report needs beyond the
/// run's history: the model as it stood before the first cut, every training step's
/// learning rate, loss and sparsity, and every epoch's figures.
///
/// ```swift
/// let recorder = RunRecorder(model, plan: recipe.pruningPlan())
/// run.observers.append(recorder)
/// let report = try run.run(model, data: data)
/// let page = try PruningReport(ReportInputs(title: "demo", model: model, run: report, recorder: recorder))
/// ```
public final class RunRecorder: RunObserver, TrainingCallback {
    /// One optimizer step over the whole run (training, recovery and fine-tuning phases in turn).
    public struct Step: Codable, Equatable, Sendable {
        /// 0-based step over all phases.
        public var step: Int
        public var learningRate: Float, loss: Float
        /// The sparsity of the pruned parameters after the step (and any cut after it).
        public var sparsity: Double
    }
    /// One epoch's figures, at the sparsity its last step left.
    public struct Epoch: Codable, Equatable, Sendable {
        /// The phase (`"training"`, `"recovery 2"`, `"fine-tuning"`) and its 1-based epoch.
        public var phase: String, epoch: Int
        /// The step after the epoch's last (over all phases).
        public var step: Int
        public var sparsity: Double
        /// Mean loss and accuracy over the epoch's training batches.
        public var loss: Float, trainingAccuracy: Float
        /// The validation figures, when the run holds a validation split out.
        public var validation: Evaluation?
    }
    /// Where a phase starts.
    public struct PhaseStart: Codable, Equatable, Sendable {
        public var phase: String, step: Int
    }

    /// The model before the first cut (an independent copy), and the optimizer steps done by then.
    public private(set) var before: Graph?
    public private(set) var beforeStep: Int?
    /// Every step, in order.
    public private(set) var steps: [Step] = []
    /// Every epoch, in order.
    public private(set) var epochs: [Epoch] = []
    /// Every phase's first step.
    public private(set) var phases: [PhaseStart] = []
    /// The last problem met copying the model (a report without a "before" side says why).
    public private(set) var copyError: String?

    private let model: Graph
    private let plan: PruningPlan?
    private var sparsity: Double
    private var phase = "training"

    /// A recorder for a run on `model` with `plan` (whose selection the sparsity is taken
    /// over, as for every figure of the run).
    public init(_ model: Graph, plan: PruningPlan?) {
        self.model = model
        self.plan = plan
        sparsity = plan.flatMap { Pruner.sparsity(of: $0, in: model) } ?? 0
    }

    public func run(willBegin phase: RunPhase) {
        switch phase {
        case .training: self.phase = "training"
        case let .recovery(round, _): self.phase = "recovery \(round)"
        case .fineTuning: self.phase = "fine-tuning"
        case .preparation: self.phase = "preparation"
        }
        phases.append(PhaseStart(phase: self.phase, step: steps.count))
    }

    public func run(willCut phase: CutPhase, model: Graph) {
        guard before == nil, copyError == nil else { return }
        do {
            before = try model.copy()
            beforeStep = steps.count + (phase == .training ? 1 : 0)   // a training cut follows a step not yet recorded
        } catch {
            copyError = "\(error)"
        }
    }

    public func run(didCut cut: CutRecord) {
        // Over the plan's whole selection (a neuron cut's own figure covers the layers it cut).
        // A cut during training comes before this step's record: the schedule listens first.
        sparsity = plan.flatMap { Pruner.sparsity(of: $0, in: model) } ?? cut.sparsity
    }

    public func run(didMeasure measurement: Measurement) {
        if let s = measurement.sparsity { sparsity = s }   // after a rolled-back round, the restored sparsity
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        steps.append(Step(step: steps.count, learningRate: report.learningRate, loss: report.loss, sparsity: sparsity))
    }

    public func trainer(_ trainer: Trainer, didFinishEpoch report: EpochReport) throws {
        epochs.append(Epoch(phase: phase, epoch: report.epoch, step: steps.count, sparsity: sparsity, loss: report.loss,
                            trainingAccuracy: report.trainingAccuracy, validation: report.validation))
    }
}
