import NeuralNetwork
import Testing
import TensorCore
import TestSupport

@Suite("Graph copies")
struct GraphCopyTests {
    @Test("a copy computes the same outputs, keeps masks and BatchNorm state, and shares nothing")
    func copy() throws {
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [1, 6, 6], sequential: [
            Conv2D(name: "conv", inChannels: 1, outChannels: 2, kernelSize: 3, rng: &rng), BatchNorm(name: "bn", features: 2),
            ReLU(name: "r"), Flatten(name: "flat"), Dense(name: "fc", inFeatures: 32, outFeatures: 3, rng: &rng),
        ])
        let x = randomTensor([4, 1, 6, 6], seed: 5)
        _ = model.forward(x, training: true)   // moves the running statistics off their start
        let fc = try #require(model.parameter(at: "fc.weight"))
        var mask = Tensor(shape: fc.value.shape, repeating: 1)
        for i in stride(from: 0, to: mask.count, by: 3) { mask.scalars[i] = 0 }
        fc.mask = mask
        let copy = try model.copy()
        #expect(copy.forward(x).scalars == model.forward(x).scalars)
        #expect(copy.parameter(at: "fc.weight")?.mask == mask)
        #expect(copy.parameter(at: "bn.running_mean")?.value == model.parameter(at: "bn.running_mean")?.value)
        #expect((copy.module(named: "bn") as? BatchNorm)?.batchesTracked == 1)
        copy.parameter(at: "conv.weight")!.value.scalars[0] += 1
        #expect(copy.forward(x).scalars != model.forward(x).scalars, "the copy's weights are its own")
    }
}
