import NeuralNetwork

extension Recipe {
    /// Every value that decodes but cannot be used, each naming its field
    /// (`prune.threshold.sparsity`). The one validator of plans: `PruningRun` refuses a plan
    /// with problems, and every entry point reports them before any work starts.
    public func problems() -> [PruningError] {
        var found: [PruningError] = []
        func check(_ ok: Bool, _ field: String, _ problem: String) { if !ok { found.append(.field(field, problem)) } }
        let epochs = train?.epochs ?? trainingDefaults.epochs
        check(layers.map { $0.count >= 2 && $0.allSatisfy { $0 > 0 } } ?? true, "layers", "must be at least two positive sizes")
        check(layers == nil || model == Architecture.mlp.rawValue, "layers", "applies only to model mlp")
        check(!model.allSatisfy(\.isWhitespace), "model",
              "name a built-in architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))), an architecture file (.json) or a model file")
        check(validationSplit.map { $0.isFinite && $0 >= 0 && $0 < 1 } ?? true, "validation_split", "must be in [0, 1)")
        check(classes.map { (1...1_000_000).contains($0) } ?? true, "classes", "must be between 1 and 1000000")
        if let t = train {
            check((t.epochs ?? 1) >= 1, "train.epochs", "must be at least 1")
            check((t.batchSize ?? 1) >= 1, "train.batch_size", "must be at least 1")
            check(t.learningRate.map { $0 > 0 && $0.isFinite } ?? true, "train.learning_rate", "must be positive")
            check(t.momentum.map { $0 >= 0 && $0 < 1 } ?? true, "train.momentum", "must be in [0, 1)")
            check(t.weightDecay.map { $0 >= 0 && $0.isFinite } ?? true, "train.weight_decay", "must be ≥ 0")
            check((t.stepEpochs ?? 1) >= 1, "train.step_epochs", "must be at least 1")
            check(t.stepFactor.map { $0 > 0 && $0.isFinite } ?? true, "train.step_factor", "must be positive")
            check((t.warmupSteps ?? 0) >= 0, "train.warmup_steps", "must be ≥ 0")
            check(t.gradientClip.map { $0.isFinite && $0 > 0 } ?? true, "train.gradient_clip", "must be a positive norm")
            check((t.steps ?? 1) >= 1, "train.steps", "must be at least 1")
            check(t.minutes.map { $0.isFinite && $0 > 0 } ?? true, "train.minutes", "must be a positive number of minutes")
            check(t.beta2.map { $0 > 0 && $0 < 1 } ?? true, "train.beta2", "must be in (0, 1)")
            check(t.minLearningRateFactor.map { $0 >= 0 && $0 <= 1 } ?? true, "train.min_lr_factor", "must be in [0, 1]")
            if let r = t.regularizer { found += Self.regularizerProblems(r, at: "train.regularizer") }
        }
        if let p = prune { found += pruneProblems(p, epochs: epochs) }
        if let f = fineTune {
            check(f.epochs >= 0, "fine_tune.epochs", "must be ≥ 0")
            check((f.steps ?? 1) >= 1, "fine_tune.steps", "must be at least 1")
            check(f.learningRate.map { $0 > 0 && $0.isFinite } ?? true, "fine_tune.learning_rate", "must be positive")
            check((f.batchSize ?? 1) >= 1, "fine_tune.batch_size", "must be at least 1")
            check(f.momentum.map { $0 >= 0 && $0 < 1 } ?? true, "fine_tune.momentum", "must be in [0, 1)")
            check(f.weightDecay.map { $0 >= 0 && $0.isFinite } ?? true, "fine_tune.weight_decay", "must be ≥ 0")
        }
        found += distillProblems()
        if let c = checkpoint {
            check((c.everySteps ?? 1) >= 1, "checkpoint.every_steps", "must be at least 1")
            check((c.everyRounds ?? 1) >= 1, "checkpoint.every_rounds", "must be at least 1")
            check(c.path.map { !$0.isEmpty } ?? true, "checkpoint.path", "must not be empty")
        }
        return found
    }

    /// A regularizer's strengths and patterns, reported at `field`.
    private static func regularizerProblems(_ r: RegularizerSpec, at field: String) -> [PruningError] {
        var found: [PruningError] = []
        func check(_ ok: Bool, _ field: String, _ problem: String) { if !ok { found.append(.field(field, problem)) } }
        for (key, value) in [("l1", r.l1), ("l2", r.l2), ("group_lasso", r.groupLasso)] {
            check(value.map { $0 >= 0 && $0.isFinite } ?? true, "\(field).\(key)", "must be ≥ 0 and finite")
        }
        check(r.l1 != nil || r.l2 != nil || r.groupLasso != nil, field, "give at least one of l1, l2, group_lasso")
        check(r.parameters.map { !$0.isEmpty } ?? true, "\(field).parameters", "must list at least one pattern")
        return found
    }

    private func pruneProblems(_ p: Prune, epochs: Int) -> [PruningError] {
        var found: [PruningError] = []
        func check(_ ok: Bool, _ field: String, _ problem: String) { if !ok { found.append(.field(field, problem)) } }
        let criterion = p.criterion ?? Defaults.criterion
        let granularity = p.granularity ?? Defaults.granularity
        let schedule = p.schedule ?? ScheduleSpec()
        let t = p.threshold
        let during = schedule.agp != nil || (schedule.constant.map { ($0.startEpoch ?? 0) > 0 } ?? false)
        check(criterion != .movement || train != nil || p.prepare != nil, "prune.criterion",
              "movement accumulates −w·∂L/∂w during training: add a train section, or prune.prepare for a model trained elsewhere")
        check(criterion != .movement || schedule.constant.map { ($0.startEpoch ?? 0) > 0 } ?? true, "prune.criterion",
              "movement has nothing to rank before training: use constant start_epoch ≥ 1, agp, iterative or one_shot")
        check(!criterion.isStructuredOnly || granularity.isStructured,
              "prune.criterion", "\(criterion.rawValue) ranks whole units: use granularity filter, channel, neuron or head")
        if let allocation = p.allocation {
            check(granularity == .weight, "prune.allocation", "\(allocation.rawValue) shares a sparsity among weight tensors: use granularity weight")
            check(p.threshold.sparsity != nil || p.threshold.auto != nil, "prune.allocation", "shares a sparsity target: give threshold.sparsity or threshold.auto")
            check(criterion != .auto, "prune.allocation", "is chosen by criterion auto together with the criterion: leave it out")
        }
        if let calibration = p.calibration {
            check(criterion == .wanda || criterion == .sparsegpt, "prune.calibration",
                  "feeds the layer-wise criteria wanda and sparsegpt; the criterion is \(criterion.rawValue)")
            check(!calibration.file.isEmpty, "prune.calibration.file", "is empty: name a file of unlabeled samples")
            check((calibration.samples ?? 1) >= 1, "prune.calibration.samples", "must be at least 1, got \(calibration.samples ?? 0)")
        }
        if let prepare = p.prepare {
            check(prepare.epochs >= 1, "prune.prepare.epochs", "must be at least 1")
            check(schedule.agp == nil && schedule.constant == nil && schedule.iterative?.rewindToStep == nil, "prune.prepare",
                  "trains just before the first cut after training: use the one_shot or the iterative schedule (without rewinding)")
            check(checkpoint == nil, "prune.prepare", "cannot be resumed from a checkpoint yet: remove the checkpoint section")
            if let r = prepare.regularizer { found += Self.regularizerProblems(r, at: "prune.prepare.regularizer") }
        }
        if let objective = p.objective, objective != .parameters {
            check(granularity == .weight || granularity.isStructured, "prune.objective",
                  "\(objective.rawValue) sets what a sparsity target is a share of; N:M fixes the sparsity itself")
            check(t.value == nil && t.perLayer == nil, "prune.objective",
                  "\(objective.rawValue) sets what a sparsity target is a share of: give threshold.sparsity or threshold.auto")
            check(objective != .latency || checkpoint == nil, "prune.objective",
                  "latency is timed on this machine at the first cut and is not kept in checkpoints yet: remove the checkpoint section")
        }
        found += searchProblems(p, criterion: criterion, granularity: granularity, schedule: schedule)
        if case let .nOfM(n, m) = granularity {
            check(m >= 1 && (0...m).contains(n), "prune.granularity", "N:M needs 0 ≤ N ≤ M and M ≥ 1, got \(n):\(m)")
            check(t.sparsity == nil && t.value == nil && t.perLayer == nil, "prune.threshold",
                  "N:M fixes the sparsity (N of every M kept): give no threshold")
            check(!during && schedule.iterative == nil && schedule.auto == nil, "prune.schedule", "N:M fixes the sparsity: use one_shot or constant at epoch 0")
        } else {
            let given = [t.sparsity != nil, t.value != nil, t.perLayer != nil, t.auto != nil].filter { $0 }.count
            check(given == 1, "prune.threshold", "give exactly one of sparsity, value, per_layer, auto")
        }
        check(t.sparsity.map { $0.isFinite && (0...1).contains($0) } ?? true, "prune.threshold.sparsity", "must be in [0, 1]")
        check(t.value.map { !$0.isNaN } ?? true, "prune.threshold.value", "must be a number")
        for (path, s) in (t.perLayer ?? [:]).sorted(by: { $0.key < $1.key }) {
            check(s.isFinite && (0...1).contains(s), "prune.threshold.per_layer.\(path)", "must be in [0, 1]")
        }
        check([schedule.oneShot != nil, schedule.agp != nil, schedule.constant != nil, schedule.iterative != nil, schedule.auto != nil]
                .filter { $0 }.count <= 1, "prune.schedule", "give one of one_shot, agp, constant, iterative, auto")
        if let a = schedule.auto {
            let rounds = a.rounds ?? Defaults.autoScheduleRounds, most = rounds.max() ?? 1
            check(t.sparsity.map { $0 > 0 } ?? false, "prune.schedule.auto", "compares schedules at a target: give threshold.sparsity above 0")
            check(!rounds.isEmpty && rounds.allSatisfy { $0 >= 1 }, "prune.schedule.auto.rounds", "must list round counts of at least 1")
            check((a.probeEpochs ?? Defaults.autoScheduleProbeEpochs) >= most, "prune.schedule.auto.probe_epochs",
                  "must give each of the most rounds tried (\(most)) an epoch")
            check((fineTune?.epochs ?? 0) >= most, "fine_tune.epochs",
                  "is what the chosen schedule runs with: give at least one epoch per round of the most rounds tried (\(most))")
            check(resolvedValidationSplit > 0, "validation_split", "is 0, but schedule auto compares on the validation split: set it above 0")
            check(checkpoint == nil, "prune.schedule.auto", "cannot be resumed from a checkpoint yet: remove the checkpoint section")
        }
        check(!during || train != nil, "prune.schedule", "agp and constant with start_epoch ≥ 1 cut during training: add a train section")
        if let a = schedule.agp {
            check(a.startEpoch >= 0, "prune.schedule.agp.start_epoch", "must be ≥ 0")
            check(a.endEpoch >= a.startEpoch, "prune.schedule.agp.end_epoch", "must not come before start_epoch (\(a.startEpoch))")
            check(a.endEpoch <= epochs, "prune.schedule.agp.end_epoch", "must not exceed train.epochs (\(epochs))")
            check((a.everySteps ?? 1) >= 1, "prune.schedule.agp.every_steps", "must be at least 1")
            check((a.everyEpochs ?? 1) >= 1, "prune.schedule.agp.every_epochs", "must be at least 1")
            check(a.everySteps == nil || a.everyEpochs == nil, "prune.schedule.agp", "give every_steps or every_epochs, not both")
            check(a.initialSparsity.map { (0...1).contains($0) } ?? true, "prune.schedule.agp.initial_sparsity", "must be in [0, 1]")
            check(t.sparsity != nil, "prune.threshold", "agp needs a target sparsity")
        }
        if let i = schedule.iterative {
            check(i.fraction > 0 && i.fraction <= 1, "prune.schedule.iterative.fraction", "must be in (0, 1]")
            check((i.rounds ?? 1) >= 1, "prune.schedule.iterative.rounds", "must be at least 1")
            check((i.fineTuneEpochs ?? 0) >= 0, "prune.schedule.iterative.fine_tune_epochs", "must be ≥ 0")
            check(i.accuracyBudget.map { $0 >= 0 && $0.isFinite } ?? true, "prune.schedule.iterative.accuracy_budget", "must be ≥ 0")
            check(i.accuracyBudget == nil || resolvedValidationSplit > 0,
                  "prune.schedule.iterative.accuracy_budget", "is judged on the validation split: set validation_split above 0")
            check(t.sparsity.map { $0 > 0 } ?? (t.auto != nil), "prune.threshold", "iterative pruning needs a target sparsity above 0")
            check(i.firstSparsity.map { $0 > 0 && $0 < 1 } ?? true, "prune.schedule.iterative.first_sparsity", "must be in (0, 1)")
            check(i.firstSparsity == nil || t.sparsity.map { i.firstSparsity! <= $0 } ?? true, "prune.schedule.iterative.first_sparsity",
                  "must not exceed the target sparsity")
            check((i.rewindToStep ?? 0) >= 0, "prune.schedule.iterative.rewind_to_step", "must be ≥ 0")
            check(i.rewindToStep == nil || train != nil, "prune.schedule.iterative.rewind_to_step", "needs a train section (rewinding replays training)")
        }
        if let c = schedule.constant {
            check((c.startEpoch ?? 0) >= 0, "prune.schedule.constant.start_epoch", "must be ≥ 0")
            check((c.startEpoch ?? 0) <= epochs, "prune.schedule.constant.start_epoch", "must not exceed train.epochs (\(epochs))")
        }
        return found
    }

    /// The searches (`criterion: auto`, `threshold.auto`) run after training on the
    /// validation split, on one-shot weight plans.
    private func searchProblems(_ p: Prune, criterion: CriterionName, granularity: Granularity, schedule: ScheduleSpec) -> [PruningError] {
        var found: [PruningError] = []
        func check(_ ok: Bool, _ field: String, _ problem: String) { if !ok { found.append(.field(field, problem)) } }
        let auto = p.threshold.auto
        guard criterion == .auto || auto != nil else { return found }
        let field = criterion == .auto ? "prune.criterion" : "prune.threshold.auto"
        check(schedule.agp == nil && schedule.constant == nil && schedule.iterative?.rewindToStep == nil, field,
              "searches by cutting copies of the trained model: use the one_shot or the iterative schedule (without rewinding)")
        check(auto == nil || schedule.auto == nil, "prune.schedule.auto", "compares schedules at a known target: threshold.auto searches with one schedule, so give threshold.sparsity")
        check(auto == nil || schedule.iterative?.firstSparsity == nil, "prune.schedule.iterative.first_sparsity",
              "is what threshold.auto finds: leave it out")
        check(granularity == .weight, field, "searches among weight cuts: use granularity weight")
        check(resolvedValidationSplit > 0, "validation_split", "is 0, but \(field) searches on the validation split: set it above 0")
        check(checkpoint == nil, field, "a search cannot be resumed from a checkpoint yet: remove the checkpoint section")
        check(criterion != .auto || p.prepare == nil, "prune.prepare", "is chosen by criterion auto together with the criterion: leave it out")
        check(criterion != .auto || p.threshold.sparsity != nil || auto != nil, "prune.criterion",
              "auto compares strategies at a target: give threshold.sparsity or threshold.auto")
        if let auto {
            check(auto.maxAccuracyDrop.isFinite && auto.maxAccuracyDrop > 0 && auto.maxAccuracyDrop < 1,
                  "prune.threshold.auto.max_accuracy_drop", "must be a fraction in (0, 1) (0.005 is half a point)")
            check((auto.probes ?? 1) >= 1, "prune.threshold.auto.probes", "must be at least 1")
            check((auto.probeEpochs ?? 0) >= 0, "prune.threshold.auto.probe_epochs", "must be ≥ 0")
            check(auto.highest.map { $0 > 0 && $0 < 1 } ?? true, "prune.threshold.auto.highest", "must be in (0, 1)")
        }
        return found
    }
}
