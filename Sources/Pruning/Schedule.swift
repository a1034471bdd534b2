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
            throw PruningError("schedule sparsities must be in [0, 1], got initial \(initial) and final \(final)")
        }
        guard startStep >= 0, endStep >= startStep else {
            throw PruningError("schedule end (step \(endStep)) must not come before its start (step \(startStep))")
        }
        guard every >= 1 else { throw PruningError("schedule frequency must be at least 1 step, got \(every)") }
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

/// Prunes during training: after each optimizer step on which the schedule cuts, the
/// model is pruned with `plan` to the schedule's sparsity. Masks keep earlier cuts, so
/// sparsity only grows.
public final class GradualPruning: TrainingCallback {
    /// What to cut (its threshold is replaced by the schedule's sparsity).
    public let plan: PruningPlan
    /// When and how much.
    public let schedule: GradualSchedule
    /// One entry per cut: the step, the target and the sparsity reached.
    public private(set) var history: [(step: Int, target: Double, sparsity: Double)] = []
    /// Seconds spent pruning (scoring, selecting, masking) so far.
    public private(set) var seconds = 0.0

    /// Creates the callback.
    public init(plan: PruningPlan, schedule: GradualSchedule) {
        self.plan = plan
        self.schedule = schedule
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        guard schedule.cuts(atStep: report.step) else { return }
        var step = plan
        let target = schedule.sparsity(atStep: report.step)
        step.threshold = .sparsity(target)
        let result = try Pruner.prune(trainer.model, with: step)
        seconds += result.seconds
        history.append((report.step, target, result.sparsity))
    }
}

/// The constant schedule: one cut with `plan` (any threshold) after step `step`; the
/// masks then hold the sparsity for the rest of training.
public final class ConstantPruning: TrainingCallback {
    /// What to cut.
    public let plan: PruningPlan
    /// The 0-based step after which the cut happens.
    public let step: Int
    /// The cut's result, once made.
    public private(set) var result: PruningResult?

    /// Creates the callback.
    public init(plan: PruningPlan, afterStep step: Int) {
        self.plan = plan
        self.step = step
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        guard result == nil, report.step == step else { return }
        result = try Pruner.prune(trainer.model, with: plan)
    }
}
