import NeuralNetwork
import Pruning
import TensorCore
import TestSupport
import Testing

@Suite("Layer-wise post-training cuts: sequential Wanda and SparseGPT from calibration data")
struct LayerwiseTests {
    /// `Σ‖f(x) − g(x)‖²` of two models' outputs over a batch.
    static func outputError(_ a: Graph, _ b: Graph, on x: Tensor) -> Double {
        zip(a.forward(x).scalars, b.forward(x).scalars).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
    }

    @Test("SparseGPT through the pruner: one Dense layer, correlated inputs, the hand-computed update")
    func handComputed() throws {
        // Inputs whose features are correlated: x₂ ≈ x₁. Without dampening SparseGPT ranks w₁ by
        // w₁²/[H⁻¹]₁₁ = w₁²·det/H₂₂ and w₂ by w₂²·H₂₂ (see ReconstructionTests), removes w₁, and
        // moves it onto w₂ by H₁₂/H₂₂.
        let x: [Float] = [1, 0.9, -1, -0.8, 0.5, 0.6, 2, 1.7, -0.3, -0.4]
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", weight: Tensor(shape: [1, 2], scalars: [1, 0.8]), bias: nil)])
        let data = try Dataset(inputs: x, sampleShape: [2], labels: [Int32](repeating: 0, count: 5))
        var (a, b, c) = (0.0, 0.0, 0.0)
        for i in stride(from: 0, to: 10, by: 2) {
            let (x1, x2) = (Double(x[i]), Double(x[i + 1]))
            a += x1 * x1; b += x1 * x2; c += x2 * x2
        }
        let criterion = try SparseGPT(dampening: 0).prepared(for: model, on: data)
        let result = try Pruner.prune(model, with: PruningPlan(criterion: criterion, scope: .layer, threshold: .sparsity(0.5)))
        let w = try #require(model.parameter(at: "fc.weight"))
        #expect(result.parameters.map(\.nonZerosAfter) == [1])
        // Which one goes: w²/[U_jj]², U₁₁² = c/(ac − b²), U₂₂² = 1/c.
        let first = (a * c - b * b) / c, second = 0.64 * c
        #expect(first < second)
        #expect(w.mask?.scalars == [0, 1])
        #expect(abs(Double(w.value.scalars[1]) - (0.8 + 1.0 * b / c)) < 1e-4)
    }

    /// A 6 → 5 → 3 MLP and 40 samples with feature scales 1 to 16 (WandaTests's).
    static func mlp() throws -> (Graph, Dataset) { try WandaTests.mlp() }

    @Test("sequential Wanda measures the second layer on the first as cut; not sequential, on the dense model")
    func sequential() throws {
        let (model, data) = try Self.mlp()
        func cut(sequential: Bool) throws -> (Graph, Tensor) {
            let copy = try model.copy()
            let criterion = try Wanda(samples: 40, sequential: sequential).prepared(for: copy, on: data)
            try Pruner.prune(copy, with: PruningPlan(criterion: criterion, scope: .row, threshold: .sparsity(0.6)))
            return (copy, try #require(copy.parameter(at: "fc2.weight")?.mask))
        }
        let (after, sequentialMask) = try cut(sequential: true)
        let (_, denseMask) = try cut(sequential: false)
        // The expected masks: fc2's row-wise Wanda cut from the norms of its input, measured
        // on the model with fc1 cut (fc2 put back dense) and on the dense model.
        func expected(_ graph: Graph) throws -> Tensor {
            let norms = try #require(try Wanda.inputNorms(of: graph, on: data, samples: 40)["fc2"])
            let weight = try #require(model.parameter(at: "fc2.weight")).value
            var mask = Tensor(shape: weight.shape, repeating: 1)
            cutLowestInEachRow(scalingColumns(weight.magnitudes(), by: norms), fraction: 0.6, mask: &mask)
            return mask
        }
        let fc1Cut = try model.copy()
        try #require(fc1Cut.parameter(at: "fc1.weight")).restore(value: try #require(after.parameter(at: "fc1.weight")).value,
                                                                  mask: after.parameter(at: "fc1.weight")?.mask)
        #expect(sequentialMask == (try expected(fc1Cut)))
        #expect(denseMask == (try expected(model)))
        #expect(sequentialMask != denseMask)   // the test tells the two apart
        // fc1 is the same cut either way: nothing before it changed.
        #expect(after.parameter(at: "fc1.weight")?.mask == (try cut(sequential: false)).0.parameter(at: "fc1.weight")?.mask)
    }

    @Test("SparseGPT's outputs stay closer to the dense model's than magnitude's and Wanda's at 50%")
    func closerThanMagnitude() throws {
        let (model, data) = try Self.mlp()
        let x = data.batch(0..<40).inputs
        var errors: [String: Double] = [:]
        for (name, criterion) in [("magnitude", Magnitude() as Criterion), ("wanda", try Wanda(samples: 40).prepared(for: model, on: data)),
                                  ("sparsegpt", try SparseGPT(samples: 40).prepared(for: model, on: data))] {
            let copy = try model.copy()
            try Pruner.prune(copy, with: PruningPlan(criterion: criterion, scope: .layer, threshold: .sparsity(0.5)))
            #expect(abs(Pruner.sparsity(of: try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0)), in: copy)) - 0.5) < 0.02, "\(name)")
            errors[name] = Self.outputError(model, copy, on: x)
        }
        #expect(errors["sparsegpt"]! < errors["wanda"]! && errors["sparsegpt"]! < errors["magnitude"]!, "\(errors)")
    }

    @Test("N:M through the pruner keeps exactly N of every group, for SparseGPT and Wanda")
    func nOfM() throws {
        var rng = SeededGenerator(seed: 12)
        let model = try Graph(inputShape: [8], sequential: [
            Dense(name: "fc1", inFeatures: 8, outFeatures: 12, rng: &rng), ReLU(name: "relu"),
            Dense(name: "fc2", inFeatures: 12, outFeatures: 4, rng: &rng),
        ])
        let data = try Dataset(inputs: randomTensor([30, 8], seed: 13).scalars, sampleShape: [8], labels: [Int32](repeating: 0, count: 30))
        for criterion in [try SparseGPT().prepared(for: model, on: data), try Wanda().prepared(for: model, on: data)] {
            let copy = try model.copy()
            try Pruner.prune(copy, with: PruningPlan(criterion: criterion, granularity: .nOfM(n: 2, m: 4), threshold: .sparsity(0.5)))
            for path in ["fc1.weight", "fc2.weight"] {
                let mask = try #require(copy.parameter(at: path)?.mask)
                for g in 0..<(mask.count / 4) {
                    #expect(mask.scalars[(g * 4)..<(g * 4 + 4)].filter { $0 == 1 }.count == 2, "\(criterion.name) \(path) group \(g)")
                }
            }
        }
    }

    @Test("SparseGPT refuses a global ranking and a value threshold, and cuts each row alike with row scope; Wanda scores them one-shot")
    func plansThatDoNotFit() throws {
        let (model, data) = try Self.mlp()
        let sparse = try SparseGPT().prepared(for: model, on: data)
        #expect(throws: PruningError.self) { try Pruner.prune(model, with: PruningPlan(criterion: sparse, scope: .global, threshold: .sparsity(0.5))) }
        #expect(throws: PruningError.self) { try Pruner.prune(model, with: PruningPlan(criterion: sparse, scope: .layer, threshold: .value(0.1))) }
        let rows = try model.copy()
        try Pruner.prune(rows, with: PruningPlan(criterion: try SparseGPT().prepared(for: rows, on: data), scope: .row, threshold: .sparsity(0.5)))
        for path in ["fc1.weight", "fc2.weight"] {   // row scope: every output row keeps half
            let mask = try #require(rows.parameter(at: path)?.mask)
            let width = mask.shape[1]
            for r in 0..<mask.shape[0] {
                #expect(mask.scalars[(r * width)..<((r + 1) * width)].filter { $0 == 0 }.count == Int((0.5 * Double(width)).rounded()), "\(path) row \(r)")
            }
        }
        let copy = try model.copy()
        let wanda = try Wanda().prepared(for: copy, on: data)
        let result = try Pruner.prune(copy, with: PruningPlan(criterion: wanda, scope: .global, threshold: .sparsity(0.5)))
        #expect(abs(result.sparsity - 0.5) < 0.02)
    }

    @Test("padded sentences: batches grouped by length and cut to their longest give the one-shot cut")
    func paddedSequences() throws {
        let model = try WandaTests.tinyEncoder()
        // Five sentences of 5, 3, 8, 2 and 6 tokens, padded with 0 to 8; batches of 2.
        let lengths = [5, 3, 8, 2, 6]
        var ids = [Float](repeating: 0, count: 40)
        for (s, n) in lengths.enumerated() { for t in 0..<n { ids[s * 8 + t] = Float(1 + (s * 7 + t * 3) % 29) } }
        let data = try Dataset(inputs: ids, sampleShape: [8], targets: [Float](repeating: 0, count: 80), targetWidth: 16)
        let plan = { (c: Criterion) in PruningPlan(criterion: c, scope: .row, threshold: .sparsity(0.5), parameters: ["*.weight"]) }
        let layerwise = try model.copy(), oneShot = try model.copy()
        try Pruner.prune(layerwise, with: plan(try Wanda(batchSize: 2, sequential: false).prepared(for: layerwise, on: data)))
        try Pruner.prune(oneShot, with: plan(try Wanda(batchSize: 2).oneShot(for: oneShot, on: data)))
        let dense = model.nodes.compactMap { ($0.module as? Dense).map { "\($0.name).weight" } }
        #expect(dense.count == 6)
        for path in dense {
            #expect(layerwise.parameter(at: path)?.mask == oneShot.parameter(at: path)?.mask, "\(path)")
        }
    }

    @Test("prune.calibration: read from a recipe, for wanda and sparsegpt only, with at least one sample")
    func recipeField() throws {
        let recipe = try Recipe(yaml: "model: lenet300\nprune: {criterion: sparsegpt, scope: layer, threshold: {sparsity: 0.5}, calibration: {file: c.txt, samples: 64}}\n")
        #expect(recipe.prune?.calibration == Recipe.Calibration(file: "c.txt", samples: 64))
        #expect(recipe.problems().isEmpty)
        #expect(try Recipe(yaml: "model: lenet300\nprune: {criterion: sparsegpt, scope: row, threshold: {sparsity: 0.5}}\n").problems().isEmpty)
        for (yaml, message) in [
            ("{criterion: taylor, threshold: {sparsity: 0.5}, calibration: {file: c.txt}}", "prune.calibration feeds the layer-wise criteria"),
            ("{criterion: wanda, threshold: {sparsity: 0.5}, calibration: {file: c.txt, samples: 0}}", "prune.calibration.samples must be at least 1"),
            ("{criterion: wanda, threshold: {sparsity: 0.5}, calibration: {path: c.txt}}", "path"),
        ] {
            #expect { try Recipe(yaml: "model: lenet300\nprune: \(yaml)\n") } throws: { "\($0)".contains(message) }
        }
    }

    @Test("convolutions are cut from their input patches: Wanda by the patch norms, SparseGPT closer to the dense outputs than magnitude")
    func convolutions() throws {
        var rng = SeededGenerator(seed: 21)
        let model = try Graph(inputShape: [2, 6, 6], sequential: [
            Conv2D(name: "conv", inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1, rng: &rng), ReLU(name: "r"),
            Flatten(name: "f"), Dense(name: "fc", inFeatures: 144, outFeatures: 3, rng: &rng),
        ])
        // Channel 1 is 8× channel 0's scale, so patch norms differ from magnitude's view.
        let x = randomTensor([12, 2, 6, 6], seed: 22).scalars.enumerated().map { i, v in (i / 36) % 2 == 1 ? 8 * v : v }
        let data = try Dataset(inputs: x, sampleShape: [2, 6, 6], labels: [Int32](repeating: 0, count: 12))
        let plan = { (c: Criterion) in PruningPlan(criterion: c, scope: .row, threshold: .sparsity(0.5), parameters: ["conv.weight"]) }
        let wanda = try model.copy()
        try Pruner.prune(wanda, with: plan(try Wanda(samples: 12).prepared(for: wanda, on: data)))
        // Expected: |W| · ‖patch feature‖ over every output position of every image, cut row-wise.
        let g = ConvolutionGeometry(batch: 12, channels: 2, height: 6, width: 6, kernelHeight: 3, kernelWidth: 3, padding: 1)
        let patches = im2col(g, input: Tensor(shape: [12, 2, 6, 6], scalars: x))
        let norms = (0..<18).map { j in Float((0..<g.columnCount).reduce(0.0) { $0 + Double(patches.scalars[j * g.columnCount + $1] * patches.scalars[j * g.columnCount + $1]) }.squareRoot()) }
        let weight = try #require(model.parameter(at: "conv.weight")).value.reshaped([4, 18])
        var expected = Tensor(shape: [4, 18], repeating: 1)
        cutLowestInEachRow(scalingColumns(weight.magnitudes(), by: norms), fraction: 0.5, mask: &expected)
        #expect(wanda.parameter(at: "conv.weight")?.mask == expected.reshaped([4, 2, 3, 3]))
        var magnitude = Tensor(shape: [4, 18], repeating: 1)
        cutLowestInEachRow(weight.magnitudes(), fraction: 0.5, mask: &magnitude)
        #expect(magnitude != expected)   // the test tells the two apart
        // SparseGPT against magnitude, same per-row count: the conv layer's outputs on the calibration images.
        let sparse = try model.copy(), byMagnitude = try model.copy()
        try Pruner.prune(sparse, with: PruningPlan(criterion: try SparseGPT(samples: 12).prepared(for: sparse, on: data), scope: .layer,
                                                   threshold: .sparsity(0.5), parameters: ["conv.weight"]))
        try Pruner.prune(byMagnitude, with: PruningPlan(scope: .layer, threshold: .sparsity(0.5), parameters: ["conv.weight"]))
        let images = data.batch(0..<12).inputs
        #expect(sparse.parameter(at: "conv.weight")?.value.nonZeroCount() == 36)
        func convOutput(_ graph: Graph) -> [Float] {
            var y: [Float] = []
            _ = graph.forward(images) { i, out in if i == 0 { y = out.scalars } }
            return y
        }
        let dense = convOutput(model)
        let error = { (g: Graph) in zip(convOutput(g), dense).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } }
        #expect(error(sparse) < 0.5 * error(byMagnitude), "\(error(sparse)) against \(error(byMagnitude))")
    }
}
