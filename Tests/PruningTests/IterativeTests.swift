import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Iterative pruning")
struct IterativeTests {
    /// A small net trained on a separable problem (label = x₀ > 0), and its data.
    static func untrained() throws -> (Graph, Dataset) {
        let x = randomTensor([256, 4], seed: 7)
        let labels = (0..<256).map { Int32(x.scalars[$0 * 4] > 0 ? 1 : 0) }
        let data = try Dataset(inputs: x.scalars, sampleShape: [4], labels: labels)
        var rng = SeededGenerator(seed: 8)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 2, rng: &rng),
        ])
        return (model, data)
    }

    static func trained() throws -> (Trainer, Dataset) {
        let (model, data) = try untrained()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        var options = TrainingOptions()
        options.epochs = 30; options.batchSize = 32; options.learningRate = 0.05
        try trainer.fit(data, options: options)
        return (trainer, data)
    }

    /// Iterative rounds toward `target`, fine-tuning 2 epochs per round (batch 32, rate 0.01).
    static func recipe(fraction: Double, target: Double, rounds: Int? = nil, budget: Float? = nil) -> Recipe {
        Recipe(model: "test", validationSplit: 0.5,
               prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: target),
                                   schedule: Recipe.ScheduleSpec(iterative: Recipe.Iterative(
                                       fraction: fraction, rounds: rounds, fineTuneEpochs: 2, accuracyBudget: budget))),
               fineTune: Recipe.FineTune(epochs: 0, learningRate: 0.01, batchSize: 32))
    }

    /// The same data for every split: these tests check the rounds' mechanics.
    static func splits(_ data: Dataset) -> DataSplits { DataSplits(training: data, validation: data, test: data) }

    @Test("each round cuts half of what remains until the target, then stops")
    func rounds() throws {
        let (trainer, data) = try Self.trained()
        let report = try PruningRun(Self.recipe(fraction: 0.5, target: 0.875)).run(trainer.model, data: Self.splits(data))
        let rounds = report.history.rounds
        #expect(report.history.stop == .targetReached)
        #expect(rounds.map(\.target) == [0.5, 0.75, 0.875])
        let total = 4 * 16 + 16 * 2
        for r in rounds { #expect(abs(r.sparsity - (r.target! * Double(total)).rounded() / Double(total)) < 1e-9) }
        #expect(rounds.allSatisfy { !$0.rolledBack && $0.split == .validation })
        #expect(report.timing.training > 0 && report.timing.pruning > 0)
        // Each round is judged on the validation split after its cut and after fine-tuning; the
        // test split only reports (the model as loaded, and the final one).
        #expect(report.history.measurements.filter { $0.split == .test }.map(\.stage) == ["as loaded", "final"])
        #expect(report.history.measurements.filter { $0.split == .validation }.count == 6, "2 per round")
    }

    @Test("sparsity already present counts: rounds cut a fraction of what remains")
    func alreadySparse() throws {
        let (trainer, data) = try Self.trained()
        try Pruner.prune(trainer.model, with: PruningPlan(threshold: .sparsity(0.5)))
        let report = try PruningRun(Self.recipe(fraction: 0.5, target: 0.875)).run(trainer.model, data: Self.splits(data))
        #expect(report.history.stop == .targetReached)
        #expect(report.history.rounds.map(\.target) == [0.75, 0.875])
    }

    @Test("the round limit stops early")
    func maximumRounds() throws {
        let (trainer, data) = try Self.trained()
        let report = try PruningRun(Self.recipe(fraction: 0.2, target: 0.99, rounds: 2)).run(trainer.model, data: Self.splits(data))
        #expect(report.history.stop == .maximumRounds)
        #expect(report.history.rounds.count == 2)
        #expect(abs(report.history.rounds[1].target! - 0.36) < 1e-12)
    }

    @Test("a round that breaks the accuracy budget is rolled back: weights and masks as before it")
    func rollback() throws {
        let (trainer, data) = try Self.trained()
        let model = trainer.model
        let before = trainer.evaluate(data).accuracy
        #expect(before > 0.9, "the net should learn the separable problem: \(before)")
        // First a harmless cut to 30%, then a round that cuts everything.
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.3)))
        let values = model.parameters.map(\.parameter.value), masks = model.parameters.map(\.parameter.mask)
        let report = try PruningRun(Self.recipe(fraction: 1, target: 1, budget: 0.05)).run(model, data: Self.splits(data))
        let rounds = report.history.rounds
        #expect(report.history.stop == .accuracyBudget)
        #expect(rounds.count == 1 && rounds[0].rolledBack)
        #expect(rounds[0].accuracyAfterCut < 0.7)
        #expect(model.parameters.map(\.parameter.value) == values)
        #expect(model.parameters.map(\.parameter.mask) == masks)
    }

    @Test("rounds are judged on the validation split; the test split is read once, for the final figure")
    func judgedOnValidation() throws {
        let (trainer, data) = try Self.trained()
        // A test split whose labels are all wrong: its figures cannot pass for validation ones.
        let flipped = try Dataset(inputs: data.batch(0..<data.count).inputs.scalars, sampleShape: [4],
                                  labels: data.labels.map { 1 - $0 })
        let report = try PruningRun(Self.recipe(fraction: 0.5, target: 0.75, budget: 0.5))
            .run(trainer.model, data: DataSplits(training: data, validation: data, test: flipped))
        let last = try #require(report.history.rounds.last)
        #expect(last.split == .validation && !last.rolledBack)
        #expect(last.accuracyAfterRecovery == trainer.evaluate(data).accuracy)
        #expect(report.final.accuracy == trainer.evaluate(flipped).accuracy)
        #expect(report.final.accuracy < 0.2 && last.accuracyAfterRecovery > 0.8)
        #expect(report.history.measurements.filter { $0.split == .test }.map(\.stage) == ["as loaded", "final"])
    }

    @Test("lottery-ticket rounds rewind the survivors to the step-3 weights after each cut, then retrain")
    func lotteryTicket() throws {
        let (model, data) = try Self.untrained()
        /// Keeps the weights after step 3 of the first training, as the engine's snapshot should.
        final class Keep: TrainingCallback, RunObserver {
            var values: [String: Tensor]?
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                if report.step == 2 && values == nil {
                    values = Dictionary(uniqueKeysWithValues: trainer.model.parameters.map { ($0.path, $0.parameter.value) })
                }
            }
        }
        func recipe(target: Double, retrainEpochs: Int) -> Recipe {
            Recipe(model: "test", validationSplit: 0,
                   train: Recipe.Training(epochs: 30, batchSize: 32, learningRate: 0.05, weightDecay: 0),
                   prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: target), schedule: Recipe.ScheduleSpec(
                       iterative: Recipe.Iterative(fraction: 0.5, fineTuneEpochs: retrainEpochs, rewindToStep: 3))))
        }
        // With no retraining, a round leaves exactly the snapshot's values on the kept weights.
        let run = try PruningRun(recipe(target: 0.5, retrainEpochs: 0))
        let keep = Keep()
        run.observers = [keep]
        let report = try run.run(model, data: Self.splits(data))
        let ticket = try #require(keep.values)
        #expect(report.history.rounds.count == 1)
        #expect(report.history.plan.prune?.schedule?.iterative?.rewindToStep == 3)
        for path in ["fc1.weight", "fc2.weight"] {
            let p = model.parameter(at: path)!, saved = ticket[path]!
            let mask = try #require(p.mask)
            #expect((0..<p.count).allSatisfy { p.value[flat: $0] == (mask[flat: $0] != 0 ? saved[flat: $0] : 0) })
        }
        // Rounds to 75% that rewind and retrain for 30 epochs keep the task learned.
        let (fresh, _) = try Self.untrained()
        let full = try PruningRun(recipe(target: 0.75, retrainEpochs: 30)).run(fresh, data: Self.splits(data))
        #expect(full.history.stop == .targetReached && full.history.rounds.last!.sparsity > 0.74)
        #expect(full.history.rounds.last!.accuracyAfterRecovery > 0.9)
    }

    @Test("impossible iterative schedules are rejected")
    func rejected() {
        #expect(throws: PruningError.self) { try IterativeSchedule(fractionPerRound: 0) }
        #expect(throws: PruningError.self) { try IterativeSchedule(fractionPerRound: 1.2) }
        #expect(throws: PruningError.self) { try IterativeSchedule(fractionPerRound: 0.5, maximumRounds: 0) }
        #expect(throws: PruningError.self) { try IterativeSchedule(fractionPerRound: 0.5, accuracyBudget: -1) }
        #expect(throws: PruningError.self) {
            try PruningRun(Recipe(model: "m", prune: Recipe.Prune(granularity: .nOfM(n: 2, m: 4), schedule: Recipe.ScheduleSpec(
                iterative: Recipe.Iterative(fraction: 0.5)))))
        }
    }
}
