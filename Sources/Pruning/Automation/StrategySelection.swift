import NeuralNetwork
import RealModule

/// One way to choose the weights to cut: a criterion, how the target is shared among
/// tensors, and whether the model trains briefly before the cut (`prune.prepare`).
/// `criterion: auto` tries several and keeps the best on the validation split.
public struct Strategy: Codable, Equatable, Sendable, CustomStringConvertible {
    /// How entries are ranked.
    public var criterion: CriterionName
    /// How the target is shared among tensors.
    public var allocation: Allocation
    /// λ of an L1 penalty over the preparation before the cut (nil: none).
    public var l1: Float?
    /// Whole units cut instead of weights: neurons or filters, the same fraction of each
    /// group (nil: weights). Compaction then makes the layers smaller and dense.
    public var granularity: Granularity?

    /// Creates a strategy.
    public init(_ criterion: CriterionName, _ allocation: Allocation = .global, l1: Float? = nil, granularity: Granularity? = nil) {
        self.criterion = criterion; self.allocation = allocation; self.l1 = l1; self.granularity = granularity
    }

    /// `criterion/allocation` (`magnitude+l1/global` with an L1 preparation; `l2-norm/neuron`
    /// for whole units), as tables print it.
    public var description: String {
        "\(criterion.rawValue)\(l1 == nil ? "" : "+l1")/\(granularity.map(\.description) ?? allocation.rawValue)"
    }

    /// Whether the strategy trains before its cut: movement needs training to accumulate
    /// its sums, and an L1 penalty needs training to pull weights toward zero.
    public var prepares: Bool { criterion == .movement || l1 != nil }

    /// The preparation of `epochs` this strategy trains before its cut (nil when it does not).
    public func preparation(epochs: Int) -> Recipe.Prepare? {
        prepares ? Recipe.Prepare(epochs: epochs, regularizer: l1.map { Recipe.RegularizerSpec(l1: $0) }) : nil
    }

    /// The strategies `criterion: auto` tries for weight cuts, the default first: magnitude
    /// under each allocation (global, LAMP, ERK, from sensitivity curves), then the
    /// data-driven criteria ranked globally (Taylor over training batches, SNIP on one), then
    /// the two that train before the cut: movement, and magnitude after an L1 pull
    /// (`Recipe.Defaults.autoL1`).
    public static let candidates: [Strategy] = [
        Strategy(.magnitude, .global), Strategy(.magnitude, .lamp), Strategy(.magnitude, .erk),
        Strategy(.magnitude, .sensitivity), Strategy(.taylor, .global), Strategy(.snip, .global),
        Strategy(.movement, .global), Strategy(.magnitude, .global, l1: Recipe.Defaults.autoL1),
    ]

    /// What `criterion: auto` tries under `objective`: `candidates`, and under latency also
    /// whole neurons and whole filters by L2 norm, each group cut by the same fraction:
    /// structured against unstructured, at the same share of time saved (a unit kind the
    /// model has no group of is skipped).
    public static func candidates(for objective: Objective) -> [Strategy] {
        candidates + (objective == .latency
            ? [Strategy(.l2Norm, .uniform, granularity: .neuron), Strategy(.l2Norm, .uniform, granularity: .filter)] : [])
    }
}

/// A schedule after training that `schedule: auto` tries: one cut, or `rounds` rounds each
/// cutting the same fraction of what remains, reaching the target at the last.
public struct ScheduleChoice: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Rounds after training (0: one cut, then fine-tuning).
    public var rounds: Int

    /// Creates a choice.
    public init(rounds: Int) { self.rounds = rounds }

    /// `one_shot`, or `iterative×k`.
    public var description: String { rounds == 0 ? "one_shot" : "iterative×\(rounds)" }

    /// The fraction of what remains each round cuts so that `rounds` rounds from a dense
    /// model reach `target` (from a sparser one they reach it sooner, and stop there).
    /// Rounded up to 1e-6, so a recipe's YAML keeps it exactly and the last round still
    /// reaches the target (and stops there) in the run and in a run of the written plan.
    public func fraction(toward target: Double) -> Double {
        let exact = 1 - Double.pow(1 - target, 1 / Double(max(rounds, 1)))
        return min(1, (exact * 1e6).rounded(.up) / 1e6)
    }

    /// The schedule spec that runs this choice toward `target` with `epochs` of fine-tuning
    /// in all, and the epochs left for the final fine-tuning: k rounds recover `epochs / k`
    /// each, and the remainder is fine-tuned after the last.
    public func spec(toward target: Double, epochs: Int) -> (schedule: Recipe.ScheduleSpec, finalEpochs: Int) {
        guard rounds > 0, target > 0 else { return (Recipe.ScheduleSpec(oneShot: Recipe.OneShot()), epochs) }
        let each = epochs / rounds
        return (Recipe.ScheduleSpec(iterative: Recipe.Iterative(fraction: fraction(toward: target), rounds: rounds, fineTuneEpochs: each)),
                epochs - each * rounds)
    }
}

/// What a run's search did: the probes, the strategies' ranking, what was chosen and what it
/// cost. Recorded in the run's history (and so in the model file and the report).
public struct SearchReport: Codable, Equatable, Sendable {
    /// One probe: a strategy at a sparsity, cut on a copy, fine-tuned briefly and measured.
    public struct Probe: Codable, Equatable, Sendable {
        /// What the probe was for: `threshold` (the sparsity search), `strategy` (the
        /// ranking), `refine` (the search continued with the chosen strategy) or `schedule`
        /// (`schedule: auto`).
        public var stage: String
        /// The strategy tried.
        public var strategy: Strategy
        /// The sparsity asked for (a share of the objective's cost), and the share of the
        /// weights cut (entries are whole).
        public var target: Double, sparsity: Double
        /// What `target` is a share of (nil: the weights, as `sparsity`).
        public var objective: Objective?
        /// Validation accuracy and loss after the probe's fine-tuning.
        public var accuracy: Float, loss: Float
        /// Whether it kept the accuracy budget (nil without one).
        public var kept: Bool?
        /// Seconds the probe took.
        public var seconds: Double
        /// The schedule tried (`schedule: auto`'s probes; nil for the others, which cut once).
        public var schedule: ScheduleChoice?

        /// The strategy, and the schedule when one was tried: `magnitude/global, iterative×2`.
        public var label: String { strategy.description + (schedule.map { ", \($0)" } ?? "") }

        /// "at 90.00% sparsity", or under another objective "at 80.00% of latency removed (95.10% of weights)".
        public var at: String {
            guard let o = objective, o != .parameters else { return String(format: "at %.2f%% sparsity", 100 * sparsity) }
            return String(format: "at %.2f%% of %@ removed (%.2f%% of weights)", 100 * target, o.rawValue, 100 * sparsity)
        }
    }
    /// The validation accuracy of the model before any cut, which the budget is counted from.
    public var baseline: Float
    /// What the target sparsities are shares of (nil: the weights).
    public var objective: Objective?
    /// The budget (nil without a threshold search).
    public var maximumDrop: Float?
    /// The split every probe was measured on (always validation).
    public var split: DataSplit
    /// Fine-tuning epochs per probe.
    public var probeEpochs: Int
    /// The highest sparsity the threshold search considered: `threshold.auto.highest`, or
    /// less under latency when the CSR forms cannot save more (nil without a threshold search).
    public var highest: Double?
    /// Every probe, in order.
    public var probes: [Probe] = []
    /// The strategies tried at the target, best first (empty without `criterion: auto`).
    public var ranking: [Probe] = []
    /// What was chosen: the strategy and the sparsity (a share of the objective's cost).
    public var strategy: Strategy, sparsity: Double
    /// The schedules tried at the target, best first (empty without `schedule: auto`).
    public var schedules: [Probe] = []
    /// The schedule chosen, and the epochs each schedule had on its probe (nil without `schedule: auto`).
    public var schedule: ScheduleChoice?, scheduleEpochs: Int?
    /// Seconds spent searching, and the training epochs the probes cost.
    public var seconds = 0.0, epochs = 0

    /// Training epochs of a probing strategy's preparation, and of the chosen one's.
    public var preparationEpochs: Int { max(probeEpochs, 1) }

    /// `objective` when it is not the weights.
    public var sharedObjective: Objective? { objective == .parameters ? nil : objective }

    /// `recipe` with what was chosen written in: the criterion, the allocation, the
    /// preparation and the sparsity (an iterative schedule's first round, its target then
    /// `highest`), the schedule and its share of the fine-tuning epochs, no search left, so
    /// `prune run` cuts the same way without searching.
    public func fixing(_ recipe: Recipe) -> Recipe {
        var r = recipe
        guard var p = r.prune else { return r }
        if recipe.prune?.criterion == .auto { p.prepare = strategy.preparation(epochs: preparationEpochs) }
        if recipe.prune?.criterion == .auto || recipe.prune?.threshold.auto != nil {
            p.criterion = strategy.criterion
            p.allocation = strategy.granularity == nil ? strategy.allocation : nil
            p.scope = strategy.granularity == nil ? nil : .layer
            if let g = strategy.granularity { p.granularity = g }
            p.threshold = Recipe.ThresholdSpec(sparsity: sparsity)
        }
        if let auto = recipe.prune?.threshold.auto, var rounds = p.schedule?.iterative {
            // Iterative rounds: the first to the sparsity found, the rest on toward `highest`.
            rounds.firstSparsity = sparsity > 0 ? sparsity : nil
            rounds.accuracyBudget = rounds.accuracyBudget ?? Float(auto.maxAccuracyDrop)
            p.schedule?.iterative = rounds
            p.threshold = Recipe.ThresholdSpec(sparsity: highest ?? auto.highest ?? Recipe.Defaults.autoHighest)
        }
        if recipe.prune?.schedule?.auto != nil, let schedule {
            let (spec, finalEpochs) = schedule.spec(toward: sparsity, epochs: recipe.fineTune?.epochs ?? 0)
            p.schedule = spec
            r.fineTune?.epochs = finalEpochs
        }
        r.prune = p
        return r
    }
}

extension SearchReport {
    /// Reads a search report; `schedules` may be absent (histories written before
    /// `schedule: auto` existed).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        baseline = try c.decode(Float.self, forKey: .baseline)
        objective = try c.decodeIfPresent(Objective.self, forKey: .objective)
        maximumDrop = try c.decodeIfPresent(Float.self, forKey: .maximumDrop)
        split = try c.decode(DataSplit.self, forKey: .split)
        probeEpochs = try c.decode(Int.self, forKey: .probeEpochs)
        highest = try c.decodeIfPresent(Double.self, forKey: .highest)
        probes = try c.decode([Probe].self, forKey: .probes)
        ranking = try c.decode([Probe].self, forKey: .ranking)
        strategy = try c.decode(Strategy.self, forKey: .strategy)
        sparsity = try c.decode(Double.self, forKey: .sparsity)
        schedules = try c.decodeIfPresent([Probe].self, forKey: .schedules) ?? []
        schedule = try c.decodeIfPresent(ScheduleChoice.self, forKey: .schedule)
        scheduleEpochs = try c.decodeIfPresent(Int.self, forKey: .scheduleEpochs)
        seconds = try c.decode(Double.self, forKey: .seconds)
        epochs = try c.decode(Int.self, forKey: .epochs)
    }
}
