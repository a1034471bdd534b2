import NeuralNetwork

/// How a plan's fields, with their defaults, become the objects a run uses. The only
/// place defaults are applied: every entry point goes through these.
extension Recipe {
    /// The seed in force.
    public var resolvedSeed: UInt64 { seed ?? Defaults.seed }

    /// The built-in architecture the plan names, or nil when `model` is a file path.
    public var architecture: Architecture? { Architecture(rawValue: model) }

    /// Where the plan's model comes from, as `model` says.
    public enum ModelSource: Equatable, Sendable {
        /// A built-in architecture, built fresh (`buildModel(sampleShape:classes:)`).
        case architecture(Architecture)
        /// An architecture file (a path ending in `.json`): the caller reads the `GraphSpec`
        /// (FileFormats' `ArchitectureFile`) and builds it with `buildModel(spec:)`.
        case architectureFile(String)
        /// A saved model file, loaded as it is.
        case modelFile(String)
    }

    /// Where the plan's model comes from: a built-in name, else a `.json` path is an
    /// architecture file and any other path a model file.
    public var modelSource: ModelSource {
        if let architecture { return .architecture(architecture) }
        if model.lowercased().hasSuffix(".json") { return .architectureFile(model) }
        return .modelFile(model)
    }

    /// Builds the graph `spec` describes (an architecture file's contents) with the plan's
    /// seed and initializer.
    /// - Throws: `ModelError` naming the node whose spec is incomplete or does not fit.
    public func buildModel(spec: GraphSpec) throws -> Graph {
        try spec.makeGraph(seed: resolvedSeed, initializer: initializer ?? .default)
    }

    /// Builds the named architecture for samples of `sampleShape` and `classes` classes
    /// (nil when `model` is a file path).
    /// - Throws: `ModelError` for an impossible layer list.
    public func buildModel(sampleShape: [Int], classes: Int) throws -> Graph? {
        guard let architecture else { return nil }
        return try architecture.build(inputShape: sampleShape, classes: classes, layers: layers, seed: resolvedSeed,
                                      initializer: initializer ?? .default)
    }

    /// The training options of the `train` section (nil without one).
    public func trainingOptions(workers: Int = 1) -> TrainingOptions? {
        guard let t = train else { return nil }
        let d = trainingDefaults
        var o = TrainingOptions()
        o.epochs = t.epochs ?? d.epochs
        o.batchSize = t.batchSize ?? d.batchSize
        o.learningRate = t.learningRate ?? d.learningRate
        o.schedule = LearningRateSchedule(kind: t.schedule ?? d.schedule, stepEpochs: t.stepEpochs ?? Defaults.stepEpochs,
                                          stepFactor: t.stepFactor ?? Defaults.stepFactor,
                                          minimumFactor: t.minLearningRateFactor ?? d.minLearningRateFactor,
                                          warmupSteps: t.warmupSteps ?? d.warmupSteps)
        o.seed = resolvedSeed
        o.workers = workers
        o.distillation = t.distill?.distillation
        o.gradientClipNorm = t.gradientClip ?? d.gradientClip
        o.maxSteps = t.steps ?? (t.minutes == nil ? d.steps : nil)
        o.timeLimit = t.minutes.map { $0 * 60 }
        o.weightDecayScope = t.weightDecayScope ?? d.weightDecayScope
        o.loss = regressionData ? .mse : .crossEntropy
        o.sparseKernels = (sparseKernels ?? .off).choice(batchSize: o.batchSize)
        return o
    }

    /// A fresh optimizer as the `train` section describes it.
    public func trainingOptimizer() -> Optimizer {
        let (t, d) = (train ?? Training(), trainingDefaults)
        return (t.optimizer ?? d.optimizer).optimizer(momentum: t.momentum ?? d.momentum, nesterov: t.nesterov ?? false,
                                                      weightDecay: t.weightDecay ?? d.weightDecay, beta2: t.beta2 ?? d.beta2)
    }

    /// Fine-tuning options for `epochs` epochs, as the `fine_tune` section describes them
    /// (iterative rounds use them too). They shuffle with the plan's seed, + 1 when the plan
    /// also trains, so that fine-tuning does not replay the training's order of samples.
    public func fineTuneOptions(epochs: Int, workers: Int = 1) -> TrainingOptions {
        let (f, d) = (fineTune, fineTuneDefaults)
        var o = TrainingOptions()
        o.epochs = epochs
        o.batchSize = f?.batchSize ?? d.batchSize
        o.learningRate = f?.learningRate ?? d.learningRate
        o.schedule = LearningRateSchedule(kind: f?.schedule ?? d.schedule, minimumFactor: d.minLearningRateFactor)
        o.seed = resolvedSeed &+ (train == nil ? 0 : 1)
        o.workers = workers
        o.distillation = f?.distill?.distillation
        o.gradientClipNorm = d.gradientClip
        o.maxSteps = f?.steps ?? d.steps
        o.weightDecayScope = d.weightDecayScope
        o.loss = regressionData ? .mse : .crossEntropy
        o.sparseKernels = (sparseKernels ?? .off).choice(batchSize: o.batchSize)
        return o
    }

    /// A fresh optimizer as the `fine_tune` section describes it.
    public func fineTuneOptimizer() -> Optimizer {
        let d = fineTuneDefaults
        return (fineTune?.optimizer ?? d.optimizer)
            .optimizer(momentum: fineTune?.momentum ?? d.momentum, nesterov: false,
                       weightDecay: fineTune?.weightDecay ?? d.weightDecay, beta2: d.beta2)
    }

    /// The regularizers of `train.regularizer` (none without one).
    public func regularizers() throws -> [Regularizer] { try train?.regularizer?.regularizers() ?? [] }

    /// The one-shot plan of the `prune` section (nil without one): its criterion, exactly
    /// as named (`criterion` overrides it), granularity, scope and target threshold.
    public func pruningPlan(criterion override: Criterion? = nil) -> PruningPlan? {
        guard let p = prune else { return nil }
        let granularity = p.granularity ?? Defaults.granularity
        let parameters = p.parameters ?? Defaults.parameters
        return PruningPlan(criterion: override ?? (p.criterion ?? Defaults.criterion).criterion(seed: resolvedSeed, parameters: parameters),
                           granularity: granularity, scope: p.scope ?? Defaults.scope(granularity: granularity, criterion: p.criterion),
                           allocation: p.allocation, threshold: p.threshold.threshold, parameters: parameters, excluding: p.exclude ?? [],
                           objective: p.objective ?? .parameters)
    }

    /// The schedule of `prune.schedule` (one-shot when absent).
    /// - Throws: `PruningError` for impossible values (`problems()` reports them first).
    public func pruningSchedule() throws -> PruningSchedule { try pruningSchedule(prune?.schedule ?? ScheduleSpec()) }

    /// The schedule `s` describes in this plan (`schedule: auto` starts as one-shot: the run
    /// replaces it with the schedule it chooses).
    public func pruningSchedule(_ s: ScheduleSpec) throws -> PruningSchedule {
        if let a = s.agp {
            return AGPSchedule(startEpoch: a.startEpoch, endEpoch: a.endEpoch,
                               every: a.everyEpochs.map { .epochs($0) } ?? .steps(a.everySteps ?? Defaults.agpEverySteps),
                               initialSparsity: a.initialSparsity ?? 0)
        }
        if let c = s.constant { return ConstantSchedule(startEpoch: c.startEpoch ?? 0) }
        if let i = s.iterative {
            let recovery: RoundRecovery = i.rewindToStep.map { .rewind(step: $0, epochs: i.fineTuneEpochs) }
                ?? .fineTune(epochs: i.fineTuneEpochs ?? Defaults.iterativeFineTuneEpochs)
            var schedule = try IterativeSchedule(fractionPerRound: i.fraction, maximumRounds: i.rounds ?? Defaults.iterativeRounds,
                                                 recovery: recovery, accuracyBudget: i.accuracyBudget ?? prune?.threshold.auto.map { Float($0.maxAccuracyDrop) })
            schedule.firstSparsity = i.firstSparsity
            return schedule
        }
        return OneShotSchedule()
    }

    /// The plan with every default written out and no output path or checkpoint section:
    /// what a model file records, identical for the same plan whichever entry point built
    /// it, with or without checkpoints.
    public func resolved() -> Recipe {
        var r = self
        r.output = nil
        r.checkpoint = nil
        r.seed = resolvedSeed
        r.validationSplit = resolvedValidationSplit
        if case .modelFile = modelSource {} else { r.initializer = initializer ?? .default }
        if let t = train {
            let (o, d) = (trainingOptions()!, trainingDefaults)
            r.train = Training(epochs: o.epochs, batchSize: o.batchSize, optimizer: t.optimizer ?? d.optimizer,
                               learningRate: o.learningRate, momentum: t.momentum ?? d.momentum, nesterov: t.nesterov ?? false,
                               weightDecay: t.weightDecay ?? d.weightDecay, schedule: o.schedule.kind,
                               stepEpochs: o.schedule.stepEpochs, stepFactor: o.schedule.stepFactor,
                               warmupSteps: o.schedule.warmupSteps, regularizer: t.regularizer, distill: t.distill?.resolved)
            r.train?.gradientClip = o.gradientClipNorm
            // The language-model settings are written out only where they apply, so that the
            // classifiers' recorded plans stay as they were.
            r.train?.steps = o.maxSteps
            if o.schedule.minimumFactor != 0 { r.train?.minLearningRateFactor = o.schedule.minimumFactor }
            if let beta2 = t.beta2 ?? (d.beta2 != TrainingDefaults.classifier.beta2 ? d.beta2 : nil) { r.train?.beta2 = beta2 }
            if o.weightDecayScope != .all { r.train?.weightDecayScope = o.weightDecayScope }
        }
        if var p = prune {
            let granularity = p.granularity ?? Defaults.granularity
            p.criterion = p.criterion ?? Defaults.criterion
            p.granularity = granularity
            p.scope = p.scope ?? Defaults.scope(granularity: granularity, criterion: p.criterion)
            p.parameters = p.parameters ?? Defaults.parameters
            p.exclude = p.exclude ?? []
            var schedule = p.schedule ?? ScheduleSpec()
            if var a = schedule.agp {
                if a.everyEpochs == nil { a.everySteps = a.everySteps ?? Defaults.agpEverySteps }
                a.initialSparsity = a.initialSparsity ?? 0
                schedule.agp = a
            }
            if schedule.constant != nil { schedule.constant = Constant(startEpoch: schedule.constant?.startEpoch ?? 0) }
            if var i = schedule.iterative {
                i.rounds = i.rounds ?? Defaults.iterativeRounds
                if i.rewindToStep == nil { i.fineTuneEpochs = i.fineTuneEpochs ?? Defaults.iterativeFineTuneEpochs }
                schedule.iterative = i
            }
            if schedule == ScheduleSpec() { schedule.oneShot = OneShot() }
            p.schedule = schedule
            r.prune = p
        }
        if let f = fineTune {
            let o = fineTuneOptions(epochs: f.epochs)
            r.fineTune = FineTune(epochs: f.epochs, learningRate: o.learningRate, batchSize: o.batchSize,
                                  optimizer: f.optimizer ?? Defaults.fineTuneOptimizer, momentum: f.momentum ?? Defaults.fineTuneMomentum,
                                  weightDecay: f.weightDecay ?? Defaults.fineTuneWeightDecay, schedule: o.schedule.kind,
                                  distill: f.distill?.resolved)
        }
        return r
    }
}

extension Recipe.ThresholdSpec {
    /// The threshold this spec gives (N:M granularity, which takes none, gets sparsity 0).
    public var threshold: Threshold {
        value.map { .value($0) } ?? perLayer.map { .perLayer($0) } ?? .sparsity(sparsity ?? 0)
    }
}
