import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// Writes `contents` (possibly edited) to `name` in `folder` and returns the path.
func writeContents(_ contents: Safetensors.Contents, _ name: String, in folder: TemporaryFolder) throws -> String {
    let path = folder.file(name)
    try Safetensors.write(contents, to: path)
    return path
}

/// The size of the file at `path` in bytes.
func fileSize(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
}

/// The header length stored in the first 8 bytes of a safetensors file.
func headerLength(_ path: String) throws -> Int {
    let data = try #require(FileManager.default.contents(atPath: path))
    return Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
}

@Suite("model files")
struct ModelFileTests {
    @Test("save then load reproduces the predictions bit for bit", arguments: [Architecture.lenet300, .lenet5, .resnet8])
    func roundTripPredictions(_ architecture: Architecture) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try architecture.build(seed: 11)
        if architecture == .resnet8 {
            // Move BatchNorm's running statistics away from their initial 0 and 1.
            for step in 0..<2 { _ = model.forward(randomTensor([8, 1, 28, 28], low: 0, high: 1, seed: 100 + UInt64(step)), training: true) }
            let mean = try #require(model.parameter(at: "bn1.running_mean")).value.scalars
            let variance = try #require(model.parameter(at: "block3_bn2.running_var")).value.scalars
            #expect(mean.contains { $0 != 0 }, "running mean should have moved")
            #expect(variance.contains { $0 != 1 }, "running variance should have moved")
        }
        let x = randomTensor([5, 1, 28, 28], low: 0, high: 1, seed: 3)
        let before = model.forward(x, training: false)

        let path = folder.file("\(architecture.rawValue).safetensors")
        try ModelFile.save(model, to: path, metadata: ["model": architecture.rawValue, "accuracy": "0.5"])
        let loaded = try ModelFile.load(path)
        #expect(loaded.model.spec == model.spec)
        #expect(loaded.metadata["model"] == architecture.rawValue)
        #expect(loaded.metadata["accuracy"] == "0.5")
        #expect(loaded.metadata[ModelFile.versionKey] == "1")
        #expect(loaded.metadata[ModelFile.maskedKey] == nil)
        #expect(loaded.metadata[ModelFile.packedKey] == nil)
        #expect(loaded.model.parameters.map(\.path) == model.parameters.map(\.path))
        for ((p, a), (_, b)) in zip(model.parameters, loaded.model.parameters) {
            #expect(bits(a.value.scalars) == bits(b.value.scalars), "\(p)")
            #expect(b.mask == nil, "\(p)")
        }
        for node in loaded.model.nodes {
            if let bn = node.module as? BatchNorm { #expect(bn.batchesTracked == 2, "\(bn.name) counts the two training batches") }
        }
        let after = loaded.model.forward(x, training: false)
        #expect(after.shape == [5, 10])
        #expect(bits(after.scalars) == bits(before.scalars))

        // A freshly built model with another seed predicts differently, so the check above has teeth.
        let other = try architecture.build(seed: 12).forward(x, training: false)
        #expect(other.scalars != before.scalars)
    }

    @Test("every parameter, BatchNorm statistics included, is a tensor in the file; the architecture is metadata")
    func fileLayout() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.resnet8.build(seed: 1)
        let path = folder.file("r.safetensors")
        try ModelFile.save(model, to: path)
        let contents = try Safetensors.read(path)
        #expect(contents.tensors.map(\.name) == model.parameters.map(\.path))
        // Each BatchNorm's batch count, an I64 scalar as PyTorch stores it; nothing else.
        let batchNorms = model.nodes.compactMap { ($0.module as? BatchNorm)?.name }
        #expect(batchNorms.count == 9)
        #expect(contents.integers.map(\.name).sorted() == batchNorms.map { "\($0).num_batches_tracked" }.sorted())
        #expect(contents.integers.allSatisfy { $0.tensor.dtype == "I64" && $0.tensor.shape == [] && $0.tensor.bytes == [UInt8](repeating: 0, count: 8) })
        #expect(contents["bn1.running_var"]?.shape == [16])
        #expect(contents["fc.weight"]?.shape == [10, 64])
        let architecture = try #require(contents.metadata[ModelFile.architectureKey])
        #expect(try JSONDecoder().decode(GraphSpec.self, from: Data(architecture.utf8)) == model.spec)
    }

    @Test("stored dense, a mask equal to the non-zero pattern is implied by the zeros and restored on load")
    func impliedMask() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 2)
        let weight = try #require(model.parameter(at: "fc2.weight"))
        #expect(weight.value.scalars.allSatisfy { $0 != 0 })
        let mask = Tensor(shape: weight.value.shape, scalars: (0..<weight.count).map { $0 % 3 == 0 ? 0 : 1 })
        weight.mask = mask
        #expect(weight.value.nonZeroCount() == weight.count - (weight.count + 2) / 3)

        let path = folder.file("implied.safetensors")
        try ModelFile.save(model, to: path, storage: .dense)
        let contents = try Safetensors.read(path)
        #expect(contents["fc2.weight.mask"] == nil, "an implied mask must not be stored")
        #expect(!contents.tensors.contains { $0.name.hasSuffix(".mask") })
        #expect(contents.metadata[ModelFile.maskedKey] == #"["fc2.weight"]"#)

        let loaded = try ModelFile.load(path)
        let back = try #require(loaded.model.parameter(at: "fc2.weight"))
        #expect(back.mask == mask)
        #expect(bits(back.value.scalars) == bits(weight.value.scalars))
        #expect(loaded.model.parameter(at: "fc1.weight")?.mask == nil)
    }

    @Test("stored dense, a mask that keeps a zero weight is a base64 bitmask in the metadata, never a tensor, and is restored exactly")
    func explicitMask() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 3)
        let weight = try #require(model.parameter(at: "fc3.weight"))
        let mask = Tensor(shape: [10, 100], scalars: (0..<1000).map { $0 % 2 == 0 ? 1 : 0 })
        weight.mask = mask
        weight.value.scalars[4] = 0        // kept by the mask, but zero
        weight.value.scalars[10] = 0
        let path = folder.file("explicit.safetensors")
        try ModelFile.save(model, to: path, storage: .dense)

        let contents = try Safetensors.read(path)
        #expect(contents.tensors.map(\.name) == model.parameters.map(\.path))
        #expect(contents.integers.isEmpty)
        #expect(contents.metadata[ModelFile.maskedKey] == #"["fc3.weight"]"#)
        // Bits 0, 2, 4, … of 1000: 0x55 in each of 125 bytes.
        let bitmasks = try JSONDecoder().decode([String: String].self, from: Data(try #require(contents.metadata[ModelFile.bitmasksKey]).utf8))
        #expect(bitmasks.keys.sorted() == ["fc3.weight"])
        #expect(Data(base64Encoded: try #require(bitmasks["fc3.weight"])) == Data(repeating: 0x55, count: 125))
        let loaded = try ModelFile.load(path)
        let back = try #require(loaded.model.parameter(at: "fc3.weight"))
        #expect(back.mask == mask)
        #expect(back.value.scalars[4] == 0 && back.value.scalars[10] == 0)
        #expect(bits(back.value.scalars) == bits(weight.value.scalars))
        // The zeros the mask keeps are not cut: 500 kept entries, 2 of them zero.
        #expect(back.mask!.scalars.reduce(0, +) == 500)
        #expect(back.value.nonZeroCount() == 498)
    }

    @Test("exported packed, a model with 90% of fc1 pruned is a bitmask plus kept values, far smaller than dense")
    func prunedFileIsSmaller() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 4)
        let densePath = folder.file("dense.safetensors")
        try ModelFile.save(model, to: densePath)

        let weight = try #require(model.parameter(at: "fc1.weight"))
        weight.mask = Tensor(shape: weight.value.shape, scalars: (0..<weight.count).map { $0 % 10 == 0 ? 1 : 0 })
        #expect(weight.value.nonZeroCount() == weight.count / 10)
        let prunedPath = folder.file("pruned.safetensors")
        try ModelFile.save(model, to: prunedPath, storage: .packed)

        // fc1.weight becomes 29,400 bitmask bytes and 23,520 values; the other 31,410 parameters stay dense.
        let dense = try fileSize(densePath), pruned = try fileSize(prunedPath)
        let denseData = dense - 8 - (try headerLength(densePath)), prunedData = pruned - 8 - (try headerLength(prunedPath))
        #expect(denseData == 4 * 266_610)
        #expect(prunedData == 235_200 / 8 + 4 * 23_520 + 4 * 31_410)
        #expect(Double(pruned) < 0.24 * Double(dense), "pruned \(pruned) bytes vs dense \(dense) bytes")

        let contents = try Safetensors.read(prunedPath)
        #expect(contents["fc1.weight"] == nil)
        #expect(contents["fc1.weight.values"]?.shape == [23_520])
        #expect(contents.integer("fc1.weight.bitmask")?.shape == [29_400])
        #expect(contents.metadata[ModelFile.packedKey] == #"{"fc1.weight":[300,784]}"#)
        let back = try #require(try ModelFile.load(prunedPath).model.parameter(at: "fc1.weight"))
        #expect(back.mask == weight.mask)
        #expect(back.value.scalars == weight.value.scalars)
    }

    @Test("packed storage keeps a zero the mask keeps, and handles a count that is not a multiple of 8")
    func packedKeepsExplicitZeros() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet5.build(seed: 6)
        let weight = try #require(model.parameter(at: "conv1.weight"))
        #expect(weight.count == 150)
        let mask = Tensor(shape: weight.value.shape, scalars: (0..<150).map { $0 % 3 == 1 || $0 == 149 ? 1 : 0 })
        weight.mask = mask
        weight.value.scalars[1] = 0        // kept by the mask, but zero
        let x = randomTensor([3, 1, 28, 28], low: 0, high: 1, seed: 8)
        let before = model.forward(x, training: false)
        let path = folder.file("packed.safetensors")
        try ModelFile.save(model, to: path, storage: .packed)

        let contents = try Safetensors.read(path)
        let bitmask = try #require(contents.integer("conv1.weight.bitmask"))
        #expect(bitmask.bytes.count == 19)
        #expect(bitmask.bytes[0] == 0b1001_0010)           // entries 1, 4, 7
        #expect(bitmask.bytes[18] == 0b0011_0010)          // entries 145, 148 and 149 of 144..<150
        let loaded = try ModelFile.load(path).model
        let back = try #require(loaded.parameter(at: "conv1.weight"))
        #expect(back.mask == mask)
        #expect(back.value.scalars[1] == 0)
        // Equal as numbers (a cut negative weight is -0 in memory and +0 after loading).
        #expect(back.value.scalars == weight.value.scalars)
        #expect(bits(loaded.forward(x, training: false).scalars) == bits(before.scalars))
    }

    @Test("exported packed, a mask that cuts under 1/32 of a parameter is stored dense, since packing would not be smaller")
    func lightMaskStaysDense() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 7)
        let weight = try #require(model.parameter(at: "fc3.weight"))
        weight.mask = Tensor(shape: [10, 100], scalars: (0..<1000).map { $0 % 50 == 0 ? 0 : 1 })   // 2% cut
        let path = folder.file("light.safetensors")
        try ModelFile.save(model, to: path, storage: .packed)
        let contents = try Safetensors.read(path)
        #expect(contents["fc3.weight"]?.shape == [10, 100])
        #expect(contents.integers.isEmpty)
        #expect(contents.metadata[ModelFile.maskedKey] == #"["fc3.weight"]"#)
        #expect(try ModelFile.load(path).model.parameter(at: "fc3.weight")?.mask == weight.mask)
    }
}
