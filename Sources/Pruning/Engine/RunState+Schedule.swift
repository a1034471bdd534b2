import NeuralNetwork
import TensorCore

extension RunState {
    /// `schedule: auto`, after training and any criterion or threshold search: one-shot and
    /// each round count tried at the target on the same short budget (`probe_epochs`: one-
    /// shot fine-tunes them all after its cut, k rounds recover `probe_epochs / k` each),
    /// every probe prepared as the run would be, cut on the model as it stands and measured
    /// on the validation split; the model is then put back, and the best schedule runs with
    /// the `fine_tune` epochs (k rounds recover `epochs / k` each, the rest fine-tunes after
    /// the last). Ties go to the fewer rounds.
    func selectSchedule() throws {
        guard let auto = recipe.prune?.schedule?.auto, let plan, case let .sparsity(target) = plan.threshold else { return }
        guard let validation = data.validation else {
            throw PruningError.field("prune.schedule.auto", "compares schedules on the validation split: set validation_split above 0")
        }
        let clock = ContinuousClock(), start = clock.now
        let snapshot = ModelSnapshot(model, criterion: plan.criterion)
        let baseline = evaluate(validation)
        let probeEpochs = auto.probeEpochs ?? Recipe.Defaults.autoScheduleProbeEpochs
        let choices = [ScheduleChoice(rounds: 0)] + (auto.rounds ?? Recipe.Defaults.autoScheduleRounds).map { ScheduleChoice(rounds: $0) }
        var report = history.search ?? SearchReport(
            baseline: baseline.accuracy, objective: plan.objective, split: .validation, probeEpochs: probeEpochs,
            strategy: Strategy(recipe.prune?.criterion ?? Recipe.Defaults.criterion, plan.allocation ?? (plan.scope == .global ? .global : .uniform),
                               granularity: plan.granularity.isStructured ? plan.granularity : nil),
            sparsity: target)
        let total = report.probes.count + choices.count

        for choice in choices {
            let begun = clock.now
            snapshot.restore(model)
            if let preparation {
                try prepare(preparation, feeding: plan.criterion)
                report.epochs += preparation.epochs
            }
            let spec = choice.spec(toward: target, epochs: probeEpochs)
            let schedule = try recipe.pruningSchedule(spec.schedule)
            var measured = plan
            try measureAllocationInputs(&measured)
            let from = try Pruner.objectiveShare(of: measured, in: model)
            var round = 0
            while let threshold = schedule.round(round + 1, from: from, toward: plan.threshold) {
                round += 1
                var cut = plan
                cut.threshold = threshold
                if let sample = cut.criterion as? SampleCriterion { cut.criterion = try sample.prepared(for: model, on: data.training) }
                try measureAllocationInputs(&cut)
                try Pruner.prune(model, with: cut)
                if case let .fineTune(epochs) = schedule.recovery { try probeFineTune(epochs: epochs, feeding: plan.criterion) }
            }
            try probeFineTune(epochs: spec.finalEpochs, feeding: plan.criterion)
            report.epochs += probeEpochs
            let e = evaluate(validation)
            let probe = SearchReport.Probe(stage: "schedule", strategy: report.strategy, target: target,
                                           sparsity: Pruner.sparsity(of: try Pruner.selectParameters(plan, in: model)),
                                           objective: report.sharedObjective, accuracy: e.accuracy, loss: e.loss, kept: nil,
                                           seconds: (clock.now - begun).seconds, schedule: choice)
            report.probes.append(probe)
            report.schedules.append(probe)
            for o in observers { o.run(didProbe: probe, of: total) }
        }
        snapshot.restore(model)
        // Best first; among equals, the earlier (fewer rounds).
        report.schedules = report.schedules.enumerated().sorted { ($1.element.accuracy, $0.offset) < ($0.element.accuracy, $1.offset) }.map(\.element)
        let chosen = report.schedules[0].schedule!
        report.schedule = chosen
        report.scheduleEpochs = probeEpochs
        let (spec, finalEpochs) = chosen.spec(toward: target, epochs: fineTuneEpochs)
        schedule = try recipe.pruningSchedule(spec)
        fineTuneEpochs = finalEpochs
        report.seconds += (clock.now - start).seconds
        history.search = report
    }

    /// A probe's fine-tuning: the `fine_tune` settings, distilled like the run's, feeding
    /// `criterion` when it accumulates during training (as the run's recoveries do), no observers.
    func probeFineTune(epochs: Int, feeding criterion: Criterion? = nil) throws {
        guard epochs > 0 else { return }
        let trainer = Trainer(model: model, optimizer: recipe.fineTuneOptimizer())
        trainer.callbacks = [criterion as? TrainingCriterion].compactMap { $0 }
        let options = recipe.fineTuneOptions(epochs: epochs, workers: workers)
        _ = try trainer.fit(try trainingData(for: options, trainer: trainer), options: options)
    }
}
