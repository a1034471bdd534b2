/// What the trainer tells its callers: per-step and per-epoch reports, evaluations, and the
/// callbacks that receive them.

/// What the trainer reports after each step.
public struct StepReport: Sendable {
    /// 1-based epoch.
    public var epoch: Int
    /// 0-based step within the whole run.
    public var step: Int
    /// 0-based step within the epoch.
    public var stepInEpoch: Int
    /// Steps per epoch.
    public var stepsPerEpoch: Int
    /// Total steps in the run.
    public var totalSteps: Int
    /// The batch's loss.
    public var loss: Float
    /// The rate used for this step.
    public var learningRate: Float
    /// Samples seen so far in this epoch.
    public var samplesInEpoch: Int
}

/// What the trainer reports after each epoch.
public struct EpochReport: Codable, Equatable, Sendable {
    /// 1-based epoch.
    public var epoch: Int
    /// Mean training loss over the epoch's batches (weighted by batch size).
    public var loss: Float
    /// Fraction of training samples classified correctly during the epoch.
    public var trainingAccuracy: Float
    /// Wall time of the epoch's steps (gather, forward, backward, update), in seconds.
    public var seconds: Double
    /// Samples processed per second during the epoch.
    public var samplesPerSecond: Double
    /// Evaluation on the validation data, when given.
    public var validation: Evaluation?
}

/// Loss and accuracy of a model on a dataset.
public struct Evaluation: Codable, Equatable, Sendable {
    /// Fraction of samples whose largest output is the label; for regression data, the mean
    /// cosine between outputs and targets.
    public var accuracy: Float
    /// The mean loss.
    public var loss: Float
    /// The number of samples.
    public var samples: Int
    /// Creates an evaluation's figures.
    public init(accuracy: Float, loss: Float, samples: Int) {
        self.accuracy = accuracy; self.loss = loss; self.samples = samples
    }
}

/// Hooks called by `Trainer` during `fit` (the pruning schedule and progress bars plug in here).
/// Throwing from a hook stops training and the error reaches the caller of `fit`.
public protocol TrainingCallback: AnyObject {
    /// Called when a batch's gradients are ready, before the optimizer uses them
    /// (regularizers add their penalty's gradient here).
    func trainer(_ trainer: Trainer, willUpdateWithLearningRate learningRate: Float) throws
    /// Called after every optimizer step.
    func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws
    /// Called after every epoch (after validation, if any).
    func trainer(_ trainer: Trainer, didFinishEpoch report: EpochReport) throws
}

extension TrainingCallback {
    public func trainer(_ trainer: Trainer, willUpdateWithLearningRate learningRate: Float) throws {}
    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {}
    public func trainer(_ trainer: Trainer, didFinishEpoch report: EpochReport) throws {}
}
