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

    static var fineTune: TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 2; o.batchSize = 32; o.learningRate = 0.01; o.schedule = .constant
        return o
    }

    @Test("each round cuts half of what remains until the target, then stops")
    func rounds() throws {
        let (trainer, data) = try Self.trained()
        let plan = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5,
                                     targetSparsity: 0.875, fineTune: Self.fineTune)
        let (rounds, stop) = try pruneIteratively(trainer, data: data, validation: data, plan: plan)
        #expect(stop == .targetReached)
        #expect(rounds.map(\.target) == [0.5, 0.75, 0.875])
        let total = 4 * 16 + 16 * 2
        for r in rounds { #expect(abs(r.sparsity - (r.target * Double(total)).rounded() / Double(total)) < 1e-9) }
        #expect(rounds.allSatisfy { !$0.rolledBack })
    }

    @Test("sparsity already present counts: rounds cut a fraction of what remains")
    func alreadySparse() throws {
        let (trainer, data) = try Self.trained()
        try Pruner.prune(trainer.model, with: PruningPlan(threshold: .sparsity(0.5)))
        let plan = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5,
                                     targetSparsity: 0.875, fineTune: Self.fineTune)
        let (rounds, stop) = try pruneIteratively(trainer, data: data, validation: data, plan: plan)
        #expect(stop == .targetReached)
        #expect(rounds.map(\.target) == [0.75, 0.875])
        #expect(throws: PruningError.self) {
            try IterativePlan(plan: PruningPlan(granularity: .nOfM(n: 2, m: 4), threshold: .sparsity(0)), fractionPerRound: 0.5,
                              targetSparsity: 0.5, fineTune: Self.fineTune)
        }
    }

    @Test("the round limit stops early")
    func maximumRounds() throws {
        let (trainer, data) = try Self.trained()
        let plan = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.2,
                                     targetSparsity: 0.99, maximumRounds: 2, fineTune: Self.fineTune)
        let (rounds, stop) = try pruneIteratively(trainer, data: data, validation: data, plan: plan)
        #expect(stop == .maximumRounds)
        #expect(rounds.count == 2)
        #expect(abs(rounds[1].target - 0.36) < 1e-12)
    }

    @Test("a round that breaks the accuracy budget is rolled back: weights and masks as before it")
    func rollback() throws {
        let (trainer, data) = try Self.trained()
        let model = trainer.model
        let before = trainer.evaluate(data).accuracy
        #expect(before > 0.9, "the net should learn the separable problem: \(before)")
        // First a harmless round to 30%, then a round that cuts everything.
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.3)))
        let values = model.parameters.map(\.parameter.value), masks = model.parameters.map(\.parameter.mask)
        let plan = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 1, targetSparsity: 1,
                                     accuracyBudget: 0.05, fineTune: Self.fineTune)
        let (rounds, stop) = try pruneIteratively(trainer, data: data, validation: data, plan: plan)
        #expect(stop == .accuracyBudget)
        #expect(rounds.count == 1 && rounds[0].rolledBack)
        #expect(rounds[0].accuracyAfterCut < 0.7)
        #expect(model.parameters.map(\.parameter.value) == values)
        #expect(model.parameters.map(\.parameter.mask) == masks)
    }

    @Test("lottery-ticket rounds rewind the survivors to the snapshot after each cut, then retrain; times are reported")
    func lotteryTicket() throws {
        let (model, data) = try Self.untrained()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        let snapshot = SnapshotAtStep(step: 3, model: model)
        trainer.callbacks = [snapshot]
        var options = TrainingOptions()
        options.epochs = 30; options.batchSize = 32; options.learningRate = 0.05
        try trainer.fit(data, options: options)
        let ticket = try #require(snapshot.snapshot)
        #expect(ticket.values["fc1.weight"] != model.parameter(at: "fc1.weight")!.value, "snapshot from step 3, not the end")
        trainer.callbacks = []

        // With no retraining, a round leaves exactly the snapshot's values on the kept weights.
        var none = options
        none.epochs = 0
        let plan = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5,
                                     targetSparsity: 0.5, fineTune: none, rewind: ticket)
        let (rounds, _) = try pruneIteratively(trainer, data: data, validation: data, plan: plan)
        #expect(rounds.count == 1 && rounds[0].pruningSeconds > 0 && rounds[0].trainingSeconds == 0)
        for path in ["fc1.weight", "fc2.weight"] {
            let p = model.parameter(at: path)!, saved = ticket.values[path]!
            #expect(p.mask != nil)
            for i in 0..<p.count {
                #expect(p.value[flat: i] == (p.mask![flat: i] != 0 ? saved[flat: i] : 0))
            }
        }
        // Train the rewound 50% net, then a round to 75% that rewinds and retrains keeps the task learned.
        try trainer.fit(data, options: options)
        let retrain = try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5,
                                        targetSparsity: 0.75, fineTune: options, rewind: ticket)
        let (more, stop) = try pruneIteratively(trainer, data: data, validation: data, plan: retrain)
        #expect(stop == .targetReached && more.last!.sparsity > 0.74)
        #expect(more.allSatisfy { $0.trainingSeconds > 0 })
        #expect(more.last!.accuracyAfterFineTune > 0.9)
    }

    @Test("impossible iterative plans are rejected")
    func rejected() {
        #expect(throws: PruningError.self) { try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0, targetSparsity: 0.9, fineTune: Self.fineTune) }
        #expect(throws: PruningError.self) { try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5, targetSparsity: 1.2, fineTune: Self.fineTune) }
        #expect(throws: PruningError.self) { try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5, targetSparsity: 0.9, maximumRounds: 0, fineTune: Self.fineTune) }
        #expect(throws: PruningError.self) { try IterativePlan(plan: PruningPlan(threshold: .sparsity(0)), fractionPerRound: 0.5, targetSparsity: 0.9, accuracyBudget: -1, fineTune: Self.fineTune) }
    }
}
