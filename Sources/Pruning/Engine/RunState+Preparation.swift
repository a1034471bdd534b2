import NeuralNetwork

extension RunState {
    /// The preparation before the first cut after training, when the plan (or the search's
    /// choice) has one and the schedule cuts after training.
    func prepare() throws {
        guard let preparation, let plan, schedule.round(1, from: 0, toward: plan.threshold) != nil else { return }
        if schedule.accuracyBudget != nil, let validation = data.validation { unprepared = evaluate(validation) }
        for o in observers { o.run(willBegin: .preparation(epochs: preparation.epochs)) }
        try prepare(preparation, feeding: plan.criterion, callbacks: progress)
        _ = judge("after \(preparation.epochs) preparation epochs")
    }

    /// Trains `preparation.epochs` with the `fine_tune` settings and the preparation's
    /// regularizer, feeding `criterion` when it accumulates during training (movement, whose
    /// sums start afresh here: the ranking is what the preparation moved). Probes and the
    /// run's own preparation go through here alike, so a plan with the search's choice
    /// written in prepares the same way, with or without a train section before.
    func prepare(_ preparation: Recipe.Prepare, feeding criterion: Criterion, callbacks: [TrainingCallback] = []) throws {
        try (criterion as? TrainingCriterion)?.restore(accumulated: [:])
        let start = ContinuousClock.now
        defer { timing.training += (ContinuousClock.now - start).seconds }
        let trainer = Trainer(model: model, optimizer: recipe.fineTuneOptimizer())
        var options = recipe.fineTuneOptions(epochs: preparation.epochs, workers: workers)
        options.seed = recipe.resolvedSeed &+ 2   // its own shuffling, apart from training's and fine-tuning's
        let regularizers = try preparation.regularizer?.regularizers() ?? []
        trainer.callbacks = [criterion as? TrainingCriterion].compactMap { $0 } + (regularizers.isEmpty ? [] : [Regularization(regularizers)]) + callbacks
        do {
            _ = try trainer.fit(try trainingData(for: options, trainer: trainer), options: options)
        } catch let error as TrainingError where error.isDivergence {
            throw RunError.diverged(phase: .preparation(epochs: preparation.epochs), cause: error, history: history)
        }
    }
}
