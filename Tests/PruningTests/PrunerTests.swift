import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Criteria")
struct CriterionTests {
    let p: Parameter = {
        let p = Parameter(Tensor(shape: [2, 2], scalars: [-3, 1, -0.5, 2]))
        p.gradient = Tensor(shape: [2, 2], scalars: [1, -2, 4, 0.5])
        return p
    }()

    @Test("each criterion scores a hand-computed case")
    func handComputed() {
        #expect(Magnitude().scores(for: p, path: "a.weight").scalars == [3, 1, 0.5, 2])
        #expect(SquaredMagnitude().scores(for: p, path: "a.weight").scalars == [9, 1, 0.25, 4])
        #expect(Largest().scores(for: p, path: "a.weight").scalars == [-3, -1, -0.5, -2])
        #expect(Taylor().scores(for: p, path: "a.weight").scalars == [3, 2, 2, 1])
    }

    @Test("w·|w| as w²: a large negative weight is important, not cut first")
    func squaredKeepsNegatives() throws {
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", weight: Tensor(shape: [1, 2], scalars: [-5, 0.1]), bias: nil)])
        try Pruner.prune(model, with: PruningPlan(criterion: SquaredMagnitude(), threshold: .sparsity(0.5)))
        #expect(model.parameter(at: "fc.weight")!.value.scalars == [-5, 0])
    }

    @Test("random scores depend on the seed and the path, and repeat for the same pair")
    func random() {
        let a = RandomScores(seed: 1).scores(for: p, path: "a.weight")
        #expect(a == RandomScores(seed: 1).scores(for: p, path: "a.weight"))
        #expect(a != RandomScores(seed: 2).scores(for: p, path: "a.weight"))
        #expect(a != RandomScores(seed: 1).scores(for: p, path: "b.weight"))
        #expect(a.scalars.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    @Test("structure norms: l1-norm is magnitude, l2-norm squared magnitude, summed per unit")
    func names() {
        #expect(CriterionName.l1Norm.criterion().name == "magnitude")
        #expect(CriterionName.l2Norm.criterion().name == "squared-magnitude")
        #expect(Set(CriterionName.allCases.map(\.rawValue)).count == CriterionName.allCases.count)
    }
}

@Suite("Pruner")
struct PrunerTests {
    static func model(seed: UInt64 = 1) throws -> Graph { try Architecture.lenet300.build(seed: seed) }

    static func zeros(_ t: Tensor) -> Int { t.count - t.nonZeroCount() }

    @Test("layer scope cuts every parameter to the same exact sparsity", arguments: [0.5, 0.9, 0.98])
    func layerScope(sparsity: Double) throws {
        let m = try Self.model()
        let result = try Pruner.prune(m, with: PruningPlan(scope: .layer, threshold: .sparsity(sparsity)))
        #expect(result.parameters.map(\.path) == ["fc1.weight", "fc2.weight", "fc3.weight"])
        for p in result.parameters {
            #expect(p.count - p.nonZerosAfter == Int((sparsity * Double(p.count)).rounded()), "\(p.path)")
        }
        #expect(m.parameter(at: "fc1.bias")!.mask == nil)   // biases are not pruned unless asked
    }

    @Test("global scope cuts exactly the globally smallest magnitudes")
    func globalScope() throws {
        let m = try Self.model()
        let weights = ["fc1.weight", "fc2.weight", "fc3.weight"].map { m.parameter(at: $0)! }
        let original = weights.map(\.value)
        let result = try Pruner.prune(m, with: PruningPlan(threshold: .sparsity(0.9)))
        let total = original.reduce(0) { $0 + $1.count }
        #expect(result.parameters.reduce(0) { $0 + $1.count - $1.nonZerosAfter } == Int((0.9 * Double(total)).rounded()))
        var largestCut: Float = 0, smallestKept = Float.infinity
        for (w, before) in zip(weights, original) {
            for i in 0..<w.count {
                if w.mask!.scalars[i] == 0 { largestCut = max(largestCut, abs(before.scalars[i])) }
                else { smallestKept = min(smallestKept, abs(before.scalars[i])) }
            }
        }
        #expect(largestCut <= smallestKept)
        // Global pruning leaves the small last layer denser than the large first one.
        #expect(result.parameters[2].sparsity < result.parameters[0].sparsity)
    }

    @Test("ties at the threshold are cut in model order until the count is exact", arguments: [Scope.global, .layer])
    func ties(scope: Scope) throws {
        let model = try Graph(inputShape: [3], sequential: [
            Dense(name: "a", weight: Tensor(shape: [2, 3], repeating: 0.5), bias: nil),
            Dense(name: "b", weight: Tensor(shape: [1, 2], repeating: 0.5), bias: nil),
        ])
        let result = try Pruner.prune(model, with: PruningPlan(scope: scope, threshold: .sparsity(0.5)))
        let a = model.parameter(at: "a.weight")!.value.scalars, b = model.parameter(at: "b.weight")!.value.scalars
        if scope == .global {
            #expect(a == [0, 0, 0, 0, 0.5, 0.5] && b == [0.5, 0.5])   // 4 of 8: the first four in model order
            #expect(result.sparsity == 0.5)
        } else {
            #expect(a == [0, 0, 0, 0.5, 0.5, 0.5] && b == [0, 0.5])     // 3 of 6 and 1 of 2
        }
    }

    @Test("an absolute value threshold cuts exactly the scores below it")
    func valueThreshold() throws {
        let m = try Self.model()
        let before = m.parameter(at: "fc2.weight")!.value
        try Pruner.prune(m, with: PruningPlan(threshold: .value(0.02)))
        let after = m.parameter(at: "fc2.weight")!.value
        for i in 0..<before.count {
            #expect((after.scalars[i] == 0) == (abs(before.scalars[i]) < 0.02))
        }
    }

    @Test("per-layer sparsity applies to the listed parameters only")
    func perLayer() throws {
        let m = try Self.model()
        let result = try Pruner.prune(m, with: PruningPlan(scope: .layer, threshold: .perLayer(["fc1.weight": 0.8, "fc3.weight": 0.1])))
        let byPath = Dictionary(uniqueKeysWithValues: result.parameters.map { ($0.path, $0) })
        #expect(abs(byPath["fc1.weight"]!.sparsity - 0.8) < 1e-5)
        #expect(byPath["fc2.weight"]!.sparsity == 0)
        #expect(abs(byPath["fc3.weight"]!.sparsity - 0.1) < 1e-3)
    }

    @Test("2:4 keeps exactly the two largest of every four weights")
    func nOfM() throws {
        let m = try Self.model()
        let before = m.parameter(at: "fc1.weight")!.value
        try Pruner.prune(m, with: PruningPlan(granularity: .nOfM(n: 2, m: 4), threshold: .sparsity(0)))
        let after = m.parameter(at: "fc1.weight")!.value
        for g in stride(from: 0, to: after.count, by: 4) {
            let kept = (g..<g + 4).filter { after.scalars[$0] != 0 }
            #expect(kept.count == 2)
            let keptMin = kept.map { abs(before.scalars[$0]) }.min()!
            let cutMax = (g..<g + 4).filter { !kept.contains($0) }.map { abs(before.scalars[$0]) }.max()!
            #expect(keptMin >= cutMax)
        }
    }

    @Test("neuron pruning zeroes whole rows and their bias entries; the output layer is left whole")
    func neurons() throws {
        let m = try Self.model()
        try Pruner.prune(m, with: PruningPlan(granularity: .neuron, scope: .layer, threshold: .sparsity(0.5),
                                              parameters: ["fc1.weight", "fc2.weight"]))
        let w = m.parameter(at: "fc1.weight")!.value, b = m.parameter(at: "fc1.bias")!.value
        var deadRows = 0
        for r in 0..<300 {
            let row = w.scalars[(r * 784)..<((r + 1) * 784)]
            let dead = row.allSatisfy { $0 == 0 }
            #expect(dead || row.allSatisfy { $0 != 0 })
            if dead { deadRows += 1; #expect(b.scalars[r] == 0) }
        }
        #expect(deadRows == 150)
        let all = try Self.model()
        try Pruner.prune(all, with: PruningPlan(granularity: .neuron, scope: .layer, threshold: .sparsity(0.5)))
        #expect(all.parameter(at: "fc3.weight")!.value.nonZeroCount() == 1000)
        #expect(all.parameter(at: "fc2.weight")!.value.nonZeroCount() == 50 * 300)
        // The output of a cut neuron is exactly zero.
        let x = randomTensor([4, 784], low: 0, high: 1, seed: 3)
        let fc1 = m.module(named: "fc1") as! Dense
        let h = fc1.forward(x, training: false)
        for r in 0..<300 where b.scalars[r] == 0 && w.scalars[r * 784] == 0 {
            for n in 0..<4 { #expect(h[n, r] == 0) }
        }
    }

    @Test("global structured pruning ranks units by their mean score, fair across fan-ins")
    func globalStructured() throws {
        // Rows of `wide` have a large L1 sum (10) but small weights (0.1); rows of `narrow`
        // have a small sum (2) and large weights (1). The small weights go first.
        // Four hidden units each; every group keeps at least one unit, so cutting 3 of 8
        // takes three rows of `wide`.
        let model = try Graph(inputShape: [100], sequential: [
            Dense(name: "wide", weight: Tensor(shape: [4, 100], repeating: 0.1), bias: nil),
            Dense(name: "narrow", weight: Tensor(shape: [4, 4], repeating: 1), bias: nil),
            Dense(name: "out", weight: Tensor(shape: [2, 4], repeating: 1), bias: nil),
        ])
        try Pruner.prune(model, with: PruningPlan(granularity: .neuron, threshold: .sparsity(0.375)))
        #expect(model.parameter(at: "wide.weight")!.value.nonZeroCount() == 100)
        #expect(model.parameter(at: "narrow.weight")!.value.nonZeroCount() == 16)
        #expect(model.parameter(at: "out.weight")!.value.nonZeroCount() == 8, "the outputs are never cut")
    }

    @Test("filters of a convolution are pruned as units")
    func filters() throws {
        let m = try Architecture.lenet5.build(seed: 2)
        try Pruner.prune(m, with: PruningPlan(granularity: .filter, scope: .layer, threshold: .sparsity(0.5), parameters: ["conv2.weight"]))
        let w = m.parameter(at: "conv2.weight")!.value
        let dead = (0..<16).filter { f in w.scalars[(f * 150)..<((f + 1) * 150)].allSatisfy { $0 == 0 } }
        #expect(dead.count == 8)
        #expect(dead.allSatisfy { m.parameter(at: "conv2.bias")!.value.scalars[$0] == 0 })
    }

    @Test("pruning again keeps earlier cuts and counts them toward the new target")
    func incremental() throws {
        let m = try Self.model()
        try Pruner.prune(m, with: PruningPlan(threshold: .sparsity(0.5)))
        let first = m.parameter(at: "fc1.weight")!.mask!
        let result = try Pruner.prune(m, with: PruningPlan(criterion: Largest(), threshold: .sparsity(0.8)))
        let second = m.parameter(at: "fc1.weight")!.mask!
        for i in 0..<first.count where first.scalars[i] == 0 { #expect(second.scalars[i] == 0) }
        #expect(abs(result.sparsity - 0.8) < 1e-5)
    }

    @Test("impossible plans are rejected with the field named", arguments: [
        PruningPlan(threshold: .sparsity(1.5)),
        PruningPlan(threshold: .perLayer(["nowhere.weight": 0.5])),
        PruningPlan(granularity: .nOfM(n: 2, m: 3), threshold: .sparsity(0)),
        PruningPlan(granularity: .nOfM(n: 5, m: 4), threshold: .sparsity(0)),
        PruningPlan(granularity: .nOfM(n: 1, m: 0), threshold: .sparsity(0)),
        PruningPlan(criterion: PrecomputedScores(name: "nan", scores: ["fc2.weight": Tensor(shape: [100, 300], repeating: .nan)]),
                    threshold: .sparsity(0.5)),
        PruningPlan(criterion: PrecomputedScores(name: "wrong", scores: ["fc2.weight": Tensor.zeros([3])]), threshold: .sparsity(0.5)),
        PruningPlan(threshold: .sparsity(0.5), parameters: ["*.gamma"]),
    ])
    func rejected(_ plan: PruningPlan) throws {
        let m = try Self.model()
        #expect(throws: PruningError.self) { try Pruner.prune(m, with: plan) }
        #expect(m.parameters.allSatisfy { $0.parameter.mask == nil })   // nothing half-applied
    }

    @Test("BatchNorm scales are left alone unless asked")
    func normalization() throws {
        let m = try Architecture.resnet8.build(seed: 1)
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0.5)), in: m).map(\.path)
        #expect(!selected.contains("bn1.weight"))
        #expect(selected.contains("conv1.weight") && selected.contains("fc.weight"))
        var plan = PruningPlan(threshold: .sparsity(0.5))
        plan.includeNormalization = true
        #expect(try Pruner.selectParameters(plan, in: m).map(\.path).contains("bn1.weight"))
    }

    @Test("a transformer's LayerNorm scales and embedding tables are left alone unless asked; its Linears are selected")
    func transformerDefaults() throws {
        let m = try Architecture.gptTiny.build(inputShape: [16], classes: 256, seed: 1)
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0.5)), in: m).map(\.path)
        #expect(selected == ["blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.fc.weight", "blocks.0.mlp.proj.weight",
                             "blocks.1.attn.qkv.weight", "blocks.1.attn.proj.weight", "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.weight",
                             "blocks.2.attn.qkv.weight", "blocks.2.attn.proj.weight", "blocks.2.mlp.fc.weight", "blocks.2.mlp.proj.weight",
                             "blocks.3.attn.qkv.weight", "blocks.3.attn.proj.weight", "blocks.3.mlp.fc.weight", "blocks.3.mlp.proj.weight",
                             "head.weight"], "\(selected)")
        // An exact path selects a table; normalization comes in with includeNormalization.
        let named = PruningPlan(threshold: .sparsity(0.5), parameters: ["tok_emb.weight", "*.proj.weight"])
        #expect(try Pruner.selectParameters(named, in: m).map(\.path).first == "tok_emb.weight")
        var withNorms = PruningPlan(threshold: .sparsity(0.5), parameters: ["blocks.0.*.weight"])
        #expect(try !Pruner.selectParameters(withNorms, in: m).map(\.path).contains("blocks.0.ln1.weight"))
        withNorms.includeNormalization = true
        #expect(try Pruner.selectParameters(withNorms, in: m).map(\.path).contains("blocks.0.ln1.weight"))
    }

    @Test("path patterns")
    func patterns() {
        #expect(matches("fc1.weight", pattern: "*.weight"))
        #expect(matches("fc1.weight", pattern: "fc1.weight"))
        #expect(!matches("fc1.bias", pattern: "*.weight"))
        #expect(matches("block1_conv2.weight", pattern: "block*_conv*.weight"))
        #expect(!matches("fc1.weight", pattern: "fc2*"))
        #expect(matches("anything", pattern: "*"))
    }
}

@Suite("Prune and fine-tune on Fashion-MNIST", .serialized)
struct PruneEndToEndTests {
    @Test("train 1 epoch → prune 90% globally → fine-tune 1 epoch: masks stay zero, accuracy recovers, the file keeps the masks")
    func trainPruneFineTune() throws {
        let folder = DatasetFolder(fashionMNISTPath)
        let train = try folder.training(), test = try folder.test()
        let model = try Architecture.lenet300.build(seed: 1)
        var options = TrainingOptions()
        options.epochs = 1
        try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9, weightDecay: 5e-4))).fit(train, options: options)
        let dense = Trainer.evaluate(model, on: test)
        let result = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.9)))
        #expect(abs(result.sparsity - 0.9) < 1e-5)
        let masks = model.parameters.compactMap { $0.parameter.mask }
        options.learningRate = 0.01
        options.schedule = .constant
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        try trainer.fit(train, options: options)
        let tuned = trainer.evaluate(test)
        for (p, mask) in zip(model.parameters.filter { $0.parameter.mask != nil }, masks) {
            for i in 0..<mask.count where mask.scalars[i] == 0 { #expect(p.parameter.value.scalars[i] == 0) }
        }
        #expect(dense.accuracy > 0.82, "dense \(dense.accuracy)")
        #expect(tuned.accuracy > dense.accuracy - 0.01, "dense \(dense.accuracy), pruned and fine-tuned \(tuned.accuracy)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pruned-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.save(model, to: path)
        let loaded = try ModelFile.load(path).model
        #expect(loaded.parameters.compactMap { $0.parameter.mask } == masks)
        #expect(Trainer.evaluate(loaded, on: test) == tuned)
    }
}
