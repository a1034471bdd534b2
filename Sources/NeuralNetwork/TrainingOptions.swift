import TensorCore

/// Which parameters an optimizer's weight decay shrinks.
public enum WeightDecayScope: String, NamedChoice, Sendable {
    /// Every trainable parameter (the classic L2 regularizer on everything).
    case all
    /// Only the weight matrices and kernels of `Dense` and `Conv2D` layers: biases,
    /// normalization scales and shifts, and embedding tables are left alone (the GPT recipe).
    case layerWeights = "layer-weights"
}

/// Settings of one training run.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Passes over the training data.
    public var epochs: Int = 10
    /// Samples per step; the last batch of an epoch may be smaller.
    public var batchSize: Int = 64
    /// The base learning rate.
    public var learningRate: Float = 0.05
    /// How the rate changes over the run (default: per-step cosine decay to zero).
    public var schedule: LearningRateSchedule = .cosine
    /// Seed of the shuffling generator.
    public var seed: UInt64 = 1
    /// Shuffle the samples every epoch.
    public var shuffle: Bool = true
    /// The objective.
    public var loss: Loss = .crossEntropy
    /// Data-parallel workers: each step's batch is split into this many slices whose
    /// gradients are computed at once on model replicas and summed. With more than one
    /// worker, BatchNorm sees per-slice statistics.
    public var workers: Int = 1
    /// Train against a teacher's softened outputs as well as the labels (nil: the labels
    /// only). The training data carries the teacher's logits (`Dataset.withTeacherLogits`), or
    /// the trainer runs a teacher model on each batch (`Trainer.teacher`).
    public var distillation: Distillation?
    /// Clip each step's gradients to this global L2 norm over every trainable parameter
    /// (cut entries left out), as PyTorch's `clip_grad_norm_` does: when the norm is larger,
    /// every gradient is multiplied by `max / (norm + 1e-6)`. Nil: no clipping.
    public var gradientClipNorm: Float?
    /// Stop after this many optimizer steps (nil: after `epochs`); the learning-rate schedule
    /// spans `min(epochs · steps per epoch, maxSteps)`. For data whose epoch is far longer
    /// than a run, such as every window of a text corpus.
    public var maxSteps: Int?
    /// Stop training after this many seconds (nil: no time limit). The learning-rate schedule
    /// then spans the steps projected to fit: after each step, the steps so far times the limit
    /// over the time so far (at most `maxSteps`), so a decay ends as the time runs out. The
    /// number of steps, and so the result, depends on the machine's speed.
    public var timeLimit: Double?
    /// Which parameters weight decay applies to (nil: all).
    public var weightDecayScope: WeightDecayScope?
    /// Which masked Dense layers train through CSR (`Graph.useSparseTraining`): decided at the
    /// start and again whenever a mask changes (a cut during gradual pruning). `.off` (the
    /// default) trains every layer with dense products.
    public var sparseKernels: SparseTrainingChoice = .off

    /// Creates options; every setting has Prune's default, tuned for 10 epochs on
    /// Fashion-MNIST with `SGD(momentum: 0.9, weightDecay: 5e-4)` (see docs/RESULTS.md).
    public init(epochs: Int = 10, batchSize: Int = 64, learningRate: Float = 0.05,
                schedule: LearningRateSchedule = .cosine, seed: UInt64 = 1, shuffle: Bool = true,
                loss: Loss = .crossEntropy, workers: Int = 1) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate
        self.schedule = schedule; self.seed = seed; self.shuffle = shuffle; self.loss = loss; self.workers = workers
    }

    /// Options for fine-tuning after a cut: a constant rate (PyTorch's anchor recipe uses
    /// 0.01), otherwise the defaults.
    public static func fineTuning(epochs: Int, batchSize: Int, learningRate: Float, seed: UInt64, workers: Int = 1,
                                  schedule: LearningRateSchedule = .constant) -> TrainingOptions {
        TrainingOptions(epochs: epochs, batchSize: batchSize, learningRate: learningRate, schedule: schedule,
                        seed: seed, workers: workers)
    }
}
