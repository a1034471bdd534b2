import NeuralNetwork
import RealModule

/// Iterative pruning (Han et al. 2015, https://arxiv.org/abs/1506.02626): rounds of
/// "cut a fraction of what remains, then recover", until the target sparsity, the round
/// limit or the accuracy budget stops them. With `.rewind` recovery each round resets the
/// survivors to an early snapshot and retrains: lottery-ticket rewinding (Frankle &
/// Carbin 2019, https://arxiv.org/abs/1803.03635; Frankle et al. 2020,
/// https://arxiv.org/abs/1912.05671).
public struct IterativeSchedule: PruningSchedule {
    public var name: String { rewindStep == nil ? "iterative" : "lottery-ticket" }
    /// The fraction of the remaining weights cut in each round: after r rounds the
    /// sparsity is `1 − (1 − s₀)(1 − p)^r`, and the last round cuts exactly to the target.
    public var fractionPerRound: Double
    /// Stop after this many rounds.
    public var maximumRounds: Int
    /// How each round recovers.
    public var recovery: RoundRecovery
    /// See `PruningSchedule.accuracyBudget`.
    public var accuracyBudget: Float?
    /// The sparsity of the first round (nil: `fractionPerRound` from the start, like the
    /// others). Later rounds cut `fractionPerRound` of what remains after it: one large cut
    /// to where the model is known to cope (an automatic threshold's find), then small
    /// steps beyond it while the budget holds.
    public var firstSparsity: Double?

    /// Creates the schedule.
    /// - Throws: `PruningError` for a fraction outside (0, 1], fewer than one round, or a
    ///   negative budget.
    public init(fractionPerRound: Double, maximumRounds: Int = Recipe.Defaults.iterativeRounds,
                recovery: RoundRecovery = .fineTune(epochs: Recipe.Defaults.iterativeFineTuneEpochs),
                accuracyBudget: Float? = nil) throws {
        guard fractionPerRound > 0, fractionPerRound <= 1 else {
            throw PruningError.field("schedule.iterative.fraction", "must be in (0, 1], got \(fractionPerRound)")
        }
        guard maximumRounds >= 1 else { throw PruningError.field("schedule.iterative.rounds", "must be at least 1, got \(maximumRounds)") }
        if let accuracyBudget, !(accuracyBudget >= 0) {
            throw PruningError.field("schedule.iterative.accuracy_budget", "must be ≥ 0, got \(accuracyBudget)")
        }
        self.fractionPerRound = fractionPerRound; self.maximumRounds = maximumRounds
        self.recovery = recovery; self.accuracyBudget = accuracyBudget
    }

    /// The sparsity round `round` cuts to, from `start` toward `target`.
    public func sparsity(ofRound round: Int, from start: Double, toward target: Double) -> Double {
        let s = if let first = firstSparsity.map({ max($0, start) }) {
            1 - (1 - first) * Double.pow(1 - fractionPerRound, round - 1)
        } else {
            1 - (1 - start) * Double.pow(1 - fractionPerRound, round)
        }
        return s >= target - 1e-9 ? target : s
    }

    public func round(_ round: Int, from sparsity: Double, toward target: Threshold) -> Threshold? {
        guard case let .sparsity(final) = target, round <= maximumRounds,
              round == 1 || self.sparsity(ofRound: round - 1, from: sparsity, toward: final) < final else { return nil }
        return .sparsity(self.sparsity(ofRound: round, from: sparsity, toward: final))
    }
}
