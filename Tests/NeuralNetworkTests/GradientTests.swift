import NeuralNetwork
import Testing
import TensorCore
import TestSupport

/// Every layer's backward pass against central finite differences (objective and
/// differences in Double; the tolerance allows for Float32 forward passes).
@Suite("Layer gradients match finite differences")
struct GradientTests {
    static let tolerance = 5e-3

    @Test("Dense")
    func dense() {
        var rng = SeededGenerator(seed: 1)
        let layer = Dense(name: "fc", inFeatures: 7, outFeatures: 5, rng: &rng)
        let check = checkLayerGradients(layer, input: randomTensor([4, 7], seed: 2))
        #expect(check.worstError < Self.tolerance, "\(check)")
        #expect(check.checked == 28 + 35 + 5)
    }

    @Test("Dense without bias")
    func denseNoBias() {
        var rng = SeededGenerator(seed: 1)
        let layer = Dense(name: "fc", inFeatures: 3, outFeatures: 2, bias: false, rng: &rng)
        let check = checkLayerGradients(layer, input: randomTensor([2, 3], seed: 3))
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("Conv2D, stride and padding", arguments: [(1, 0), (1, 1), (2, 1), (2, 2)])
    func conv(stride: Int, padding: Int) {
        var rng = SeededGenerator(seed: 4)
        let layer = Conv2D(name: "conv", inChannels: 2, outChannels: 3, kernelSize: 3,
                           stride: stride, padding: padding, rng: &rng)
        let check = checkLayerGradients(layer, input: randomTensor([2, 2, 7, 6], seed: 5), maxEntries: 200)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("Conv2D gradients with each algorithm forced", arguments: ConvolutionAlgorithm.allCases)
    func convAlgorithms(_ algorithm: ConvolutionAlgorithm) {
        var rng = SeededGenerator(seed: 14)
        let layer = Conv2D(name: "conv", inChannels: 3, outChannels: 2, kernelSize: 5, padding: 2, rng: &rng)
        layer.algorithm = algorithm
        let x = randomTensor([2, 3, 9, 11], seed: 15)
        #expect(layer.resolvedAlgorithm(for: ConvolutionGeometry(batch: 2, channels: 3, height: 9, width: 11,
                                                                  kernelHeight: 5, kernelWidth: 5, padding: 2)) == algorithm)
        let check = checkLayerGradients(layer, input: x, maxEntries: 200)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("direct and im2col convolutions agree on outputs and all gradients",
          arguments: [ConvolutionAlgorithm.direct, .directChannels],
                     [(1, 6, 5, 2, 28, 28), (6, 16, 5, 0, 14, 14), (2, 3, 3, 1, 33, 30), (4, 2, 1, 0, 5, 9),
                      (3, 4, 7, 3, 8, 8), (2, 19, 3, 1, 6, 7), (3, 9, 5, 6, 4, 5)])
    func directMatchesIm2col(_ algorithm: ConvolutionAlgorithm, _ shape: (Int, Int, Int, Int, Int, Int)) {
        let (cin, cout, k, pad, h, w) = shape
        var rng = SeededGenerator(seed: 16)
        let a = Conv2D(name: "a", inChannels: cin, outChannels: cout, kernelSize: k, padding: pad, rng: &rng)
        let b = Conv2D(name: "b", inChannels: cin, outChannels: cout, kernelSize: k, padding: pad, rng: &rng)
        b.weight.value = a.weight.value
        b.bias!.value = a.bias!.value
        a.algorithm = .im2col
        b.algorithm = algorithm
        let g = ConvolutionGeometry(batch: 3, channels: cin, height: h, width: w, kernelHeight: k, kernelWidth: k, padding: pad)
        // The forced algorithm runs unless its kernels cannot handle the geometry.
        #expect(b.resolvedAlgorithm(for: g) == algorithm || (algorithm == .direct && pad > k - 1))
        let x = randomTensor([3, cin, h, w], seed: 17)
        let ya = a.forward(x, training: true), yb = b.forward(x, training: true)
        #expect(maxRelativeError(yb.scalars, ya.scalars) < 1e-5)
        let dy = randomTensor(ya.shape, seed: 18)
        let dxa = a.backward(dy), dxb = b.backward(dy)
        #expect(maxRelativeError(dxb.scalars, dxa.scalars) < 1e-5)
        #expect(maxRelativeError(b.weight.gradient.scalars, a.weight.gradient.scalars) < 1e-4)
        #expect(maxRelativeError(b.bias!.gradient.scalars, a.bias!.gradient.scalars) < 1e-4)
    }

    @Test("MaxPool2D (distinct values so the argmax is stable)", arguments: [(2, 2), (3, 2), (2, 1)])
    func maxPool(kernel: Int, stride: Int) {
        var rng = SeededGenerator(seed: 6)
        var values = (0..<(2 * 3 * 6 * 6)).map { Float($0) * 0.05 }
        rng.shuffle(&values)
        let x = Tensor(shape: [2, 3, 6, 6], scalars: values)
        let check = checkLayerGradients(MaxPool2D(name: "pool", kernelSize: kernel, stride: stride), input: x,
                                        epsilon: 0.01, maxEntries: 216)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("AvgPool2D and GlobalAvgPool")
    func averagePools() {
        let x = randomTensor([2, 3, 6, 5], seed: 7)
        let a = checkLayerGradients(AvgPool2D(name: "avg", kernelSize: 2, stride: 1), input: x, maxEntries: 180)
        let g = checkLayerGradients(GlobalAvgPool(name: "gap"), input: x, maxEntries: 180)
        #expect(a.worstError < Self.tolerance, "\(a)")
        #expect(g.worstError < Self.tolerance, "\(g)")
    }

    @Test("Activations and Flatten")
    func activations() {
        // Keep inputs away from ReLU's kink at 0 so differences do not straddle it.
        var x = randomTensor([3, 2, 4], seed: 8)
        x = x.map { $0 >= 0 ? $0 + 0.05 : $0 - 0.05 }
        let layers: [Layer] = [ReLU(name: "relu"), LeakyReLU(name: "leaky", negativeSlope: 0.1),
                               Tanh(name: "tanh"), Sigmoid(name: "sigmoid"), Flatten(name: "flat")]
        for layer in layers {
            let check = checkLayerGradients(layer, input: x, epsilon: 0.01, maxEntries: 24)
            #expect(check.worstError < Self.tolerance, "\(layer.name): \(check)")
        }
    }

    @Test("BatchNorm in training mode, 1-D and 2-D")
    func batchNorm() {
        for shape in [[6, 4], [3, 4, 3, 2]] {
            let layer = BatchNorm(name: "bn", features: 4)
            layer.scale.value = randomTensor([4], low: 0.5, high: 1.5, seed: 9)
            layer.shift.value = randomTensor([4], seed: 10)
            let check = checkLayerGradients(layer, input: randomTensor(shape, low: -2, high: 2, seed: 11), epsilon: 5e-3, maxEntries: 72)
            #expect(check.worstError < 1e-2, "\(shape): \(check)")
        }
    }

    @Test("Dropout scales kept activations by 1/(1-p), passes the same mask back, and is the identity in evaluation")
    func dropout() {
        let layer = Dropout(name: "drop", rate: 0.25, seed: 3)
        let x = randomTensor([50, 40], low: 0.5, high: 1.5, seed: 12)
        let y = layer.forward(x, training: true)
        let dy = randomTensor([50, 40], seed: 13)
        let dx = layer.backward(dy)
        var dropped = 0
        for i in 0..<x.count {
            if y.scalars[i] == 0 {
                dropped += 1
                #expect(dx.scalars[i] == 0)
            } else {
                #expect(abs(y.scalars[i] - x.scalars[i] / 0.75) < 1e-6)
                #expect(abs(dx.scalars[i] - dy.scalars[i] / 0.75) < 1e-6)
            }
        }
        #expect(abs(Double(dropped) / 2000 - 0.25) < 0.04)
        #expect(layer.forward(x, training: false) == x)
    }

    @Test("softmax cross-entropy: value against Double, stable for huge logits, gradient by differences")
    func crossEntropy() {
        let logits = Tensor(shape: [2, 3], scalars: [1, 2, 3, 1000, 0, -1000])
        let r = softmaxCrossEntropy(logits: logits, labels: [2, 1])
        let l0 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3
        let l1 = 1000.0   // log Σ e ≈ 1000, minus logit 0
        #expect(abs(Double(r.value) - (l0 + l1) / 2) < 1e-4)
        #expect(r.value.isFinite && allFinite(r.gradient))
        // Gradient check on moderate logits.
        let z = randomTensor([4, 5], low: -3, high: 3, seed: 14)
        let labels: [Int32] = [0, 4, 2, 2]
        let g = softmaxCrossEntropy(logits: z, labels: labels).gradient
        for i in 0..<z.count {
            var plus = z, minus = z
            plus.scalars[i] += 1e-2; minus.scalars[i] -= 1e-2
            let numeric = (Double(softmaxCrossEntropy(logits: plus, labels: labels).value)
                           - Double(softmaxCrossEntropy(logits: minus, labels: labels).value)) / 2e-2
            #expect(abs(Double(g.scalars[i]) - numeric) < 2e-3)
        }
    }

    @Test("softmax cross-entropy on wide rows (sixteen-lane exponentials and a tail) against Double",
          arguments: [16, 37, 256])
    func crossEntropyWide(_ classes: Int) {
        let z = randomTensor([3, classes], low: -8, high: 8, seed: 15)
        let labels: [Int32] = [0, Int32(classes - 1), Int32(classes / 2)]
        let r = softmaxCrossEntropy(logits: z, labels: labels)
        var loss = 0.0
        for i in 0..<3 {
            let row = (0..<classes).map { Double(z.scalars[i * classes + $0]) }
            let m = row.max()!, sum = row.reduce(0) { $0 + exp($1 - m) }
            loss += m + log(sum) - row[Int(labels[i])]
            for j in 0..<classes {
                let expected = (exp(row[j] - m) / sum - (j == Int(labels[i]) ? 1 : 0)) / 3
                #expect(abs(Double(r.gradient.scalars[i * classes + j]) - expected) < 1e-6, "row \(i), class \(j)")
            }
        }
        #expect(abs(Double(r.value) - loss / 3) < 1e-5)
    }

    @Test("mean squared error value and gradient")
    func mse() {
        let p = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), t = Tensor(shape: [2, 2], scalars: [0, 2, 5, 4])
        let r = meanSquaredError(prediction: p, target: t)
        #expect(r.value == 1.25)
        #expect(r.gradient.scalars == [0.5, 0, -1, 0])
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Graphs")
struct GraphTests {
    @Test("gradients sum where an output fans out (residual Add)")
    func fanOut() throws {
        var rng = SeededGenerator(seed: 20)
        let g = Graph(inputShape: [5])
        let a = try g.add(Dense(name: "a", inFeatures: 5, outFeatures: 6, rng: &rng), after: .input)
        let t = try g.add(Tanh(name: "t"), after: a)
        let b = try g.add(Dense(name: "b", inFeatures: 6, outFeatures: 6, rng: &rng), after: t)
        let sum = try g.add(Add(name: "sum"), inputs: [b, a])      // `a` feeds both `t` and `sum`
        try g.add(Dense(name: "out", inFeatures: 6, outFeatures: 3, rng: &rng), after: sum)
        let check = checkGraphGradients(g, input: randomTensor([4, 5], seed: 21), maxEntries: 40)
        #expect(check.worstError < 5e-3, "\(check)")
        #expect(g.parameters.map(\.path) == ["a.weight", "a.bias", "b.weight", "b.bias", "out.weight", "out.bias"])
    }

    @Test("a residual CNN (conv, BatchNorm, projection shortcut, Add, global pooling): gradients by differences")
    func residual() throws {
        // resnet8's structure with Tanh instead of ReLU: BatchNorm centres activations at
        // ReLU's kink, where finite differences are unreliable, so a smooth activation
        // makes the whole-graph check exact enough to be strict.
        var rng = SeededGenerator(seed: 4)
        let g = Graph(inputShape: [1, 8, 8])
        func conv(_ n: String, _ i: Int, _ o: Int, _ k: Int, _ s: Int) -> Conv2D {
            Conv2D(name: n, inChannels: i, outChannels: o, kernelSize: k, stride: s, padding: k / 2, bias: false, rng: &rng)
        }
        var x = try g.add(conv("stem", 1, 4, 3, 1), after: .input)
        x = try g.add(BatchNorm(name: "bn0", features: 4), after: x)
        x = try g.add(Tanh(name: "t0"), after: x)
        var y = try g.add(conv("c1", 4, 6, 3, 2), after: x)
        y = try g.add(BatchNorm(name: "bn1", features: 6), after: y)
        y = try g.add(Tanh(name: "t1"), after: y)
        y = try g.add(conv("c2", 6, 6, 3, 1), after: y)
        var p = try g.add(conv("proj", 4, 6, 1, 2), after: x)
        p = try g.add(BatchNorm(name: "proj_bn", features: 6), after: p)
        let sum = try g.add(Add(name: "add"), inputs: [y, p])
        let pooled = try g.add(GlobalAvgPool(name: "gap"), after: sum)
        try g.add(Dense(name: "fc", inFeatures: 6, outFeatures: 3, rng: &rng), after: pooled)
        let check = checkGraphGradients(g, input: randomTensor([3, 1, 8, 8], seed: 22), epsilon: 1e-2, maxEntries: 30)
        #expect(check.worstError < 5e-3, "\(check)")
        #expect(check.checked > 150)
    }

    @Test("resnet8: shapes, and training steps lower the loss on a fixed batch")
    func resnet8() throws {
        let model = try Architecture.resnet8.build(inputShape: [1, 8, 8], classes: 3, seed: 4)
        #expect(model.outputShape == [3])
        let data = try Dataset(inputs: randomTensor([12, 1, 8, 8], seed: 5).scalars, sampleShape: [1, 8, 8],
                               labels: (0..<12).map { Int32($0 % 3) })
        let before = Trainer.evaluate(model, on: data)
        var options = TrainingOptions()
        options.epochs = 30; options.batchSize = 12; options.learningRate = 0.01; options.shuffle = false
        let reports = try Trainer(model: model, optimizer: Optimizer(Adam())).fit(data, options: options)
        #expect(reports.last!.loss < 0.5 * reports.first!.loss, "\(reports.first!.loss) → \(reports.last!.loss)")
        #expect(before.samples == 12)
    }

    @Test("built-in architectures have the documented sizes")
    func sizes() throws {
        let count = { (g: Graph) in g.trainableParameters.reduce(0) { $0 + $1.parameter.count } }
        #expect(count(try Architecture.lenet300.build()) == 266_610)
        #expect(count(try Architecture.lenet5.build()) == 61_706)
        #expect(count(try Architecture.mlp.build(inputShape: [1, 28, 28], layers: [784, 32, 10])) == 784 * 32 + 32 + 330)
        let r = try Architecture.resnet8.build()
        #expect(r.nodes.filter { $0.module is Conv2D || $0.module is Dense }.count == 10)   // 8 + 2 projections
        #expect(try Architecture.lenet5.build().outputShape == [10])
    }

    @Test("the same seed builds the same weights")
    func seeded() throws {
        let a = try Architecture.lenet5.build(seed: 3), b = try Architecture.lenet5.build(seed: 3)
        let c = try Architecture.lenet5.build(seed: 4)
        #expect(a.parameters.map(\.parameter.value) == b.parameters.map(\.parameter.value))
        #expect(a.parameters.map(\.parameter.value) != c.parameters.map(\.parameter.value))
    }

    @Test("structural mistakes are thrown errors naming the layer")
    func errors() throws {
        var rng = SeededGenerator(seed: 1)
        let g = Graph(inputShape: [1, 28, 28])
        #expect(throws: ModelError.self) { try g.add(Dense(name: "fc", inFeatures: 784, outFeatures: 10, rng: &rng), after: .input) }
        let f = try g.add(Flatten(name: "flat"), after: .input)
        do {
            try g.add(Dense(name: "fc", inFeatures: 100, outFeatures: 10, rng: &rng), after: f)
            Issue.record("a wrong input size was accepted")
        } catch let e as ModelError {
            #expect(e.description.contains("'fc'") && e.description.contains("784"))
        }
        #expect(throws: ModelError.duplicateName("flat")) { try g.add(ReLU(name: "flat"), after: f) }
        #expect(throws: ModelError.mlpSizes(sizes: [100, 10], inputShape: [1, 28, 28])) { try Architecture.mlp.build(layers: [100, 10]) }
        // The payloads carry the place and the values; the messages say them in a sentence.
        #expect(throws: ModelError.inputFeatures(layer: "fc", expected: 100, got: 784)) {
            try g.add(Dense(name: "fc", inFeatures: 100, outFeatures: 10, rng: &rng), after: f)
        }
        #expect(ModelError.inputFeatures(layer: "fc", expected: 100, got: 784).description
                == "layer 'fc' expects 100 input features, got 784")
        #expect(ModelError.mlpSizes(sizes: [100, 10], inputShape: [1, 28, 28]).description
                == "the mlp's first size 100 must equal the input size 784 ([1, 28, 28])")
        #expect(ModelError.mlpSizes(sizes: [784], inputShape: [784]).description
                == "an mlp needs at least two positive layer sizes, got [784]")
        #expect(ModelError.specField(layer: "c1", kind: .conv2d, field: "kernelSize", limit: 1024, got: nil).description
                == "layer 'c1' (conv2d) needs 'kernelSize' between 1 and 1024, got nothing")
        #expect(throws: ModelError.windowTooLarge(layer: "pool", window: 3, shape: [1, 2, 2])) {
            try Graph(inputShape: [1, 2, 2], sequential: [MaxPool2D(name: "pool", kernelSize: 3)])
        }
        #expect(throws: ModelError.negativeLabel(-1)) {
            try Dataset(inputs: [0, 1], sampleShape: [1], labels: [0, -1])
        }
    }

    @Test("a spec rebuilds the same structure; a bad spec is rejected")
    func specs() throws {
        let model = try Architecture.resnet8.build()
        let rebuilt = try model.spec.makeGraph()
        #expect(rebuilt.spec == model.spec)
        #expect(rebuilt.parameters.map(\.path) == model.parameters.map(\.path))
        var bad = model.spec
        bad.nodes[0].layer.kernelSize = nil
        #expect(throws: ModelError.self) { try bad.makeGraph() }
        bad = model.spec
        bad.nodes[1].inputs = ["nowhere"]
        #expect(throws: ModelError.unknownInput(node: bad.nodes[1].name, input: "nowhere")) { try bad.makeGraph() }
    }
}
