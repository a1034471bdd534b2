import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Distillation in plans and runs")
struct DistillationRunTests {
    @Test("distill sections decode under train and fine_tune; resolved() writes T = 4, α = 0.7; the phases' options carry them")
    func decodeAndResolve() throws {
        let r = try Recipe(yaml: """
            model: dense.safetensors
            train: {epochs: 2, distill: {teacher: big.safetensors}}
            prune: {threshold: {sparsity: 0.9}}
            fine_tune: {epochs: 3, distill: {temperature: 2, alpha: 0.9, teacher: big.safetensors}}
            """, source: "r.yaml")
        #expect(r.train?.distill == Recipe.Distill(teacher: "big.safetensors"))
        #expect(r.fineTune?.distill == Recipe.Distill(temperature: 2, alpha: 0.9, teacher: "big.safetensors"))
        #expect(r.distillTeacher == "big.safetensors")
        let resolved = r.resolved()
        #expect(resolved.train?.distill == Recipe.Distill(temperature: 4, alpha: 0.7, teacher: "big.safetensors"))
        #expect(resolved.fineTune?.distill == Recipe.Distill(temperature: 2, alpha: 0.9, teacher: "big.safetensors"))
        #expect(r.trainingOptions()?.distillation == Distillation(temperature: 4, alpha: 0.7))
        #expect(r.fineTuneOptions(epochs: 1).distillation == Distillation(temperature: 2, alpha: 0.9))
        // Without the sections, no phase distils.
        let plain = Recipe(model: "m.safetensors", train: Recipe.Training(), fineTune: Recipe.FineTune(epochs: 1))
        #expect(plain.trainingOptions()?.distillation == nil && plain.fineTuneOptions(epochs: 1).distillation == nil)
        #expect(plain.resolved().fineTune?.distill == nil)
        #expect(throws: PruningError.self) { try Recipe(yaml: "model: m\nfine_tune: {epochs: 1, distill: {temprature: 2}}\n") }
        // What is matched: the outputs unless the section says tokens; a misspelling lists the names.
        let tokens = try Recipe(yaml: "model: m.safetensors\nfine_tune: {epochs: 1, distill: {match: tokens}}\n")
        #expect(tokens.fineTuneOptions(epochs: 1).distillation?.match == .tokens && r.fineTuneOptions(epochs: 1).distillation?.match == .outputs)
        let misspelt = #expect(throws: PruningError.self) { try Recipe(yaml: "model: m.safetensors\nfine_tune: {epochs: 1, distill: {match: token}}\n") }
        #expect("\(misspelt.map { "\($0)" } ?? "")".contains("fine_tune.distill.match 'token' is not one of outputs or tokens"))
    }

    @Test("impossible distill fields are reported with their paths", arguments: [
        (#"{"model": "m", "fine_tune": {"epochs": 1, "distill": {"temperature": 0}}}"#, "fine_tune.distill.temperature"),
        (#"{"model": "m", "fine_tune": {"epochs": 1, "distill": {"temperature": -2}}}"#, "fine_tune.distill.temperature"),
        (#"{"model": "m", "fine_tune": {"epochs": 1, "distill": {"alpha": 1.5}}}"#, "fine_tune.distill.alpha"),
        (#"{"model": "m", "train": {"distill": {"alpha": -0.1}}}"#, "train.distill.alpha"),
        (#"{"model": "m", "train": {"distill": {"teacher": " "}}}"#, "train.distill.teacher"),
        (#"{"model": "lenet300", "train": {"distill": {}}}"#, "train.distill"),
        (#"{"model": "arch.json", "train": {}, "fine_tune": {"epochs": 1, "distill": {}}}"#, "fine_tune.distill"),
        (#"{"model": "m", "train": {"distill": {"teacher": "a"}}, "fine_tune": {"epochs": 1, "distill": {"teacher": "b"}}}"#, "fine_tune.distill.teacher"),
    ])
    func problems(json: String, field: String) throws {
        let problems = try JSONDecoder().decode(Recipe.self, from: Data(json.utf8)).problems()
        #expect(problems.map(\.field) == [field], "\(problems)")
    }

    @Test("edge values are fine: α 0 and 1, a fresh model with a teacher, one teacher named twice")
    func accepted() {
        let teacher = Recipe.Distill(temperature: 0.5, alpha: 1, teacher: "t.safetensors")
        #expect(Recipe(model: "lenet300", train: Recipe.Training(distill: teacher),
                       fineTune: Recipe.FineTune(epochs: 1, distill: teacher)).problems().isEmpty)
        #expect(Recipe(model: "m.safetensors", fineTune: Recipe.FineTune(epochs: 1, distill: Recipe.Distill(alpha: 0))).problems().isEmpty)
    }

    /// A net trained on the flipped labels of a separable problem (label = x₀ > 0), and
    /// the problem's true data: the loaded model disagrees with the labels.
    static func flippedTeacherAndData() throws -> (Graph, Dataset) {
        let x = randomTensor([256, 4], seed: 7)
        let labels = (0..<256).map { Int32(x.scalars[$0 * 4] > 0 ? 1 : 0) }
        let data = try Dataset(inputs: x.scalars, sampleShape: [4], labels: labels)
        let flipped = try Dataset(inputs: x.scalars, sampleShape: [4], labels: labels.map { 1 - $0 })
        var rng = SeededGenerator(seed: 8)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 2, rng: &rng),
        ])
        try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
            .fit(flipped, options: TrainingOptions(epochs: 30, batchSize: 32, learningRate: 0.05))
        return (model, data)
    }

    /// One-shot global magnitude to `sparsity`, then 20 fine-tuning epochs with distillation at `alpha`.
    static func recipe(alpha: Float, sparsity: Double = 0.8) -> Recipe {
        Recipe(model: "model.safetensors", validationSplit: 0,
               prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: sparsity)),
               fineTune: Recipe.FineTune(epochs: 20, learningRate: 0.05, batchSize: 32,
                                         distill: Recipe.Distill(temperature: 2, alpha: alpha)))
    }

    /// `T²·KL` at T = 2 from `teacher`'s outputs to `model`'s on `data`.
    static func divergence(_ model: Graph, from teacher: Graph, on data: Dataset) -> Float {
        let inputs = data.batch(0..<data.count).inputs
        return Distillation(temperature: 2, alpha: 1).loss(logits: model.forward(inputs, training: false),
                                                           teacherLogits: teacher.forward(inputs, training: false),
                                                           labels: data.labels).value
    }

    @Test("by default the model before the cut teaches: with α = 1 fine-tuning follows it against the labels, with α = 0 the labels win")
    func defaultTeacher() throws {
        let (model, data) = try Self.flippedTeacherAndData()
        let before = try model.copy()
        #expect(Trainer.evaluate(before, on: data).accuracy < 0.1, "the loaded model answers the flipped labels")
        let cut = try model.copy()
        try Pruner.prune(cut, with: try #require(Self.recipe(alpha: 1).pruningPlan()))
        let splits = DataSplits(training: data, validation: nil, test: data)
        let distilled = try model.copy()
        let report = try PruningRun(Self.recipe(alpha: 1)).run(distilled, data: splits)
        #expect(Self.divergence(distilled, from: before, on: data) < Self.divergence(cut, from: before, on: data) / 2,
                "KL to the pre-pruning model: \(Self.divergence(cut, from: before, on: data)) after the cut → \(Self.divergence(distilled, from: before, on: data))")
        #expect(report.final.accuracy < 0.2, "the teacher's (wrong) answers are kept: \(report.final.accuracy)")
        let labelled = try model.copy()
        let plain = try PruningRun(Self.recipe(alpha: 0)).run(labelled, data: splits)
        #expect(plain.final.accuracy > 0.8, "with α = 0 the labels are learnt: \(plain.final.accuracy)")
        // The masks hold through distillation.
        #expect(distilled.parameters.map(\.parameter.mask) == cut.parameters.map(\.parameter.mask))
    }

    @Test("a teacher given to the run is used; one with another number of outputs is refused, naming the field")
    func givenTeacher() throws {
        let (model, data) = try Self.flippedTeacherAndData()
        let splits = DataSplits(training: data, validation: nil, test: data)
        // The flipped model teaching a fresh network: with α = 1 it learns the teacher's answers.
        var rng = SeededGenerator(seed: 9)
        let student = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 2, rng: &rng),
        ])
        let before = Self.divergence(student, from: model, on: data)
        let run = try PruningRun(Self.recipe(alpha: 1, sparsity: 0.5))
        run.teacher = model
        let report = try run.run(student, data: splits)
        #expect(report.final.accuracy < 0.2, "the given teacher's answers are learnt: \(report.final.accuracy)")
        #expect(Self.divergence(student, from: model, on: data) < before / 4, "KL \(before) → \(Self.divergence(student, from: model, on: data))")
        var wideRng = SeededGenerator(seed: 10)
        let wide = try Graph(inputShape: [4], sequential: [Dense(name: "fc", inFeatures: 4, outFeatures: 3, rng: &wideRng)])
        let refused = try PruningRun(Self.recipe(alpha: 0.5))
        refused.teacher = wide
        let error = #expect(throws: PruningError.self) { try refused.run(try model.copy(), data: splits) }
        #expect(error?.field == "fine_tune.distill.teacher" && "\(error!)".contains("gives 3 outputs per sample, the model 2"),
                "\(String(describing: error))")
    }

    @Test("a decoder's run distils towards its dense self's logits at every position (the teacher runs on each batch)")
    func languageModel() throws {
        let text = Array("the cat sat on the mat and the rat ran to the hat, then the cat ran".utf8)
        let data = try Dataset(text: text, length: 6)
        let model = try Graph.gptDecoder(TransformerConfiguration(vocabulary: 256, positions: 6, features: 8, heads: 2, layers: 1,
                                                                  intermediate: 16, normalization: .pre, causal: true,
                                                                  activation: .tanh, epsilon: 1e-5), seed: 5)
        // A decoder that has learnt the text, so its logits are worth keeping.
        try Trainer(model: model, optimizer: Optimizer(Adam())).fit(data, options: TrainingOptions(epochs: 40, batchSize: 8, learningRate: 0.03))
        let dense = try model.copy()
        let recipe = Recipe(model: "gpt.safetensors", validationSplit: 0,
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.5)),
                            fineTune: Recipe.FineTune(epochs: 60, learningRate: 0.01, batchSize: 8, optimizer: .adam,
                                                      distill: Recipe.Distill(temperature: 1, alpha: 1), steps: 300))
        let cut = try model.copy()
        try Pruner.prune(cut, with: try #require(recipe.pruningPlan()))
        try PruningRun(recipe).run(model, data: DataSplits(training: data, validation: nil, test: data))
        let all = data.batch(0..<data.count)
        func divergence(_ g: Graph) -> Float {
            Distillation(temperature: 1, alpha: 1).loss(logits: g.forward(all.inputs, training: false),
                                                       teacherLogits: dense.forward(all.inputs, training: false), labels: all.labels).value
        }
        #expect(divergence(model) < divergence(cut) / 2, "KL to the dense decoder: \(divergence(cut)) after the cut → \(divergence(model))")
        #expect(model.parameters.map(\.parameter.mask) == cut.parameters.map(\.parameter.mask))
    }
}
