import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// The tensors a safetensors file declares in its header: name → (shape, dtype).
func declaredTensors(_ path: String) throws -> [String: (shape: [Int], dtype: String)] {
    let data = try #require(FileManager.default.contents(atPath: path))
    let length = Int(data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    let header = try #require(try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any])
    var tensors: [String: (shape: [Int], dtype: String)] = [:]
    for (name, value) in header where name != "__metadata__" {
        let entry = try #require(value as? [String: Any])
        tensors[name] = (try #require(entry["shape"] as? [Int]), try #require(entry["dtype"] as? String))
    }
    return tensors
}

@Suite("PyTorch state dicts")
struct StateDictTests {
    static let builtIns: [(String, Architecture)] = [("lenet300", .lenet300), ("lenet5", .lenet5), ("resnet8", .resnet8)]

    @Test("Prune's state-dict entries are PyTorch's keys, shapes and dtypes, in PyTorch's order")
    func entriesMatchPyTorch() throws {
        let reference = try PyTorchReference.keys()
        for (name, architecture) in Self.builtIns {
            let entries = StateDict.entries(of: try architecture.build())
            let expected = try #require(reference[name])
            #expect(entries.map(\.name) == expected.map(\.name), "\(name)")
            #expect(entries.map(\.shape) == expected.map(\.shape), "\(name)")
            #expect(entries.map(\.dtype) == expected.map(\.dtype), "\(name)")
        }
        let mlp = StateDict.entries(of: try Architecture.mlp.build(layers: [784, 16, 10]))
        #expect(mlp.map(\.name) == (try #require(reference["mlp-784-16-10"])).map(\.name))
    }

    @Test("a pruned file Prune writes holds exactly PyTorch's keys, shapes and dtypes, cut entries zero, masks only in the metadata",
          arguments: builtIns.map(\.0))
    func prunedFileIsPyTorchStateDict(_ name: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let architecture = try #require(Architecture(rawValue: name))
        let model = try architecture.build(seed: 3)
        _ = model.forward(randomTensor([4, 1, 28, 28], low: 0, high: 1, seed: 1), training: true)   // counts a batch
        var pruned: [String: Tensor] = [:]
        for (i, (p, parameter)) in model.parameters.enumerated() where p.hasSuffix(".weight") && parameter.value.rank >= 2 {
            parameter.mask = Tensor(shape: parameter.value.shape, scalars: (0..<parameter.count).map { ($0 + i) % 5 == 0 ? 1 : 0 })
            pruned[p] = parameter.mask
        }
        // A kept entry that is exactly zero (as L1 soft-thresholding leaves): its mask is not implied.
        let first = try #require(model.parameters.first { pruned[$0.path] != nil })
        let kept = try #require(first.parameter.mask!.scalars.firstIndex(of: 1))
        first.parameter.value[flat: kept] = 0
        let path = folder.file("\(name).safetensors")
        try ModelFile.save(model, to: path, metadata: ["accuracy": "0.5"])

        let declared = try declaredTensors(path)
        let reference = try #require(try PyTorchReference.keys()[name])
        #expect(declared.count == reference.count)
        for entry in reference {
            #expect(declared[entry.name]?.shape == entry.shape && declared[entry.name]?.dtype == entry.dtype, "\(entry.name): \(String(describing: declared[entry.name]))")
        }
        let contents = try Safetensors.read(path)
        for (p, mask) in pruned {
            let stored = try #require(contents[p])
            #expect(zip(stored.scalars, mask.scalars).allSatisfy { $1 == 1 || $0 == 0 }, "\(p): a cut entry is not zero")
        }
        #expect(try JSONDecoder().decode([String: String].self, from: Data(try #require(contents.metadata[ModelFile.bitmasksKey]).utf8)).keys.sorted() == [first.path])
        // It loads back with every mask, the kept zero included.
        let loaded = try ModelFile.load(path).model
        for (p, mask) in pruned { #expect(loaded.parameter(at: p)?.mask == mask, "\(p)") }
        for node in loaded.nodes { if let bn = node.module as? BatchNorm { #expect(bn.batchesTracked == 1, "\(bn.name)") } }
    }

    /// Imports `file` into `model` and returns the largest difference from PyTorch's outputs on the reference inputs.
    func importedDifference(_ file: String, into model: Graph) throws -> (difference: Double, summary: StateDict.Summary) {
        let summary = try StateDict.read(PyTorchReference.file("\(file).safetensors"), into: model)
        let x = try readNPY(PyTorchReference.file("inputs.npy"))
        let expected = try readNPY(PyTorchReference.file("\(file).outputs.npy"))
        let y = model.forward(x, training: false)
        #expect(y.shape == expected.shape)
        let difference = zip(y.scalars, expected.scalars).map { Double(abs($0 - $1)) }.max() ?? .infinity
        return (difference, summary)
    }

    @Test("PyTorch state dicts in F32, F16 and BF16 import to PyTorch's outputs within 1e-4 (F16/BF16: the rounded weights' outputs)",
          arguments: [("mlp16-f32", "F32"), ("mlp16-bf16", "BF16"), ("lenet5-f16", "F16"), ("resnet8-bf16", "BF16")])
    func importMatchesPyTorch(_ file: String, _ dtype: String) throws {
        let model = file.hasPrefix("mlp") ? try Architecture.mlp.build(layers: [784, 16, 10], seed: 9)
            : file.hasPrefix("lenet5") ? try Architecture.lenet5.build(seed: 9) : try Architecture.resnet8.build(seed: 9)
        let before = model.forward(try readNPY(PyTorchReference.file("inputs.npy")), training: false)
        let (difference, summary) = try importedDifference(file, into: model)
        #expect(difference <= 1e-4, "\(file): max |Prune − PyTorch| = \(difference)")
        #expect(summary.storedTypes.keys.sorted() == [dtype])
        #expect(summary.tensors == StateDict.entries(of: model).count)
        // The model's own weights give other outputs: the comparison has teeth.
        let expected = try readNPY(PyTorchReference.file("\(file).outputs.npy"))
        #expect(zip(before.scalars, expected.scalars).map { abs($0 - $1) }.max()! > 1e-2)
        if file.hasPrefix("resnet8") {
            #expect(model.nodes.compactMap { ($0.module as? BatchNorm)?.batchesTracked }.allSatisfy { $0 == 3 })
            // Prune's file of the import loads strictly as PyTorch's keys (checked above) and back into Prune.
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            try ModelFile.save(model, to: folder.file("r.safetensors"))
            let again = try ModelFile.load(folder.file("r.safetensors")).model
            #expect(again.forward(try readNPY(PyTorchReference.file("inputs.npy")), training: false) == model.forward(try readNPY(PyTorchReference.file("inputs.npy")), training: false))
        }
    }

    @Test("BF16 tensors decode exactly: normal, negative, subnormal, infinity")
    func bfloat16() throws {
        // Header: one BF16 tensor of 5 values, then 10 data bytes.
        let json = #"{"b":{"dtype":"BF16","shape":[5],"data_offsets":[0,10]}}"#
        var bytes = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { [UInt8]($0) } + Array(json.utf8)
        for h: UInt16 in [0x3F80, 0xC040, 0x3EAB, 0x0001, 0x7F80] { bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        let contents = try Safetensors.decode(Data(bytes), path: "b.safetensors")
        #expect(contents["b"]?.scalars == [1, -3, 0.333984375, 0x1p-133, .infinity])
        #expect(contents.storedTypes == ["b": "BF16"])
    }

    /// The reference mlp16 state dict's contents, to damage.
    func mlpContents() throws -> Safetensors.Contents { try Safetensors.read(PyTorchReference.file("mlp16-f32.safetensors")) }

    @Test("a state dict that does not fit names every missing, unexpected and mis-shaped tensor at once, and changes nothing")
    func reportsEveryProblem() throws {
        var contents = try mlpContents()
        contents.tensors.removeAll { $0.name == "fc1.bias" }
        let i = try #require(contents.tensors.firstIndex { $0.name == "fc2.weight" })
        contents.tensors[i].tensor = Tensor.zeros([10, 17])
        contents.tensors.append(("fc3.weight", Tensor.zeros([2, 10])))
        let model = try Architecture.mlp.build(layers: [784, 16, 10], seed: 4)
        let weights = model.parameters.map(\.parameter.value)
        let error = formatError { try StateDict.load(contents, into: model, path: "s.safetensors", architecture: "mlp") }
        guard case let .stateDictMismatch(architecture, problems)? = error?.kind else { Issue.record("\(String(describing: error))"); return }
        #expect(architecture == "mlp")
        #expect(Set(problems.map(\.description)) == [
            "missing: 'fc1.bias' [16]",
            "wrong shape: 'fc2.weight' is [10, 17], the architecture needs [10, 16]",
            "unexpected: 'fc3.weight' [2, 10] F32 belongs to no layer of the architecture",
        ])
        expectError(error, path: "s.safetensors", mentions: ["3 problems", "'fc1.bias' [16]", "[10, 17]", "[10, 16]", "'fc3.weight'"])
        #expect(model.parameters.map(\.parameter.value) == weights)
    }

    @Test("names behind a prefix (nn.DataParallel's module.) are reported with a hint")
    func prefixHint() throws {
        var contents = try mlpContents()
        for i in contents.tensors.indices { contents.tensors[i].name = "module." + contents.tensors[i].name }
        let model = try Architecture.mlp.build(layers: [784, 16, 10])
        let error = formatError { try StateDict.load(contents, into: model, path: "p.safetensors") }
        expectError(error, path: "p.safetensors", mentions: ["8 problems", "prefix 'module.'"])
    }

    @Test("hostile tensors are typed problems: NaN, a weight stored as integers, a float, negative or shaped batch count, a duplicate name",
          arguments: ["nan", "integer weight", "float count", "negative count", "shaped count", "I32 count", "duplicate"])
    func refusesHostileTensors(_ damage: String) throws {
        let model = try Architecture.resnet8.build(seed: 2)
        var contents = try Safetensors.read(PyTorchReference.file("resnet8-bf16.safetensors"))
        let counter = try #require(contents.integers.firstIndex { $0.name == "bn1.num_batches_tracked" })
        let expected: TensorProblem
        switch damage {
        case "nan":
            let i = try #require(contents.tensors.firstIndex { $0.name == "fc.weight" })
            contents.tensors[i].tensor[flat: 7] = .nan
            expected = .invalidValue(tensor: "fc.weight", problem: "holds NaN or infinity")
        case "integer weight":
            contents.tensors.removeAll { $0.name == "fc.bias" }
            contents.integers.append(("fc.bias", Safetensors.IntegerTensor(shape: [10], bytes: [UInt8](repeating: 1, count: 10))))
            expected = .wrongType(tensor: "fc.bias", found: "U8", expected: "a float type (F32, F16, BF16, F64)")
        case "float count":
            contents.integers.remove(at: counter)
            contents.tensors.append(("bn1.num_batches_tracked", Tensor(shape: [], scalars: [3])))
            contents.storedTypes["bn1.num_batches_tracked"] = "F32"
            expected = .wrongType(tensor: "bn1.num_batches_tracked", found: "F32", expected: "an I64 scalar")
        case "negative count":
            contents.integers[counter].tensor.bytes = [UInt8](repeating: 0xFF, count: 8)
            expected = .invalidValue(tensor: "bn1.num_batches_tracked", problem: "is a negative batch count")
        case "shaped count":
            contents.integers[counter].tensor.shape = [1]
            expected = .wrongShape(tensor: "bn1.num_batches_tracked", found: [1], expected: [])
        case "I32 count":
            contents.integers[counter].tensor.dtype = "I32"
            contents.integers[counter].tensor.bytes = [3, 0, 0, 0]
            expected = .wrongType(tensor: "bn1.num_batches_tracked", found: "I32", expected: "I64")
        default:
            contents.tensors.append(contents.tensors[0])
            expected = .invalidValue(tensor: contents.tensors[0].name, problem: "is stored twice")
        }
        let error = formatError { try StateDict.load(contents, into: model, path: "h.safetensors") }
        guard case let .stateDictMismatch(_, problems)? = error?.kind else { Issue.record("\(String(describing: error))"); return }
        #expect(problems == [expected])
        // Written to a file and read back, the same damage is refused the same way (when the file can hold it).
        if damage != "duplicate" {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let path = folder.file("h.safetensors")
            try Safetensors.write(contents, to: path)
            let fromFile = formatError { try StateDict.read(path, into: model) }
            guard case let .stateDictMismatch(_, again)? = fromFile?.kind else { Issue.record("\(String(describing: fromFile))"); return }
            #expect(again.map(\.tensor) == [expected.tensor])
        }
    }

    @Test("a missing num_batches_tracked is allowed (count 0), as PyTorch allows it")
    func missingCounterIsZero() throws {
        var contents = try Safetensors.read(PyTorchReference.file("resnet8-bf16.safetensors"))
        contents.integers.removeAll { $0.name == "block2_bn1.num_batches_tracked" }
        let model = try Architecture.resnet8.build()
        try StateDict.load(contents, into: model, path: "r.safetensors")
        #expect((model.module(named: "block2_bn1") as? BatchNorm)?.batchesTracked == 0)
        #expect((model.module(named: "block2_bn2") as? BatchNorm)?.batchesTracked == 3)
    }
}

@Suite("fuzz corpus seeds")
struct FuzzCorpusSeedTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus").path

    @Test("the state-dict, bitmask and architecture seeds are valid inputs, so fuzzing starts inside the new readers")
    func seedsAreValid() throws {
        let spec = try ArchitectureFile.read("\(Self.corpus)/architecture.json")
        let graph = try spec.makeGraph()
        let summary = try StateDict.read("\(Self.corpus)/statedict.safetensors", into: graph)
        #expect(summary.storedTypes == ["BF16": 1, "F16": 1, "F32": 6] && summary.tensors == 9)
        #expect((graph.module(named: "bn") as? BatchNorm)?.batchesTracked == 7)
        let loaded = try ModelFile.load("\(Self.corpus)/bitmasks.safetensors").model
        #expect(loaded.parameter(at: "fc1.weight")?.mask?.scalars == [1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0])
        #expect(loaded.parameter(at: "fc1.weight")?.value[flat: 0] == 0)
    }
}
