import NeuralNetwork
import TensorCore

/// The one pruning engine: carries out a plan on a model and its data. It trains,
/// cuts on the plan's schedule (preparing data-driven criteria first), recovers,
/// checks the accuracy budget on the validation split, fine-tunes, and records every
/// cut and figure. Every entry point (`prune prune`, `prune train --prune-to`,
/// `prune run`) builds a `Recipe` and calls this; nothing else runs a pruning loop.
///
/// ```swift
/// let recipe = try Recipe(yaml: text, source: "recipe.yaml")
/// let run = try PruningRun(recipe)
/// let report = try run.run(model, data: try recipe.splits(training: train, test: test))
/// ```
public final class PruningRun {
    /// The plan.
    public let recipe: Recipe
    /// A criterion of the caller's that replaces the plan's (nil: the plan's, made afresh
    /// for every run, so that a criterion accumulating during training starts at zero).
    public let criterion: Criterion?
    /// The schedule (the plan's, or a custom one given at creation).
    public let schedule: PruningSchedule
    /// Data-parallel workers for every training phase (see `TrainingOptions.workers`).
    public var workers = 1
    /// Receive phases, cuts and figures; observers that are `TrainingCallback`s also see
    /// every training step.
    public var observers: [RunObserver] = []
    /// Sensitivity curves for `allocation: sensitivity` (nil: the run measures them on the
    /// validation split at its first cut, with the plan's criterion).
    public var sensitivity: SensitivityAnalysis?
    /// Layer timings for `objective: latency` (nil: the run measures them on this machine at
    /// its first cut, batch 1, at `SensitivityAnalysis.defaultLevels`).
    public var latency: LatencyProfile?
    /// The teacher of the plan's distillation (`train.distill`, `fine_tune.distill`), e.g.
    /// the model file `distill.teacher` names, loaded by the caller. Nil: a copy of the
    /// model as the run starts, before any cut.
    public var teacher: Graph?

    /// Checks `recipe` and prepares a run of it.
    /// - Parameters:
    ///   - criterion: replaces the plan's criterion (a criterion of your own).
    ///   - schedule: replaces the plan's schedule (a schedule of your own).
    /// - Throws: `PruningError.invalidFields` listing every problem of the plan.
    public init(_ recipe: Recipe, criterion: Criterion? = nil, schedule: PruningSchedule? = nil) throws {
        let problems = recipe.problems()
        guard problems.isEmpty else { throw problems.count == 1 ? problems[0] : PruningError.invalidFields(problems) }
        self.recipe = recipe
        self.criterion = criterion
        self.schedule = try schedule ?? recipe.pruningSchedule()
    }

    /// Runs the plan on `model` (changed in place) with `data`.
    ///
    /// With a `checkpoint` section in the plan, observers receive a `RunCheckpoint` every
    /// `every_steps` training steps, after training and every `every_rounds` rounds.
    /// - Parameter checkpoint: continue an interrupted run of the same plan from this
    ///   checkpoint (`model` must have the same architecture; its values are replaced): the
    ///   result is the one the uninterrupted run gives.
    /// - Returns: the history, timing, training epochs and the final test figures.
    /// - Throws: `TrainingError` when the data does not fit the model; `RunError.diverged`
    ///   when training diverges (the model is left as after the last good step);
    ///   `RunError.checkpointMismatch` for a checkpoint of another plan or model;
    ///   `PruningError` for a plan that does not fit the model (a pattern that matches
    ///   nothing, a per-layer path not selected, a rewind step past training).
    public func run(_ model: Graph, data: DataSplits, resumingFrom checkpoint: RunCheckpoint? = nil) throws -> RunReport {
        for d in [data.training, data.validation, data.test].compactMap({ $0 }) { try Trainer.check(d, fits: model) }
        var recipe = recipe
        recipe.sequenceData = data.training.labelsPerSample > 1
        recipe.regressionData = data.training.targetWidth > 0
        let state = RunState(recipe: recipe, model: model, data: data, observers: observers,
                             plan: recipe.pruningPlan(criterion: criterion), schedule: schedule, workers: workers)
        state.curves = sensitivity
        state.latency = latency
        state.teacher = try distillationTeacher(for: model)   // before a checkpoint replaces the starting model
        if let checkpoint { try state.restore(checkpoint) }
        return try state.run()
    }
}

/// One run's working state: the trainers, the report so far, and the steps of the loop.
final class RunState {
    let recipe: Recipe
    let model: Graph
    let data: DataSplits
    let observers: [RunObserver]
    /// The plan (fixed by `search()` when the recipe searches).
    var plan: PruningPlan?
    /// The schedule (an iterative one gets its first round from `search()`).
    var schedule: PruningSchedule
    let workers: Int
    var history: RunHistory
    var timing = RunTiming()
    var epochs: [EpochReport] = []
    var regularizedZeros: ZeroCount?
    /// A criterion accumulating during training (movement), fed by every trainer.
    var trainingCriterion: TrainingCriterion? { plan?.criterion as? TrainingCriterion }
    /// Training before the first cut after training (the plan's, or the search's choice).
    var preparation: Recipe.Prepare?
    /// The validation figures before the preparation, which a rounds' budget counts from.
    var unprepared: Evaluation?
    /// The final fine-tuning's epochs (`fine_tune.epochs`, less what the rounds of a
    /// schedule chosen by `schedule: auto` take).
    var fineTuneEpochs: Int
    let progress: [TrainingCallback]
    /// Takes (and then keeps) the lottery-ticket snapshot.
    var rewind: SnapshotAtStep?
    /// The rounds after training, while they run.
    var rounds: RoundsProgress?
    /// The values and masks the current round rolls back to when it breaks the budget.
    var rollback: [(value: Tensor, mask: Tensor?)] = []
    /// Training steps done over all phases.
    var stepsDone = 0
    /// Where a restored checkpoint stands, until the phase it is in takes it up.
    var resume: RunCheckpoint.Position?
    /// The optimizer state of a restored checkpoint, for the training phase it resumes.
    var resumeOptimizer: [String: Optimizer.ParameterState] = [:]
    /// The sensitivity curves a sensitivity allocation reads (measured at the first cut).
    var curves: SensitivityAnalysis?
    /// The layer timings the latency objective reads (measured at the first cut).
    var latency: LatencyProfile?
    /// The teacher of distilling phases (nil when the plan does not distil).
    var teacher: Graph?
    /// The training split with the teacher's logits, once a distilling phase needed it.
    var distilledTraining: Dataset?

    init(recipe: Recipe, model: Graph, data: DataSplits, observers: [RunObserver], plan: PruningPlan?,
         schedule: PruningSchedule, workers: Int) {
        self.recipe = recipe; self.model = model; self.data = data; self.observers = observers
        self.plan = plan; self.schedule = schedule; self.workers = workers
        history = RunHistory(plan: recipe.resolved())
        preparation = recipe.prune?.prepare
        fineTuneEpochs = recipe.fineTune?.epochs ?? 0
        progress = observers.compactMap { $0 as? TrainingCallback }
    }

    func run() throws -> RunReport {
        if resume == nil, recipe.train == nil { measure("as loaded", on: data.test, .test) }
        let trained = try train()
        if trained, recipe.checkpoint != nil { try checkpoint(at: .afterTraining) }
        try search()
        try selectSchedule()
        try prepare()
        try pruneInRounds()
        try fineTune()
        if let resume { throw RunError.checkpointMismatch("it stands in \(resume), which this run does not reach") }
        // Nothing changed the model after a test-split measurement of the trained model: reuse it.
        let unchanged = recipe.prune == nil && recipe.fineTune == nil
        let final: Evaluation
        if unchanged, let last = history.measurements.last, last.split == .test, last.stage == "after training" {
            final = Evaluation(accuracy: last.accuracy, loss: last.loss, samples: last.samples)
            record("final", final, .test)
        } else {
            final = measure("final", on: data.test, .test)
        }
        return RunReport(history: history, timing: timing, epochs: epochs, regularizedZeros: regularizedZeros, final: final)
    }

    // MARK: Training, with the schedule's cuts before and during it

    /// Trains per the `train` section (cutting before and during it as the schedule
    /// says), keeping the rewinding snapshot the schedule asks for in `rewind`.
    /// - Returns: whether it trained (false without a train section, or when a resumed
    ///   checkpoint is past training).
    func train() throws -> Bool {
        if let resume, !resume.isTraining { return false }
        if resume == nil, let plan, let threshold = schedule.cutBeforeTraining(toward: plan.threshold) {
            try cut(to: threshold, phase: .beforeTraining)
            judge("after the cut (before training)")
        }
        guard let options = recipe.trainingOptions(workers: workers) else {
            if schedule.rewindStep != nil { throw PruningError.field("prune.schedule.iterative.rewind_to_step", "needs a train section") }
            return false
        }
        let timeline = TrainingTimeline(epochs: options.epochs,
                                        stepsPerEpoch: (data.training.count + options.batchSize - 1) / options.batchSize)
        if let step = schedule.rewindStep, step > timeline.totalSteps {
            throw PruningError.field("prune.schedule.iterative.rewind_to_step",
                                     "is \(step), past the end of training (\(timeline.totalSteps) steps)")
        }
        let trainer = Trainer(model: model, optimizer: recipe.trainingOptimizer())
        let regularizers = try recipe.regularizers()
        let driver = plan.map { ScheduleDriver(plan: $0, schedule: schedule, timeline: timeline) }
        if rewind == nil { rewind = schedule.rewindStep.map { SnapshotAtStep(step: $0, model: model) } }
        driver?.state = self
        defer { driver?.state = nil }
        epochs = try fit(trainer, options, validation: data.validation, phase: .training(epochs: options.epochs),
                         callbacks: [trainingCriterion].compactMap { $0 } + (regularizers.isEmpty ? [] : [Regularization(regularizers)])
                            + [driver].compactMap { $0 } + progress + [rewind].compactMap { $0 },
                         at: { .training($0) })
        if !regularizers.isEmpty {
            var seen = Set<String>()
            let weights = regularizers.flatMap { $0.selected(in: model) }.filter { seen.insert($0.path).inserted }
            regularizedZeros = ZeroCount(zeros: weights.reduce(0) { $0 + $1.parameter.count - $1.parameter.value.nonZeroCount() },
                                         total: weights.reduce(0) { $0 + $1.parameter.count })
        }
        if let last = epochs.last?.validation {
            record("after training", last, .validation)   // the trainer measured it after the last epoch
        } else {
            judge("after training")
        }
        return true
    }

    // MARK: Rounds after training

    /// Asks the schedule for rounds after training: cut, recover, judge on the
    /// validation split, roll back a round that breaks the accuracy budget.
    func pruneInRounds() throws {
        if resume == .afterTraining { resume = nil }
        guard let plan, schedule.round(1, from: 0, toward: plan.threshold) != nil else { return }
        if case .fineTuning = resume { return }
        let budget = schedule.accuracyBudget
        if budget != nil, data.validation == nil {
            throw PruningError.field("prune.schedule.iterative.accuracy_budget", "is judged on the validation split: set validation_split above 0")
        }
        if rounds == nil {
            var measured = plan
            try measureAllocationInputs(&measured)
            let start = try Pruner.objectiveShare(of: measured, in: model)   // what the rounds' targets are shares of
            // The budget counts from the model as it stood before the preparation (if any) changed it.
            rounds = RoundsProgress(start: start, baseline: budget == nil ? nil : unprepared ?? evaluate(data.validation!), round: 0)
        }
        if resume == .rounds(recovery: nil) { resume = nil }
        defer { rounds = nil }
        while true {
            var r = rounds!
            if r.current == nil {
                guard let threshold = schedule.round(r.round + 1, from: r.start, toward: plan.threshold) else { break }
                r.round += 1
                rollback = budget == nil ? [] : model.parameters.map { ($0.parameter.value, $0.parameter.mask) }
                let record = try cut(to: threshold, phase: .round, round: r.round)
                let afterCut = judge(schedule.recovery == .none ? "after the cut" : "after round \(r.round)'s cut")
                r.current = RoundsProgress.CurrentRound(record: record, afterCut: afterCut)
                rounds = r
            }
            let round = r.round, afterCut = r.current!.afterCut
            var afterRecovery = afterCut
            switch schedule.recovery {
            case .none: break
            case let .fineTune(epochs):
                try fineTune(epochs: epochs, phase: .recovery(round: round, epochs: epochs))
                afterRecovery = judge("after round \(round)")
            case let .rewind(_, epochs):
                guard let snapshot = rewind?.snapshot else {
                    throw PruningError.field("prune.schedule.iterative.rewind_to_step", "was not reached during training")
                }
                if resume == nil { try snapshot.rewind(model) }   // a resumed recovery rewound before its checkpoint
                var options = recipe.trainingOptions(workers: workers)!
                options.epochs = epochs ?? options.epochs
                try retrain(options, phase: .recovery(round: round, epochs: options.epochs))
                afterRecovery = judge("after round \(round)")
            }
            let broke = budget.map { afterRecovery.accuracy < r.baseline!.accuracy - $0 } ?? false
            let record = r.current!.record
            history.rounds.append(RoundReport(round: round, target: record.targetSparsity, sparsity: record.sparsity,
                                              accuracyAfterCut: afterCut.accuracy, accuracyAfterRecovery: afterRecovery.accuracy,
                                              split: data.judging.split, rolledBack: broke))
            if broke {
                for ((_, p), (value, mask)) in zip(model.parameters, rollback) { p.restore(value: value, mask: mask) }
                history.stop = .accuracyBudget
                judge("after rolling back round \(round)")
                return
            }
            r.current = nil
            rounds = r
            rollback = []
            if let every = recipe.checkpoint.map({ $0.everyRounds ?? Recipe.Defaults.checkpointEveryRounds }), round % every == 0 {
                try checkpoint(at: .rounds(recovery: nil))
            }
        }
        let r = rounds!
        if r.round > 0 {
            let last = schedule.round(r.round, from: r.start, toward: plan.threshold)
            history.stop = last == plan.threshold ? .targetReached : .maximumRounds
        }
    }

    // MARK: Fine-tuning

    /// The plan's final fine-tuning, masks fixed.
    func fineTune() throws {
        guard fineTuneEpochs > 0 else { return }
        try fineTune(epochs: fineTuneEpochs, phase: .fineTuning(epochs: fineTuneEpochs))
        let steps = recipe.fineTuneOptions(epochs: fineTuneEpochs).maxSteps
        judge(steps.map { "after fine-tuning (\($0) steps at most)" } ?? "after \(fineTuneEpochs) fine-tuning epochs")
    }

    /// Fine-tunes with a fresh optimizer of the `fine_tune` settings.
    func fineTune(epochs: Int, phase: RunPhase) throws {
        guard epochs > 0 else { return }
        let trainer = Trainer(model: model, optimizer: recipe.fineTuneOptimizer())
        try fit(trainer, recipe.fineTuneOptions(epochs: epochs, workers: workers), phase: phase)
    }

    /// Retrains with a fresh optimizer of the `train` settings (lottery-ticket rounds).
    func retrain(_ options: TrainingOptions, phase: RunPhase) throws {
        try fit(Trainer(model: model, optimizer: recipe.trainingOptimizer()), options, phase: phase)
    }

    /// A recovery or fine-tuning phase: the training criterion and the observers listen.
    func fit(_ trainer: Trainer, _ options: TrainingOptions, phase: RunPhase) throws {
        let position: (TrainingProgress) -> RunCheckpoint.Position = if case .fineTuning = phase {
            { .fineTuning($0) }
        } else {
            { .rounds(recovery: $0) }
        }
        try fit(trainer, options, phase: phase, callbacks: [trainingCriterion].compactMap { $0 } + progress, at: position)
    }

    /// Runs one training phase with `callbacks` (and, when the plan checkpoints, a
    /// checkpointer after them), continuing a restored checkpoint's progress when it is
    /// in this phase.
    /// - Parameter position: where a checkpoint taken during this phase stands.
    @discardableResult
    func fit(_ trainer: Trainer, _ options: TrainingOptions, validation: Dataset? = nil, phase: RunPhase,
             callbacks: [TrainingCallback], at position: @escaping (TrainingProgress) -> RunCheckpoint.Position) throws -> [EpochReport] {
        var progress: TrainingProgress?
        if let resume {
            guard let p = resume.progress, resume.isIn(phase) else {
                throw RunError.checkpointMismatch("it stands in \(resume), which this run does not reach")
            }
            try trainer.optimizer.restore(resumeOptimizer, for: model.trainableParameters)
            progress = p
            self.resume = nil
            resumeOptimizer = [:]
        }
        trainer.callbacks = callbacks
        if let c = recipe.checkpoint {
            trainer.callbacks.append(Checkpointer(state: self, every: c.everySteps ?? Recipe.Defaults.checkpointEverySteps,
                                                  position: position))
        }
        for o in observers { o.run(willBegin: phase) }
        let reports: [EpochReport]
        do {
            reports = try trainer.fit(try trainingData(for: options, trainer: trainer), options: options, validation: validation, resumingFrom: progress)
        } catch let error as TrainingError where error.isDivergence {
            throw RunError.diverged(phase: phase, cause: error, history: history)
        }
        // Time before the checkpoint was counted in the restored timing.
        let earlier = progress.map { $0.reports.reduce($0.seconds) { $0 + $1.seconds } } ?? 0
        timing.training += reports.reduce(0) { $0 + $1.seconds } - earlier
        return reports
    }

    // MARK: Cutting and measuring

    /// Cuts to `threshold` with the plan, preparing a data-driven criterion on the
    /// training split first, and records the cut.
    @discardableResult
    func cut(to threshold: Threshold, phase: CutPhase, step: Int? = nil, round: Int? = nil) throws -> CutRecord {
        guard var plan = self.plan else { throw PruningError.field("prune", "is missing: the schedule asked for a cut") }
        for o in observers { o.run(willCut: phase, model: model) }
        let clock = ContinuousClock()
        let start = clock.now
        if let sample = plan.criterion as? SampleCriterion { plan.criterion = try sample.prepared(for: model, on: data.training) }
        try measureAllocationInputs(&plan)
        let prepared = (clock.now - start).seconds
        plan.threshold = threshold
        let result = try Pruner.prune(model, with: plan)
        timing.pruning += (clock.now - start).seconds
        timing.scoring += prepared + result.scoringSeconds
        var record = CutRecord(phase: phase, step: step, round: round, sparsity: result.sparsity, criterion: plan.criterion.name,
                               cutoff: result.cutoff)
        switch threshold {
        case let .sparsity(s): record.targetSparsity = s
        case let .value(v): record.thresholdValue = v
        case .perLayer: break
        }
        history.cuts.append(record)
        for o in observers { o.run(didCut: record) }
        return record
    }

    /// Measures the model on the judging split (validation, or test without one) and records it.
    @discardableResult
    func judge(_ stage: String) -> Evaluation {
        let (set, split) = data.judging
        return measure(stage, on: set, split)
    }

    @discardableResult
    func measure(_ stage: String, on set: Dataset, _ split: DataSplit) -> Evaluation {
        let e = evaluate(set)
        record(stage, e, split)
        return e
    }

    /// Records a figure already measured.
    func record(_ stage: String, _ e: Evaluation, _ split: DataSplit) {
        let m = Measurement(stage: stage, split: split, accuracy: e.accuracy, loss: e.loss, samples: e.samples,
                            sparsity: prunedSparsity())
        history.measurements.append(m)
        for o in observers { o.run(didMeasure: m) }
    }

    /// The sparsity of the parameters the plan prunes, or nil without a plan.
    func prunedSparsity() -> Double? { plan.flatMap { Pruner.sparsity(of: $0, in: model) } }

    func evaluate(_ set: Dataset) -> Evaluation {
        let clock = ContinuousClock()
        let start = clock.now
        defer { timing.evaluation += (clock.now - start).seconds }
        return Trainer.evaluate(model, on: set)
    }
}

/// Counts training steps and takes a checkpoint every `every` of them (the last callback
/// of a phase, so every other callback has done its part of the step).
final class Checkpointer: TrainingCallback {
    unowned let state: RunState
    let every: Int
    let position: (TrainingProgress) -> RunCheckpoint.Position

    init(state: RunState, every: Int, position: @escaping (TrainingProgress) -> RunCheckpoint.Position) {
        self.state = state; self.every = every; self.position = position
    }

    func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        state.stepsDone += 1
        guard state.stepsDone % every == 0, let progress = trainer.progress else { return }
        try state.checkpoint(at: position(progress), optimizer: trainer.optimizer)
    }
}

/// Asks the schedule after every training step and cuts when it says so.
final class ScheduleDriver: TrainingCallback {
    let plan: PruningPlan
    let schedule: PruningSchedule
    let timeline: TrainingTimeline
    /// The run's state while training (cuts are recorded into it); released after training.
    var state: RunState?

    init(plan: PruningPlan, schedule: PruningSchedule, timeline: TrainingTimeline) {
        self.plan = plan; self.schedule = schedule; self.timeline = timeline
    }

    func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        guard let threshold = schedule.cut(afterStep: report.step, of: timeline, toward: plan.threshold) else { return }
        try state!.cut(to: threshold, phase: .training, step: report.step)
    }
}
