import NeuralNetwork
import Pruning
import TensorCore
import TestSupport
import Testing

@Suite("a plan's model source and BatchNorm batch counts")
struct ModelSourceTests {
    @Test("`model` names a built-in, an architecture file (.json) or a model file; an empty one is a problem")
    func sources() {
        #expect(Recipe(model: "lenet5").modelSource == .architecture(.lenet5))
        #expect(Recipe(model: "nets/My.JSON").modelSource == .architectureFile("nets/My.JSON"))
        #expect(Recipe(model: "m.safetensors").modelSource == .modelFile("m.safetensors"))
        #expect(Recipe(model: " ").problems().map(\.description).contains { $0.contains("model") && $0.contains("architecture file") })
        #expect(Recipe(model: "cnn.json").problems().isEmpty)
        #expect(Recipe(model: "cnn.json", initializer: .torch).resolved().initializer == .torch)
        #expect(Recipe(model: "cnn.json").resolved().initializer == .heUniform)
        #expect(Recipe(model: "m.safetensors").resolved().initializer == nil)
    }

    @Test("buildModel(spec:) draws the weights with the plan's seed and initializer, as the built-in does")
    func buildsSpec() throws {
        let spec = try Architecture.lenet300.build().spec
        let recipe = Recipe(model: "lenet300.json", initializer: .torch, seed: 5)
        let built = try recipe.buildModel(spec: spec)
        let reference = try Architecture.lenet300.build(seed: 5, initializer: .torch)
        #expect(built.parameters.map(\.parameter.value) == reference.parameters.map(\.parameter.value))
        #expect(try Recipe(model: "lenet300.json", seed: 6).buildModel(spec: spec).parameters[0].parameter.value != reference.parameters[0].parameter.value)
    }

    @Test("training passes count batches; Taylor scoring leaves the count as it was; compaction carries it over")
    func batchCounts() throws {
        let model = try Architecture.resnet8.build(seed: 1)
        let bn = try #require(model.module(named: "block2_bn1") as? BatchNorm)
        let x = randomTensor([4, 1, 28, 28], low: 0, high: 1, seed: 3)
        _ = model.forward(x, training: true)
        _ = model.forward(x, training: true)
        _ = model.forward(x, training: false)
        #expect(bn.batchesTracked == 2)
        let data = try Dataset(inputs: randomTensor([8, 1, 28, 28], low: 0, high: 1, seed: 4).scalars, sampleShape: [1, 28, 28], labels: (0..<8).map { Int32($0 % 10) })
        _ = try averagedTaylorScores(model, data: data, batches: 2, batchSize: 4)
        #expect(bn.batchesTracked == 2)
        let small = try Structured.compact(model, foldBatchNorm: false).model
        #expect((small.module(named: "block2_bn1") as? BatchNorm)?.batchesTracked == 2)
    }
}
