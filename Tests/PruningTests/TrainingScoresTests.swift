import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Scores gathered from training, and rewinding")
struct TrainingScoresTests {
    static func setup() throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 9)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 6, rng: &rng), Tanh(name: "t"),
            Dense(name: "fc2", inFeatures: 6, outFeatures: 3, rng: &rng),
        ])
        let data = try Dataset(inputs: randomTensor([48, 4], seed: 10).scalars, sampleShape: [4],
                               labels: (0..<48).map { Int32($0 % 3) })
        return (model, data)
    }

    @Test("movement scores are Σ −w·g over the steps")
    func movement() throws {
        let (model, data) = try Self.setup()
        final class Reference: TrainingCallback {
            var sum = Tensor.zeros([6, 4])
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                let p = trainer.model.parameter(at: "fc1.weight")!
                for i in 0..<sum.count { sum[flat: i] += -p.value[flat: i] * p.gradient[flat: i] }
            }
        }
        let movement = MovementScores(), reference = Reference()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [movement, reference]
        var options = TrainingOptions()
        options.epochs = 2; options.batchSize = 16; options.learningRate = 0.1
        try trainer.fit(data, options: options)
        let scores = movement.criterion.scores(for: model.parameter(at: "fc1.weight")!, path: "fc1.weight")
        #expect(maxRelativeError(scores.scalars, reference.sum.scalars) < 1e-5)
        #expect(scores.scalars.contains { $0 != 0 })
        #expect(movement.criterion.name == "movement")

        // As a live criterion it ranks exactly like its fixed copy.
        let (copy, _) = try Self.setup()
        for ((_, a), (_, b)) in zip(copy.parameters, model.parameters) { a.value = b.value }
        var plan = PruningPlan(threshold: .sparsity(0.5))
        plan.criterion = movement
        try Pruner.prune(model, with: plan)
        plan.criterion = movement.criterion
        try Pruner.prune(copy, with: plan)
        #expect(model.parameter(at: "fc1.weight")!.mask == copy.parameter(at: "fc1.weight")!.mask)
        #expect(model.parameter(at: "fc1.weight")!.mask != Tensor(shape: [6, 4], repeating: 1))
    }

    @Test("SNIP scores are |w·∂L/∂w| on one batch before training")
    func snip() throws {
        let (model, data) = try Self.setup()
        let scores = try #require(try SNIP(batchSize: 16).prepared(for: model, on: data) as? PrecomputedScores)
        let batch = data.batch(0..<16)
        model.backward(softmaxCrossEntropy(logits: model.forward(batch.inputs, training: true), labels: batch.labels).gradient)
        let p = model.parameter(at: "fc2.weight")!
        let expected = p.value.zipMap(p.gradient) { abs($0 * $1) }
        #expect(scores.scores(for: p, path: "fc2.weight") == expected)
        #expect(scores.name == "snip")
    }

    @Test("rewinding restores the surviving weights to the snapshot and keeps the cut ones at zero")
    func rewind() throws {
        let (model, data) = try Self.setup()
        let initial = WeightSnapshot(model)
        var options = TrainingOptions()
        options.epochs = 3; options.batchSize = 16
        try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.5)))
        let masks = model.parameters.map(\.parameter.mask)
        try initial.rewind(model)
        #expect(model.parameters.map(\.parameter.mask) == masks)
        for (path, p) in model.parameters {
            for i in 0..<p.count {
                let kept = p.mask.map { $0[flat: i] != 0 } ?? true
                #expect(p.value[flat: i] == (kept ? initial.values[path]![flat: i] : 0), "\(path)[\(i)]")
            }
        }
        let other = try Architecture.lenet300.build()
        #expect(throws: PruningError.self) { try initial.rewind(other) }
    }
}
