import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// Damaged and hostile model files: each is refused with a `FormatError` naming the problem.
extension ModelFileTests {
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
