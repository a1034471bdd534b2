import NeuralNetwork

/// Which data a figure comes from.
public enum DataSplit: String, Codable, Sendable {
    /// The part of the training set the model trains on.
    case training
    /// The part of the training set held out for decisions (`Recipe.validationSplit`).
    case validation
    /// The test set, read only for the report.
    case test
}

/// One evaluation during a run: where in the run, on which split, and the figures.
public struct Measurement: Codable, Equatable, Sendable {
    /// Where in the run (`"after training"`, `"after round 2"`, `"final"`).
    public var stage: String
    /// The data it was measured on.
    public var split: DataSplit
    /// Accuracy and loss.
    public var accuracy: Float, loss: Float
    /// The number of samples.
    public var samples: Int
    /// The sparsity of the parameters the plan prunes when it was measured (nil in files
    /// written before it was recorded, and in runs without a `prune` section).
    public var sparsity: Double?
}

/// When a cut happened.
public enum CutPhase: String, Codable, Sendable {
    /// Before training (pruning at initialization), or before anything when there is no training.
    case beforeTraining = "before training"
    /// After an optimizer step of training.
    case training
    /// A round after training.
    case round
}

/// One cut: when, to what, and what it reached.
public struct CutRecord: Codable, Equatable, Sendable {
    /// When.
    public var phase: CutPhase
    /// The training step after which it happened (training cuts).
    public var step: Int?
    /// The round (cuts after training).
    public var round: Int?
    /// The target sparsity, for sparsity thresholds.
    public var targetSparsity: Double?
    /// The importance value, for value thresholds.
    public var thresholdValue: Float?
    /// The sparsity reached over the pruned parameters.
    public var sparsity: Double
    /// The criterion that scored it.
    public var criterion: String
    /// The score below which entries were cut, when one value held for every parameter
    /// (value thresholds, global sparsity targets): for magnitude, a weight magnitude.
    public var cutoff: Float?
}

/// What one round after training did.
public struct RoundReport: Codable, Equatable, Sendable {
    /// 1-based round.
    public var round: Int
    /// The sparsity the round cut to, and the sparsity reached.
    public var target: Double?, sparsity: Double
    /// Accuracy right after the cut and after recovery, on `split`.
    public var accuracyAfterCut: Float, accuracyAfterRecovery: Float
    /// The split the accuracies come from (validation when there is one).
    public var split: DataSplit
    /// Whether the round broke the accuracy budget and was undone.
    public var rolledBack: Bool
}

/// Why the rounds after training stopped.
public enum StopReason: String, Codable, Sendable {
    case targetReached = "target reached"
    case maximumRounds = "maximum rounds"
    case accuracyBudget = "accuracy budget exceeded (last round rolled back)"
}

/// What a run did, as a model file records it: the plan with every default filled in,
/// every cut and every figure with its split. The same plan gives the same history.
public struct RunHistory: Codable, Equatable, Sendable {
    /// The plan, resolved (`Recipe.resolved()`).
    public var plan: Recipe
    /// Every cut, in order.
    public var cuts: [CutRecord] = []
    /// Every evaluation, in order.
    public var measurements: [Measurement] = []
    /// The rounds after training (one for one-shot pruning).
    public var rounds: [RoundReport] = []
    /// Why the rounds stopped.
    public var stop: StopReason?
    /// In `compacted()` histories: the cuts made during training, summarized (the plan
    /// gives their ramp); nil in full ones, whose `cuts` list them all.
    public var trainingCuts: TrainingCuts?
    /// What the plan's search (`criterion: auto`, `threshold: {auto: …}`) tried and chose.
    public var search: SearchReport?

    /// A summary of the cuts made during training.
    public struct TrainingCuts: Codable, Equatable, Sendable {
        /// How many, and the steps of the first and the last.
        public var count: Int, firstStep: Int, lastStep: Int
        /// The sparsity the last one reached, and its cutoff score (see `CutRecord.cutoff`).
        public var sparsity: Double
        public var cutoff: Float?
    }

    /// This history with the cuts made during training summarized, for storing in a model
    /// file: AGP may cut after every step, and the plan gives the ramp again.
    public func compacted() -> RunHistory {
        let training = cuts.filter { $0.phase == .training }
        guard let first = training.first, let last = training.last else { return self }
        var h = self
        h.cuts = cuts.filter { $0.phase != .training }
        h.trainingCuts = TrainingCuts(count: training.count, firstStep: first.step ?? 0, lastStep: last.step ?? 0,
                                      sparsity: last.sparsity, cutoff: last.cutoff)
        return h
    }
}

/// Where a run's time went, in seconds.
public struct RunTiming: Codable, Equatable, Sendable {
    /// Training, fine-tuning and retraining.
    public var training = 0.0
    /// Scoring (data-driven criteria included), selecting and masking.
    public var pruning = 0.0
    /// The part of `pruning` spent scoring: preparing a data-driven criterion on its
    /// sample and computing the scores. The rest of `pruning` is cutting (selecting, masking).
    public var scoring = 0.0
    /// Evaluating on the validation and test splits.
    public var evaluation = 0.0
}

/// How many of the regularized entries training left exactly zero.
public struct ZeroCount: Codable, Equatable, Sendable {
    /// Entries that are exactly zero.
    public var zeros: Int
    /// All regularized entries.
    public var total: Int
}

/// What `PruningRun.run` returns: the history, timing, the training epochs and the
/// final figures.
public struct RunReport: Sendable {
    /// Cuts, figures and rounds (what the model file records).
    public var history: RunHistory
    /// Time per activity.
    public var timing = RunTiming()
    /// The epochs of the main training, with validation figures when there is a validation split.
    public var epochs: [EpochReport] = []
    /// Exact zeros among regularized entries after training, when the plan regularizes.
    public var regularizedZeros: ZeroCount?
    /// The final model on the test split.
    public var final: Evaluation
}
