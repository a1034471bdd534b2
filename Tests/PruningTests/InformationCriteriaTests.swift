import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Information criteria: activation entropy and mutual information with the label")
struct InformationCriteriaTests {
    /// A 4→4→2 network whose ReLU layer "r" outputs `scales[j] · columns[j][s]` for unit j on
    /// sample s (layer "a" is diagonal with zero bias, the inputs are the non-negative
    /// columns), with the data that feeds it.
    static func controlled(_ columns: [[Float]], labels: [Int32], scales: [Float] = [1, 1, 1, 1]) throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 21)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "a", inFeatures: 4, outFeatures: 4, rng: &rng), ReLU(name: "r"),
            Dense(name: "b", inFeatures: 4, outFeatures: 2, rng: &rng),
        ])
        model.parameter(at: "a.weight")!.value = Tensor(shape: [4, 4], scalars: (0..<16).map { $0 / 4 == $0 % 4 ? scales[$0 / 4] : 0 })
        model.parameter(at: "a.bias")!.value = Tensor.zeros([4])
        let inputs = labels.indices.flatMap { s in columns.map { $0[s] } }
        return (model, try Dataset(inputs: inputs, sampleShape: [4], labels: labels))
    }

    /// Which rows of layer "a" are kept (1) or cut (0).
    static func keptRows(_ model: Graph) -> [Float] {
        (0..<4).map { model.parameter(at: "a.weight")!.mask?[flat: 5 * $0] ?? 1 }
    }

    @Test("entropy in bits: uniform over 4 bins is 2, a constant or dead unit 0, probabilities ½ ¼ ¼ give 1.5")
    func entropyOfControlledUnits() throws {
        let k = (0..<64).map { $0 % 4 }
        let (model, data) = try Self.controlled([
            k.map { Float($0) },                       // 0 1 2 3: four bins, each ¼
            k.map { _ in 0.5 },                        // constant
            k.map { [0, 0, 1, 2][$0] },                // bins 0, 15, 31 with ½ ¼ ¼
            k.map { _ in 0 },                          // never fires
        ], labels: k.map { Int32($0 % 2) })
        // 3 batches of 25 from 64 samples: 25 + 25 + 14, every sample once.
        let criterion = try ActivationEntropy(measuring: model, on: data, batches: 3, batchSize: 25)
        let h = try #require(criterion.bits?["r"])
        for (got, want) in zip(h, [2, 0, 1.5, 0] as [Float]) { #expect(abs(got - want) < 1e-6, "\(h)") }
        // Only the first 6 samples: unit 0 sees 0 1 2 3 0 1, so p = ⅓ ⅓ ⅙ ⅙ and
        // H = ⅔·log2 3 + ⅓·log2 6 = 1.918296.
        let few = try ActivationEntropy(measuring: model, on: data, batches: 1, batchSize: 6)
        #expect(abs((few.bits?["r"]?[0] ?? 0) - 1.918296) < 1e-5)
    }

    @Test("binning: equal widths between min and max, the maximum in the last bin, a constant sample in one")
    func binning() {
        #expect(BinnedInformation.binIndices([0, 1, 2, 3], bins: 32) == [0, 10, 21, 31])
        #expect(BinnedInformation.binIndices([-1, 0, 0.999, 1], bins: 2) == [0, 1, 1, 1])
        #expect(BinnedInformation.binIndices([7, 7, 7], bins: 32) == [0, 0, 0])
        #expect(BinnedInformation.entropy(of: [7, 7, 7]) == 0)
        #expect(abs(BinnedInformation.entropy(of: (0..<64).map { Float($0) }) - 5) < 1e-12, "64 values, 2 per bin: log2 32")
    }

    @Test("mutual information: a unit copying a balanced binary label has H(Y) = 1 bit, one independent of it 0, a partial one 1 − ¾·H(⅓)")
    func mutualInformationOfControlledUnits() throws {
        let s = Array(0..<64), y = s.map { Int32($0 % 2) }
        let (model, data) = try Self.controlled([
            y.map { Float($0) },                             // copies the label
            s.map { Float(($0 / 2) % 4) },                   // each (a, y) pair equally often: independent
            s.map { Float(3 * ($0 % 2) + ($0 / 2) % 2) },    // the label plus an independent bit
            s.map { $0 % 4 == 3 ? 1 : 0 },                   // fires only on half of the class-1 samples
        ], labels: y)
        let criterion = try MutualInformation(measuring: model, on: data, batches: 2, batchSize: 32)
        let i = try #require(criterion.bits?["r"])
        // Unit 3: H(Y | A) = P(A = 0)·H(⅓) = ¾ · 0.9182958, so I = 1 − 0.6887219 = 0.3112781.
        for (got, want) in zip(i, [1, 0, 1, 0.3112781] as [Float]) { #expect(abs(got - want) < 1e-5, "\(i)") }
    }

    @Test("mutual information of a random unit independent of the label stays below its χ² bound")
    func independentNoise() {
        // Under independence 2N·ln2·Î follows χ² with (32 − 1)(2 − 1) = 31 degrees of freedom
        // (Miller 1955); its 99.9% quantile is 61.1, so Î < 61.1 / (2·4000·ln 2) = 0.0110 bits.
        let values = randomTensor([4000], low: 0, high: 1, seed: 22).scalars
        let labels = (0..<4000).map { Int32($0 % 2) }
        let i = BinnedInformation.mutualInformation(between: values, and: labels)
        #expect(i >= 0 && i < 0.0110, "\(i)")
        #expect(abs(BinnedInformation.mutualInformation(between: labels.map { Float($0) }, and: labels) - 1) < 1e-12)
    }

    /// Units: 0 constant (large weight), 1 the label, 2 noise (large weight), 3 the label
    /// plus a little noise, on 256 samples.
    static func mixed() throws -> (Graph, Dataset) {
        let noise = randomTensor([2, 256], low: 0, high: 1, seed: 23).scalars
        let y = (0..<256).map { Int32($0 % 2) }
        return try controlled([
            y.map { _ in 1 },
            y.map { Float($0) },
            Array(noise[0..<256]),
            y.indices.map { 2 * Float(y[$0]) + 0.5 * noise[256 + $0] },
        ], labels: y, scales: [10, 1, 10, 1])
    }

    @Test("the criteria cut the low-information units that the weights would keep", arguments: [
        // Entropy: 0, 1, ≈ log2 32, ≈ 1 + log2 6.4 bits → the constant unit and the bare label go.
        (CriterionName.entropy, [0, 0, 1, 1] as [Float]),
        // Mutual information: 0, 1, ≈ 0, 1 bit → the constant unit and the noise go.
        (CriterionName.mutualInformation, [0, 1, 0, 1]),
        // The L2 norm of the rows keeps the two units with weight 10.
        (CriterionName.l2Norm, [1, 0, 1, 0]),
    ])
    func cutsLowInformationUnits(name: CriterionName, kept: [Float]) throws {
        let (model, data) = try Self.mixed()
        var criterion = name.criterion()
        if let sample = criterion as? SampleCriterion { criterion = try sample.prepared(for: model, on: data) }
        try Structured.prune(model, with: StructuredPlan(criterion: criterion, threshold: .sparsity(0.5), unit: .neuron))
        #expect(Self.keptRows(model) == kept)
    }

    @Test("a structured one-shot recipe prunes by each information criterion end to end", arguments: [
        CriterionName.entropy, .mutualInformation,
    ])
    func recipeEndToEnd(name: CriterionName) throws {
        let x = randomTensor([256, 4], seed: 24)
        let data = try Dataset(inputs: x.scalars, sampleShape: [4], labels: (0..<256).map { Int32(x.scalars[$0 * 4] > 0 ? 1 : 0) })
        var rng = SeededGenerator(seed: 25)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc1", inFeatures: 4, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 2, rng: &rng),
        ])
        // The scores the run should rank by, measured independently on the same sample first.
        let prepared = try #require(name.criterion() as? SampleCriterion).prepared(for: model, on: data)
        let measured = try #require(prepared as? UnitCriterion)
        let group = try #require(Dependencies.groups(model).first { $0.name == "fc1" })
        let scores = try #require(try measured.unitScores(for: group, in: model))
        let recipe = Recipe(model: "test", prune: Recipe.Prune(criterion: name, granularity: .neuron,
                                                               threshold: Recipe.ThresholdSpec(sparsity: 0.5)))
        #expect(recipe.problems().isEmpty, "\(recipe.problems())")
        let report = try PruningRun(recipe).run(model, data: DataSplits(training: data, validation: nil, test: data))
        #expect(report.history.cuts.map(\.criterion) == [name.rawValue])
        let mask = try #require(model.parameter(at: "fc1.weight")?.mask)
        let cut = (0..<16).filter { r in mask[flat: 4 * r] == 0 }, kept = (0..<16).filter { !cut.contains($0) }
        #expect(cut.count == 8)
        #expect(cut.allSatisfy { c in kept.allSatisfy { scores[c] <= scores[$0] } }, "cut \(cut) scores \(scores)")
    }

    @Test("the recipe refuses an information criterion on single weights; mutual information refuses regression data, entropy measures it")
    func refusals() throws {
        for name in [CriterionName.entropy, .mutualInformation] {
            let recipe = Recipe(model: "m", prune: Recipe.Prune(criterion: name, threshold: Recipe.ThresholdSpec(sparsity: 0.5)))
            #expect(recipe.problems().map(\.field).contains("prune.criterion"))
        }
        let (model, _) = try Self.controlled([[1], [1], [1], [1]], labels: [0])
        let regression = try Dataset(inputs: [1, 3, 3, 0, 2, 3, 3, 0], sampleShape: [4], targets: [0.5, 0.5, 1, 1], targetWidth: 2)
        #expect(throws: PruningError.self) { try MutualInformation(measuring: model, on: regression) }
        #expect(throws: PruningError.self) { try ActivationEntropy(measuring: model, on: regression, bins: 1) }
        #expect(try ActivationEntropy(measuring: model, on: regression).bits?["r"] == [1, 0, 0, 0])
    }

    @Test("in a transformer the criteria read the feed-forward GELU, a few tokens a sample, with next-byte labels")
    func transformerFeedForward() throws {
        let model = try Architecture.gptTiny.build(inputShape: [16], classes: 256, seed: 3)
        var rng = SeededGenerator(seed: 4)
        // Bytes of a small alphabet, so the next byte is predictable enough to carry information.
        let text = (0..<600).map { _ in UInt8(97 + Int.random(in: 0..<6, using: &rng)) }
        let data = try Dataset(text: text, length: 16)
        let entropy = try ActivationEntropy(measuring: model, on: data, batches: 2, batchSize: 8)
        let information = try MutualInformation(measuring: model, on: data, batches: 2, batchSize: 8)
        for bits in [entropy.bits, information.bits] {
            let measured = try #require(bits)
            #expect(Set(measured.keys) == Set((0..<4).map { "blocks.\($0).mlp.gelu" }), "\(measured.keys.sorted())")
            for (layer, units) in measured {
                #expect(units.count == 512, "\(layer)")
                #expect(units.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 5 + 1e-4 })
                #expect(Set(units).count > 100, "\(layer): units measured alike")
            }
        }
        // (log₂ 32 bins = 5 bits at most.) The feed-forward group ranks by its GELU's measure, not by weights.
        let group = try #require(Dependencies.groups(model).first { $0.producers.contains { $0.layer == "blocks.2.mlp.fc" } })
        #expect(group.activations == ["blocks.2.mlp.gelu"] && group.isPrunable)
        #expect(try entropy.unitScores(for: group, in: model) == entropy.bits?["blocks.2.mlp.gelu"])
        #expect(try information.unitScores(for: group, in: model) == information.bits?["blocks.2.mlp.gelu"])
        // APoZ counts exact zeros, which a GELU does not make: the group keeps its weight ranking.
        let apoz = try AveragePercentageOfZeros(measuring: model, on: data, batches: 2, batchSize: 8)
        #expect(try apoz.unitScores(for: group, in: model) == nil)
    }
}

