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

    // MARK: Rejection

    /// A saved lenet300 file's contents, to edit into bad files.
    func lenetContents(_ folder: TemporaryFolder) throws -> Safetensors.Contents {
        let path = folder.file("good.safetensors")
        try ModelFile.save(try Architecture.lenet300.build(seed: 5), to: path)
        return try Safetensors.read(path)
    }

    @Test("a tensor of the wrong shape is rejected, naming the tensor and both shapes")
    func rejectsWrongShape() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        let i = try #require(contents.tensors.firstIndex { $0.name == "fc2.weight" })
        contents.tensors[i].tensor = Tensor.zeros([100, 299])
        let path = try writeContents(contents, "shape.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc2.weight'", "[100, 299]", "[100, 300]"])
    }

    @Test("a missing tensor is rejected, naming it")
    func rejectsMissingTensor() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.tensors.removeAll { $0.name == "fc1.bias" }
        let path = try writeContents(contents, "missing.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc1.bias'", "missing"])
    }

    @Test("an unknown extra tensor is rejected, naming it", arguments: ["fc9.weight", "fc1.weights", "fc9.weight.mask"])
    func rejectsExtraTensor(_ name: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.tensors.append((name, Tensor.zeros([3])))
        let path = try writeContents(contents, "extra.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'\(name)'", "does not belong"])
    }

    @Test("NaN or infinite values are rejected, naming the tensor", arguments: [Float.nan, .infinity, -.infinity])
    func rejectsNonFinite(_ value: Float) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        let i = try #require(contents.tensors.firstIndex { $0.name == "fc3.weight" })
        contents.tensors[i].tensor.scalars[123] = value
        let path = try writeContents(contents, "nan.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc3.weight'", "NaN or infinity"])
    }

    @Test("a mask tensor that is not 0/1 is rejected, naming it")
    func rejectsBadMask() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.tensors.append(("fc3.weight.mask", Tensor(shape: [10, 100], repeating: 0.5)))
        let path = try writeContents(contents, "mask.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc3.weight.mask'", "0/1"])
    }

    /// A saved lenet300 file with fc3.weight (1000 entries) pruned to every fourth entry, stored packed.
    func packedContents(_ folder: TemporaryFolder) throws -> Safetensors.Contents {
        let path = folder.file("packed-good.safetensors")
        let model = try Architecture.lenet300.build(seed: 5)
        try #require(model.parameter(at: "fc3.weight")).mask = Tensor(shape: [10, 100], scalars: (0..<1000).map { $0 % 4 == 0 ? 1 : 0 })
        try ModelFile.save(model, to: path, storage: .packed)
        let contents = try Safetensors.read(path)
        try #require(contents.integer("fc3.weight.bitmask") != nil)
        return contents
    }

    @Test("a packed parameter whose values do not match its bitmask is rejected, naming both tensors")
    func rejectsPackedCountMismatch() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try packedContents(folder)
        let i = try #require(contents.integers.firstIndex { $0.name == "fc3.weight.bitmask" })
        contents.integers[i].tensor.bytes[0] |= 0b10    // one more kept entry than there are values
        let path = try writeContents(contents, "count.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc3.weight.values'", "[251]", "251 entries"])
    }

    @Test("a packed parameter without its bitmask, or with a bitmask of the wrong size, is rejected")
    func rejectsBadBitmask() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try packedContents(folder)
        contents.integers[0].tensor = Safetensors.IntegerTensor(shape: [124], bytes: [UInt8](repeating: 0x11, count: 124))
        let path = try writeContents(contents, "short.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc3.weight.bitmask'", "[125]"])
        contents.integers.removeAll()
        let missing = try writeContents(contents, "nobitmask.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(missing) }, path: missing, mentions: ["'fc3.weight.bitmask'"])
    }

    @Test("bitmask padding bits past the last entry are rejected")
    func rejectsBitmaskPadding() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 5)
        try #require(model.parameter(at: "fc1.bias")).mask = Tensor(shape: [300], scalars: (0..<300).map { $0 < 30 ? 1 : 0 })
        let good = folder.file("bias.safetensors")
        try ModelFile.save(model, to: good, storage: .packed)
        var contents = try Safetensors.read(good)
        let i = try #require(contents.integers.firstIndex { $0.name == "fc1.bias.bitmask" })
        #expect(contents.integers[i].tensor.bytes.count == 38)
        contents.integers[i].tensor.bytes[37] |= 0x80     // entry 303 of 300
        contents.integers[i].tensor.bytes[0] &= 0xFE      // keep the count of set bits
        let path = try writeContents(contents, "padding.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'fc1.bias.bitmask'", "past the 300 entries"])
    }

    @Test("packed metadata that disagrees with the architecture, or a parameter stored twice, is rejected")
    func rejectsPackedMetadata() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try packedContents(folder)
        contents.metadata[ModelFile.packedKey] = #"{"fc3.weight":[100,10]}"#
        let shape = try writeContents(contents, "packedshape.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(shape) }, path: shape, mentions: ["'fc3.weight'", "[100, 10]", "[10, 100]"])
        contents.metadata[ModelFile.packedKey] = #"{"fc3.weight":[10,100]}"#
        contents.tensors.append(("fc3.weight", Tensor.zeros([10, 100])))
        let twice = try writeContents(contents, "twice.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(twice) }, path: twice, mentions: ["'fc3.weight'", "both dense and packed"])
        contents.metadata[ModelFile.packedKey] = "[1]"
        let garbled = try writeContents(contents, "garbled.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(garbled) }, path: garbled, mentions: ["'prune.packed'"])
    }

    @Test("a file without architecture metadata is not a Prune model file")
    func rejectsMissingArchitecture() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.metadata[ModelFile.architectureKey] = nil
        let path = try writeContents(contents, "noarch.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path,
                    mentions: ["not a Prune model file", "'prune.architecture'"])
    }

    @Test("architecture metadata that is not valid JSON, or not a buildable graph, is rejected naming the field",
          arguments: ["{not json", #"{"inputShape":[1,28,28]}"#,
                      #"{"inputShape":[784],"nodes":[{"name":"fc1","layer":{"kind":"dense"},"inputs":["input"]}]}"#])
    func rejectsInvalidArchitecture(_ architecture: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.metadata[ModelFile.architectureKey] = architecture
        let path = try writeContents(contents, "badarch.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'prune.architecture'"])
    }

    /// A saved lenet300 file whose fc3.weight keeps every other entry, one of them zero (so its
    /// mask is a bitmask in the metadata).
    func bitmaskContents(_ folder: TemporaryFolder) throws -> Safetensors.Contents {
        let model = try Architecture.lenet300.build(seed: 5)
        let weight = try #require(model.parameter(at: "fc3.weight"))
        weight.mask = Tensor(shape: [10, 100], scalars: (0..<1000).map { $0 % 2 == 0 ? 1 : 0 })
        weight.value[flat: 4] = 0
        try ModelFile.save(model, to: folder.file("bits.safetensors"))
        let contents = try Safetensors.read(folder.file("bits.safetensors"))
        try #require(contents.metadata[ModelFile.bitmasksKey] != nil)
        return contents
    }

    @Test("hostile mask metadata is refused naming the parameter: bad base64, wrong length, padding bits, a cut non-zero entry, an unknown or packed parameter, a mask given twice",
          arguments: ["not base64", "short", "long", "padding", "cuts a weight", "unknown", "packed", "twice", "not json"])
    func rejectsHostileBitmasks(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try bitmaskContents(folder)
        let good = Data(repeating: 0x55, count: 125).base64EncodedString()
        var masks = ["fc3.weight": good]
        var mentions = ["'fc3.weight'", "prune.bitmasks"]
        switch damage {
        case "not base64": masks["fc3.weight"] = String(repeating: "!", count: good.count)
        case "short": masks["fc3.weight"] = Data(repeating: 0x55, count: 124).base64EncodedString()
        case "long": masks["fc3.weight"] = Data(repeating: 0x55, count: 126).base64EncodedString()
        case "padding":   // 1000 entries fill 125 bytes exactly: use fc3.bias (10 entries, 2 bytes) instead
            masks = ["fc3.bias": Data([0xFF, 0xFF]).base64EncodedString()]
            contents.metadata[ModelFile.maskedKey] = #"["fc3.bias","fc3.weight"]"#
            mentions = ["'fc3.bias'", "past its 10 entries"]
        case "cuts a weight": masks["fc3.weight"] = Data(repeating: 0x54, count: 125).base64EncodedString()   // entry 0 cut, but non-zero
            mentions += ["cuts 125 non-zero"]
        case "unknown": masks["fc9.weight"] = good; mentions = ["'fc9.weight'", "prune.bitmasks"]
        case "packed":
            contents.metadata[ModelFile.packedKey] = #"{"fc3.weight":[10,100]}"#
            mentions = ["'fc3.weight'"]
        case "twice":
            contents.tensors.append(("fc3.weight.mask", Tensor(shape: [10, 100], scalars: (0..<1000).map { $0 % 2 == 0 ? 1 : 0 })))
            mentions = ["'fc3.weight.mask'", "twice"]
        default:
            mentions = ["'prune.bitmasks'"]
        }
        let json = String(decoding: try JSONEncoder().encode(masks), as: UTF8.self)
        contents.metadata[ModelFile.bitmasksKey] = damage == "not json" ? "{fc3.weight" : json
        let path = try writeContents(contents, "\(damage.replacingOccurrences(of: " ", with: "-")).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }

    @Test("a BatchNorm batch count that is not an I64 scalar ≥ 0, or belongs to no BatchNorm, is refused",
          arguments: ["float", "negative", "shape", "dtype", "stranger"])
    func rejectsHostileBatchCounts(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try ModelFile.save(try Architecture.resnet8.build(seed: 1), to: folder.file("r.safetensors"))
        var contents = try Safetensors.read(folder.file("r.safetensors"))
        let i = try #require(contents.integers.firstIndex { $0.name == "bn1.num_batches_tracked" })
        var mentions = ["'bn1.num_batches_tracked'", "I64 scalar"]
        switch damage {
        case "float":
            contents.integers.remove(at: i)
            contents.tensors.append(("bn1.num_batches_tracked", Tensor(shape: [], scalars: [1])))
        case "negative": contents.integers[i].tensor.bytes = [0, 0, 0, 0, 0, 0, 0, 0x80]
        case "shape": contents.integers[i].tensor.shape = [1]
        case "dtype": contents.integers[i].tensor = Safetensors.IntegerTensor(shape: [], bytes: [1])
        default:
            contents.integers[i].name = "conv1.num_batches_tracked"
            mentions = ["'conv1.num_batches_tracked'", "does not belong"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: mentions)
    }

    @Test("a file without batch counts (written before they were stored) loads with counts of 0")
    func missingBatchCounts() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.resnet8.build(seed: 1)
        _ = model.forward(randomTensor([2, 1, 28, 28], seed: 1), training: true)
        try ModelFile.save(model, to: folder.file("r.safetensors"))
        var contents = try Safetensors.read(folder.file("r.safetensors"))
        #expect(contents.integers.count == 9)
        contents.integers.removeAll()
        let path = try writeContents(contents, "old.safetensors", in: folder)
        #expect((try ModelFile.load(path).model.module(named: "bn1") as? BatchNorm)?.batchesTracked == 0)
    }

    @Test("a masked list that is not JSON names the field")
    func rejectsInvalidMaskedList() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try lenetContents(folder)
        contents.metadata[ModelFile.maskedKey] = "fc1.weight"
        let path = try writeContents(contents, "masked.safetensors", in: folder)
        expectError(formatError { _ = try ModelFile.load(path) }, path: path, mentions: ["'prune.masked'"])
    }
}

@Suite("Sparse (CSR) model files")
struct SparseModelFileTests {
    /// lenet300 with fc1 at 5% density (every 20th entry kept, a kept zero among them), fc2 at
    /// 25% and fc3 at 50%.
    static func model() throws -> Graph {
        let model = try Architecture.lenet300.build(seed: 8)
        for (path, k) in [("fc1.weight", 20), ("fc2.weight", 4), ("fc3.weight", 2)] {
            let p = try #require(model.parameter(at: path))
            // fc2 and fc3 keep runs of three entries, which fit no N:M pattern (N:M weights are
            // stored in their own form: NMModelFileTests).
            p.mask = Tensor(shape: p.value.shape, scalars: (0..<p.count).map { (k == 20 ? $0 : $0 / 3) % k == 1 ? 1 : 0 })
        }
        try #require(model.parameter(at: "fc1.weight")).value[flat: 1] = 0   // kept, but zero
        return model
    }

    @Test("a sparse file stores each light Dense weight in the smaller of CSR and bitmask, loads both as SparseDense without densifying, and predicts the same")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Self.model()
        let path = folder.file("sparse.safetensors")
        try ModelFile.save(model, to: path, storage: .sparse)
        let contents = try Safetensors.read(path)
        #expect(contents.metadata[ModelFile.csrKey] == #"{"fc1.weight":[300,784]}"#)
        #expect(contents.integer("fc1.weight.csr_columns")?.dtype == "U16")
        #expect(contents.integer("fc1.weight.csr_row_starts")?.shape == [301])
        #expect(contents["fc1.weight.csr_values"]?.shape == [11_760])
        // At 25% density the bitmask (3,750 bytes + values) is smaller than 16-bit indices (15,000 bytes).
        #expect(contents.integer("fc2.weight.bitmask") != nil && contents["fc2.weight.csr_values"] == nil)
        #expect(contents.integer("fc3.weight.bitmask") != nil)
        #expect(contents["fc1.weight"] == nil)

        let sparse = try ModelFile.load(path, sparse: true).model
        // fc3 keeps 50%: above the 30% limit, it loads dense.
        #expect(sparse.nodes.map { $0.module is SparseDense } == [false, true, false, true, false, false])
        let layer = try #require(sparse.module(named: "fc1") as? SparseDense)
        #expect(layer.weight.nonZeroCount == 11_760)
        #expect((sparse.module(named: "fc2") as? SparseDense)?.weight == CSRMatrix(model.parameter(at: "fc2.weight")!.value, mask: model.parameter(at: "fc2.weight")!.mask))
        let x = try DatasetFolder(fashionMNISTPath).test().batch(Array(0..<50)[...]).inputs
        let expected = model.forward(x, training: false)
        #expect(maxRelativeError(sparse.forward(x, training: false).scalars, expected.scalars) <= 1e-5)

        // Loaded for training: dense, masked to the stored entries (the kept zero included).
        let dense = try ModelFile.load(path).model
        #expect(!dense.nodes.contains { $0.module is SparseDense })
        for p in ["fc1.weight", "fc2.weight", "fc3.weight"] {
            #expect(dense.parameter(at: p)?.mask == model.parameter(at: p)?.mask, "\(p)")
            #expect(dense.parameter(at: p)?.value == model.parameter(at: p)?.value, "\(p)")
        }
        #expect(dense.forward(x, training: false) == expected)

        // Saving the sparse-loaded model writes the same arrays again.
        let again = folder.file("again.safetensors")
        try ModelFile.save(sparse, to: again, storage: .sparse)
        #expect(try Safetensors.read(again)["fc1.weight.csr_values"] == contents["fc1.weight.csr_values"])
    }

    @Test("Float16 CSR values halve the value bytes and stay within Float16 rounding")
    func halfPrecision() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Self.model()
        let full = folder.file("f32.safetensors"), half = folder.file("f16.safetensors")
        try ModelFile.save(model, to: full, storage: .sparse)
        try ModelFile.save(model, to: half, storage: .sparse, halfPrecision: true)
        #expect(try fileSize(full) - fileSize(half) > 2 * 11_760)
        let a = try #require(ModelFile.load(full, sparse: true).model.module(named: "fc1") as? SparseDense)
        let b = try #require(ModelFile.load(half, sparse: true).model.module(named: "fc1") as? SparseDense)
        #expect(a.weight.columnIndices == b.weight.columnIndices && a.weight.rowStarts == b.weight.rowStarts)
        for (x, y) in zip(a.weight.values, b.weight.values) { #expect(abs(x - y) <= max(abs(x) / 1024, 0x1p-24)) }   // subnormal halves: 2⁻²⁴ steps
    }

    /// The contents of a good sparse file, to be damaged.
    func contents(_ folder: TemporaryFolder) throws -> Safetensors.Contents {
        let path = folder.file("good.safetensors")
        try ModelFile.save(try Self.model(), to: path, storage: .sparse)
        return try Safetensors.read(path)
    }

    @Test("damaged CSR arrays are rejected with the tensor named", arguments: ["columns", "starts", "order", "dtype", "missing", "metadata"])
    func rejectsDamage(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try contents(folder)
        let columns = try #require(contents.integers.firstIndex { $0.name == "fc1.weight.csr_columns" })
        let starts = try #require(contents.integers.firstIndex { $0.name == "fc1.weight.csr_row_starts" })
        var mentions: [String]
        switch damage {
        case "columns":   // column 800 of a 784-wide matrix
            contents.integers[columns].tensor.bytes[0] = 0x20; contents.integers[columns].tensor.bytes[1] = 0x03
            mentions = ["'fc1.weight'", "inconsistent", "below 784"]
        case "starts":    // the last offset no longer equals the value count
            contents.integers[starts].tensor.bytes[4 * 300] ^= 1
            mentions = ["'fc1.weight'", "inconsistent"]
        case "order":     // offsets that fall
            contents.integers[starts].tensor.bytes[4] = 0xFF; contents.integers[starts].tensor.bytes[5] = 0xFF
            mentions = ["'fc1.weight'", "inconsistent"]
        case "dtype":
            contents.integers[starts].tensor.dtype = "U32"
            mentions = ["'fc1.weight.csr_row_starts'", "I32", "[301]"]
        case "missing":
            contents.integers.remove(at: columns)
            mentions = ["'fc1.weight.csr_columns'"]
        default:
            contents.metadata[ModelFile.csrKey] = #"{"fc1.weight":[784,300]}"#
            mentions = ["'fc1.weight'", "[784, 300]"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }

    @Test("a hostile architecture size or a mask tensor on a sparse parameter is a FormatError in both load modes",
          arguments: ["size", "product", "mask"])
    func rejectsHostileSparseFiles(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try contents(folder)
        var mentions: [String]
        switch damage {
        case "size", "product":
            let huge = damage == "size" ? "9223372036854775807" : "1048576"
            let architecture = try #require(contents.metadata[ModelFile.architectureKey])
            contents.metadata[ModelFile.architectureKey] = architecture
                .replacingOccurrences(of: #""inFeatures":784"#, with: #""inFeatures":\#(huge)"#)
                .replacingOccurrences(of: #""outFeatures":300"#, with: #""outFeatures":\#(huge)"#)
            try #require(contents.metadata[ModelFile.architectureKey] != architecture)
            mentions = ["fc1"]
        default:
            contents.tensors.append(("fc1.weight.mask", Tensor(shape: [300, 784], repeating: 1)))
            mentions = ["'fc1.weight.mask'", "does not belong"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }

    @Test("an unmasked weight stays dense in a sparse file, so loading adds no mask")
    func unmaskedStaysDense() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 8)
        let fc1 = try #require(model.parameter(at: "fc1.weight"))
        for i in 0..<fc1.count where i % 50 != 0 { fc1.value[flat: i] = 0 }   // 2% non-zero, no mask
        let path = folder.file("unmasked.safetensors")
        try ModelFile.save(model, to: path, storage: .sparse)
        #expect(try Safetensors.read(path)["fc1.weight"] != nil)
        #expect(try ModelFile.load(path).model.parameter(at: "fc1.weight")?.mask == nil)
    }
}
