import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// The layers ONNX import needs beyond the built-in architectures: grouped, depthwise and
/// dilated convolutions, GELU, softmax, log-softmax and channel concatenation.
@Suite("layers for imported models")
struct ImportedLayerTests {
    static let tolerance = 5e-3

    /// The convolution from its definition, in Double: `y[n, o, i, j] = b[o] + Σ w[o, c, p, q] ·
    /// x[n, g·C/G + c, i·s − pad + p·d, j·s − pad + q·d]` over the filter's group `g`.
    static func reference(_ conv: Conv2D, _ x: Tensor) -> [Double] {
        let (n, cin, h, w) = (x.shape[0], conv.inChannels, x.shape[2], x.shape[3])
        let (cout, k, s, pad, d, groups) = (conv.outChannels, conv.kernelSize, conv.stride, conv.padding, conv.dilation, conv.groups)
        let extent = d * (k - 1) + 1
        let (oh, ow) = ((h + 2 * pad - extent) / s + 1, (w + 2 * pad - extent) / s + 1)
        let perGroup = cin / groups, filtersPerGroup = cout / groups
        let wv = conv.weight.value.scalars, xv = x.scalars
        var out = [Double](repeating: 0, count: n * cout * oh * ow)
        for b in 0..<n { for o in 0..<cout { for i in 0..<oh { for j in 0..<ow {
            var sum = Double(conv.bias?.value.scalars[o] ?? 0)
            let g = o / filtersPerGroup
            for c in 0..<perGroup { for p in 0..<k { for q in 0..<k {
                let y = i * s - pad + p * d, xx = j * s - pad + q * d
                guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                sum += Double(wv[((o * perGroup + c) * k + p) * k + q]) * Double(xv[((b * cin + g * perGroup + c) * h + y) * w + xx])
            } } }
            out[((b * cout + o) * oh + i) * ow + j] = sum
        } } } }
        return out
    }

    @Test("grouped, depthwise and dilated convolutions equal the definition and pass the gradient check",
          arguments: [(4, 6, 2, 1, 3, 1, 1), (6, 6, 6, 1, 3, 1, 1), (3, 4, 1, 2, 3, 2, 2), (4, 8, 4, 2, 3, 1, 2), (2, 2, 1, 3, 2, 1, 3)])
    func groupedAndDilated(_ shape: (Int, Int, Int, Int, Int, Int, Int)) {
        let (cin, cout, groups, dilation, k, stride, padding) = shape
        var rng = SeededGenerator(seed: 21)
        let conv = Conv2D(name: "conv", inChannels: cin, outChannels: cout, kernelSize: k, stride: stride, padding: padding,
                          dilation: dilation, groups: groups, rng: &rng)
        let x = randomTensor([2, cin, 9, 8], seed: 22)
        let y = conv.forward(x, training: false)
        let expected = Self.reference(conv, x)
        #expect(y.count == expected.count)
        #expect(maxRelativeError(y.scalars, expected.map(Float.init)) < 1e-5)
        let check = checkLayerGradients(conv, input: x, maxEntries: 120)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("GELU, softmax and log-softmax pass the gradient check")
    func activations() {
        for layer in [GELU(name: "gelu"), Softmax(name: "softmax"), LogSoftmax(name: "logsoftmax")] as [Layer] {
            let check = checkLayerGradients(layer, input: randomTensor([3, 7], low: -3, high: 3, seed: 23))
            #expect(check.worstError < Self.tolerance, "\(layer.name): \(check)")
        }
    }

    @Test("GELU is x·Φ(x); softmax rows sum to 1; log-softmax is their logarithm")
    func values() {
        let gelu = GELU(name: "g").forward(Tensor(shape: [1, 3], scalars: [-1, 0, 2]), training: false)
        // Φ(−1) = 0.158655, Φ(2) = 0.977250
        #expect(maxRelativeError(gelu.scalars, [-0.158655, 0, 1.954500]) < 1e-5)
        let x = randomTensor([4, 5], low: -4, high: 4, seed: 24)
        let p = Softmax(name: "s").forward(x, training: false), l = LogSoftmax(name: "l").forward(x, training: false)
        for i in 0..<4 {
            #expect(abs(p.scalars[i * 5..<i * 5 + 5].reduce(0, +) - 1) < 1e-6)
            for j in 0..<5 { #expect(abs(Float.log(p.scalars[i * 5 + j]) - l.scalars[i * 5 + j]) < 1e-5) }
        }
    }

    @Test("a graph with a channel concatenation passes the gradient check and sums the channels")
    func concat() throws {
        var rng = SeededGenerator(seed: 25)
        let graph = Graph(inputShape: [2, 5, 5])
        let a = try graph.add(Conv2D(name: "a", inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, rng: &rng), after: .input)
        let b = try graph.add(Conv2D(name: "b", inChannels: 2, outChannels: 1, kernelSize: 1, rng: &rng), after: .input)
        let cat = try graph.add(Concat(name: "cat"), inputs: [a, b])
        #expect(graph.shapes[cat.index] == [4, 5, 5])
        let flat = try graph.add(Flatten(name: "flat"), after: cat)
        try graph.add(Dense(name: "fc", inFeatures: 100, outFeatures: 3, rng: &rng), after: flat)
        let check = checkGraphGradients(graph, input: randomTensor([2, 2, 5, 5], seed: 26))
        #expect(check.worstError < Self.tolerance, "\(check)")
        #expect(throws: ModelError.self) { try graph.add(Concat(name: "bad"), inputs: [a, flat]) }
    }

    @Test("a model that ends in softmax trains on the cross-entropy of its probabilities")
    func softmaxOutputTrains() throws {
        var rng = SeededGenerator(seed: 27)
        let graph = try Graph(inputShape: [4], sequential: [Dense(name: "fc", inFeatures: 4, outFeatures: 3, rng: &rng),
                                                            Softmax(name: "softmax")])
        #expect(graph.outputKind == .probabilities)
        let inputs = randomTensor([12, 4], seed: 28)
        let labels = (0..<12).map { i in Int32(inputs.scalars[i * 4] > 0 ? 0 : inputs.scalars[i * 4 + 1] > 0 ? 1 : 2) }
        let data = try Dataset(inputs: inputs.scalars, sampleShape: [4], labels: labels)
        let batch = data.batch(0..<12)
        let before = Loss.crossEntropy.evaluate(graph.forward(inputs), on: batch, outputs: .probabilities).value
        // The loss through softmax equals softmax cross-entropy of the logits.
        let logits = try #require(graph.module(named: "fc") as? Dense).forward(inputs, training: false)
        #expect(abs(before - softmaxCrossEntropy(logits: logits, labels: labels).value) < 1e-5)
        #expect(abs(Trainer.evaluate(graph, on: data).loss - before) < 1e-5)
        let trainer = Trainer(model: graph, optimizer: Optimizer(SGD()))
        try trainer.fit(data, options: TrainingOptions(epochs: 30, batchSize: 12, learningRate: 0.5, schedule: .constant, shuffle: false))
        let after = Loss.crossEntropy.evaluate(graph.forward(inputs), on: batch, outputs: .probabilities).value
        #expect(after < 0.5 * before, "\(before) → \(after)")
    }
}
