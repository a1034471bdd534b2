import NeuralNetwork

/// One way to choose the weights to cut: a criterion and how the target is shared among
/// tensors. `criterion: auto` tries several and keeps the best on the validation split.
public struct Strategy: Codable, Equatable, Sendable, CustomStringConvertible {
    /// How entries are ranked.
    public var criterion: CriterionName
    /// How the target is shared among tensors.
    public var allocation: Allocation

    /// Creates a strategy.
    public init(_ criterion: CriterionName, _ allocation: Allocation = .global) {
        self.criterion = criterion; self.allocation = allocation
    }

    /// `criterion/allocation`, as tables print it.
    public var description: String { "\(criterion.rawValue)/\(allocation.rawValue)" }

    /// The strategies `criterion: auto` tries for weight cuts, the default first: magnitude
    /// under each allocation (global, LAMP, ERK, from sensitivity curves), then the
    /// data-driven criteria ranked globally (Taylor over training batches, SNIP on one).
    public static let candidates: [Strategy] = [
        Strategy(.magnitude, .global), Strategy(.magnitude, .lamp), Strategy(.magnitude, .erk),
        Strategy(.magnitude, .sensitivity), Strategy(.taylor, .global), Strategy(.snip, .global),
    ]
}

/// What a run's search did: the probes, the strategies' ranking, what was chosen and what it
/// cost. Recorded in the run's history (and so in the model file and the report).
public struct SearchReport: Codable, Equatable, Sendable {
    /// One probe: a strategy at a sparsity, cut on a copy, fine-tuned briefly and measured.
    public struct Probe: Codable, Equatable, Sendable {
        /// What the probe was for: `threshold` (the sparsity search), `strategy` (the
        /// ranking) or `refine` (the search continued with the chosen strategy).
        public var stage: String
        /// The strategy tried.
        public var strategy: Strategy
        /// The sparsity asked for, and the sparsity reached (entries are whole).
        public var target: Double, sparsity: Double
        /// Validation accuracy and loss after the probe's fine-tuning.
        public var accuracy: Float, loss: Float
        /// Whether it kept the accuracy budget (nil without one).
        public var kept: Bool?
        /// Seconds the probe took.
        public var seconds: Double
    }
    /// The validation accuracy of the model before any cut, which the budget is counted from.
    public var baseline: Float
    /// The budget (nil for `criterion: auto` at a fixed sparsity).
    public var maximumDrop: Float?
    /// The split every probe was measured on (always validation).
    public var split: DataSplit
    /// Fine-tuning epochs per probe.
    public var probeEpochs: Int
    /// Every probe, in order.
    public var probes: [Probe] = []
    /// The strategies tried at the target, best first (empty without `criterion: auto`).
    public var ranking: [Probe] = []
    /// What was chosen: the strategy and the sparsity.
    public var strategy: Strategy, sparsity: Double
    /// Seconds spent searching, and the training epochs the probes cost.
    public var seconds = 0.0, epochs = 0

    /// `recipe` with what was chosen written in: the criterion, the allocation and the
    /// sparsity (an iterative schedule's first round, its target then `highest`), no search
    /// left, so `prune run` cuts the same way without searching.
    public func fixing(_ recipe: Recipe) -> Recipe {
        var r = recipe
        guard var p = r.prune else { return r }
        p.criterion = strategy.criterion
        p.allocation = strategy.allocation
        p.scope = nil
        p.threshold = Recipe.ThresholdSpec(sparsity: sparsity)
        if let auto = recipe.prune?.threshold.auto, var rounds = p.schedule?.iterative {
            // Iterative rounds: the first to the sparsity found, the rest on toward `highest`.
            rounds.firstSparsity = sparsity > 0 ? sparsity : nil
            rounds.accuracyBudget = rounds.accuracyBudget ?? Float(auto.maxAccuracyDrop)
            p.schedule?.iterative = rounds
            p.threshold = Recipe.ThresholdSpec(sparsity: auto.highest ?? Recipe.Defaults.autoHighest)
        }
        r.prune = p
        return r
    }
}
