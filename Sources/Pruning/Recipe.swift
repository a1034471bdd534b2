/// A whole pruning plan as a file describes it (YAML or JSON): the model, the data,
/// training, what and when to prune, fine-tuning and where to save. Decoded by the
/// `prune run` command; library users can build the same value in Swift.
///
/// Keys are snake_case in files. `docs/RECIPES.md` documents every field.
public struct Recipe: Codable, Equatable, Sendable {
    /// A built-in architecture name (`lenet300`, …) or the path of a model file.
    public var model: String
    /// The data folder (default: Fashion-MNIST from Debian's package).
    public var data: String?
    /// Seed for weights, shuffling and the random criterion (default 1).
    public var seed: UInt64?
    /// Training before (and, with AGP, during) pruning; absent for a model file used as is.
    public var train: Training?
    /// What to cut and when.
    public var prune: Prune?
    /// Training after the last cut, with masks fixed.
    public var fineTune: FineTune?
    /// Where to save the result.
    public var output: String?

    enum CodingKeys: String, CodingKey { case model, data, seed, train, prune, fineTune = "fine_tune", output }

    /// Training settings.
    public struct Training: Codable, Equatable, Sendable {
        public var epochs: Int?
        public var batchSize: Int?
        public var optimizer: String?
        public var learningRate: Float?
        public var momentum: Float?
        public var weightDecay: Float?
        public var schedule: String?
        public var regularizer: RegularizerSpec?
        enum CodingKeys: String, CodingKey {
            case epochs, batchSize = "batch_size", optimizer, learningRate = "learning_rate", momentum
            case weightDecay = "weight_decay", schedule, regularizer
        }
    }

    /// Penalties during training (any of l1, l2, group_lasso), see `Regularizer`.
    public struct RegularizerSpec: Codable, Equatable, Sendable {
        public var l1: Float?
        public var l2: Float?
        public var groupLasso: Float?
        public var method: Regularizer.Method?
        public var parameters: [String]?
        public var exclude: [String]?
        enum CodingKeys: String, CodingKey { case l1, l2, groupLasso = "group_lasso", method, parameters, exclude }

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
        public var criterion: CriterionName?
        public var granularity: String?
        public var scope: Scope?
        public var parameters: [String]?
        public var exclude: [String]?
        public var threshold: ThresholdSpec
        public var schedule: ScheduleSpec?
    }

    /// Exactly one of: a sparsity, an absolute value, a per-layer map.
    public struct ThresholdSpec: Codable, Equatable, Sendable {
        public var sparsity: Double?
        public var value: Float?
        public var perLayer: [String: Double]?
        enum CodingKeys: String, CodingKey { case sparsity, value, perLayer = "per_layer" }
    }

    /// Exactly one of: one-shot (default: after training), AGP during training, constant
    /// (one cut during training, held), iterative rounds after training.
    public struct ScheduleSpec: Codable, Equatable, Sendable {
        public var oneShot: OneShot?
        public var agp: AGP?
        public var constant: Constant?
        public var iterative: Iterative?
        enum CodingKeys: String, CodingKey { case oneShot = "one_shot", agp, constant, iterative }
    }

    /// Prune once after training.
    public struct OneShot: Codable, Equatable, Sendable {}

    /// Cut once at the end of `start_epoch` (0: before training) and hold the masks.
    public struct Constant: Codable, Equatable, Sendable {
        public var startEpoch: Int?
        enum CodingKeys: String, CodingKey { case startEpoch = "start_epoch" }
    }

    /// Gradual pruning during training, from the end of `start_epoch` to the end of `end_epoch`.
    public struct AGP: Codable, Equatable, Sendable {
        public var startEpoch: Int
        public var endEpoch: Int
        public var everySteps: Int?
        public var everyEpochs: Int?
        public var initialSparsity: Double?
        enum CodingKeys: String, CodingKey {
            case startEpoch = "start_epoch", endEpoch = "end_epoch", everySteps = "every_steps", everyEpochs = "every_epochs"
            case initialSparsity = "initial_sparsity"
        }
    }

    /// Rounds after training: cut `fraction` of what remains, fine-tune, repeat. With
    /// `rewind_to_step`, each round resets the surviving weights to their values after
    /// that many training steps (0: initialization) and retrains (lottery ticket).
    public struct Iterative: Codable, Equatable, Sendable {
        public var fraction: Double
        public var rounds: Int?
        public var fineTuneEpochs: Int?
        public var accuracyBudget: Float?
        public var rewindToStep: Int?
        enum CodingKeys: String, CodingKey {
            case fraction, rounds, fineTuneEpochs = "fine_tune_epochs", accuracyBudget = "accuracy_budget"
            case rewindToStep = "rewind_to_step"
        }
    }

    /// Fine-tuning after pruning.
    public struct FineTune: Codable, Equatable, Sendable {
        public var epochs: Int
        public var learningRate: Float?
        public var batchSize: Int?
        enum CodingKeys: String, CodingKey { case epochs, learningRate = "learning_rate", batchSize = "batch_size" }
    }

    /// The keys a recipe may use, as a tree (`*` accepts any key: per-layer maps).
    public static let keys: KeyTree = .map([
        "model": .leaf, "data": .leaf, "seed": .leaf, "output": .leaf,
        "train": .map(["epochs": .leaf, "batch_size": .leaf, "optimizer": .leaf, "learning_rate": .leaf,
                       "momentum": .leaf, "weight_decay": .leaf, "schedule": .leaf,
                       "regularizer": .map(["l1": .leaf, "l2": .leaf, "group_lasso": .leaf, "method": .leaf,
                                            "parameters": .leaf, "exclude": .leaf])]),
        "prune": .map([
            "criterion": .leaf, "granularity": .leaf, "scope": .leaf, "parameters": .leaf, "exclude": .leaf,
            "threshold": .map(["sparsity": .leaf, "value": .leaf, "per_layer": .map(["*": .leaf])]),
            "schedule": .map([
                "one_shot": .map([:]),
                "agp": .map(["start_epoch": .leaf, "end_epoch": .leaf, "every_steps": .leaf, "every_epochs": .leaf,
                             "initial_sparsity": .leaf]),
                "constant": .map(["start_epoch": .leaf]),
                "iterative": .map(["fraction": .leaf, "rounds": .leaf, "fine_tune_epochs": .leaf, "accuracy_budget": .leaf,
                                   "rewind_to_step": .leaf]),
            ]),
        ]),
        "fine_tune": .map(["epochs": .leaf, "learning_rate": .leaf, "batch_size": .leaf]),
    ])

    /// Values that parse but cannot be used, each with its field path (`prune.threshold.sparsity`).
    public func problems() -> [(path: String, message: String)] {
        var found: [(String, String)] = []
        func check(_ ok: Bool, _ path: String, _ message: String) { if !ok { found.append((path, message)) } }
        let epochs = train?.epochs ?? 10
        if let t = train {
            check((t.epochs ?? 1) >= 1, "train.epochs", "must be at least 1")
            check((t.batchSize ?? 1) >= 1, "train.batch_size", "must be at least 1")
            check(t.learningRate.map { $0 > 0 && $0.isFinite } ?? true, "train.learning_rate", "must be positive")
            check(t.momentum.map { $0 >= 0 && $0 < 1 } ?? true, "train.momentum", "must be in [0, 1)")
            check(t.weightDecay.map { $0 >= 0 } ?? true, "train.weight_decay", "must be ≥ 0")
            check(t.optimizer.map { ["sgd", "adam", "adamw"].contains($0) } ?? true, "train.optimizer", "must be sgd, adam or adamw")
            check(t.schedule.map { ["constant", "step", "cosine"].contains($0) } ?? true, "train.schedule", "must be constant, step or cosine")
            if let r = t.regularizer {
                for (key, value) in [("l1", r.l1), ("l2", r.l2), ("group_lasso", r.groupLasso)] {
                    check(value.map { $0 >= 0 && $0.isFinite } ?? true, "train.regularizer.\(key)", "must be ≥ 0 and finite")
                }
                check(r.l1 != nil || r.l2 != nil || r.groupLasso != nil, "train.regularizer", "give at least one of l1, l2, group_lasso")
                check(r.parameters.map { !$0.isEmpty } ?? true, "train.regularizer.parameters", "must list at least one pattern")
            }
        }
        if let p = prune {
            check(p.criterion != .movement || train != nil, "prune.criterion", "movement accumulates during training: add a train section")
            check(p.criterion != .movement || (p.schedule?.constant?.startEpoch ?? 1) > 0, "prune.criterion",
                  "movement has nothing to rank before training: use constant start_epoch ≥ 1, agp, iterative or one_shot")
            check(!(Granularity(p.granularity ?? "weight")?.isStructured ?? false) || p.threshold.sparsity != nil, "prune.threshold",
                  "neuron, filter and channel cuts take a sparsity (the fraction of units removed), so that they follow the dependency groups")
            check(p.criterion != .snip || (p.schedule?.agp == nil && p.schedule?.iterative == nil), "prune.criterion",
                  "snip scores once: use it with one_shot or constant (start_epoch 0 prunes at initialization)")
            check(!(p.criterion?.isStructuredOnly ?? false) || Granularity(p.granularity ?? "weight")?.isStructured == true,
                  "prune.criterion", "\(p.criterion?.rawValue ?? "") ranks whole units: use granularity filter, channel or neuron")
            check(p.granularity.map { Granularity($0) != nil } ?? true, "prune.granularity", "must be weight, neuron, filter or N:M (e.g. 2:4)")
            let t = p.threshold
            let given = [t.sparsity != nil, t.value != nil, t.perLayer != nil].filter { $0 }.count
            check(given == 1 || (given == 0 && p.granularity?.contains(":") == true), "prune.threshold", "give exactly one of sparsity, value, per_layer")
            check(t.sparsity.map { (0...1).contains($0) } ?? true, "prune.threshold.sparsity", "must be in [0, 1]")
            for (path, s) in t.perLayer ?? [:] { check((0...1).contains(s), "prune.threshold.per_layer.\(path)", "must be in [0, 1]") }
            if let s = p.schedule {
                check([s.oneShot != nil, s.agp != nil, s.constant != nil, s.iterative != nil].filter { $0 }.count <= 1,
                      "prune.schedule", "give one of one_shot, agp, constant, iterative")
                if let a = s.agp {
                    check(a.startEpoch >= 0, "prune.schedule.agp.start_epoch", "must be ≥ 0")
                    check(a.endEpoch >= a.startEpoch, "prune.schedule.agp.end_epoch", "must not come before start_epoch (\(a.startEpoch))")
                    check(a.endEpoch <= epochs, "prune.schedule.agp.end_epoch", "must not exceed train.epochs (\(epochs))")
                    check((a.everySteps ?? 1) >= 1, "prune.schedule.agp.every_steps", "must be at least 1")
                    check((a.everyEpochs ?? 1) >= 1, "prune.schedule.agp.every_epochs", "must be at least 1")
                    check(a.everySteps == nil || a.everyEpochs == nil, "prune.schedule.agp", "give every_steps or every_epochs, not both")
                    check(a.initialSparsity.map { (0...1).contains($0) } ?? true, "prune.schedule.agp.initial_sparsity", "must be in [0, 1]")
                    check(t.sparsity != nil, "prune.threshold", "agp needs a target sparsity")
                }
                if let i = s.iterative {
                    check(i.fraction > 0 && i.fraction <= 1, "prune.schedule.iterative.fraction", "must be in (0, 1]")
                    check((i.rounds ?? 1) >= 1, "prune.schedule.iterative.rounds", "must be at least 1")
                    check((i.fineTuneEpochs ?? 1) >= 0, "prune.schedule.iterative.fine_tune_epochs", "must be ≥ 0")
                    check(i.accuracyBudget.map { $0 >= 0 } ?? true, "prune.schedule.iterative.accuracy_budget", "must be ≥ 0")
                    check(t.sparsity != nil, "prune.threshold", "iterative pruning needs a target sparsity")
                    check((i.rewindToStep ?? 0) >= 0, "prune.schedule.iterative.rewind_to_step", "must be ≥ 0")
                    check(i.rewindToStep == nil || train != nil, "prune.schedule.iterative.rewind_to_step", "needs a train section (rewinding replays training)")
                }
                if let c = s.constant {
                    check((c.startEpoch ?? 0) >= 0, "prune.schedule.constant.start_epoch", "must be ≥ 0")
                    check((c.startEpoch ?? 0) <= epochs, "prune.schedule.constant.start_epoch", "must not exceed train.epochs (\(epochs))")
                }
            }
        }
        if let f = fineTune {
            check(f.epochs >= 0, "fine_tune.epochs", "must be ≥ 0")
            check(f.learningRate.map { $0 > 0 && $0.isFinite } ?? true, "fine_tune.learning_rate", "must be positive")
            check((f.batchSize ?? 1) >= 1, "fine_tune.batch_size", "must be at least 1")
        }
        return found
    }
}

/// The shape of allowed keys: a leaf value, or a mapping of allowed keys.
public indirect enum KeyTree: Sendable {
    case leaf
    case map([String: KeyTree])
}
