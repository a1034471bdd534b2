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
        #expect(loaded.metadata[ModelFile.maskedKey] == "[]")
        #expect(loaded.model.parameters.map(\.path) == model.parameters.map(\.path))
        for ((p, a), (_, b)) in zip(model.parameters, loaded.model.parameters) {
            #expect(bits(a.value.scalars) == bits(b.value.scalars), "\(p)")
            #expect(b.mask == nil, "\(p)")
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
        #expect(contents["bn1.running_var"]?.shape == [16])
        #expect(contents["fc.weight"]?.shape == [10, 64])
        let architecture = try #require(contents.metadata[ModelFile.architectureKey])
        #expect(try JSONDecoder().decode(GraphSpec.self, from: Data(architecture.utf8)) == model.spec)
    }

    @Test("a mask equal to the non-zero pattern is implied by the zeros and restored on load")
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
        try ModelFile.save(model, to: path)
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

    @Test("a mask that keeps a zero weight is stored as <path>.mask and restored exactly")
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
        try ModelFile.save(model, to: path)

        let contents = try Safetensors.read(path)
        #expect(contents["fc3.weight.mask"] == mask)
        #expect(contents.metadata[ModelFile.maskedKey] == #"["fc3.weight"]"#)
        let loaded = try ModelFile.load(path)
        let back = try #require(loaded.model.parameter(at: "fc3.weight"))
        #expect(back.mask == mask)
        #expect(back.value.scalars[4] == 0 && back.value.scalars[10] == 0)
        #expect(bits(back.value.scalars) == bits(weight.value.scalars))
        // The zeros the mask keeps are not cut: 500 kept entries, 2 of them zero.
        #expect(back.mask!.scalars.reduce(0, +) == 500)
        #expect(back.value.nonZeroCount() == 498)
    }

    @Test("a model with 90% of fc1 pruned stores no mask tensor: its file is as large as the dense one, up to the header")
    func prunedFileIsNotLarger() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 4)
        let densePath = folder.file("dense.safetensors")
        try ModelFile.save(model, to: densePath)

        let weight = try #require(model.parameter(at: "fc1.weight"))
        weight.mask = Tensor(shape: weight.value.shape, scalars: (0..<weight.count).map { $0 % 10 == 0 ? 1 : 0 })
        #expect(weight.value.nonZeroCount() == weight.count / 10)
        let prunedPath = folder.file("pruned.safetensors")
        try ModelFile.save(model, to: prunedPath)

        // The data sections are the same size; the header grows only by the name "fc1.weight"
        // in the masked list (8-byte padded), against 940,800 bytes a stored mask would add.
        let dense = try fileSize(densePath), pruned = try fileSize(prunedPath)
        let denseData = dense - 8 - (try headerLength(densePath)), prunedData = pruned - 8 - (try headerLength(prunedPath))
        #expect(prunedData == denseData)
        #expect(denseData == 4 * 266_610)
        #expect(pruned <= dense + 16, "pruned \(pruned) bytes vs dense \(dense) bytes")
        #expect(try Safetensors.read(prunedPath)["fc1.weight.mask"] == nil)
        #expect(try ModelFile.load(prunedPath).model.parameter(at: "fc1.weight")?.mask == weight.mask)
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
