import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing

@Suite("format errors")
struct FormatErrorTests {
    /// A LeNet-300-100 file with fc1 pruned to 90% (so stored packed), decoded.
    static func contents() throws -> Safetensors.Contents {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 5)
        let fc1 = try #require(model.parameter(at: "fc1.weight"))
        fc1.mask = Tensor(shape: fc1.value.shape, scalars: (0..<fc1.count).map { $0 % 10 == 0 ? 1 : 0 })
        fc1.applyMask()
        try ModelFile.save(model, to: folder.file("m.safetensors"), storage: .packed)
        return try Safetensors.read(folder.file("m.safetensors"))
    }

    /// The kind of error decoding `contents` throws.
    func kind(_ contents: Safetensors.Contents, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError.Kind? {
        let error = formatError(sourceLocation: sourceLocation) { _ = try ModelFile.decode(contents, path: "m.safetensors") }
        #expect(error?.path == "m.safetensors", sourceLocation: sourceLocation)
        return error?.kind
    }

    @Test("a file's problems come back as kinds carrying the tensor, what was found and what was expected")
    func kindsCarryPayloads() throws {
        let good = try Self.contents()
        var shape = good
        let i = try #require(shape.tensors.firstIndex { $0.name == "fc2.weight" })
        shape.tensors[i].tensor = Tensor.zeros([100, 299])
        #expect(kind(shape) == .wrongShape(tensor: "fc2.weight", found: [100, 299], expected: [100, 300]))

        var missing = good
        missing.tensors.removeAll { $0.name == "fc3.bias" }
        #expect(kind(missing) == .missingTensor(tensor: "fc3.bias"))

        var nonFinite = good
        let j = try #require(nonFinite.tensors.firstIndex { $0.name == "fc3.weight" })
        nonFinite.tensors[j].tensor.scalars[7] = .nan
        #expect(kind(nonFinite) == .nonFinite(tensor: "fc3.weight"))

        var extra = good
        extra.tensors.append(("fc9.weight", Tensor.zeros([2])))
        #expect(kind(extra) == .unexpectedTensor(tensor: "fc9.weight"))

        var noBitmask = good
        noBitmask.integers.removeAll { $0.name == "fc1.weight.bitmask" }
        let arrayKind = kind(noBitmask)
        guard case let .missingArray(encoding, parameter, tensor, _)? = arrayKind else {
            Issue.record("expected a missing array, got \(String(describing: arrayKind))")
            return
        }
        #expect(encoding == "packed" && parameter == "fc1.weight" && tensor == "fc1.weight.bitmask")

        var noArchitecture = good
        noArchitecture.metadata[ModelFile.architectureKey] = nil
        #expect(kind(noArchitecture) == .missingMetadata(key: ModelFile.architectureKey))
    }

    @Test("the tensor and the message follow from the kind; the message initializer keeps working")
    func messagesFromKinds() {
        let shape = FormatError(path: "a.safetensors", .wrongShape(tensor: "fc1.weight", found: [2, 3], expected: [3, 2]))
        #expect(shape.tensor == "fc1.weight")
        #expect(shape.description == "a.safetensors: tensor 'fc1.weight' has shape [2, 3] but the architecture needs [3, 2]")
        let missing = FormatError(path: "/x", .missingFile)
        #expect(missing.tensor == nil && missing.description == "/x: no such file")
        let message = FormatError(path: "m.safetensors", "the 'pruning.history' metadata is not a valid history")
        #expect(message.kind == .other("the 'pruning.history' metadata is not a valid history"))
        #expect(message.problem == "the 'pruning.history' metadata is not a valid history")
        #expect(message.description == "m.safetensors: the 'pruning.history' metadata is not a valid history")
    }

    @Test("reading a missing file is .missingFile; writing into a missing folder is .missingFolder naming it")
    func fileKinds() throws {
        let missing = formatError { _ = try Safetensors.read("/nonexistent/m.safetensors") }
        #expect(missing?.kind == .missingFile)
        let unwritable = formatError { try AtomicFile.write(Data([1]), to: "/nonexistent/m.safetensors") }
        #expect(unwritable?.kind == .missingFolder("/nonexistent"))
    }
}
