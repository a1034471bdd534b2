import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Searches in a run: criterion auto, threshold auto")
struct SearchRunTests {
    /// Strategy selection and a 3-probe threshold search under a 10-point budget, 1 epoch per
    /// probe, then 2 epochs of fine-tuning.
    static func recipe() -> Recipe {
        Recipe(model: "test", validationSplit: 0.5,
               prune: Recipe.Prune(criterion: .auto, threshold: Recipe.ThresholdSpec(auto: Recipe.AutoThreshold(maxAccuracyDrop: 0.1, probes: 3))),
               fineTune: Recipe.FineTune(epochs: 2, learningRate: 0.01, batchSize: 32))
    }

    @Test("the search probes on the validation split, ranks every strategy, cuts to what it chose, and the fixed plan reproduces the model")
    func searchAndReproduce() throws {
        let (trainer, data) = try IterativeTests.trained()
        let model = trainer.model
        let twin = try model.copy()
        let report = try PruningRun(Self.recipe()).run(model, data: IterativeTests.splits(data))
        let search = try #require(report.history.search)
        #expect(search.split == .validation && search.probeEpochs == 1 && search.maximumDrop == 0.1)
        #expect(search.probes.count <= 3 + Strategy.candidates.count - 1 + Recipe.Defaults.autoRefineProbes)
        // One fine-tuning epoch per probe, and one of preparation for those that train before their cut.
        #expect(search.epochs == search.probes.reduce(0) { $0 + 1 + ($1.strategy.prepares ? 1 : 0) })
        #expect(Set(search.probes.filter(\.strategy.prepares).map(\.strategy.description)) == ["magnitude+l1/global", "movement/global"])
        for p in search.probes { #expect(p.kept == (p.accuracy >= search.baseline - 0.1)) }
        // Every candidate ranked once, best first, and the choice is the best.
        try #require(!search.ranking.isEmpty, "probes: \(search.probes.map { ($0.sparsity, $0.accuracy, search.baseline) })")
        #expect(Set(search.ranking.map(\.strategy.description)) == Set(Strategy.candidates.map(\.description)))
        #expect(zip(search.ranking, search.ranking.dropFirst()).allSatisfy { $0.accuracy >= $1.accuracy })
        #expect(search.strategy == search.ranking[0].strategy)
        // The chosen sparsity was probed with a strategy and kept (or is the threshold stage's best).
        #expect(search.sparsity > 0 && search.probes.contains { $0.target == search.sparsity && $0.kept == true })
        // The one cut of the run is the chosen one.
        let cut = try #require(report.history.cuts.last)
        #expect(report.history.cuts.count == 1 && abs(cut.sparsity - search.sparsity) <= 1.0 / 96)
        // The plan with the choice written in, run without searching, gives the same model.
        let fixed = search.fixing(Self.recipe())
        #expect(fixed.prune?.criterion == search.strategy.criterion && fixed.prune?.threshold.auto == nil)
        let again = try PruningRun(fixed).run(twin, data: IterativeTests.splits(data))
        #expect(again.history.search == nil)
        for ((path, a), (_, b)) in zip(model.parameters, twin.parameters) {
            #expect(a.value.scalars == b.value.scalars && a.mask == b.mask, "\(path)")
        }
    }

    @Test("with iterative rounds, the first cuts to the sparsity found and later ones go on under the budget; the fixed plan reproduces the model")
    func rounds() throws {
        let (trainer, data) = try IterativeTests.trained()
        var recipe = Self.recipe()
        recipe.prune?.criterion = .taylor   // prepared afresh before every round, here and in the fixed plan
        recipe.prune?.threshold.auto?.highest = 0.95
        recipe.prune?.schedule = Recipe.ScheduleSpec(iterative: Recipe.Iterative(fraction: 0.5, rounds: 3, fineTuneEpochs: 1))
        recipe.fineTune?.epochs = 0
        let model = trainer.model
        let twin = try model.copy()
        let report = try PruningRun(recipe).run(model, data: IterativeTests.splits(data))
        let search = try #require(report.history.search)
        let rounds = report.history.rounds
        #expect(search.ranking.isEmpty && search.strategy == Strategy(.taylor, .global))
        try #require(search.sparsity > 0, "probes: \(search.probes.map { ($0.sparsity, $0.accuracy, search.baseline) })")
        #expect(!rounds.isEmpty && rounds[0].target == search.sparsity)
        // Each later round halves what remains, until 95%, a broken budget or the third round.
        for (a, b) in zip(rounds, rounds.dropFirst()) { #expect(abs(b.target! - min(0.95, 1 - (1 - a.target!) / 2)) < 1e-12) }
        for r in rounds { #expect(r.rolledBack == (r.accuracyAfterRecovery < search.baseline - 0.1)) }
        let fixed = search.fixing(recipe)
        #expect(fixed.prune?.schedule?.iterative?.firstSparsity == search.sparsity && fixed.prune?.threshold.sparsity == 0.95)
        #expect(fixed.prune?.schedule?.iterative?.accuracyBudget == 0.1)
        _ = try PruningRun(fixed).run(twin, data: IterativeTests.splits(data))
        for ((path, a), (_, b)) in zip(model.parameters, twin.parameters) {
            #expect(a.value.scalars == b.value.scalars && a.mask == b.mask, "\(path)")
        }
    }

    @Test("an iterative schedule's first round goes to its first sparsity, later ones cut the fraction of what remains")
    func firstSparsity() throws {
        var schedule = try IterativeSchedule(fractionPerRound: 0.5)
        schedule.firstSparsity = 0.8
        func round(_ r: Int) -> Double? {
            if case let .sparsity(s) = schedule.round(r, from: 0, toward: .sparsity(0.99)) { return s } else { return nil }
        }
        // 0.8, 0.9, 0.95, 0.975, 0.9875, then 0.99375 capped at the target, then no more.
        for (r, expected) in [0.8, 0.9, 0.95, 0.975, 0.9875].enumerated() { #expect(abs(round(r + 1)! - expected) < 1e-12) }
        #expect(round(6) == 0.99 && round(7) == nil)
    }

    @Test("the test split cannot steer the search: scrambled test labels give the same probes and the same choice")
    func testSplitUnseen() throws {
        let (trainer, data) = try IterativeTests.trained()
        let twin = try trainer.model.copy()
        let scrambled = try Dataset(inputs: data.batch(0..<data.count).inputs.scalars, sampleShape: [4], labels: data.labels.map { 1 - $0 })
        let a = try #require(try PruningRun(Self.recipe()).run(trainer.model, data: IterativeTests.splits(data)).history.search)
        let b = try #require(try PruningRun(Self.recipe()).run(twin, data: DataSplits(training: data, validation: data, test: scrambled)).history.search)
        #expect(a.probes.map { "\($0.strategy) \($0.target) \($0.accuracy)" } == b.probes.map { "\($0.strategy) \($0.target) \($0.accuracy)" })
        #expect(a.strategy == b.strategy && a.sparsity == b.sparsity && !a.probes.isEmpty)
    }

    @Test("criterion auto at a fixed sparsity ranks the strategies and keeps the sparsity")
    func fixedSparsity() throws {
        let (trainer, data) = try IterativeTests.trained()
        var recipe = Self.recipe()
        recipe.prune?.threshold = Recipe.ThresholdSpec(sparsity: 0.5)
        let report = try PruningRun(recipe).run(trainer.model, data: IterativeTests.splits(data))
        let search = try #require(report.history.search)
        #expect(search.sparsity == 0.5 && search.maximumDrop == nil && search.probes.count == Strategy.candidates.count)
        #expect(search.probes.allSatisfy { $0.kept == nil && $0.stage == "strategy" })
    }

    @Test("searches need a one-shot weight plan with a validation split, and a budget that is a fraction")
    func problems() {
        func fields(_ edit: (inout Recipe) -> Void) -> [String] {
            var r = Self.recipe()
            edit(&r)
            return r.problems().compactMap { if case let .invalidField(field, _, _) = $0 { return field } else { return nil } }
        }
        #expect(fields { _ in }.isEmpty)
        let cases: [(field: String, edit: (inout Recipe) -> Void)] = [
            ("validation_split", { $0.validationSplit = 0 }),
            ("prune.criterion", { $0.prune?.schedule = Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 0, endEpoch: 1)) }),
            ("prune.criterion", { $0.prune?.granularity = .neuron }),
            ("prune.allocation", { $0.prune?.allocation = .lamp }),
            ("prune.threshold.auto.max_accuracy_drop", { $0.prune?.threshold.auto?.maxAccuracyDrop = 5 }),
            ("prune.threshold", { $0.prune?.threshold.sparsity = 0.5 }),
            ("prune.threshold.auto.probes", { $0.prune?.criterion = .magnitude; $0.prune?.threshold.auto?.probes = 0 }),
            ("prune.schedule.iterative.first_sparsity", {
                $0.prune?.schedule = Recipe.ScheduleSpec(iterative: Recipe.Iterative(fraction: 0.5, firstSparsity: 0.5))
            }),
        ]
        for c in cases {
            let found = fields(c.edit)
            #expect(found.contains(c.field), "\(c.field): \(found)")
        }
    }
}

@Suite("Preparation before the cut: movement on a model trained elsewhere, an L1 pull before magnitude")
struct PreparationTests {
    static func recipe(_ criterion: CriterionName, sparsity: Double, prepare: Recipe.Prepare?) -> Recipe {
        Recipe(model: "test", validationSplit: 0.5,
               prune: Recipe.Prune(criterion: criterion, threshold: Recipe.ThresholdSpec(sparsity: sparsity), prepare: prepare),
               fineTune: Recipe.FineTune(epochs: 0, learningRate: 0.01, batchSize: 32))
    }

    @Test("a strong proximal L1 pull leaves exact zeros, and a magnitude cut within them changes nothing the model computes")
    func l1Pull() throws {
        let (trainer, data) = try IterativeTests.trained()
        let recipe = Self.recipe(.magnitude, sparsity: 0.3, prepare: Recipe.Prepare(epochs: 3, regularizer: Recipe.RegularizerSpec(l1: 2)))
        let report = try PruningRun(recipe).run(trainer.model, data: IterativeTests.splits(data))
        let stages = report.history.measurements.map(\.stage)
        let prepared = try #require(report.history.measurements.first { $0.stage == "after 3 preparation epochs" }, "\(stages)")
        let cut = try #require(report.history.measurements.first { $0.stage == "after the cut" }, "\(stages)")
        // The pull (24 proximal steps of 0.01 × 2) zeroed more than 30% of the weights, so the cut took only zeros: cutoff 0 and the same figures.
        #expect(report.history.cuts.last?.cutoff == 0)
        #expect(prepared.accuracy == cut.accuracy && prepared.loss == cut.loss)
        #expect((prepared.sparsity ?? 0) > 0.3 && stages.firstIndex(of: prepared.stage)! < stages.firstIndex(of: cut.stage)!)
    }

    @Test("a rounds' accuracy budget counts from the model before its preparation, not after it")
    func budgetBeforePreparation() throws {
        let (trainer, data) = try IterativeTests.trained()
        var recipe = Self.recipe(.magnitude, sparsity: 0.3, prepare: Recipe.Prepare(epochs: 3, regularizer: Recipe.RegularizerSpec(l1: 4)))
        // No recovery: the round's figure is the prepared model's (its cut takes only zeros the pull left).
        recipe.prune?.schedule = Recipe.ScheduleSpec(iterative: Recipe.Iterative(fraction: 0.3, rounds: 1, fineTuneEpochs: 0, accuracyBudget: 0.01))
        let report = try PruningRun(recipe).run(trainer.model, data: IterativeTests.splits(data))
        let before = Trainer.evaluate(try IterativeTests.trained().0.model, on: data).accuracy   // the same trained model, on the validation data
        let prepared = try #require(report.history.measurements.first { $0.stage == "after 3 preparation epochs" }?.accuracy)
        let round = try #require(report.history.rounds.first)
        // The pull cost accuracy; judged against the figure before it, the round breaks the budget.
        try #require(prepared < before - 0.05, "the preparation should cost accuracy: \(before) → \(prepared)")
        #expect(round.accuracyAfterRecovery == prepared && round.rolledBack, "\(before) \(prepared) \(round)")
    }

    @Test("movement needs training: with a preparation it ranks a model trained elsewhere, and the same plan gives the same model")
    func movement() throws {
        var noPrepare = Self.recipe(.movement, sparsity: 0.5, prepare: nil)
        #expect(noPrepare.problems().contains { $0.field == "prune.criterion" })
        noPrepare.prune?.prepare = Recipe.Prepare(epochs: 1)
        #expect(noPrepare.problems().isEmpty, "\(noPrepare.problems())")
        let (trainer, data) = try IterativeTests.trained()
        let twin = try trainer.model.copy(), magnitudeTwin = try trainer.model.copy()
        let report = try PruningRun(noPrepare).run(trainer.model, data: IterativeTests.splits(data))
        #expect(report.history.cuts.count == 1 && abs(report.history.cuts[0].sparsity - 0.5) < 0.01 && report.history.cuts[0].criterion == "movement")
        _ = try PruningRun(noPrepare).run(twin, data: IterativeTests.splits(data))
        for ((path, a), (_, b)) in zip(trainer.model.parameters, twin.parameters) { #expect(a.mask == b.mask && a.value.scalars == b.value.scalars, "\(path)") }
        // Movement's choice is its own: magnitude after the same preparation keeps other weights.
        var magnitude = noPrepare
        magnitude.prune?.criterion = .magnitude
        _ = try PruningRun(magnitude).run(magnitudeTwin, data: IterativeTests.splits(data))
        #expect(zip(trainer.model.parameters, magnitudeTwin.parameters).contains { $0.1.mask != $1.1.mask })
    }

    @Test("a preparation needs at least one epoch and a cut after training; criterion auto chooses its own")
    func problems() {
        expectProblems(of: Self.recipe(.magnitude, sparsity: 0.5, prepare: Recipe.Prepare(epochs: 1, regularizer: Recipe.RegularizerSpec(l1: 0.001))), [
            ("prune.prepare.epochs", true, { $0.prune?.prepare?.epochs = 0 }),
            ("prune.prepare.regularizer.l1", true, { $0.prune?.prepare?.regularizer?.l1 = -1 }),
            ("prune.prepare", false, { $0.prune?.schedule = Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 0, endEpoch: 1)) }),
            ("prune.prepare", false, { $0.prune?.criterion = .auto }),
            ("prune.prepare", false, { $0.checkpoint = Recipe.Checkpoint(path: "c.ckpt") }),
        ])
    }
}

@Suite("schedule: auto")
struct ScheduleSelectionTests {
    static func recipe(rounds: [Int] = [2], fineTuneEpochs: Int = 4) -> Recipe {
        Recipe(model: "test", validationSplit: 0.5,
               prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.75),
                                   schedule: Recipe.ScheduleSpec(auto: Recipe.AutoSchedule(probeEpochs: 2, rounds: rounds))),
               fineTune: Recipe.FineTune(epochs: fineTuneEpochs, learningRate: 0.01, batchSize: 32))
    }

    @Test("k rounds cut the same fraction of what remains and reach the target at the last; the epochs are shared, the rest fine-tunes after")
    func choices() throws {
        let (spec, final) = ScheduleChoice(rounds: 2).spec(toward: 0.96, epochs: 5)
        let iterative = try #require(spec.iterative)
        #expect(abs(iterative.fraction - 0.8) < 1e-12 && iterative.rounds == 2 && iterative.fineTuneEpochs == 2 && final == 1)
        let schedule = try IterativeSchedule(fractionPerRound: iterative.fraction, maximumRounds: 2)
        #expect(abs(schedule.sparsity(ofRound: 1, from: 0, toward: 0.96) - 0.8) < 1e-12 && schedule.sparsity(ofRound: 2, from: 0, toward: 0.96) == 0.96)
        let (oneShot, all) = ScheduleChoice(rounds: 0).spec(toward: 0.96, epochs: 5)
        #expect(oneShot.oneShot != nil && oneShot.iterative == nil && all == 5)
        #expect(ScheduleChoice(rounds: 0).description == "one_shot" && ScheduleChoice(rounds: 4).description == "iterative×4")
    }

    @Test("recipes say schedule: auto, or give its probe epochs and round counts; other words are refused")
    func recipes() throws {
        let base = "model: lenet300\nvalidation_split: 0.1\nprune: {threshold: {sparsity: 0.9}, schedule: %@}\nfine_tune: {epochs: 4}\n"
        let word = try Recipe(yaml: base.replacingOccurrences(of: "%@", with: "auto"))
        #expect(word.prune?.schedule?.auto == Recipe.AutoSchedule() && word.problems().isEmpty, "\(word.problems())")
        let map = try Recipe(yaml: base.replacingOccurrences(of: "%@", with: "{auto: {probe_epochs: 6, rounds: [3]}}"))
        #expect(map.prune?.schedule?.auto == Recipe.AutoSchedule(probeEpochs: 6, rounds: [3]))
        #expect(try Recipe(yaml: map.yaml()) == map)
        #expect(throws: (any Error).self) { try Recipe(yaml: base.replacingOccurrences(of: "%@", with: "sometimes")) }
        expectProblems(of: Self.recipe(), [
            ("fine_tune.epochs", true, { $0.fineTune?.epochs = 1 }),
            ("prune.schedule.auto.probe_epochs", true, { $0.prune?.schedule?.auto?.probeEpochs = 1 }),
            ("prune.schedule.auto", false, { $0.prune?.threshold = Recipe.ThresholdSpec(auto: Recipe.AutoThreshold(maxAccuracyDrop: 0.01)) }),
            ("prune.schedule.auto", true, { $0.prune?.threshold = Recipe.ThresholdSpec(value: 0.1) }),
            ("prune.schedule.auto", true, { $0.prune?.threshold = Recipe.ThresholdSpec(sparsity: 0) }),
            ("validation_split", false, { $0.validationSplit = 0 }),
        ])
    }

    @Test("each schedule is probed at the target on the validation split; the chosen one runs with the fine-tuning epochs, and the fixed plan gives the same model")
    func selection() throws {
        let (trainer, data) = try IterativeTests.trained()
        let model = trainer.model
        let twin = try model.copy()
        let recipe = Self.recipe()
        let report = try PruningRun(recipe).run(model, data: IterativeTests.splits(data))
        let search = try #require(report.history.search)
        #expect(search.schedules.map { $0.schedule?.description ?? "?" }.sorted() == ["iterative×2", "one_shot"])
        #expect(search.schedules.allSatisfy { $0.stage == "schedule" && abs($0.sparsity - 0.75) < 0.01 && $0.target == 0.75 })
        #expect(search.schedules[0].accuracy >= search.schedules[1].accuracy && search.schedule == search.schedules[0].schedule)
        #expect(search.epochs == 4 && search.ranking.isEmpty)
        // The run cut as chosen: one cut and 4 fine-tuning epochs, or 2 rounds of 2 epochs.
        let chosen = try #require(search.schedule)
        #expect(report.history.cuts.count == max(chosen.rounds, 1))
        #expect(abs((report.history.cuts.last?.sparsity ?? 0) - 0.75) < 0.01)
        let fixed = search.fixing(recipe)
        #expect(fixed.prune?.schedule?.auto == nil && fixed.problems().isEmpty, "\(fixed.problems())")
        #expect(chosen.rounds == 0 ? fixed.fineTune?.epochs == 4 : (fixed.prune?.schedule?.iterative?.fineTuneEpochs == 2 && fixed.fineTune?.epochs == 0))
        let again = try PruningRun(fixed).run(twin, data: IterativeTests.splits(data))
        #expect(again.history.search == nil)
        for ((path, a), (_, b)) in zip(model.parameters, twin.parameters) {
            #expect(a.value.scalars == b.value.scalars && a.mask == b.mask, "\(path)")
        }
    }

    @Test("a search report written before schedules existed still reads, with none")
    func oldReports() throws {
        let old = """
            {"baseline": 0.9, "split": "validation", "probeEpochs": 1, "probes": [], "ranking": [],
             "strategy": {"criterion": "magnitude", "allocation": "global"}, "sparsity": 0.9, "seconds": 1.5, "epochs": 3}
            """
        let report = try JSONDecoder().decode(SearchReport.self, from: Data(old.utf8))
        #expect(report.schedules.isEmpty && report.schedule == nil && report.sparsity == 0.9 && report.strategy == Strategy(.magnitude))
        #expect(try JSONDecoder().decode(SearchReport.self, from: JSONEncoder().encode(report)) == report)
    }
}

/// A recipe problem case: the field it must name, whether it must be the only one, and the edit that causes it.
typealias ProblemCase = (field: String, exact: Bool, edit: (inout Recipe) -> Void)

/// Checks that `base` has no problems and that each case's edit of it is refused naming the case's field.
func expectProblems(of base: Recipe, _ cases: [ProblemCase], sourceLocation: SourceLocation = #_sourceLocation) {
    func fields(_ edit: (inout Recipe) -> Void) -> [String] {
        var r = base
        edit(&r)
        return r.problems().compactMap(\.field)
    }
    let clean = fields { _ in }
    #expect(clean.isEmpty, "\(clean)", sourceLocation: sourceLocation)
    for c in cases {
        let found = fields(c.edit)
        #expect(c.exact ? found == [c.field] : found.contains(c.field), "\(c.field): \(found)", sourceLocation: sourceLocation)
    }
}
