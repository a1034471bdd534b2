import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Gradual pruning (AGP)")
struct ScheduleTests {
    /// An 8→16→3 network and 64 random samples of three classes.
    static func problem() throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 4)
        let model = try Graph(inputShape: [8], sequential: [
            Dense(name: "fc1", inFeatures: 8, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 3, rng: &rng),
        ])
        let data = try Dataset(inputs: randomTensor([64, 8], seed: 5).scalars, sampleShape: [8],
                               labels: (0..<64).map { Int32($0 % 3) })
        return (model, data)
    }

    @Test("the target follows the cubic ramp")
    func formula() throws {
        let s = try GradualSchedule(initial: 0.1, final: 0.9, startStep: 10, endStep: 50, every: 10)
        #expect(s.sparsity(atStep: 5) == 0)
        #expect(s.sparsity(atStep: 10) == 0.1)
        for t in [20, 30, 40] {
            let expected = 0.9 + (0.1 - 0.9) * pow(1 - Double(t - 10) / 40, 3)
            #expect(abs(s.sparsity(atStep: t) - expected) < 1e-12)
        }
        #expect(s.sparsity(atStep: 50) == 0.9 && s.sparsity(atStep: 99) == 0.9)
        #expect((0..<60).filter(s.cuts) == [10, 20, 30, 40, 50])
        let instant = try GradualSchedule(final: 0.9, startStep: 5, endStep: 5, every: 1)
        #expect(instant.cuts(atStep: 5) && instant.sparsity(atStep: 5) == 0.9)   // a ramp of no length cuts to s_f at once
        let uneven = try GradualSchedule(final: 0.5, startStep: 0, endStep: 7, every: 3)
        #expect((0..<10).filter(uneven.cuts) == [0, 3, 6, 7])   // the end step always cuts
    }

    @Test("impossible schedules are rejected")
    func rejected() {
        #expect(throws: PruningError.self) { try GradualSchedule(final: 1.5, startStep: 0, endStep: 10, every: 1) }
        #expect(throws: PruningError.self) { try GradualSchedule(final: 0.5, startStep: 10, endStep: 5, every: 1) }
        #expect(throws: PruningError.self) { try GradualSchedule(final: 0.5, startStep: 0, endStep: 5, every: 0) }
    }

    @Test("during training, each cut reaches the scheduled sparsity exactly and masks hold between cuts")
    func duringTraining() throws {
        let (model, data) = try Self.problem()
        let schedule = try GradualSchedule(final: 0.8, startStep: 2, endStep: 12, every: 3)
        let pruning = GradualPruning(plan: PruningPlan(threshold: .sparsity(0)), schedule: schedule)
        final class Watch: TrainingCallback {
            var sparsity: [Double] = []
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                let ws = ["fc1.weight", "fc2.weight"].map { trainer.model.parameter(at: $0)!.value }
                sparsity.append(1 - Double(ws.reduce(0) { $0 + $1.nonZeroCount() }) / Double(ws.reduce(0) { $0 + $1.count }))
            }
        }
        let watch = Watch()
        var options = TrainingOptions()
        options.epochs = 4; options.batchSize = 16; options.learningRate = 0.05
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [pruning, watch]
        try trainer.fit(data, options: options)
        #expect(pruning.history.map(\.step) == [2, 5, 8, 11, 12])
        let total = 8 * 16 + 16 * 3
        for event in pruning.history {
            #expect(abs(event.sparsity - (event.target * Double(total)).rounded() / Double(total)) < 1e-9, "\(event)")
        }
        // Between cuts the optimizer never revives a cut weight: sparsity never drops.
        for (a, b) in zip(watch.sparsity, watch.sparsity.dropFirst()) { #expect(b >= a) }
        #expect(abs(watch.sparsity.last! - (0.8 * Double(total)).rounded() / Double(total)) < 1e-9)
    }

    @Test("AGP with neuron granularity removes whole hidden neurons along the ramp; the logits stay")
    func structuredAGP() throws {
        let (model, data) = try Self.problem()
        let schedule = try GradualSchedule(final: 0.75, startStep: 2, endStep: 12, every: 5)
        let pruning = GradualPruning(plan: PruningPlan(criterion: SquaredMagnitude(), granularity: .neuron, scope: .layer,
                                                       threshold: .sparsity(0)), schedule: schedule)
        var options = TrainingOptions()
        options.epochs = 4; options.batchSize = 16; options.learningRate = 0.05
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [pruning]
        try trainer.fit(data, options: options)
        #expect(pruning.history.map(\.step) == [2, 7, 12])
        let w = model.parameter(at: "fc1.weight")!.value
        let deadRows = (0..<16).filter { r in (0..<8).allSatisfy { w[flat: r * 8 + $0] == 0 } }
        #expect(deadRows.count == 12)
        #expect(model.parameter(at: "fc2.weight")!.value.nonZeroCount() == 48, "fc2 produces the logits: never cut")
        let small = try Structured.compact(model).model
        #expect(small.parameter(at: "fc1.weight")?.value.shape == [4, 8])
        #expect(small.parameter(at: "fc2.weight")?.value.shape == [3, 4])
    }

    @Test("the constant schedule cuts once after its step, with any threshold, and the sparsity holds to the end")
    func constant() throws {
        let (model, data) = try Self.problem()
        let cut = ConstantPruning(plan: PruningPlan(threshold: .perLayer(["fc1.weight": 0.75])), afterStep: 5)
        final class Watch: TrainingCallback {
            var zeros: [Int] = []
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                let w = trainer.model.parameter(at: "fc1.weight")!.value
                zeros.append(w.count - w.nonZeroCount())
            }
        }
        let watch = Watch()
        var options = TrainingOptions()
        options.epochs = 4; options.batchSize = 16; options.learningRate = 0.05
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [cut, watch]
        try trainer.fit(data, options: options)
        #expect(watch.zeros.count == 16)
        #expect(watch.zeros[..<5].allSatisfy { $0 == 0 })
        #expect(watch.zeros[5...].allSatisfy { $0 == 96 }, "\(watch.zeros)")
        #expect(cut.result?.parameters.first { $0.path == "fc1.weight" }?.nonZerosAfter == 32)
        let fc2 = model.parameter(at: "fc2.weight")!.value
        #expect(fc2.nonZeroCount() == fc2.count, "a parameter missing from the map is not cut")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
