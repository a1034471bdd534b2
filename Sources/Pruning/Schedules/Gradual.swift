import NeuralNetwork
import TensorCore

/// Gradual pruning (AGP, Zhu & Gupta 2017, https://arxiv.org/abs/1710.01878): the target
/// sparsity rises from `initial` to `final` along a cubic ramp between `startStep` and
/// `endStep`, with a cut every `every` steps:
///
///     s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(t₁ − t₀))³,  t₀ ≤ t ≤ t₁
///
/// It cuts fast while many redundant weights remain and slowly near the target.
public struct GradualSchedule: Equatable, Sendable {
    /// Sparsity at the first cut (s_i).
    public var initial: Double
    /// Sparsity at the last cut and after (s_f).
    public var final: Double
    /// The step of the first cut (t₀, 0-based optimizer steps).
    public var startStep: Int
    /// The step of the last cut (t₁).
    public var endStep: Int
    /// Steps between cuts (Δt).
    public var every: Int

    /// Creates a schedule.
    /// - Throws: `PruningError` when a sparsity is outside [0, 1], the end is before the
    ///   start, or the frequency is not positive.
    public init(initial: Double = 0, final: Double, startStep: Int, endStep: Int, every: Int) throws {
        guard (0...1).contains(initial), (0...1).contains(final) else {
            throw PruningError.field("schedule.agp", "sparsities must be in [0, 1], got initial \(initial) and final \(final)")
        }
        guard startStep >= 0, endStep >= startStep else {
            throw PruningError.field("schedule.agp", "end (step \(endStep)) must not come before its start (step \(startStep))")
        }
        guard every >= 1 else { throw PruningError.field("schedule.agp", "frequency must be at least 1 step, got \(every)") }
        self.initial = initial; self.final = final; self.startStep = startStep; self.endStep = endStep; self.every = every
    }

    /// The target sparsity at step `t`: 0 before the start, s_i at the start (s_f when
    /// the ramp has no length), s_f from the end on.
    public func sparsity(atStep t: Int) -> Double {
        if t < startStep { return 0 }
        if t >= endStep { return final }
        if t == startStep { return initial }
        let progress = Double(t - startStep) / Double(endStep - startStep)
        let remaining = 1 - progress
        return final + (initial - final) * remaining * remaining * remaining
    }

    /// Whether a cut happens after step `t`: every `every` steps from the start, and at the end.
    public func cuts(atStep t: Int) -> Bool {
        t >= startStep && t <= endStep && ((t - startStep) % every == 0 || t == endStep)
    }
}

/// AGP in epochs: the cubic ramp of `GradualSchedule` from the end of `startEpoch` to the
/// end of `endEpoch` (0: from the first step), toward the plan's target sparsity, with a
/// cut every `every` steps or epochs.
public struct AGPSchedule: PruningSchedule {
    /// How often to cut along the ramp.
    public enum Frequency: Equatable, Sendable {
        case steps(Int)
        case epochs(Int)
    }
    public var name: String { "agp" }
    /// The epoch whose end starts the ramp (0: the first step).
    public var startEpoch: Int
    /// The epoch whose end finishes the ramp.
    public var endEpoch: Int
    /// Cuts along the ramp.
    public var every: Frequency
    /// The sparsity of the first cut.
    public var initialSparsity: Double

    /// Creates the schedule.
    public init(startEpoch: Int, endEpoch: Int, every: Frequency = .steps(Recipe.Defaults.agpEverySteps),
                initialSparsity: Double = 0) {
        self.startEpoch = startEpoch; self.endEpoch = endEpoch; self.every = every; self.initialSparsity = initialSparsity
    }

    /// The ramp over `timeline`'s steps toward `final`.
    /// - Throws: `PruningError` for an impossible ramp (see `GradualSchedule.init`).
    public func ramp(over timeline: TrainingTimeline, toward final: Double) throws -> GradualSchedule {
        let steps = switch every {
        case let .steps(n): n
        case let .epochs(n): n * timeline.stepsPerEpoch
        }
        return try GradualSchedule(initial: initialSparsity, final: final, startStep: timeline.lastStep(ofEpoch: startEpoch),
                                   endStep: timeline.lastStep(ofEpoch: endEpoch), every: steps)
    }

    public func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? {
        guard case let .sparsity(final) = target, let ramp = try? ramp(over: timeline, toward: final),
              ramp.cuts(atStep: step) else { return nil }
        return .sparsity(ramp.sparsity(atStep: step))
    }
}

/// A ramp in steps is a schedule too: it cuts to its own sparsities (its `final`, not
/// the plan's target) on its own steps.
extension GradualSchedule: PruningSchedule {
    public var name: String { "agp" }
    public func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? {
        cuts(atStep: step) ? .sparsity(sparsity(atStep: step)) : nil
    }
}
