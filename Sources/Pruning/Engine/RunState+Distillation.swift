import NeuralNetwork

extension PruningRun {
    /// The teacher of the plan's distilling phases: `teacher`, or a copy of `model` as it
    /// stands; nil when the plan does not distil.
    /// - Throws: `PruningError` naming the distill field when the teacher does not fit the
    ///   model (other inputs or another number of outputs) or the model ends with a softmax.
    func distillationTeacher(for model: Graph) throws -> Graph? {
        let sections = recipe.distillSections
        guard let first = sections.first?.field else { return nil }
        let field = (sections.first { $0.distill.teacher != nil }?.field ?? first) + ".teacher"
        guard model.outputKind == .logits || sections.allSatisfy({ $0.distill.distillation.match == .tokens }) else {
            throw PruningError.field(first, "compares logits, but the model ends with a softmax; remove it (cross-entropy on logits is the same objective)")
        }
        let teacher = try self.teacher ?? model.copy()
        let named = recipe.distillTeacher.map { "(\($0)) " } ?? ""
        guard teacher.inputShape == model.inputShape else {
            throw PruningError.field(field, "\(named)takes samples of \(teacher.inputShape), the model \(model.inputShape)")
        }
        guard teacher.outputShape == model.outputShape else {
            throw PruningError.field(field, "\(named)gives \(teacher.outputShape.product) outputs per sample, the model \(model.outputShape.product): a teacher must answer the same classes")
        }
        return teacher
    }
}

extension RunState {
    /// The training split a phase with `options` trains on: with distillation, carrying the
    /// teacher's logits (computed once, on the first distilling phase, counted as evaluation).
    /// A teacher whose outputs are not a flat vector per sample (a language model's logits at
    /// every position) would not fit in memory for every sample, nor would an encoder's state
    /// at every token (distillation by tokens): it becomes `trainer`'s `teacher` instead, run
    /// on each step's batch (its time counts as training).
    func trainingData(for options: TrainingOptions, trainer: Trainer) throws -> Dataset {
        guard options.distillation != nil, let teacher else { return data.training }
        if teacher.outputShape.count > 1 || options.distillation?.match == .tokens {
            trainer.teacher = teacher
            return data.training
        }
        if let distilledTraining { return distilledTraining }
        let clock = ContinuousClock()
        let start = clock.now
        defer { timing.evaluation += (clock.now - start).seconds }
        let distilled = try data.training.withTeacherLogits(of: teacher)
        distilledTraining = distilled
        return distilled
    }
}
