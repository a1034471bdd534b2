import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

/// A layer the dependency analysis does not know: it squares its input.
final class Square: Layer {
    var name: String
    init(name: String) { self.name = name }
    var spec: LayerSpec { LayerSpec(kind: .relu) }
    func outputShape(for inputShapes: [[Int]]) throws -> [Int] { inputShapes[0] }
    func forward(_ input: Tensor, training: Bool) -> Tensor { input.map { $0 * $0 } }
    func backward(_ gradient: Tensor) -> Tensor { gradient }
}

@Suite("Dependency groups, structured pruning and compaction")
struct StructuredTests {
    func summary(_ groups: [DependencyGroup]) -> [String] {
        groups.map { g in "\(g.name) \(g.units) [\(g.members.map(\.description).joined(separator: ", "))]\(g.isPrunable ? "" : " ✘")" }
    }

    @Test("MLP: each hidden layer is a group with its reader; the logits are never removed")
    func mlpGroups() throws {
        let groups = Dependencies.groups(try Architecture.lenet300.build(seed: 1))
        #expect(summary(groups) == [
            "fc1 300 [fc1 (producer), fc2 (consumer)]",
            "fc2 100 [fc2 (producer), fc3 (consumer)]",
            "fc3 10 [fc3 (producer)] ✘",
        ])
        #expect(groups[2].unprunableReason == "it carries the model's outputs")
    }

    @Test("LeNet-5: conv2's filters reach fc1 through Flatten as blocks of 5×5 features")
    func lenet5Groups() throws {
        let groups = Dependencies.groups(try Architecture.lenet5.build(seed: 1))
        #expect(summary(groups) == [
            "conv1 6 [conv1 (producer), conv2 (consumer)]",
            "conv2 16 [conv2 (producer), fc1 (consumer, ×25)]",
            "fc1 120 [fc1 (producer), fc2 (consumer)]",
            "fc2 84 [fc2 (producer), fc3 (consumer)]",
            "fc3 10 [fc3 (producer)] ✘",
        ])
    }

    @Test("resnet8: residual adds join the stem and the blocks' second convolutions and projections into shared groups")
    func resnetGroups() throws {
        let groups = Dependencies.groups(try Architecture.resnet8.build(seed: 1))
        let byName = Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0) })
        #expect(Set(byName.keys) == ["conv1+block1_conv2", "block1_conv1", "block2_conv1", "block2_conv2+block2_proj",
                                     "block3_conv1", "block3_conv2+block3_proj", "fc"])
        let stem = try #require(byName["conv1+block1_conv2"])
        #expect(stem.units == 16 && stem.isPrunable)
        #expect(Set(stem.members.map(\.description)) == [
            "conv1 (producer)", "bn1 (normalization)", "block1_conv1 (consumer)", "block1_conv2 (producer)",
            "block1_bn2 (normalization)", "block2_conv1 (consumer)", "block2_proj (consumer)",
        ])
        let last = try #require(byName["block3_conv2+block3_proj"])
        #expect(last.units == 64 && last.members.contains { $0.layer == "fc" && $0.role == .consumer && $0.block == 1 })
        #expect(byName["block2_conv1"]?.members.map(\.description) == ["block2_conv1 (producer)", "block2_bn1 (normalization)", "block2_conv2 (consumer)"])
        #expect(byName["fc"]?.isPrunable == false)
    }

    @Test("an unknown layer or a sigmoid makes its groups unprunable, with the reason")
    func unprunable() throws {
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [8], sequential: [
            Dense(name: "a", inFeatures: 8, outFeatures: 6, rng: &rng), Square(name: "sq"),
            Dense(name: "b", inFeatures: 6, outFeatures: 5, rng: &rng), Sigmoid(name: "s"),
            Dense(name: "c", inFeatures: 5, outFeatures: 4, rng: &rng), ReLU(name: "r"),
            Dense(name: "d", inFeatures: 4, outFeatures: 2, rng: &rng),
        ])
        let groups = Dependencies.groups(model)
        #expect(groups.map(\.name) == ["a", "b", "c", "d"])
        #expect(groups[0].unprunableReason == "layer 'sq' (relu) is not understood by the dependency analysis")
        #expect(groups[1].unprunableReason == "layer 's' (sigmoid) maps a removed channel's zeros to 0.5")
        #expect(groups[2].isPrunable)
        let cuts = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        #expect(cuts == [GroupCut(group: "c", units: 4, kept: 2)])
        #expect(model.parameter(at: "a.weight")?.mask == nil && model.parameter(at: "b.weight")?.mask == nil)
    }

    @Test("layer scope cuts each group's lowest units by L2 norm; global scope, floors and multiples hold")
    func selection() throws {
        var rng = SeededGenerator(seed: 4)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "a", inFeatures: 4, outFeatures: 4, rng: &rng), ReLU(name: "r"),
            Dense(name: "b", inFeatures: 4, outFeatures: 2, rng: &rng),
        ])
        model.parameter(at: "a.weight")!.value = Tensor(shape: [4, 4], scalars: [
            1, 1, 1, 1,   0.1, 0.1, 0.1, 0.1,   3, 0, 0, 0,   0.5, 0.5, 0.5, 0.5])   // mean squares 1, .01, 2.25, .25
        let cuts = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        #expect(cuts == [GroupCut(group: "a", units: 4, kept: 2)])
        let mask = try #require(model.parameter(at: "a.weight")?.mask)
        #expect((0..<4).map { mask[flat: 4 * $0] } == [1, 0, 1, 0])
        #expect(model.parameter(at: "a.bias")?.mask?.scalars == [1, 0, 1, 0])
        #expect(model.parameter(at: "b.weight")?.mask == nil, "the reader's columns are left to compaction")

        // A floor of 90% keeps all four; a multiple of 4 rounds two kept up to four.
        let (fresh, _) = (try Architecture.lenet300.build(seed: 2), 0)
        let floor = try Structured.prune(fresh, with: StructuredPlan(threshold: .sparsity(0.5), minimumKeptFraction: 0.9))
        #expect(floor.map(\.kept) == [270, 90])
        let rounded = try Structured.prune(try Architecture.lenet300.build(seed: 2), with: StructuredPlan(threshold: .sparsity(0.53), multiple: 8))
        #expect(rounded.map(\.kept) == [144, 48])
        let global = try Structured.prune(try Architecture.lenet300.build(seed: 2), with: StructuredPlan(threshold: .sparsity(0.5), scope: .global))
        #expect(global.map(\.kept).reduce(0, +) == 200)
        #expect(throws: PruningError.self) { try Structured.prune(fresh, with: StructuredPlan(threshold: .sparsity(1.5))) }
        #expect(throws: PruningError.self) { try Structured.prune(fresh, with: StructuredPlan(threshold: .sparsity(0.5), parameters: ["nope*"])) }
    }

    /// Test images from Fashion-MNIST.
    static func images(_ count: Int) throws -> Tensor {
        let test = try DatasetFolder(fashionMNISTPath).test()
        return test.batch(Array(0..<count)[...]).inputs
    }

    @Test("compaction removes the cut units and keeps the outputs (≤ 1e-5 on real images); the file loads on its own",
          arguments: [Architecture.lenet300, .lenet5, .resnet8])
    func compaction(_ architecture: Architecture) throws {
        let model = try architecture.build(seed: 5)
        let x = try Self.images(64)
        if architecture == .resnet8 {
            for _ in 0..<3 { _ = model.forward(x, training: true) }   // move BatchNorm statistics
        }
        let cuts = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        #expect(cuts.allSatisfy { $0.kept == $0.units - Int((0.5 * Double($0.units)).rounded()) })
        let masked = model.forward(x, training: false)
        let result = try Structured.compact(model)
        #expect(result.groups == cuts)
        let small = result.model
        let out = small.forward(x, training: false)
        #expect(out.shape == masked.shape)
        let worst = zip(out.scalars, masked.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5, "max |Δ| = \(worst)")
        let before = model.parameters.filter { $0.parameter.isTrainable }.reduce(0) { $0 + $1.parameter.count }
        let after = small.parameters.filter { $0.parameter.isTrainable }.reduce(0) { $0 + $1.parameter.count }
        #expect(Double(after) < 0.6 * Double(before), "\(after) of \(before) parameters")
        if architecture == .resnet8 {
            #expect(result.foldedBatchNorms.count == 9 && !small.nodes.contains { $0.module is BatchNorm })
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("compact-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.save(small, to: path)
        let loaded = try ModelFile.load(path).model
        #expect(loaded.forward(x, training: false).scalars.map(\.bitPattern) == out.scalars.map(\.bitPattern))
    }

    @Test("a unit whose BatchNorm shift is not zero is not removed: its channel is not zero")
    func bnShiftKeepsUnit() throws {
        let model = try Architecture.resnet8.build(seed: 6)
        let conv = try #require(model.parameter(at: "block2_conv1.weight"))
        var mask = Tensor(shape: conv.value.shape, repeating: 1)
        for k in 0..<(conv.count / 32) { mask[flat: k] = 0 }            // filter 0 only, not its BatchNorm
        conv.mask = mask
        try #require(model.parameter(at: "block2_bn1.bias")).value[flat: 0] = 0.3
        let result = try Structured.compact(model, foldBatchNorm: false)
        #expect(result.groups.first { $0.group == "block2_conv1" }?.kept == 32)
        let spec = result.model.spec.nodes.first { $0.name == "block2_conv1" }
        #expect(spec?.layer.outChannels == 32)
    }

    @Test("network slimming: units ranked by |γ| of the group's BatchNorms")
    func slimming() throws {
        let model = try Architecture.resnet8.build(seed: 7)
        let bn = try #require(model.module(named: "block3_bn1") as? BatchNorm)
        bn.scale.value = Tensor(shape: [64], scalars: (0..<64).map { Float($0 % 8) })
        let cuts = try Structured.prune(model, with: StructuredPlan(criterion: BatchNormScale(), threshold: .sparsity(0.25), parameters: ["block3_conv1.weight"]))
        #expect(cuts == [GroupCut(group: "block3_conv1", units: 64, kept: 48)])
        let scale = try #require(model.parameter(at: "block3_bn1.weight"))
        #expect((0..<64).filter { scale.value[flat: $0] == 0 } == (0..<64).filter { $0 % 8 < 2 })

        // The same cut through the general pruner, as the command line and recipes make it.
        let again = try Architecture.resnet8.build(seed: 7)
        (again.module(named: "block3_bn1") as! BatchNorm).scale.value = bn.scale.value
        try Pruner.prune(again, with: PruningPlan(criterion: CriterionName.bnScale.criterion(), granularity: .filter,
                                                  threshold: .sparsity(0.25), parameters: ["block3_conv1.weight"]))
        #expect(again.parameter(at: "block3_conv1.weight")?.mask == model.parameter(at: "block3_conv1.weight")?.mask)
    }

    @Test("excluding one producer of a residual group protects the whole group")
    func excludeProtectsGroup() throws {
        let model = try Architecture.resnet8.build(seed: 8)
        let cuts = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5), excluding: ["block1_conv2.weight"]))
        #expect(!cuts.contains { $0.group == "conv1+block1_conv2" })
        #expect(model.parameter(at: "conv1.weight")?.mask == nil && model.parameter(at: "block1_conv2.weight")?.mask == nil)
        #expect(cuts.contains { $0.group == "block1_conv1" && $0.kept == 8 })
    }

    @Test("a second structured cut keeps the first one's units cut and counts them, whatever the criterion")
    func repeatedCuts() throws {
        let model = try Architecture.lenet300.build(seed: 9)
        try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        let first = try #require(model.parameter(at: "fc1.weight")?.mask)
        let again = try Structured.prune(model, with: StructuredPlan(criterion: Largest(), threshold: .sparsity(0.5)))
        #expect(again.map(\.kept) == [150, 50])
        #expect(model.parameter(at: "fc1.weight")?.mask == first)
        let more = try Structured.prune(model, with: StructuredPlan(criterion: Largest(), threshold: .sparsity(0.6), multiple: 8))
        #expect(more.map(\.kept) == [120, 40])
        let w = model.parameter(at: "fc1.weight")!.value
        #expect((0..<300).filter { r in (0..<784).allSatisfy { w[flat: r * 784 + $0] == 0 } }.count == 180)
    }

    @Test("a BatchNorm after a Flatten loses each removed filter's whole block; compaction stays exact")
    func batchNormAfterFlatten() throws {
        var rng = SeededGenerator(seed: 10)
        let model = try Graph(inputShape: [1, 4, 4], sequential: [
            Conv2D(name: "conv", inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, rng: &rng),
            Flatten(name: "flat"), BatchNorm(name: "bn", features: 64), ReLU(name: "r"),
            Dense(name: "fc", inFeatures: 64, outFeatures: 3, rng: &rng),
        ])
        let x = randomTensor([8, 1, 4, 4], low: 0, high: 1, seed: 11)
        for _ in 0..<3 { _ = model.forward(x, training: true) }
        let groups = Dependencies.groups(model)
        #expect(groups.first?.members.map(\.description) == ["conv (producer)", "bn (normalization)", "fc (consumer, ×16)"])
        try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        let before = model.forward(x, training: false)
        let small = try Structured.compact(model, foldBatchNorm: false).model
        #expect(small.parameter(at: "bn.weight")?.value.shape == [32])
        let after = small.forward(x, training: false)
        #expect(zip(before.scalars, after.scalars).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test("APoZ ranks a unit whose ReLU output is almost always zero first, even with large weights")
    func apoz() throws {
        var rng = SeededGenerator(seed: 12)
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "a", inFeatures: 4, outFeatures: 4, rng: &rng), ReLU(name: "r"),
            Dense(name: "b", inFeatures: 4, outFeatures: 2, rng: &rng),
        ])
        model.parameter(at: "a.weight")!.value = Tensor(shape: [4, 4], scalars: [
            5, 5, 5, 5,   0.1, 0.2, 0.3, 0.4,   0.3, 0.1, 0.2, 0.1,   0.2, 0.2, 0.1, 0.3])
        model.parameter(at: "a.bias")!.value = Tensor(shape: [4], scalars: [-100, 0, 0, 0])   // unit 0 never fires
        let data = try Dataset(inputs: randomTensor([64, 4], low: 0, high: 1, seed: 13).scalars, sampleShape: [4],
                               labels: (0..<64).map { Int32($0 % 2) })
        let criterion = try AveragePercentageOfZeros(measuring: model, on: data, batches: 2, batchSize: 32)
        #expect(criterion.zeros?["r"]?.first == 1)
        #expect(criterion.zeros?["r"]?.dropFirst().allSatisfy { $0 == 0 } == true)
        try Structured.prune(model, with: StructuredPlan(criterion: criterion, threshold: .sparsity(0.25)))
        #expect((0..<4).map { model.parameter(at: "a.weight")!.mask![flat: 4 * $0] } == [0, 1, 1, 1])
    }
}
