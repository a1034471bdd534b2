import FileFormats
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("Sparse training: masked Dense layers trained through CSR")
struct SparseTrainingTests {
    /// A 0/1 mask keeping about `density` of a `[rows, columns]` weight, at random places.
    static func mask(_ rows: Int, _ columns: Int, density: Float, seed: UInt64) -> Tensor {
        let u = randomTensor([rows, columns], low: 0, high: 1, seed: seed)
        return Tensor(shape: [rows, columns], scalars: u.scalars.map { $0 < density ? 1 : 0 })
    }

    @Test("the pattern's matrices hold the weight's kept entries; its sampled product is dyᵀ·x at them and zero elsewhere",
          arguments: [(37, 53, 1), (37, 53, 19), (300, 784, 128), (9, 70_000, 3)])
    func pattern(rows: Int, columns: Int, n: Int) throws {
        let mask = Self.mask(rows, columns, density: 0.15, seed: UInt64(rows + n))
        let weight = randomTensor([rows, columns], seed: 5).zipMap(mask) { $0 * $1 }
        let pattern = SparsePattern(mask: mask)
        #expect(pattern.nonZeroCount == mask.nonZeroCount())
        let (w, wt) = (pattern.matrix(from: weight), pattern.transposedMatrix(from: weight))
        #expect(w.dense() == weight)
        #expect(wt.dense() == weight.transposed())
        #expect(w.invariantViolation() == nil && wt.invariantViolation() == nil)
        // The naive twin: every entry of dyᵀ·x by a scalar loop, masked.
        let dy = randomTensor([n, rows], seed: 6), x = randomTensor([n, columns], seed: 7)
        let got = pattern.sampledProduct(dy, x)
        var worst: Float = 0
        for r in 0..<rows {
            for j in 0..<columns {
                var want: Float = 0
                if mask[r, j] != 0 { for k in 0..<n { want += dy[k, r] * x[k, j] } }
                if mask[r, j] == 0 { #expect(got[r, j] == 0); continue }
                worst = max(worst, abs(got[r, j] - want) / max(1, abs(want)))
            }
        }
        #expect(worst <= 1e-5)
    }

    @Test("a masked Dense layer trained sparse gives the dense layer's outputs and gradients; a new mask sends it back to dense products")
    func denseLayer() throws {
        var rng = SeededGenerator(seed: 8)
        let layer = Dense(name: "fc", inFeatures: 53, outFeatures: 37, rng: &rng)
        layer.weight.mask = Self.mask(37, 53, density: 0.12, seed: 9)
        let x = randomTensor([19, 53], seed: 10), dy = randomTensor([19, 37], seed: 11)
        func pass() -> (Tensor, Tensor, Tensor, Tensor) {
            let y = layer.forward(x, training: true)
            let dx = layer.backward(dy)
            return (y, dx, layer.weight.gradient, layer.bias!.gradient)
        }
        let dense = pass()
        layer.trainSparse(true)
        #expect(layer.sparsePattern != nil)
        let sparse = pass()
        #expect(maxRelativeError(sparse.0.scalars, dense.0.scalars) <= 1e-5)
        #expect(maxRelativeError(sparse.1.scalars, dense.1.scalars) <= 1e-5)
        // The weight gradient: the dense one at kept entries, zero at cut ones.
        let maskedDense = dense.2.zipMap(layer.weight.mask!) { $0 * $1 }
        #expect(maxRelativeError(sparse.2.scalars, maskedDense.scalars) <= 1e-5)
        #expect(zip(sparse.2.scalars, layer.weight.mask!.scalars).allSatisfy { $1 != 0 || $0 == 0 })
        #expect(sparse.3 == dense.3)
        // A first layer skips its input gradient unless a caller turns it on between the passes
        // (as input saliency does): the sparse backward then still gives it.
        layer.computesInputGradient = false
        _ = layer.forward(x, training: true)
        layer.computesInputGradient = true
        #expect(maxRelativeError(layer.backward(dy).scalars, dense.1.scalars) <= 1e-5)
        // A cut after the pattern was made: the pattern is stale, so the layer computes dense
        // (with the new mask) rather than through the old pattern.
        layer.weight.mask = layer.weight.mask!.zipMap(Self.mask(37, 53, density: 0.5, seed: 12)) { $0 * $1 }
        let afterCut = pass()
        layer.trainSparse(false)
        let denseAfterCut = pass()
        #expect(afterCut.0 == denseAfterCut.0 && afterCut.2 == denseAfterCut.2)
    }

    @Test("fine-tuning a 90%-cut LeNet-300-100 sparse follows dense fine-tuning: same losses, weights and accuracy within rounding")
    func fineTuning() throws {
        let folder = try DatasetFolder(fashionMNISTPath)
        let train = try folder.training(), test = try folder.test()
        let data = train.subset(Array(0..<2_048))
        func cutModel() throws -> Graph {
            let model = try Architecture.lenet300.build(seed: 4)
            for (i, path) in ["fc1.weight", "fc2.weight", "fc3.weight"].enumerated() {
                let p = try #require(model.parameter(at: path))
                p.mask = Self.mask(p.value.shape[0], p.value.shape[1], density: 0.1, seed: 20 + UInt64(i))
            }
            return model
        }
        var options = TrainingOptions(epochs: 2, batchSize: 128, learningRate: 0.05)
        options.schedule = .constant
        var runs: [(losses: [Float], model: Graph)] = []
        for choice in [SparseTrainingChoice.off, .density(maximum: 0.2)] {
            let model = try cutModel()
            #expect(model.useSparseTraining(choice) == (choice == .off ? [] : ["fc1", "fc2", "fc3"]))
            let reports = try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
            runs.append((reports.map(\.loss), model))
        }
        #expect(runs[0].losses[0] > runs[0].losses[1], "it trains: \(runs[0].losses)")
        #expect(zip(runs[0].losses, runs[1].losses).allSatisfy { abs($0 - $1) <= 1e-4 }, "\(runs[0].losses) vs \(runs[1].losses)")
        for path in ["fc1.weight", "fc2.weight", "fc3.weight", "fc1.bias"] {
            let a = try #require(runs[0].model.parameter(at: path)), b = try #require(runs[1].model.parameter(at: path))
            #expect(maxRelativeError(b.value.scalars, a.value.scalars) <= 1e-3, "\(path)")
            if let mask = b.mask { #expect(zip(b.value.scalars, mask.scalars).allSatisfy { $1 != 0 || $0 == 0 }, "\(path) keeps its cut") }
        }
        let accuracy = runs.map { Trainer.evaluate($0.model, on: test).accuracy }
        #expect(abs(accuracy[0] - accuracy[1]) <= 0.002, "\(accuracy)")
        // Measured: the layers above 20% density stay dense whatever the timing says.
        let model = try cutModel()
        try #require(model.parameter(at: "fc3.weight")).mask = nil
        #expect(!model.useSparseTraining(.measured(batchSize: 128)).contains("fc3"))
    }
}
