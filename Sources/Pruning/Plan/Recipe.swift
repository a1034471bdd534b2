import NeuralNetwork

/// A whole pruning plan: the model, the data, training, what and when to prune,
/// fine-tuning and where to save. Every entry point builds one (`prune prune`,
/// `prune train --prune-to`, `prune run` decodes one from YAML or JSON) and hands it to
/// `PruningRun`, so the same plan gives the same result whichever way it came.
///
/// Every field is optional where a default exists; the defaults live in `Recipe.Defaults`
/// and nowhere else. Keys are snake_case in files; `docs/RECIPES.md` documents them.
public struct Recipe: Codable, Equatable, Sendable {
    /// A built-in architecture name (`lenet300`, …), the path of an architecture file
    /// (JSON, ending in `.json`: built fresh) or the path of a model file (see `modelSource`).
    public var model: String
    /// Layer sizes for the `mlp` architecture (e.g. `[784, 300, 100, 10]`).
    public var layers: [Int]?
    /// Weight initialization of a built-in architecture or an architecture file (default: He uniform).
    public var initializer: Initializer?
    /// The data: an IDX folder, an `.npz` or CSV file, a folder of `.npy`/`.npz`/CSV files or
    /// an image folder (docs/DATA.md; default: Fashion-MNIST from Debian's package).
    public var data: String?
    /// The number of classes, when the data does not say it by itself (default: the number
    /// of class folders, or 1 + the largest label, with no class skipped).
    public var classes: Int?
    /// Seed for weights, the validation split, shuffling and the random criterion.
    public var seed: UInt64?
    /// The fraction of the training set held out for every decision (accuracy budgets,
    /// rollback); 0 holds out nothing. The test split is read only for the final report.
    public var validationSplit: Double?
    /// Training before (and, with AGP or constant schedules, during) pruning; absent for a
    /// model file pruned as it is.
    public var train: Training?
    /// What to cut and when.
    public var prune: Prune?
    /// Training after the last cut, with masks fixed.
    public var fineTune: FineTune?
    /// Where to save the result.
    public var output: String?
    /// Checkpoints for resuming an interrupted run (none when absent).
    public var checkpoint: Checkpoint?
    /// Which masked Dense layers train through CSR in every training phase (`off`, `on`,
    /// `measured`; default `off`): see `SparseKernels`.
    public var sparseKernels: SparseKernels?
    /// Whether the data has a label per position (next-token windows of a text): then the
    /// language-model defaults apply whatever the model's source. Not part of the file:
    /// `PruningRun` sets it from the data it is given.
    public var sequenceData = false
    /// Whether the data has regression targets (a sentence encoder's embeddings, say): the
    /// loss is then mean squared error and fine-tuning takes `regressionFineTune`. Set by
    /// `PruningRun` from the data, as `sequenceData`.
    public var regressionData = false

    enum CodingKeys: String, CodingKey {
        case model, layers, initializer, data, classes, seed, validationSplit = "validation_split", train, prune, fineTune = "fine_tune", output
        case checkpoint, sparseKernels = "sparse_kernels"
    }

    /// Creates a plan; only the model is required.
    public init(model: String, layers: [Int]? = nil, initializer: Initializer? = nil, data: String? = nil,
                classes: Int? = nil, seed: UInt64? = nil, validationSplit: Double? = nil,
                train: Training? = nil, prune: Prune? = nil, fineTune: FineTune? = nil, output: String? = nil,
                checkpoint: Checkpoint? = nil) {
        self.model = model; self.layers = layers; self.initializer = initializer
        self.data = data; self.classes = classes; self.seed = seed; self.validationSplit = validationSplit
        self.train = train; self.prune = prune; self.fineTune = fineTune; self.output = output
        self.checkpoint = checkpoint
    }

    /// Every default of a plan, in one place.
    public enum Defaults {
        public static let seed: UInt64 = 1
        public static let validationSplit = 0.1
        public static let epochs = 10
        public static let batchSize = 64
        public static let optimizer = OptimizerKind.sgd
        public static let learningRate: Float = 0.05
        public static let momentum: Float = 0.9
        public static let weightDecay: Float = 5e-4
        public static let schedule = LearningRateSchedule.Kind.cosine
        public static let stepEpochs = 3
        public static let stepFactor: Float = 0.1
        public static let warmupSteps = 0
        public static let criterion = CriterionName.magnitude
        public static let granularity = Granularity.weight
        public static let parameters = ["*.weight"]
        public static let agpEverySteps = 100
        public static let iterativeRounds = 100
        public static let iterativeFineTuneEpochs = 1
        public static let fineTuneBatchSize = 128
        public static let fineTuneOptimizer = OptimizerKind.sgd
        public static let fineTuneLearningRate: Float = 0.01
        public static let fineTuneMomentum: Float = 0.9
        public static let fineTuneWeightDecay: Float = 0
        public static let fineTuneSchedule = LearningRateSchedule.Kind.constant
        /// Batches averaged by data-driven criteria (Taylor, APoZ) before a cut.
        public static let sampleBatches = 20
        /// Calibration samples `wanda` measures its input norms on (the papers use 128 sequences
        /// of 2,048 tokens; 256 sentences are what issue #16's MiniLM protocol calibrates on).
        public static let calibrationSamples = 256

        /// The scope a plan gets without one: `layer` for structured cuts, `row` for Wanda and
        /// SparseGPT (weight granularity), `global` otherwise. SparseGPT's own choice per block
        /// over all rows (scope `layer`) lost to per-row on both of issue #16's models
        /// (docs/RESULTS.md): gpt-tiny at 50% 2.8956 against 2.5180 bits, MiniLM 0.612 against 0.614.
        public static func scope(granularity: Granularity, criterion: CriterionName?) -> Scope {
            if granularity.isStructured { return .layer }
            return (criterion == .wanda || criterion == .sparsegpt) && granularity == .weight ? .row : .global
        }
        /// Training steps between checkpoints (every phase's steps count).
        public static let checkpointEverySteps = 1000
        /// Rounds after training between checkpoints.
        public static let checkpointEveryRounds = 1
        /// Probes of the automatic threshold's search.
        public static let autoProbes = 5
        /// Further probes once `criterion: auto` has chosen (between the search's best and
        /// the lowest sparsity that broke the budget).
        public static let autoRefineProbes = 2
        /// λ of the L1 penalty of `criterion: auto`'s L1 candidate, over its preparation.
        public static let autoL1: Float = 0.0003
        /// Fine-tuning epochs of each probe.
        public static let autoProbeEpochs = 1
        /// The highest sparsity the automatic threshold tries.
        public static let autoHighest = 0.995
        /// Epochs each schedule gets on its probe under `schedule: auto`.
        public static let autoScheduleProbeEpochs = 4
        /// The round counts `schedule: auto` tries beside one-shot.
        public static let autoScheduleRounds = [2, 4]
        /// Distillation's temperature `T` (Hinton et al. 2015).
        public static let distillTemperature: Float = 4
        /// Distillation's weight `α` of the soft term (`1 − α` for the labels).
        public static let distillAlpha: Float = 0.7
    }

    /// When and where a run saves checkpoints, from which `prune run --resume` continues
    /// to the same result as an uninterrupted run. Checkpoints do not change the result:
    /// the resolved plan a model file records leaves this section out.
    public struct Checkpoint: Codable, Equatable, Sendable {
        /// Training steps between checkpoints (counted over every training phase).
        public var everySteps: Int?
        /// Rounds after training between checkpoints.
        public var everyRounds: Int?
        /// The checkpoint file (default: beside `output`, see `Recipe.checkpointPath`).
        public var path: String?
        enum CodingKeys: String, CodingKey { case everySteps = "every_steps", everyRounds = "every_rounds", path }
        /// Creates the section; absent fields take `Recipe.Defaults`.
        public init(everySteps: Int? = nil, everyRounds: Int? = nil, path: String? = nil) {
            self.everySteps = everySteps; self.everyRounds = everyRounds; self.path = path
        }
    }

    /// Training settings.
    public struct Training: Codable, Equatable, Sendable {
        /// Passes over the data.
        public var epochs: Int?
        /// Samples per step.
        public var batchSize: Int?
        /// The optimizer family.
        public var optimizer: OptimizerKind?
        /// The base learning rate.
        public var learningRate: Float?
        /// SGD momentum.
        public var momentum: Float?
        /// Weight decay (L2; decoupled for AdamW).
        public var weightDecay: Float?
        /// Nesterov momentum (SGD).
        public var nesterov: Bool?
        /// The learning-rate schedule (or, in `prune`, when to cut).
        public var schedule: LearningRateSchedule.Kind?
        /// Epochs between decays, and the decay factor, of the `step` schedule.
        public var stepEpochs: Int?, stepFactor: Float?
        /// Linear warm-up steps before the schedule.
        public var warmupSteps: Int?
        /// Penalties during training.
        public var regularizer: RegularizerSpec?
        /// Train against a teacher's softened outputs too (during gradual pruning as well).
        public var distill: Distill?
        /// Clip each step's gradients to this global L2 norm (`TrainingOptions.gradientClipNorm`).
        public var gradientClip: Float?
        /// Stop after this many steps (`TrainingOptions.maxSteps`).
        public var steps: Int?
        /// Stop after this many minutes, the schedule spanning the steps that fit
        /// (`TrainingOptions.timeLimit`); a language model's default step limit is then lifted.
        public var minutes: Double?
        /// Adam's second-moment decay β₂.
        public var beta2: Float?
        /// The cosine schedule's final rate as a fraction of the base rate.
        public var minLearningRateFactor: Float?
        /// Which parameters weight decay shrinks (`all`, `layer-weights`).
        public var weightDecayScope: WeightDecayScope?
        enum CodingKeys: String, CodingKey {
            case epochs, batchSize = "batch_size", optimizer, learningRate = "learning_rate", momentum, nesterov
            case weightDecay = "weight_decay", schedule, stepEpochs = "step_epochs", stepFactor = "step_factor"
            case warmupSteps = "warmup_steps", regularizer, distill, gradientClip = "gradient_clip", steps, minutes, beta2
            case minLearningRateFactor = "min_lr_factor", weightDecayScope = "weight_decay_scope"
        }

        /// Creates training settings; absent fields take `Recipe.Defaults`.
        public init(epochs: Int? = nil, batchSize: Int? = nil, optimizer: OptimizerKind? = nil, learningRate: Float? = nil,
                    momentum: Float? = nil, nesterov: Bool? = nil, weightDecay: Float? = nil,
                    schedule: LearningRateSchedule.Kind? = nil, stepEpochs: Int? = nil, stepFactor: Float? = nil,
                    warmupSteps: Int? = nil, regularizer: RegularizerSpec? = nil, distill: Distill? = nil) {
            self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.learningRate = learningRate
            self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay; self.schedule = schedule
            self.stepEpochs = stepEpochs; self.stepFactor = stepFactor; self.warmupSteps = warmupSteps
            self.regularizer = regularizer; self.distill = distill
        }
    }

    /// Penalties during training (any of l1, l2, group_lasso), see `Regularizer`.
    public struct RegularizerSpec: Codable, Equatable, Sendable {
        /// λ of λ·Σ|w|.
        public var l1: Float?
        /// λ of (λ/2)·Σw².
        public var l2: Float?
        /// λ of λ·Σ‖w_g‖₂ over rows and filters.
        public var groupLasso: Float?
        /// How L1 and group lasso act: proximal or subgradient.
        public var method: Regularizer.Method?
        /// Path patterns of the parameters it applies to (`*` wildcard).
        public var parameters: [String]?
        /// Path patterns left alone.
        public var exclude: [String]?
        enum CodingKeys: String, CodingKey { case l1, l2, groupLasso = "group_lasso", method, parameters, exclude }

        /// Creates a spec; give at least one strength.
        public init(l1: Float? = nil, l2: Float? = nil, groupLasso: Float? = nil, method: Regularizer.Method? = nil,
                    parameters: [String]? = nil, exclude: [String]? = nil) {
            self.l1 = l1; self.l2 = l2; self.groupLasso = groupLasso; self.method = method
            self.parameters = parameters; self.exclude = exclude
        }

        /// The regularizers this spec describes.
        public func regularizers() throws -> [Regularizer] {
            let penalties: [Regularizer.Penalty] = [l1.map { .l1($0) }, l2.map { .l2($0) }, groupLasso.map { .groupLasso($0) }]
                .compactMap { $0 }
            return try penalties.map {
                try Regularizer($0, method: method ?? .proximal, parameters: parameters ?? ["*.weight"], excluding: exclude ?? [])
            }
        }
    }

    /// The pruning plan.
    public struct Prune: Codable, Equatable, Sendable {
        /// How importance is computed.
        public var criterion: CriterionName?
        /// What one unit is.
        public var granularity: Granularity?
        /// Where units compete.
        public var scope: Scope?
        /// How a sparsity target is shared among weight tensors (global, uniform, lamp, erk);
        /// when given, it replaces `scope`.
        public var allocation: Allocation?
        /// What a weight sparsity target is a share of: weights (the default), FLOPs, or the
        /// forward time on this machine (`latency`).
        public var objective: Objective?
        /// Path patterns of the parameters it applies to (`*` wildcard).
        public var parameters: [String]?
        /// Path patterns left alone.
        public var exclude: [String]?
        /// How many units to cut.
        public var threshold: ThresholdSpec
        /// The learning-rate schedule (or, in `prune`, when to cut).
        public var schedule: ScheduleSpec?
        /// Training just before the first cut after training (movement's sums, an L1 pull).
        public var prepare: Prepare?
        /// Unlabeled data `wanda` and `sparsegpt` measure on, in place of the training split.
        public var calibration: Calibration?

        /// Creates a pruning plan; absent fields take `Recipe.Defaults` (scope: global for
        /// weights and N:M groups, row for wanda and sparsegpt, layer for neurons, filters and heads).
        public init(criterion: CriterionName? = nil, granularity: Granularity? = nil, scope: Scope? = nil,
                    allocation: Allocation? = nil, objective: Objective? = nil, parameters: [String]? = nil, exclude: [String]? = nil,
                    threshold: ThresholdSpec = ThresholdSpec(), schedule: ScheduleSpec? = nil, prepare: Prepare? = nil,
                    calibration: Calibration? = nil) {
            self.criterion = criterion; self.granularity = granularity; self.scope = scope; self.allocation = allocation
            self.objective = objective; self.prepare = prepare; self.calibration = calibration
            self.parameters = parameters
            self.exclude = exclude; self.threshold = threshold; self.schedule = schedule
        }
    }

    /// Exactly one of: a sparsity, an absolute value, a per-layer map, automatic (none for N:M).
    public struct ThresholdSpec: Codable, Equatable, Sendable {
        /// The fraction of units to cut.
        public var sparsity: Double?
        /// Cut units whose importance is below this.
        public var value: Float?
        /// Each listed parameter's own sparsity.
        public var perLayer: [String: Double]?
        /// The highest sparsity within an accuracy budget, searched on the validation split.
        public var auto: AutoThreshold?
        enum CodingKeys: String, CodingKey { case sparsity, value, perLayer = "per_layer", auto }

        /// Creates a threshold; give exactly one field.
        public init(sparsity: Double? = nil, value: Float? = nil, perLayer: [String: Double]? = nil, auto: AutoThreshold? = nil) {
            self.sparsity = sparsity; self.value = value; self.perLayer = perLayer; self.auto = auto
        }
    }

    /// At most one of: one-shot (the default: after training), AGP during training,
    /// constant (one cut during training, held), iterative rounds after training.
    public struct ScheduleSpec: Codable, Equatable, Sendable {
        /// Prune once after training.
        public var oneShot: OneShot?
        /// Gradual pruning during training.
        public var agp: AGP?
        /// One cut during training, held.
        public var constant: Constant?
        /// Rounds after training.
        public var iterative: Iterative?
        /// One-shot and iterative rounds tried on a short budget; the best on the validation
        /// split gets the fine-tuning epochs (`schedule: auto`).
        public var auto: AutoSchedule?
        enum CodingKeys: String, CodingKey { case oneShot = "one_shot", agp, constant, iterative, auto }

        /// Creates a schedule spec; give at most one.
        public init(oneShot: OneShot? = nil, agp: AGP? = nil, constant: Constant? = nil, iterative: Iterative? = nil,
                    auto: AutoSchedule? = nil) {
            self.oneShot = oneShot; self.agp = agp; self.constant = constant; self.iterative = iterative; self.auto = auto
        }

        /// Reads a mapping of one schedule, or the word `auto`.
        public init(from decoder: Decoder) throws {
            if let word = try? decoder.singleValueContainer().decode(String.self) {
                guard word == "auto" else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                            debugDescription: "a schedule is auto or a mapping of one_shot, agp, constant, iterative or auto; got '\(word)'"))
                }
                self.init(auto: AutoSchedule())
                return
            }
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(oneShot: try c.decodeIfPresent(OneShot.self, forKey: .oneShot), agp: try c.decodeIfPresent(AGP.self, forKey: .agp),
                      constant: try c.decodeIfPresent(Constant.self, forKey: .constant),
                      iterative: try c.decodeIfPresent(Iterative.self, forKey: .iterative), auto: try c.decodeIfPresent(AutoSchedule.self, forKey: .auto))
        }
    }

    /// Prune once after training.
    public struct OneShot: Codable, Equatable, Sendable {
        /// Creates the spec.
        public init() {}
    }

    /// Cut once at the end of `start_epoch` (0: before training) and hold the masks.
    public struct Constant: Codable, Equatable, Sendable {
        /// The epoch whose end starts it (0: before training or the first step).
        public var startEpoch: Int?
        enum CodingKeys: String, CodingKey { case startEpoch = "start_epoch" }
        /// Creates the spec.
        public init(startEpoch: Int? = nil) { self.startEpoch = startEpoch }
    }

    /// Gradual pruning during training, from the end of `start_epoch` to the end of `end_epoch`.
    public struct AGP: Codable, Equatable, Sendable {
        /// The epoch whose end starts it (0: before training or the first step).
        public var startEpoch: Int
        /// The epoch whose end finishes the ramp.
        public var endEpoch: Int
        /// Steps between cuts.
        public var everySteps: Int?
        /// Epochs between cuts (instead of steps).
        public var everyEpochs: Int?
        /// The sparsity of the first cut.
        public var initialSparsity: Double?
        enum CodingKeys: String, CodingKey {
            case startEpoch = "start_epoch", endEpoch = "end_epoch", everySteps = "every_steps", everyEpochs = "every_epochs"
            case initialSparsity = "initial_sparsity"
        }
        /// Creates the spec.
        public init(startEpoch: Int, endEpoch: Int, everySteps: Int? = nil, everyEpochs: Int? = nil, initialSparsity: Double? = nil) {
            self.startEpoch = startEpoch; self.endEpoch = endEpoch; self.everySteps = everySteps
            self.everyEpochs = everyEpochs; self.initialSparsity = initialSparsity
        }
    }

    /// Rounds after training: cut `fraction` of what remains, fine-tune, repeat. With
    /// `rewind_to_step`, each round resets the surviving weights to their values after
    /// that many training steps (0: initialization) and retrains (lottery ticket).
    public struct Iterative: Codable, Equatable, Sendable {
        /// The fraction of the remaining weights cut in each round.
        public var fraction: Double
        /// The most rounds.
        public var rounds: Int?
        /// Recovery epochs after each round.
        public var fineTuneEpochs: Int?
        /// The most validation accuracy a round may lose before it is rolled back.
        public var accuracyBudget: Float?
        /// Lottery ticket: the training step whose weights each round rewinds to.
        public var rewindToStep: Int?
        /// The sparsity of the first round; later rounds cut `fraction` of what remains.
        /// With `threshold.auto`, the search sets it.
        public var firstSparsity: Double?
        enum CodingKeys: String, CodingKey {
            case fraction, rounds, fineTuneEpochs = "fine_tune_epochs", accuracyBudget = "accuracy_budget"
            case rewindToStep = "rewind_to_step", firstSparsity = "first_sparsity"
        }
        /// Creates the spec.
        public init(fraction: Double, rounds: Int? = nil, fineTuneEpochs: Int? = nil, accuracyBudget: Float? = nil,
                    rewindToStep: Int? = nil, firstSparsity: Double? = nil) {
            self.fraction = fraction; self.rounds = rounds; self.fineTuneEpochs = fineTuneEpochs
            self.accuracyBudget = accuracyBudget; self.rewindToStep = rewindToStep; self.firstSparsity = firstSparsity
        }
    }

    /// Fine-tuning after pruning (SGD with momentum 0.9, no weight decay, batch 128, a
    /// constant rate of 0.01 unless set). Iterative rounds fine-tune with the same settings.
    public struct FineTune: Codable, Equatable, Sendable {
        /// Passes over the data.
        public var epochs: Int
        /// The base learning rate.
        public var learningRate: Float?
        /// Samples per step.
        public var batchSize: Int?
        /// The optimizer family.
        public var optimizer: OptimizerKind?
        /// SGD momentum.
        public var momentum: Float?
        /// Weight decay (L2; decoupled for AdamW).
        public var weightDecay: Float?
        /// The learning-rate schedule (or, in `prune`, when to cut).
        public var schedule: LearningRateSchedule.Kind?
        /// Fine-tune against a teacher's softened outputs too (iterative rounds' recovery as well).
        public var distill: Distill?
        /// Stop after this many steps (default: every epoch; a language model's default is
        /// `TrainingDefaults.languageModelFineTune.steps`, as one of its epochs is every offset of the text).
        public var steps: Int?
        enum CodingKeys: String, CodingKey {
            case epochs, learningRate = "learning_rate", batchSize = "batch_size", optimizer, momentum
            case weightDecay = "weight_decay", schedule, distill, steps
        }
        /// Creates fine-tuning settings; absent fields take the plan's `fineTuneDefaults`.
        public init(epochs: Int, learningRate: Float? = nil, batchSize: Int? = nil, optimizer: OptimizerKind? = nil,
                    momentum: Float? = nil, weightDecay: Float? = nil, schedule: LearningRateSchedule.Kind? = nil,
                    distill: Distill? = nil, steps: Int? = nil) {
            self.epochs = epochs; self.learningRate = learningRate; self.batchSize = batchSize; self.optimizer = optimizer
            self.momentum = momentum; self.weightDecay = weightDecay; self.schedule = schedule; self.distill = distill
            self.steps = steps
        }
    }
}

/// The shape of allowed keys: a leaf value, or a mapping of allowed keys.
public indirect enum KeyTree: Sendable {
    case leaf
    case map([String: KeyTree])
}
