import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// `Graph.backward(_:inputGradient:)`: the gradient with respect to the graph input, checked
/// by `checkGraphGradients` (which compares it with central differences at every input entry
/// here, as `maxEntries` is at least the input's size).
@Suite("Graph input gradients")
struct InputGradientTests {
    @Test("the input gradient sums a dense layer's share and a residual Add's: both read the input")
    func denseResidual() throws {
        var rng = SeededGenerator(seed: 31)
        let g = Graph(inputShape: [5])
        let hidden = try g.add(Tanh(name: "t"), after: try g.add(Dense(name: "a", inFeatures: 5, outFeatures: 5, rng: &rng), after: .input))
        let sum = try g.add(Add(name: "sum"), inputs: [hidden, .input])
        try g.add(Dense(name: "out", inFeatures: 5, outFeatures: 3, rng: &rng), after: sum)
        let check = checkGraphGradients(g, input: randomTensor([4, 5], seed: 32), maxEntries: 20)
        #expect(check.worstError < 5e-3, "\(check)")
        #expect(check.checked == 20 + 25 + 5 + 15 + 3)   // the input, then every parameter entry
    }

    @Test("a convolution reading the input computes its input gradient only when asked, then skips it again")
    func convolutionResidual() throws {
        var rng = SeededGenerator(seed: 34)
        let g = Graph(inputShape: [2, 6, 6])
        let conv = Conv2D(name: "conv", inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1, rng: &rng)
        let s = try g.add(Sigmoid(name: "s"), after: try g.add(conv, after: .input))
        let sum = try g.add(Add(name: "sum"), inputs: [.input, s])
        let f = try g.add(Flatten(name: "flatten"), after: sum)
        try g.add(Dense(name: "out", inFeatures: 72, outFeatures: 4, rng: &rng), after: f)
        let x = randomTensor([3, 2, 6, 6], seed: 35), r = randomTensor([3, 4], seed: 36)
        _ = g.forward(x, training: true)
        #expect(g.backward(r) == nil)   // training does not ask
        #expect(!conv.computesInputGradient)
        let check = checkGraphGradients(g, input: x, maxEntries: 216)
        #expect(check.worstError < 5e-3, "\(check)")
        #expect(!conv.computesInputGradient)   // back to skipping for training
    }

    @Test("an empty graph passes the gradient through, and only when asked")
    func emptyGraph() throws {
        let empty = Graph(inputShape: [3])
        let r = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        #expect(empty.backward(r, inputGradient: true) == r)
        #expect(empty.backward(r) == nil)
    }
}
