import NeuralNetwork
import Pruning
import TensorCore
import TestSupport
import Testing

@Suite("Wanda: |w|·‖x‖ from calibration data, compared within each output row")
struct WandaTests {
    /// A 6 → 5 → 3 MLP and 40 samples whose features have very different scales.
    static func mlp() throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [6], sequential: [
            Dense(name: "fc1", inFeatures: 6, outFeatures: 5, rng: &rng), ReLU(name: "relu"),
            Dense(name: "fc2", inFeatures: 5, outFeatures: 3, rng: &rng),
        ])
        let x = randomTensor([40, 6], seed: 5).scalars.enumerated().map { i, v in v * Float(1 + 3 * (i % 6)) }
        return (model, try Dataset(inputs: x, sampleShape: [6], labels: (0..<40).map { Int32($0 % 3) }))
    }

    /// A one-layer BERT encoder (16 features, 2 heads) over sequences of up to 8 tokens, padding id 0.
    static func tinyEncoder() throws -> Graph {
        try Graph.bertEncoder(TransformerConfiguration(vocabulary: 30, positions: 8, tokenTypes: 1, features: 16, heads: 2, layers: 1,
                                                       intermediate: 32, normalization: .post, causal: false, activation: .none,
                                                       epsilon: 1e-12, paddingID: 0), seed: 4)
    }

    @Test("input norms equal the naive sums over the calibration samples, for the input and a hidden layer")
    func norms() throws {
        let (model, data) = try Self.mlp()
        let norms = try Wanda.inputNorms(of: model, on: data, samples: 32, batchSize: 7)
        let inputs = data.batch(0..<32).inputs
        var hidden: Tensor?
        _ = model.forward(inputs, training: false) { i, y in if i == 1 { hidden = y } }
        for (layer, x, width) in [("fc1", inputs, 6), ("fc2", try #require(hidden), 5)] {
            let measured = try #require(norms[layer])
            for j in 0..<width {
                let naive = (0..<32).reduce(0.0) { $0 + Double(x.scalars[$1 * width + j]) * Double(x.scalars[$1 * width + j]) }.squareRoot()
                #expect(abs(Double(measured[j]) - naive) <= 1e-5 * max(naive, 1), "\(layer) feature \(j)")
            }
        }
    }

    @Test("a row-scope cut keeps the same count in every row, the lowest |w|·‖x‖ cut, unlike magnitude")
    func rowScope() throws {
        let (model, data) = try Self.mlp()
        let scores = try Wanda().oneShot(for: model, on: data)
        let weight = try #require(model.parameter(at: "fc1.weight"))
        let expected = scores.scores(for: weight, path: "fc1.weight")
        let magnitudes = weight.value.magnitudes()   // before the cut zeroes some
        _ = try Pruner.prune(model, with: PruningPlan(criterion: scores, scope: .row, threshold: .sparsity(0.5), parameters: ["fc1.weight"]))
        let mask = try #require(weight.mask)
        for r in 0..<5 {
            let row = Array(mask.scalars[(r * 6)..<((r + 1) * 6)])
            #expect(row.filter { $0 == 0 }.count == 3, "row \(r)")
            // Every cut entry scores no higher than every kept one in its row.
            let s = Array(expected.scalars[(r * 6)..<((r + 1) * 6)])
            let cut = s.indices.filter { row[$0] == 0 }.map { s[$0] }, kept = s.indices.filter { row[$0] == 1 }.map { s[$0] }
            #expect(cut.max()! <= kept.min()!, "row \(r)")
        }
        // The feature scales differ 16×, so Wanda's cut is not magnitude's.
        var differs = false
        for r in 0..<5 {
            let m = Array(magnitudes.scalars[(r * 6)..<((r + 1) * 6)])
            let order = m.indices.sorted { (m[$0], $0) < (m[$1], $1) }.prefix(3)
            if Set(order) != Set((0..<6).filter { mask.scalars[r * 6 + $0] == 0 }) { differs = true }
        }
        #expect(differs)
    }

    @Test("calibration data given to the criterion replaces the data the run hands it")
    func calibration() throws {
        let (model, data) = try Self.mlp()
        let other = try Dataset(inputs: randomTensor([16, 6], low: -5, high: 5, seed: 9).scalars, sampleShape: [6],
                                labels: [Int32](repeating: 0, count: 16))
        // The cut made with the calibration data equals the one made on that data directly, not the run's.
        func mask(_ criterion: Wanda, on sample: Dataset) throws -> Tensor {
            let copy = try model.copy()
            let prepared = try criterion.prepared(for: copy, on: sample)
            try Pruner.prune(copy, with: PruningPlan(criterion: prepared, scope: .row, threshold: .sparsity(0.5), parameters: ["fc1.weight"]))
            return try #require(copy.parameter(at: "fc1.weight")?.mask)
        }
        let given = try mask(Wanda(samples: 16, calibration: other), on: data)
        #expect(given == (try mask(Wanda(samples: 16), on: other)))
        #expect(given != (try mask(Wanda(samples: 16), on: data)))
    }

    @Test("row scope needs weight granularity")
    func rowScopeRefusesUnits() throws {
        let (model, _) = try Self.mlp()
        #expect(throws: PruningError.self) {
            try Pruner.prune(model, with: PruningPlan(granularity: .neuron, scope: .row, threshold: .sparsity(0.5)))
        }
    }

    @Test("a padded sequence's padding tokens do not count in a transformer's input norms")
    func padding() throws {
        let model = try Self.tinyEncoder()
        // Two sentences: 5 tokens and 3 tokens, padded with 0 to 8.
        let ids: [Float] = [3, 7, 9, 11, 2, 0, 0, 0, 5, 8, 2, 0, 0, 0, 0, 0]
        let data = try Dataset(inputs: ids, sampleShape: [8], targets: [Float](repeating: 0, count: 32), targetWidth: 16)
        let norms = try Wanda.inputNorms(of: model, on: data, samples: 2)
        var normalized: Tensor?
        let query = try #require(model.nodes.firstIndex { $0.module.name == "encoder.layer.0.attention.self.query" })
        let source = model.nodes[query].inputs[0].index
        _ = model.forward(Tensor(shape: [2, 8], scalars: ids), training: false) { i, y in if i == source { normalized = y } }
        let x = try #require(normalized), real = ids.indices.filter { ids[$0] != 0 }
        let measured = try #require(norms["encoder.layer.0.attention.self.query"])
        for j in 0..<16 {
            let naive = real.reduce(0.0) { $0 + Double(x.scalars[$1 * 16 + j]) * Double(x.scalars[$1 * 16 + j]) }.squareRoot()
            #expect(abs(Double(measured[j]) - naive) <= 1e-5 * max(naive, 1), "feature \(j)")
        }
    }

    @Test("--criterion wanda defaults to scope row for weights, and to layer for neurons")
    func defaults() {
        #expect(Recipe.Defaults.scope(granularity: .weight, criterion: .wanda) == .row)
        #expect(Recipe.Defaults.scope(granularity: .nOfM(n: 2, m: 4), criterion: .wanda) == .global)
        #expect(Recipe.Defaults.scope(granularity: .neuron, criterion: .wanda) == .layer)
        #expect(Recipe.Defaults.scope(granularity: .weight, criterion: .magnitude) == .global)
        #expect(CriterionName.wanda.needsData)
    }
}
