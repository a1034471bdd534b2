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

    /// Four epochs of SGD (batch 16, rate 0.05, momentum 0.9, no decay) with `prune`.
    static func recipe(_ prune: Recipe.Prune) -> Recipe {
        Recipe(model: "test", validationSplit: 0,
               train: Recipe.Training(epochs: 4, batchSize: 16, learningRate: 0.05, weightDecay: 0), prune: prune)
    }

    /// Records the pruned weights' sparsity after every training step.
    final class Watch: TrainingCallback, RunObserver {
        let paths: [String]
        var sparsity: [Double] = []
        init(_ paths: [String]) { self.paths = paths }
        func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
            let ws = paths.map { trainer.model.parameter(at: $0)!.value }
            sparsity.append(1 - Double(ws.reduce(0) { $0 + $1.nonZeroCount() }) / Double(ws.reduce(0) { $0 + $1.count }))
        }
    }

    @Test("during training, each cut reaches the scheduled sparsity exactly and masks hold between cuts")
    func duringTraining() throws {
        let (model, data) = try Self.problem()
        let run = try PruningRun(Self.recipe(Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.8))),
                                 schedule: try GradualSchedule(final: 0.8, startStep: 2, endStep: 12, every: 3))
        let watch = Watch(["fc1.weight", "fc2.weight"])
        run.observers = [watch]
        let report = try run.run(model, data: DataSplits(training: data, validation: nil, test: data))
        let cuts = report.history.cuts
        #expect(cuts.map(\.step) == [2, 5, 8, 11, 12])
        #expect(cuts.allSatisfy { $0.phase == .training && $0.criterion == "magnitude" })
        let total = 8 * 16 + 16 * 3
        for cut in cuts {
            #expect(abs(cut.sparsity - (cut.targetSparsity! * Double(total)).rounded() / Double(total)) < 1e-9, "\(cut)")
        }
        // Between cuts the optimizer never revives a cut weight: sparsity never drops.
        #expect(watch.sparsity.count == 16)
        for (a, b) in zip(watch.sparsity, watch.sparsity.dropFirst()) { #expect(b >= a) }
        #expect(abs(watch.sparsity.last! - (0.8 * Double(total)).rounded() / Double(total)) < 1e-9)
        #expect(report.history.rounds.isEmpty, "AGP has no rounds after training")
    }

    @Test("AGP in epochs: cuts at the end of the start epoch, every epoch, up to the end epoch's last step")
    func agpInEpochs() throws {
        let (model, data) = try Self.problem()
        let prune = Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.5),
                                 schedule: Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 1, endEpoch: 3, everyEpochs: 1)))
        let report = try PruningRun(Self.recipe(prune)).run(model, data: DataSplits(training: data, validation: nil, test: data))
        // 64 samples in batches of 16: 4 steps per epoch; epoch e ends at step 4e − 1.
        #expect(report.history.cuts.map(\.step) == [3, 7, 11])
        #expect(report.history.cuts.last?.targetSparsity == 0.5)
    }

    @Test("AGP with neuron granularity removes whole hidden neurons along the ramp; the logits stay")
    func structuredAGP() throws {
        let (model, data) = try Self.problem()
        let prune = Recipe.Prune(criterion: .l2Norm, granularity: .neuron, scope: .layer, threshold: Recipe.ThresholdSpec(sparsity: 0.75))
        let run = try PruningRun(Self.recipe(prune), schedule: try GradualSchedule(final: 0.75, startStep: 2, endStep: 12, every: 5))
        let report = try run.run(model, data: DataSplits(training: data, validation: nil, test: data))
        #expect(report.history.cuts.map(\.step) == [2, 7, 12])
        let w = model.parameter(at: "fc1.weight")!.value
        let deadRows = (0..<16).filter { r in (0..<8).allSatisfy { w[flat: r * 8 + $0] == 0 } }
        #expect(deadRows.count == 12)
        #expect(model.parameter(at: "fc2.weight")!.value.nonZeroCount() == 48, "fc2 produces the logits: never cut")
        let small = try Structured.compact(model).model
        #expect(small.parameter(at: "fc1.weight")?.value.shape == [4, 8])
        #expect(small.parameter(at: "fc2.weight")?.value.shape == [3, 4])
    }

    /// A schedule written outside the library: one cut to the plan's target after a given step.
    struct CutOnce: PruningSchedule {
        var name: String { "cut-once" }
        var step: Int
        func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? {
            step == self.step ? target : nil
        }
    }

    /// A criterion written outside the library: entries later in a parameter matter less.
    struct LaterIsLess: Criterion {
        var name: String { "later-is-less" }
        func scores(for parameter: Parameter, path: String) -> Tensor {
            Tensor(shape: parameter.value.shape, scalars: (0..<parameter.count).map { -Float($0) })
        }
    }

    @Test("a custom schedule and a custom criterion run through the engine: one cut after step 5, the sparsity holds to the end")
    func customScheduleAndCriterion() throws {
        let (model, data) = try Self.problem()
        let prune = Recipe.Prune(threshold: Recipe.ThresholdSpec(perLayer: ["fc1.weight": 0.75]))
        let run = try PruningRun(Self.recipe(prune), criterion: LaterIsLess(), schedule: CutOnce(step: 5))
        let watch = Watch(["fc1.weight"])
        run.observers = [watch]
        let report = try run.run(model, data: DataSplits(training: data, validation: nil, test: data))
        #expect(report.history.cuts.map(\.step) == [5])
        #expect(report.history.cuts.first?.criterion == "later-is-less")
        #expect(watch.sparsity[..<5].allSatisfy { $0 == 0 })
        #expect(watch.sparsity[5...].allSatisfy { $0 == 0.75 }, "\(watch.sparsity)")
        // The criterion ranks later entries lower: exactly the last 96 of fc1's 128 are cut.
        let mask = try #require(model.parameter(at: "fc1.weight")!.mask)
        #expect(mask.scalars == [Float](repeating: 1, count: 32) + [Float](repeating: 0, count: 96))
        let fc2 = model.parameter(at: "fc2.weight")!.value
        #expect(fc2.nonZeroCount() == fc2.count, "a parameter missing from the map is not cut")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
