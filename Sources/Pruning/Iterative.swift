import NeuralNetwork
import RealModule
import TensorCore

/// Iterative pruning (Han et al. 2015, https://arxiv.org/abs/1506.02626): rounds of
/// "cut a fraction of what remains, then fine-tune", until a stop condition holds.
public struct IterativePlan {
    /// What to cut each round (its threshold is replaced by the round's sparsity).
    public var plan: PruningPlan
    /// The fraction of the remaining weights cut in each round (so after r rounds the
    /// sparsity is `1 − (1 − p)^r`).
    public var fractionPerRound: Double
    /// Stop once this sparsity is reached (the last round cuts exactly to it).
    public var targetSparsity: Double
    /// Stop after this many rounds.
    public var maximumRounds: Int
    /// Stop, and roll back the round, when validation accuracy falls more than this
    /// below the accuracy before the first round (nil: no budget).
    public var accuracyBudget: Float?
    /// Fine-tuning after each cut.
    public var fineTune: TrainingOptions
    /// Lottery-ticket rewinding: after each cut, reset every parameter to this snapshot
    /// (keeping the masks) before training again (nil: fine-tune from where the cut left).
    public var rewind: WeightSnapshot?

    /// Creates a plan.
    /// - Throws: `PruningError` for a fraction or target outside (0, 1], fewer than one
    ///   round, or a negative budget.
    public init(plan: PruningPlan, fractionPerRound: Double, targetSparsity: Double, maximumRounds: Int = 100,
                accuracyBudget: Float? = nil, fineTune: TrainingOptions, rewind: WeightSnapshot? = nil) throws {
        guard fractionPerRound > 0, fractionPerRound <= 1 else {
            throw PruningError("iterative fraction per round must be in (0, 1], got \(fractionPerRound)")
        }
        guard targetSparsity > 0, targetSparsity <= 1 else {
            throw PruningError("iterative target sparsity must be in (0, 1], got \(targetSparsity)")
        }
        guard maximumRounds >= 1 else { throw PruningError("iterative maximum rounds must be at least 1, got \(maximumRounds)") }
        if case .nOfM = plan.granularity {
            throw PruningError("iterative pruning needs a sparsity to grow; N:M granularity fixes it (use one-shot)")
        }
        if let accuracyBudget, !(accuracyBudget >= 0) {
            throw PruningError("accuracy budget must be ≥ 0, got \(accuracyBudget)")
        }
        self.plan = plan; self.fractionPerRound = fractionPerRound; self.targetSparsity = targetSparsity
        self.maximumRounds = maximumRounds; self.accuracyBudget = accuracyBudget; self.fineTune = fineTune
        self.rewind = rewind
    }
}

/// What one round did.
public struct RoundReport: Sendable {
    /// 1-based round.
    public var round: Int
    /// The sparsity the round cut to, and what it reached.
    public var target: Double, sparsity: Double
    /// Validation accuracy right after the cut and after fine-tuning.
    public var accuracyAfterCut: Float, accuracyAfterFineTune: Float
    /// Whether the round broke the accuracy budget and was undone.
    public var rolledBack: Bool
    /// Seconds spent scoring, selecting and masking, and seconds spent (re)training.
    public var pruningSeconds: Double, trainingSeconds: Double
}

/// Why iterative pruning stopped.
public enum StopReason: String, Sendable {
    case targetReached = "target sparsity reached"
    case maximumRounds = "maximum rounds"
    case accuracyBudget = "accuracy budget exceeded (last round rolled back)"
}

/// Runs iterative pruning on `trainer`'s model, fine-tuning on `data` and judging on
/// `validation`. Returns one report per round and why it stopped; a round that breaks
/// the accuracy budget is rolled back (values and masks restored) before returning.
/// - Throws: `PruningError` or `TrainingError` from the rounds.
public func pruneIteratively(_ trainer: Trainer, data: Dataset, validation: Dataset,
                             plan: IterativePlan) throws -> (rounds: [RoundReport], stop: StopReason) {
    let model = trainer.model
    let baseline = trainer.evaluate(validation).accuracy
    // Sparsity already present counts: each round cuts a fraction of what remains.
    let selected = try Pruner.selectParameters(plan.plan, in: model)
    let start = 1 - Double(selected.reduce(0) { $0 + $1.parameter.value.nonZeroCount() })
        / Double(max(selected.reduce(0) { $0 + $1.parameter.count }, 1))
    var reports: [RoundReport] = []
    for round in 1...plan.maximumRounds {
        var target = 1 - (1 - start) * Double.pow(1 - plan.fractionPerRound, round)
        if target >= plan.targetSparsity - 1e-9 { target = plan.targetSparsity }
        let saved = model.parameters.map { ($0.parameter.value, $0.parameter.mask) }
        var step = plan.plan
        step.threshold = .sparsity(target)
        let result = try Pruner.prune(model, with: step)
        let afterCut = trainer.evaluate(validation).accuracy
        if let rewind = plan.rewind {
            try rewind.rewind(model)
            trainer.optimizer.reset()
        }
        let training = try trainer.fit(data, options: plan.fineTune).reduce(0) { $0 + $1.seconds }
        let afterTune = trainer.evaluate(validation).accuracy
        if let budget = plan.accuracyBudget, afterTune < baseline - budget {
            for ((_, p), (value, mask)) in zip(model.parameters, saved) {
                p.mask = nil
                p.value = value
                p.mask = mask
            }
            trainer.optimizer.reset()
            reports.append(RoundReport(round: round, target: target, sparsity: result.sparsity,
                                       accuracyAfterCut: afterCut, accuracyAfterFineTune: afterTune, rolledBack: true,
                                       pruningSeconds: result.seconds, trainingSeconds: training))
            return (reports, .accuracyBudget)
        }
        reports.append(RoundReport(round: round, target: target, sparsity: result.sparsity,
                                   accuracyAfterCut: afterCut, accuracyAfterFineTune: afterTune, rolledBack: false,
                                   pruningSeconds: result.seconds, trainingSeconds: training))
        if target >= plan.targetSparsity { return (reports, .targetReached) }
    }
    return (reports, .maximumRounds)
}
