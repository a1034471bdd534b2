import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore
import TestSupport
import Testing

@Suite("Saliency maps")
struct SaliencyTests {
    /// Flatten and a bias-free dense layer of weight `[3, 4]` on `[1, 2, 2]` images.
    private func linear(_ weight: [Float]) throws -> Graph {
        try Graph(inputShape: [1, 2, 2], sequential: [
            Flatten(name: "flat"), Dense(name: "fc", weight: Tensor(shape: [3, 4], scalars: weight), bias: nil),
        ])
    }

    @Test("a linear model's map is the magnitude of its predicted class's weight row")
    func linearModels() throws {
        let a = try linear([1, -2, 0, 3,  0.5, 0.5, 0.5, 0.5,  -1, -1, -1, -1])
        let b = try linear([0, 0, 0, 1,  2, 0, -1, 0,  0, 1, 0, 0])
        let data = try Dataset(inputs: [1, 0, 0, 1,  0, 1, 1, 0], sampleShape: [1, 2, 2], labels: [0, 1])
        let maps = try SaliencyMaps(models: [(name: "a", model: a), (name: "b", model: b)], data: data, indices: [1, 0])
        #expect(maps.models == ["a", "b"] && maps.height == 2 && maps.width == 2)
        // Sample 1 = [0, 1, 1, 0]: a scores [-2, 1, -2] → class 1; b scores [0, -1, 1] → class 2.
        // Sample 0 = [1, 0, 0, 1]: a scores [4, 1, -2] → class 0; b scores [1, 2, 0] → class 1.
        #expect(maps.samples.map(\.index) == [1, 0] && maps.samples.map(\.label) == [1, 0])
        #expect(maps.samples.map(\.predictions) == [[1, 2], [0, 1]])
        #expect(maps.samples[0].maps == [[0.5, 0.5, 0.5, 0.5], [0, 1, 0, 0]])
        #expect(maps.samples[1].maps == [[1, 2, 0, 3], [2, 0, 1, 0]])
        #expect(maps.samples[0].image == [0, 1, 1, 0] && maps.samples[1].image == [1, 0, 0, 1])
    }

    @Test("a model ending in softmax differentiates the predicted probability: p_c·(W_c − Σ p_j·W_j)")
    func probabilities() throws {
        let w: [Float] = [1, -1, 0.5,  -0.5, 2, 1], bias: [Float] = [0.1, -0.2]
        let model = try Graph(inputShape: [3], sequential: [
            Dense(name: "fc", weight: Tensor(shape: [2, 3], scalars: w), bias: Tensor(shape: [2], scalars: bias)),
            Softmax(name: "softmax"),
        ])
        let x: [Double] = [0.3, 0.2, -0.4]
        let data = try Dataset(inputs: x.map(Float.init), sampleShape: [3], labels: [1])
        let maps = try SaliencyMaps(models: [(name: "m", model: model)], data: data, indices: [0])
        let z = (0..<2).map { r in Double(bias[r]) + (0..<3).reduce(0.0) { $0 + Double(w[r * 3 + $1]) * x[$1] } }
        let e = z.map { Foundation.exp($0 - z.max()!) }
        let p = e.map { $0 / e.reduce(0, +) }
        let c = p[0] > p[1] ? 0 : 1
        let expected = (0..<3).map { i in abs(p[c] * (Double(w[c * 3 + i]) - p[0] * Double(w[i]) - p[1] * Double(w[3 + i]))) }
        #expect(maps.height == 1 && maps.width == 3)
        #expect(maps.samples[0].predictions == [c])
        #expect(maxRelativeError(maps.samples[0].maps[0], expected.map(Float.init)) < 1e-6)
    }

    /// Per pixel, the largest magnitude over channels of the central differences of `model`'s
    /// inference output at `predicted` for sample `x` (`[C, H, W]`).
    private func finiteDifferenceMap(_ model: Graph, _ x: Tensor, _ predicted: Int, epsilon: Float) -> [Float] {
        let pixels = x.shape[1] * x.shape[2]
        let batch = x.reshaped([1] + x.shape)
        var map = [Float](repeating: 0, count: pixels)
        for i in 0..<x.count {
            var plus = batch, minus = batch
            plus.scalars[i] += epsilon; minus.scalars[i] -= epsilon
            let up = Double(model.forward(plus).scalars[predicted]), down = Double(model.forward(minus).scalars[predicted])
            map[i % pixels] = max(map[i % pixels], Float(abs(up - down) / (2 * Double(epsilon))))
        }
        return map
    }

    /// `‖a − b‖ / ‖b‖` over all the maps.
    private func relativeDistance(_ a: [[Float]], _ b: [[Float]]) -> Double {
        let pairs = zip(a.joined(), b.joined())
        let difference = pairs.reduce(0.0) { $0 + pow(Double($1.0 - $1.1), 2) }
        let norm = b.joined().reduce(0.0) { $0 + Double($1) * Double($1) }
        return (difference / norm).squareRoot()
    }

    @Test("with batch normalization and dropout, maps are gradients of the inference function, and the model is left as it was")
    func normalizationAndDropout() throws {
        var rng = SeededGenerator(seed: 8)
        let norm2d = BatchNorm(name: "bn", features: 3), norm1d = BatchNorm(name: "bn1", features: 5)
        for (norm, seed) in [(norm2d, UInt64(40)), (norm1d, 41)] {
            let n = norm.features
            norm.runningMean.value = randomTensor([n], seed: seed)
            norm.runningVariance.value = randomTensor([n], low: 0.5, high: 2, seed: seed + 10)
            norm.scale.value = randomTensor([n], low: 0.5, high: 1.5, seed: seed + 20)
            norm.shift.value = randomTensor([n], seed: seed + 30)
        }
        let conv = Conv2D(name: "conv", inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, rng: &rng)
        let model = try Graph(inputShape: [2, 6, 6], sequential: [
            conv, norm2d, Tanh(name: "t1"), Dropout(name: "drop", rate: 0.5, seed: 3),
            AvgPool2D(name: "pool", kernelSize: 2), Flatten(name: "flat"),
            Dense(name: "fc1", inFeatures: 27, outFeatures: 5, rng: &rng), norm1d, Tanh(name: "t2"),
            Dense(name: "fc2", inFeatures: 5, outFeatures: 4, rng: &rng),
        ])
        let inputs = randomTensor([3, 2, 6, 6], seed: 42)
        let data = try Dataset(inputs: inputs.scalars, sampleShape: [2, 6, 6], labels: [0, 1, 2])
        let statistics = [norm2d.runningMean.value, norm2d.runningVariance.value, norm1d.runningMean.value]
        conv.weight.gradient = Tensor(shape: conv.weight.value.shape, repeating: 7)
        let maps = try SaliencyMaps(models: [(name: "m", model: model)], data: data, indices: [0, 1, 2])
        let predicted = argmaxRows(model.forward(inputs))
        #expect(maps.samples.map { $0.predictions[0] } == predicted)
        let expected = (0..<3).map { s in
            finiteDifferenceMap(model, Tensor(shape: [2, 6, 6], scalars: Array(inputs.scalars[(s * 72)..<((s + 1) * 72)])),
                                predicted[s], epsilon: 1e-2)
        }
        #expect(relativeDistance(maps.samples.map { $0.maps[0] }, expected) < 1e-3)
        #expect([norm2d.runningMean.value, norm2d.runningVariance.value, norm1d.runningMean.value] == statistics)
        #expect(norm2d.batchesTracked == 0 && norm1d.batchesTracked == 0)
        #expect(conv.weight.gradient == Tensor(shape: conv.weight.value.shape, repeating: 7))
    }

    /// Per pixel of sample `x` (`[1, H, W]`), the one-sided differences of `model`'s
    /// inference output at `predicted`, leftwards and rightwards (LeNet-5 is piecewise linear:
    /// at least one side is exact unless kinks lie within `epsilon` on both).
    private func oneSidedDifferences(_ model: Graph, _ x: Tensor, _ predicted: Int, epsilon: Float) -> [(left: Double, right: Double)] {
        let batch = x.reshaped([1] + x.shape)
        let centre = Double(model.forward(batch).scalars[predicted])
        return (0..<x.count).map { i in
            var plus = batch, minus = batch
            plus.scalars[i] += epsilon; minus.scalars[i] -= epsilon
            let up = Double(model.forward(plus).scalars[predicted]), down = Double(model.forward(minus).scalars[predicted])
            return ((centre - down) / Double(plus.scalars[i] - x.scalars[i]), (up - centre) / Double(plus.scalars[i] - x.scalars[i]))
        }
    }

    @Test("LeNet-5 dense and 90%-pruned: each map is the magnitude of a one-sided difference of the predicted class score")
    func leNet5() throws {
        let dense = try Architecture.lenet5.build(seed: 4), pruned = try Architecture.lenet5.build(seed: 4)
        try Pruner.prune(pruned, with: PruningPlan(threshold: .sparsity(0.9)))
        let inputs = randomTensor([2, 1, 28, 28], low: 0, high: 1, seed: 43)
        let data = try Dataset(inputs: inputs.scalars, sampleShape: [1, 28, 28], labels: [5, 7])
        let maps = try SaliencyMaps(models: [(name: "dense", model: dense), (name: "pruned", model: pruned)],
                                    data: data, indices: [0, 1])
        // Steps of 3e-3 in Float32 leave about 1e-4 of rounding in a difference; a few pixels
        // have kinks (ReLU, max-pool switches) within a step on both sides.
        let tolerance = 4e-4
        for (m, model) in [dense, pruned].enumerated() {
            let predicted = argmaxRows(model.forward(inputs))
            #expect(maps.samples.map { $0.predictions[m] } == predicted)
            var mismatches = 0
            for s in 0..<2 {
                let x = Tensor(shape: [1, 28, 28], scalars: Array(inputs.scalars[(s * 784)..<((s + 1) * 784)]))
                let map = maps.samples[s].maps[m]
                #expect(Double(map.max()!) > 25 * tolerance)
                for (p, d) in oneSidedDifferences(model, x, predicted[s], epsilon: 3e-3).enumerated() {
                    let error = min(abs(Double(map[p]) - abs(d.left)), abs(Double(map[p]) - abs(d.right)))
                    if error > tolerance { mismatches += 1 }
                }
            }
            #expect(mismatches <= 16, "model \(m): \(mismatches) of 1,568 pixels differ")   // 1%
        }
        #expect(maps.samples[0].maps[0] != maps.samples[0].maps[1])
    }

    @Test("a model that does not take the data's samples is a thrown error")
    func mismatch() throws {
        let data = try Dataset(inputs: [Float](repeating: 0, count: 8), sampleShape: [2, 2, 2], labels: [0])
        #expect(throws: ModelError.self) {
            try SaliencyMaps(models: [(name: "m", model: try linear([Float](repeating: 1, count: 12)))], data: data, indices: [0])
        }
    }

    @Test("sample indices: the first sample of each of the first labels, in label order")
    func indices() throws {
        let data = try Dataset(inputs: [Float](repeating: 0, count: 6), sampleShape: [1], labels: [3, 1, 1, 0, 3, 5])
        #expect(SaliencyMaps.indices(in: data, count: 3) == [3, 1, 0])
        #expect(SaliencyMaps.indices(in: data, count: 10) == [3, 1, 0, 5])   // labels 2 and 4 do not occur
        #expect(SaliencyMaps.indices(in: data, count: 0) == [])
    }
}
