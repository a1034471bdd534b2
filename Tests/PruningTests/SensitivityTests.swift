import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Sensitivity analysis")
struct SensitivityTests {
    @Test("each weight pruned alone: level 0 is the model as given, level 1 leaves only biases; the model is restored")
    func curves() throws {
        let (trainer, data) = try IterativeTests.trained()
        let model = trainer.model
        let values = model.parameters.map { $0.parameter.value }
        let analysis = try SensitivityAnalysis(model, levels: [0, 0.5, 1], on: data)
        #expect(analysis.layers.map(\.path) == ["fc1.weight", "fc2.weight"])
        #expect(analysis.criterion == "magnitude" && analysis.split == .validation && analysis.samples == 256)
        let baseline = Trainer.evaluate(model, on: data)
        #expect(analysis.baseline.accuracy == baseline.accuracy)
        for layer in analysis.layers {
            #expect(layer.levels.map(\.sparsity) == [0, 0.5, 1], "\(layer.path)")
            #expect(layer.levels[0].accuracy == baseline.accuracy && layer.levels[0].loss == baseline.loss)
        }
        // fc2 at 1: the logits are fc2's bias for every sample, so every sample gets the
        // bias's larger class, and the accuracy is that class's share of the labels.
        let b2 = try #require(model.parameter(at: "fc2.bias")).value.scalars
        let predicted: Int32 = b2[1] > b2[0] ? 1 : 0
        let share = Float(data.labels.filter { $0 == predicted }.count) / Float(data.count)
        #expect(analysis.layers[1].levels[2].accuracy == share)
        // fc1 at 1: the hidden layer is relu(b1) for every sample, so again one class for all.
        let b1 = try #require(model.parameter(at: "fc1.bias")).value.scalars.map { max($0, 0) }
        let w2 = try #require(model.parameter(at: "fc2.weight")).value.scalars
        let logits = (0..<2).map { c in (0..<16).reduce(b2[c]) { $0 + w2[c * 16 + $1] * b1[$1] } }
        let constant: Int32 = logits[1] > logits[0] ? 1 : 0
        #expect(analysis.layers[0].levels[2].accuracy == Float(data.labels.filter { $0 == constant }.count) / Float(data.count))
        // Half of fc1 cut costs something on this problem, but less than all of it.
        #expect(analysis.layers[0].levels[1].accuracy >= analysis.layers[0].levels[2].accuracy)
        #expect(zip(model.parameters, values).allSatisfy { $0.0.parameter.value.scalars == $0.1.scalars && $0.0.parameter.mask == nil })
    }

    @Test("entries already cut stay cut, and a level outside [0, 1] is refused")
    func masksAndLevels() throws {
        let (trainer, data) = try IterativeTests.trained()
        let model = trainer.model
        try Pruner.prune(model, with: PruningPlan(scope: .layer, threshold: .sparsity(0.5)))
        let masks = model.parameters.map { $0.parameter.mask }
        let analysis = try SensitivityAnalysis(model, levels: [0.25, 0.75], parameters: ["fc1.weight"], on: data)
        // fc1 is already half cut: 0.25 cuts nothing more, 0.75 cuts a further quarter.
        #expect(analysis.layers[0].levels.map(\.sparsity) == [0.5, 0.75])
        #expect(analysis.layers[0].levels[0].accuracy == analysis.baseline.accuracy)
        #expect(zip(model.parameters.map { $0.parameter.mask }, masks).allSatisfy { $0 == $1 })
        #expect(throws: PruningError.self) { try SensitivityAnalysis(model, levels: [1.5], on: data) }
    }
}
