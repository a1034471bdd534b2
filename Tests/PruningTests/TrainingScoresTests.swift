import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Scores gathered from training, and rewinding")
struct TrainingScoresTests {
    static func setup() throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 9)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 6, rng: &rng), Tanh(name: "t"),
            Dense(name: "fc2", inFeatures: 6, outFeatures: 3, rng: &rng),
        ])
        let data = try Dataset(inputs: randomTensor([48, 4], seed: 10).scalars, sampleShape: [4],
                               labels: (0..<48).map { Int32($0 % 3) })
        return (model, data)
    }

    /// The tiny model's weights and biases in Double, with its loss gradients computed by
    /// hand (tanh MLP, softmax cross-entropy averaged over the batch): a reference that
    /// shares no code with the layers.
    struct Reference {
        var w1: [[Double]], b1: [Double], w2: [[Double]], b2: [Double]

        init(_ model: Graph) {
            func matrix(_ path: String) -> [[Double]] {
                let t = model.parameter(at: path)!.value
                return (0..<t.shape[0]).map { r in (0..<t.shape[1]).map { c in Double(t.scalars[r * t.shape[1] + c]) } }
            }
            func vector(_ path: String) -> [Double] { model.parameter(at: path)!.value.scalars.map(Double.init) }
            (w1, b1, w2, b2) = (matrix("fc1.weight"), vector("fc1.bias"), matrix("fc2.weight"), vector("fc2.bias"))
        }

        /// ∂L/∂W1, ∂L/∂b1, ∂L/∂W2 and ∂L/∂b2 on samples `range` of `data`.
        func gradients(_ data: Dataset, _ range: Range<Int>) -> (w1: [[Double]], b1: [Double], w2: [[Double]], b2: [Double]) {
            let batch = data.batch(range)
            let n = range.count
            var g1 = w1.map { $0.map { _ in 0.0 } }, g2 = w2.map { $0.map { _ in 0.0 } }
            var gb1 = [Double](repeating: 0, count: 6), gb2 = [Double](repeating: 0, count: 3)
            for i in 0..<n {
                let x: [Double] = (0..<4).map { Double(batch.inputs.scalars[i * 4 + $0]) }
                var h = [Double](repeating: 0, count: 6), z = b2
                for r in 0..<6 {
                    var a = b1[r]
                    for c in 0..<4 { a += w1[r][c] * x[c] }
                    h[r] = tanh(a)
                }
                for r in 0..<3 { for c in 0..<6 { z[r] += w2[r][c] * h[c] } }
                let e: [Double] = z.map { exp($0 - z.max()!) }
                let sum = e.reduce(0, +)
                var dz = [Double](repeating: 0, count: 3)
                for r in 0..<3 { dz[r] = (e[r] / sum - (r == Int(batch.labels[i]) ? 1 : 0)) / Double(n) }
                for r in 0..<3 { gb2[r] += dz[r]; for c in 0..<6 { g2[r][c] += dz[r] * h[c] } }
                var da = [Double](repeating: 0, count: 6)
                for c in 0..<6 {
                    for r in 0..<3 { da[c] += w2[r][c] * dz[r] }
                    da[c] *= 1 - h[c] * h[c]
                }
                for r in 0..<6 { gb1[r] += da[r]; for c in 0..<4 { g1[r][c] += da[r] * x[c] } }
            }
            return (g1, gb1, g2, gb2)
        }

        /// One plain SGD step with `gradients`: θ ← θ − rate·g.
        mutating func step(_ g: (w1: [[Double]], b1: [Double], w2: [[Double]], b2: [Double]), rate: Double) {
            for r in 0..<6 { b1[r] -= rate * g.b1[r]; for c in 0..<4 { w1[r][c] -= rate * g.w1[r][c] } }
            for r in 0..<3 { b2[r] -= rate * g.b2[r]; for c in 0..<6 { w2[r][c] -= rate * g.w2[r][c] } }
        }

        /// |w·g| averaged over `batches` consecutive batches of `size`, for W1 and W2, flattened.
        func taylor(_ data: Dataset, batches: Int, size: Int) -> (w1: [Double], w2: [Double]) {
            var s1 = [Double](repeating: 0, count: 24), s2 = [Double](repeating: 0, count: 18)
            for b in 0..<batches {
                let g = gradients(data, (b * size)..<((b + 1) * size))
                for r in 0..<6 { for c in 0..<4 { s1[r * 4 + c] += abs(w1[r][c] * g.w1[r][c]) / Double(batches) } }
                for r in 0..<3 { for c in 0..<6 { s2[r * 6 + c] += abs(w2[r][c] * g.w2[r][c]) / Double(batches) } }
            }
            return (s1, s2)
        }
    }

    /// The largest |a − b| / max(1e-3, |b|) (the scores are small, so relative to a floor of 1e-3).
    static func error(_ a: Tensor, _ b: [Double]) -> Double {
        zip(a.scalars, b).reduce(0.0) { max($0, abs(Double($1.0) - $1.1) / max(1e-3, abs($1.1))) }
    }

    @Test("movement scores are Σ −w·g over the steps (plain SGD replayed in Double)")
    func movement() throws {
        let (model, data) = try Self.setup()
        // Replay the run in Double: 2 epochs of 3 unshuffled batches, w ← w − 0.1·g, then −w·g.
        var reference = Reference(model)
        var expected = [Double](repeating: 0, count: 24)
        for _ in 0..<2 {
            for b in 0..<3 {
                let g = reference.gradients(data, (16 * b)..<(16 * b + 16))
                reference.step(g, rate: 0.1)   // the value after the update, as the callback sees it
                for r in 0..<6 { for c in 0..<4 { expected[r * 4 + c] += -reference.w1[r][c] * g.w1[r][c] } }
            }
        }
        let movement = MovementScores()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD()))
        trainer.callbacks = [movement]
        var options = TrainingOptions()
        options.epochs = 2; options.batchSize = 16; options.learningRate = 0.1
        options.schedule = .constant; options.shuffle = false
        try trainer.fit(data, options: options)
        let scores = movement.criterion.scores(for: model.parameter(at: "fc1.weight")!, path: "fc1.weight")
        #expect(Self.error(scores, expected) < 1e-4, "\(scores.scalars) vs \(expected)")
        #expect(expected.contains { abs($0) > 1e-4 })
        #expect(movement.criterion.name == "movement")

        // As a live criterion it ranks exactly like its fixed copy.
        let (copy, _) = try Self.setup()
        for ((_, a), (_, b)) in zip(copy.parameters, model.parameters) { a.value = b.value }
        var plan = PruningPlan(threshold: .sparsity(0.5))
        plan.criterion = movement
        try Pruner.prune(model, with: plan)
        plan.criterion = movement.criterion
        try Pruner.prune(copy, with: plan)
        #expect(model.parameter(at: "fc1.weight")!.mask == copy.parameter(at: "fc1.weight")!.mask)
        #expect(model.parameter(at: "fc1.weight")!.mask != Tensor(shape: [6, 4], repeating: 1))
    }

    @Test("SNIP scores are |w·∂L/∂w| on one batch before training, as computed by hand in Double")
    func snip() throws {
        let (model, data) = try Self.setup()
        let scores = try #require(try SNIP(batchSize: 16).prepared(for: model, on: data) as? PrecomputedScores)
        let expected = Reference(model).taylor(data, batches: 1, size: 16)
        #expect(Self.error(scores.scores(for: model.parameter(at: "fc1.weight")!, path: "fc1.weight"), expected.w1) < 1e-4)
        #expect(Self.error(scores.scores(for: model.parameter(at: "fc2.weight")!, path: "fc2.weight"), expected.w2) < 1e-4)
        #expect(expected.w2.contains { $0 > 1e-3 })
        #expect(scores.name == "snip")
    }

    @Test("averaged Taylor scores are |w·∂L/∂w| averaged over the batches, as computed by hand in Double")
    func averagedTaylor() throws {
        let (model, data) = try Self.setup()
        let scores = try averagedTaylorScores(model, data: data, batches: 3, batchSize: 16)
        let expected = Reference(model).taylor(data, batches: 3, size: 16)
        #expect(Self.error(scores.scores(for: model.parameter(at: "fc1.weight")!, path: "fc1.weight"), expected.w1) < 1e-4)
        #expect(Self.error(scores.scores(for: model.parameter(at: "fc2.weight")!, path: "fc2.weight"), expected.w2) < 1e-4)
        // Not the first batch alone: the average differs from SNIP's one-batch scores.
        #expect(Self.error(scores.scores(for: model.parameter(at: "fc2.weight")!, path: "fc2.weight"),
                           Reference(model).taylor(data, batches: 1, size: 16).w2) > 1e-3)
        #expect(scores.name == "taylor")
    }

    @Test("rewinding restores the surviving weights to the snapshot and keeps the cut ones at zero")
    func rewind() throws {
        let (model, data) = try Self.setup()
        let initial = WeightSnapshot(model)
        var options = TrainingOptions()
        options.epochs = 3; options.batchSize = 16
        try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.5)))
        let masks = model.parameters.map(\.parameter.mask)
        try initial.rewind(model)
        #expect(model.parameters.map(\.parameter.mask) == masks)
        for (path, p) in model.parameters {
            for i in 0..<p.count {
                let kept = p.mask.map { $0[flat: i] != 0 } ?? true
                #expect(p.value[flat: i] == (kept ? initial.values[path]![flat: i] : 0), "\(path)[\(i)]")
            }
        }
        let other = try Architecture.lenet300.build()
        #expect(throws: PruningError.self) { try initial.rewind(other) }
    }
}
