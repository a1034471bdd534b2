import NeuralNetwork
import TensorCore

extension RunState {
    /// The plan's searches, after training and before the cut: the automatic threshold
    /// (`AccuracyBudgetSearch` with the default strategy) and the strategy selection
    /// (`criterion: auto`: every `Strategy.candidates` entry at the target), then the
    /// threshold search continued with the chosen strategy. Every probe takes the model as it
    /// stands after training, prepares it when the strategy (or the plan) says so, cuts it,
    /// fine-tunes it `probe_epochs` with the `fine_tune` settings and measures it on the
    /// validation split; the model is then put back, and the plan fixed
    /// to what was chosen, for the one-shot cut and the fine-tuning that follow. An
    /// iterative schedule's first round cuts to the sparsity found, and its later rounds go
    /// on toward `highest` while the budget holds (judged after their full recovery).
    func search() throws {
        guard let p = recipe.prune, p.criterion == .auto || p.threshold.auto != nil, let plan else { return }
        guard let validation = data.validation else {
            throw PruningError.field(p.threshold.auto != nil ? "prune.threshold.auto" : "prune.criterion",
                                     "searches on the validation split: set validation_split above 0")
        }
        let clock = ContinuousClock(), start = clock.now
        let auto = p.threshold.auto
        let snapshot = ModelSnapshot(model, criterion: plan.criterion)
        let baseline = evaluate(validation)
        let probeEpochs = auto?.probeEpochs ?? Recipe.Defaults.autoProbeEpochs
        let selecting = p.criterion == .auto
        // Selecting: the threshold search runs with the first candidate, which the ranking then reuses.
        let fallback = selecting ? Strategy.candidates[0]
            : Strategy(p.criterion ?? Recipe.Defaults.criterion, p.allocation ?? (plan.scope == .global ? .global : .uniform))
        // Whole units only where the model has groups of that kind.
        let groups = Dependencies.groups(model)
        let candidates = selecting ? Strategy.candidates(for: plan.objective).filter { s in
            s.granularity.map { g in groups.contains { StructuredPlan(threshold: .sparsity(0), parameters: plan.parameters, excluding: plan.excluding, unit: g).selects($0, in: model) } } ?? true
        } : [fallback]
        let total = Recipe.searchProbes(thresholdProbes: auto.map { $0.probes ?? Recipe.Defaults.autoProbes }, selecting: selecting,
                                        objective: plan.objective)
        var report = SearchReport(baseline: baseline.accuracy, objective: plan.objective, maximumDrop: auto.map { Float($0.maxAccuracyDrop) }, split: .validation,
                                  probeEpochs: probeEpochs, strategy: fallback, sparsity: p.threshold.sparsity ?? 0)

        func probe(_ strategy: Strategy, _ sparsity: Double, stage: String) throws -> SearchReport.Probe {
            let begun = clock.now
            snapshot.restore(model)
            var candidate = try fixedPlan(plan, strategy, sparsity: sparsity, selecting: selecting)
            if let preparation = selecting ? strategy.preparation(epochs: report.preparationEpochs) : preparation {
                try prepare(preparation, feeding: candidate.criterion)
                report.epochs += preparation.epochs
            }
            // What the cut reads, taken from the model as the cut finds it (after any preparation), as `cut()` does.
            if let sample = candidate.criterion as? SampleCriterion { candidate.criterion = try sample.prepared(for: model, on: data.training) }
            try measureAllocationInputs(&candidate)
            try Pruner.prune(model, with: candidate)
            try probeFineTune(epochs: probeEpochs)
            let e = evaluate(validation)
            let kept = report.maximumDrop.map { e.accuracy >= baseline.accuracy - $0 }
            let result = SearchReport.Probe(stage: stage, strategy: strategy, target: sparsity, sparsity: Pruner.sparsity(of: candidate, in: model) ?? sparsity,
                                            objective: report.sharedObjective, accuracy: e.accuracy, loss: e.loss, kept: kept,
                                            seconds: (clock.now - begun).seconds)
            report.probes.append(result)
            report.epochs += probeEpochs
            for o in observers { o.run(didProbe: result, of: total) }
            return result
        }

        // Under latency, past what the CSR forms save at their best there is nothing to search.
        var reach = try fixedPlan(plan, fallback, sparsity: 0, selecting: selecting)
        if reach.objective == .latency { reach.latency = try latency ?? measureLatency(reach); latency = reach.latency }
        let highest = try min(auto?.highest ?? Recipe.Defaults.autoHighest, Pruner.reachableShare(of: reach, in: model))
        if auto != nil, highest <= 0 {
            throw PruningError.field("prune.objective", "is latency, but no selected layer runs faster as CSR at any sparsity on this machine, so no weight cut saves time; use flops, or cut neurons or filters")
        }
        if auto != nil { report.highest = highest }
        var broke: Double?
        if let auto {
            let search = AccuracyBudgetSearch(maximumDrop: Float(auto.maxAccuracyDrop), highest: highest,
                                              probes: auto.probes ?? Recipe.Defaults.autoProbes)
            let found = try search.run(baseline: baseline.accuracy) { try probe(fallback, Self.written($0), stage: "threshold").accuracy }
            report.sparsity = Self.written(found.sparsity)
            broke = found.broke
        }
        if selecting, report.sparsity > 0 {
            let target = report.sparsity
            var tried = report.probes.filter { $0.strategy == fallback && $0.target == target }
            for strategy in candidates where !tried.contains(where: { $0.strategy == strategy }) {
                tried.append(try probe(strategy, target, stage: "strategy"))
            }
            report.ranking = tried.enumerated().sorted { ($1.element.accuracy, $0.offset) < ($0.element.accuracy, $1.offset) }.map(\.element)
            report.strategy = report.ranking[0].strategy
            if let auto, let broke, report.strategy != fallback {
                let refine = AccuracyBudgetSearch(maximumDrop: Float(auto.maxAccuracyDrop), lowest: target, highest: highest,
                                                  probes: Recipe.Defaults.autoRefineProbes)
                let chosen = report.strategy
                report.sparsity = Self.written(try refine.run(baseline: baseline.accuracy, broke: broke) {
                    try probe(chosen, Self.written($0), stage: "refine").accuracy
                }.sparsity)
            }
            // Whole units are not held back by what the CSR forms can save: iterative rounds may go on to `highest`.
            if let auto, report.strategy.granularity != nil { report.highest = auto.highest ?? Recipe.Defaults.autoHighest }
        }
        snapshot.restore(model)
        // Unprepared: data-driven criteria are prepared afresh before each cut, as in a run of the fixed plan.
        self.plan = try fixedPlan(plan, report.strategy, sparsity: report.sparsity, selecting: selecting)
        if selecting { preparation = report.strategy.preparation(epochs: report.preparationEpochs) }
        if var rounds = schedule as? IterativeSchedule, auto != nil {
            // The rounds start with the cut found and go on past it while the budget holds.
            rounds.firstSparsity = report.sparsity > 0 ? report.sparsity : nil   // nothing kept: plain rounds
            schedule = rounds
            self.plan?.threshold = .sparsity(report.highest ?? highest)
        }
        report.seconds = (clock.now - start).seconds
        history.search = report
    }

    /// A found sparsity as a recipe writes it: rounded down to 1e-6 (YAML keeps 15 digits),
    /// so the run and a run of the fixed plan cut the same count. Rounding down keeps it within
    /// what was probed.
    static func written(_ sparsity: Double) -> Double { (sparsity * 1e6).rounded(.down) / 1e6 }

    /// `plan` at `sparsity` with `strategy`'s allocation (or whole units) and, when
    /// `selecting`, its criterion (made as the recipe makes criteria; otherwise the plan's
    /// own, e.g. movement with what training accumulated). A data-driven criterion and the
    /// allocation's inputs are left for the cut to prepare and measure, as `cut()` does.
    func fixedPlan(_ plan: PruningPlan, _ strategy: Strategy, sparsity: Double, selecting: Bool) throws -> PruningPlan {
        var fixed = plan
        if selecting { fixed.criterion = strategy.criterion.criterion(seed: recipe.resolvedSeed, parameters: plan.parameters) }
        if let g = strategy.granularity {
            (fixed.granularity, fixed.scope, fixed.allocation) = (g, .layer, nil)
        } else {
            fixed.allocation = strategy.allocation
        }
        fixed.threshold = .sparsity(sparsity)
        return fixed
    }

    /// What the plan's allocation and objective read, measured once per run and kept: a
    /// sensitivity allocation's curves, the latency objective's layer timings
    /// (`PruningRun.sensitivity`, `.latency` when given).
    func measureAllocationInputs(_ plan: inout PruningPlan) throws {
        if plan.allocation == .sensitivity, plan.sensitivity == nil {
            plan.sensitivity = try curves ?? measureSensitivity(plan)
            curves = plan.sensitivity
        }
        if plan.objective == .latency, plan.latency == nil {
            plan.latency = try latency ?? measureLatency(plan)
            latency = plan.latency
        }
    }

    /// The batch-1 timings of the layers of `plan`'s tensors on this machine, dense and CSR at
    /// `SensitivityAnalysis.defaultLevels`.
    func measureLatency(_ plan: PruningPlan) throws -> LatencyProfile {
        let start = ContinuousClock.now
        defer { timing.evaluation += (ContinuousClock.now - start).seconds }
        let layers = try Pruner.selectParameters(plan, in: model).map { Objective.layer(of: $0.path) }
        return LatencyProfile(measuring: model, layers: layers, levels: SensitivityAnalysis.defaultLevels)
    }

    /// The curves of `plan`'s tensors, each pruned alone with the plan's criterion, measured
    /// on the validation split (without one, on up to 5,000 training samples: never the test split).
    func measureSensitivity(_ plan: PruningPlan) throws -> SensitivityAnalysis {
        let (set, split): (Dataset, DataSplit) = data.validation.map { ($0, .validation) }
            ?? (data.training.subset(Array(0..<min(5000, data.training.count))), .training)
        let start = ContinuousClock.now
        defer { timing.evaluation += (ContinuousClock.now - start).seconds }
        var criterion = plan.criterion
        if let sample = criterion as? SampleCriterion { criterion = try sample.prepared(for: model, on: data.training) }
        return try SensitivityAnalysis(model, criterion: criterion, levels: SensitivityAnalysis.defaultLevels,
                                       parameters: plan.parameters, on: set, split: split)
    }
}
