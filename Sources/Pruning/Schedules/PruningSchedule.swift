import NeuralNetwork

/// The steps of a training run, for schedules written in epochs.
public struct TrainingTimeline: Equatable, Sendable {
    /// Passes over the training data.
    public var epochs: Int
    /// Optimizer steps per epoch.
    public var stepsPerEpoch: Int
    /// Creates a timeline.
    public init(epochs: Int, stepsPerEpoch: Int) { self.epochs = epochs; self.stepsPerEpoch = stepsPerEpoch }
    /// Steps in the whole run.
    public var totalSteps: Int { epochs * stepsPerEpoch }
    /// The 0-based step that ends epoch `epoch` (1-based); epoch 0 maps to step 0.
    /// The one conversion from epochs to steps.
    public func lastStep(ofEpoch epoch: Int) -> Int { max(0, epoch * stepsPerEpoch - 1) }
}

/// How the model recovers after each round of pruning after training.
public enum RoundRecovery: Equatable, Sendable {
    /// Nothing: the next round (or the plan's fine-tuning) follows at once.
    case none
    /// Fine-tune for `epochs` epochs with the plan's fine-tuning settings.
    case fineTune(epochs: Int)
    /// Lottery ticket: reset the survivors to their values after `step` training steps
    /// (0: initialization) and retrain with the plan's training settings for `epochs`
    /// epochs (nil: as many as training had).
    case rewind(step: Int, epochs: Int?)
}

/// When to cut and how much: the one question a schedule answers, asked by
/// `PruningRun` before training, after every training step and for every round after
/// training. `target` is the plan's threshold; a schedule returns the threshold to cut to
/// now (a ramp toward the target, the target itself, …) or nil for no cut.
///
/// One-shot, constant, AGP and iterative pruning (with lottery-ticket rewinding) are
/// conformers; write your own by implementing any of the three questions (each defaults
/// to "no cut").
public protocol PruningSchedule {
    /// A short name for reports (`"agp"`).
    var name: String { get }
    /// The cut before training starts (or, with no training, before anything else).
    func cutBeforeTraining(toward target: Threshold) -> Threshold?
    /// The cut after optimizer step `step` (0-based) of training.
    func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold?
    /// The cut of round `round` (1-based) after training; `sparsity` is the selected
    /// parameters' sparsity when the rounds began. Nil ends the rounds.
    func round(_ round: Int, from sparsity: Double, toward target: Threshold) -> Threshold?
    /// How the model recovers after each round.
    var recovery: RoundRecovery { get }
    /// Stop and roll back the round when validation accuracy after recovery falls more
    /// than this below the accuracy before the first round (nil: no budget).
    var accuracyBudget: Float? { get }
    /// The training step whose weights lottery-ticket rewinding returns to (nil: none).
    var rewindStep: Int? { get }
}

extension PruningSchedule {
    public func cutBeforeTraining(toward target: Threshold) -> Threshold? { nil }
    public func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? { nil }
    public func round(_ round: Int, from sparsity: Double, toward target: Threshold) -> Threshold? { nil }
    public var recovery: RoundRecovery { .none }
    public var accuracyBudget: Float? { nil }
    public var rewindStep: Int? {
        if case let .rewind(step, _) = recovery { return step }
        return nil
    }
}

/// Prune once, after training (the default schedule).
public struct OneShotSchedule: PruningSchedule {
    public var name: String { "one-shot" }
    /// Creates the schedule.
    public init() {}
    public func round(_ round: Int, from sparsity: Double, toward target: Threshold) -> Threshold? {
        round == 1 ? target : nil
    }
}

/// Cut once to the target at the end of `startEpoch` (0: before training), then hold
/// the masks through the rest of training.
public struct ConstantSchedule: PruningSchedule {
    public var name: String { "constant" }
    /// The epoch whose end brings the cut (0: before training).
    public var startEpoch: Int
    /// Creates the schedule.
    public init(startEpoch: Int = 0) { self.startEpoch = startEpoch }
    public func cutBeforeTraining(toward target: Threshold) -> Threshold? { startEpoch == 0 ? target : nil }
    public func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? {
        startEpoch > 0 && step == timeline.lastStep(ofEpoch: startEpoch) ? target : nil
    }
}
