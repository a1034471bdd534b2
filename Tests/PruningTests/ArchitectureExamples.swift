import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import TensorCore
import Testing

// The code of docs/ARCHITECTURE.md and the README's library example, kept compiling and
// checked here. Edit both together.

/// |w| / max|w| of its row: importance relative to the neuron's largest weight.
struct RowRelativeMagnitude: Criterion {
    var name: String { "row-relative" }
    func scores(for parameter: Parameter, path: String) -> Tensor {
        let rows = parameter.value.shape[0], size = parameter.count / rows
        let w = parameter.value.magnitudes().scalars
        var scores = w
        for r in 0..<rows {
            let peak = w[(r * size)..<((r + 1) * size)].max() ?? 0
            for j in 0..<size { scores[r * size + j] = peak > 0 ? w[r * size + j] / peak : 0 }
        }
        return Tensor(shape: parameter.value.shape, scalars: scores)
    }
}

/// A linear ramp: at the end of every epoch, cut to epoch/epochs of the target sparsity.
struct LinearPerEpoch: PruningSchedule {
    var name: String { "linear" }
    func cut(afterStep step: Int, of timeline: TrainingTimeline, toward target: Threshold) -> Threshold? {
        guard case let .sparsity(final) = target, (step + 1) % timeline.stepsPerEpoch == 0 else { return nil }
        return .sparsity(final * Double((step + 1) / timeline.stepsPerEpoch) / Double(timeline.epochs))
    }
}

@Suite("docs/ARCHITECTURE.md and README examples")
struct ArchitectureExamples {
    @Test("running a recipe from Swift: AGP to 90% on Fashion-MNIST in one epoch, fine-tuned, saved with the masks")
    func recipeFromSwift() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("example-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let recipe = try Recipe(yaml: """
            model: lenet300
            seed: 1
            train: {epochs: 1, batch_size: 128}
            prune:
              threshold: {sparsity: 0.9}
              schedule: {agp: {start_epoch: 0, end_epoch: 1, every_steps: 50}}
            fine_tune: {epochs: 1}
            """)
        let folder = DatasetFolder()                      // /usr/share/datasets/fashion-mnist
        let data = try recipe.splits(training: try folder.training(), test: try folder.test())
        let model = try recipe.buildModel(sampleShape: data.training.sampleShape, classes: 10)!
        let report = try PruningRun(recipe).run(model, data: data)
        print(report.final.accuracy, report.history.cuts.count)   // test accuracy, AGP cuts
        try ModelFile.save(model, to: path)                       // e.g. "pruned.safetensors"

        #expect(data.training.count == 54_000 && data.validation?.count == 6_000 && data.test.count == 10_000)
        #expect(report.final.accuracy > 0.8 && report.final.samples == 10_000)
        #expect(report.history.cuts.count == 10, "steps 0, 50, …, 400 and the last step 421: \(report.history.cuts.map(\.step))")
        #expect(report.history.cuts.last?.step == 421 && report.history.cuts.last?.targetSparsity == 0.9)
        let loaded = try ModelFile.load(path).model
        let weights = loaded.parameters.filter { $0.path.hasSuffix(".weight") }
        let zeros = weights.reduce(0) { $0 + $1.parameter.count - $1.parameter.value.nonZeroCount() }
        #expect(zeros == 239_580, "90% of the 266,200 weights")
    }

    /// A 6→12→3 network and 96 samples of three classes.
    static func problem(seed: UInt64) throws -> (Graph, DataSplits) {
        var rng = SeededGenerator(seed: seed)
        let x = Tensor.uniform([96, 6], low: -1, high: 1, using: &rng)
        let data = try Dataset(inputs: x.scalars, sampleShape: [6], labels: (0..<96).map { Int32($0 % 3) })
        let model = try Graph(inputShape: [6], sequential: [
            Dense(name: "fc1", inFeatures: 6, outFeatures: 12, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 12, outFeatures: 3, rng: &rng),
        ])
        return (model, DataSplits(training: data, validation: nil, test: data))
    }

    @Test("the guide's custom criterion: a 75% cut per layer keeps every row's largest weight")
    func guideCriterion() throws {
        let (model, data) = try Self.problem(seed: 3)
        let recipe = Recipe(model: "custom", validationSplit: 0,
                            prune: Recipe.Prune(scope: .layer, threshold: Recipe.ThresholdSpec(sparsity: 0.75)))
        let run = try PruningRun(recipe, criterion: RowRelativeMagnitude())
        let report = try run.run(model, data: data)
        #expect(report.history.cuts.first?.criterion == "row-relative")
        let w = model.parameter(at: "fc1.weight")!.value
        #expect(w.count - w.nonZeroCount() == 54, "75% of 72")
        #expect((0..<12).allSatisfy { r in (0..<6).contains { w[flat: r * 6 + $0] != 0 } }, "every neuron keeps an input")
    }

    @Test("the guide's custom schedule: a cut at the end of each epoch, to 1/3, 2/3 and all of the target")
    func guideSchedule() throws {
        let (model, data) = try Self.problem(seed: 4)
        let recipe = Recipe(model: "custom", validationSplit: 0, train: Recipe.Training(epochs: 3, batchSize: 32),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.75)))
        let linear = try PruningRun(recipe, schedule: LinearPerEpoch())
        let report = try linear.run(model, data: data)
        // 96 samples in batches of 32: three steps per epoch.
        #expect(report.history.cuts.map(\.step) == [2, 5, 8])
        #expect(report.history.cuts.compactMap(\.targetSparsity) == [0.25, 0.5, 0.75])
        #expect(report.history.cuts.allSatisfy { $0.phase == .training && $0.criterion == "magnitude" })
        #expect(report.history.rounds.isEmpty)
    }
}
