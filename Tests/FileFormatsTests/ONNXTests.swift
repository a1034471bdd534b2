import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// The reference models `tools/onnx-reference/make.py` wrote with PyTorch's exporters, and
/// ONNX Runtime's outputs for them.
struct ONNXReference: Decodable {
    struct Model: Decodable {
        var name: String, input: String, ops: [String], opset: Int?
    }
    var torch: String, onnx: String, onnxruntime: String
    var models: [Model]

    static let folder = referenceFolder + "/onnx"
    static func load() throws -> ONNXReference {
        try JSONDecoder().decode(ONNXReference.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json")))
    }
    static func file(_ name: String) -> String { "\(folder)/\(name)" }
}

/// The models ONNX import must refuse, and why.
let refusedReferenceModels: Set<String> = ["lstm-opset13", "external-data", "opset99"]

/// A float32 `.npy` file (NumPy's, from the reference tools) as a tensor.
func readNPYTensor(_ path: String) throws -> Tensor {
    let array = try NPY.read(path)
    return Tensor(shape: array.shape, scalars: array.floats())
}

/// The largest absolute difference between two tensors of one shape.
func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
}

@Suite("ONNX import and export")
struct ONNXTests {
    @Test("every model PyTorch exported gives ONNX Runtime's outputs within 1e-4 on 16 inputs")
    func importedModelsMatchONNXRuntime() throws {
        let reference = try ONNXReference.load()
        let accepted = reference.models.filter { !refusedReferenceModels.contains($0.name) }
        #expect(accepted.count >= 12, "the reference set lost models: \(accepted.map(\.name))")
        for entry in accepted {
            let imported = try ONNXFile.load(ONNXReference.file(entry.name + ".onnx"))
            let input = try readNPYTensor(ONNXReference.file(entry.input))
            let expected = try readNPYTensor(ONNXReference.file(entry.name + ".out.npy"))
            let output = imported.model.forward(input.reshaped([input.shape[0]] + imported.model.inputShape))
            let difference = maxAbsoluteDifference(output, expected)
            #expect(difference <= 1e-4, "\(entry.name): largest difference \(difference)")
            #expect(imported.opset == entry.opset, "\(entry.name)")
        }
    }

    @Test("the ops the references exercise include every op the issue lists")
    func referencesCoverTheOps() throws {
        let ops = Set(try ONNXReference.load().models.filter { !refusedReferenceModels.contains($0.name) }.flatMap(\.ops))
        for op in ["Gemm", "MatMul", "Add", "Conv", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "MaxPool", "AveragePool",
                   "GlobalAveragePool", "Flatten", "Reshape", "BatchNormalization", "Concat", "Softmax", "LogSoftmax"] {
            #expect(ops.contains(op), "no reference model has \(op)")
        }
    }

    @Test("imported layers keep the exported tensors' names and the weight layout [out, in]")
    func namesAreKept() throws {
        let lenet = try ONNXFile.load(ONNXReference.file("lenet5-view-opset11.onnx")).model
        #expect(lenet.parameters.map(\.path) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                                                  "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        #expect(lenet.parameter(at: "fc1.weight")?.value.shape == [120, 400])
        // MatMul + Add: the weight was pre-transposed into an anonymous initializer; the
        // layer takes its name from the bias, and the bias may come first in the Add.
        let matmul = try ONNXFile.load(ONNXReference.file("mlp-matmul-opset13.onnx")).model
        #expect(matmul.parameters.map(\.path) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "MatMul_2.weight"])
        #expect(matmul.parameter(at: "fc1.weight")?.value.shape == [16, 784])
        let zoo = try ONNXFile.load(ONNXReference.file("zoo-opset13.onnx")).model
        let depthwise = try #require(zoo.module(named: "depthwise") as? Conv2D)
        #expect(depthwise.groups == 8 && depthwise.weight.value.shape == [8, 1, 3, 3])
        #expect((zoo.module(named: "dilated") as? Conv2D)?.dilation == 2)
    }

    @Test("an unsupported op, external data and an unknown opset are refused with the node, tensor or version")
    func refusals() throws {
        let lstm = formatError { _ = try ONNXFile.load(ONNXReference.file("lstm-opset13.onnx")) }
        #expect(lstm?.tensor == nil)
        guard case let .onnxNode(node, op, _)? = lstm?.kind else { Issue.record("not a node error: \(String(describing: lstm))"); return }
        #expect(node == "/lstm/LSTM" && op == "LSTM")
        #expect(lstm?.description.contains("node /lstm/LSTM: op LSTM is not supported (nor are ") == true, "\(String(describing: lstm))")
        let external = formatError { _ = try ONNXFile.load(ONNXReference.file("external-data.onnx")) }
        #expect(external?.kind == .externalData(tensor: "fc1.weight"))
        let future = formatError { _ = try ONNXFile.load(ONNXReference.file("opset99.onnx")) }
        #expect(future?.kind == .unsupportedOpset(domain: "", version: 99, supported: "11–21"))
    }

    @Test("bytes that are not an ONNX model, or are cut short, give a FormatError, never a crash")
    func hostileBytes() throws {
        let good = try Data(contentsOf: URL(fileURLWithPath: ONNXReference.file("zoo-opset13.onnx")))
        var generator = SeededGenerator(seed: 11)
        for cut in [1, 7, 100, good.count / 3, good.count - 1] {
            #expect(formatError { _ = try ONNXFile.decode(good.prefix(cut), path: "cut.onnx") } != nil, "cut at \(cut)")
        }
        for trial in 0..<200 {   // flipped bytes: refused or read, never a trap
            var bytes = [UInt8](good)
            for _ in 0..<4 { bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next()) }
            do { _ = try ONNXFile.decode(Data(bytes), path: "flip\(trial).onnx") } catch is FormatError {} catch {
                Issue.record("trial \(trial): \(error)")
            }
        }
        // Nesting deeper than the limit (a GraphProto inside attributes inside nodes …).
        var nested = [UInt8]()
        for _ in 0..<200 { nested = [0x3A, UInt8(min(nested.count, 127))] + nested }   // field 7 (graph), length-delimited
        #expect(formatError { _ = try ONNXFile.decode(Data(nested), path: "deep.onnx") } != nil)
    }

    @Test("export then import gives the same outputs, and the same parameters by name")
    func exportRoundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        for name in ["zoo-gelu-opset20", "lenet5-view-opset11", "mlp-softmax-opset11"] {
            let model = try ONNXFile.load(ONNXReference.file(name + ".onnx")).model
            let path = folder.file(name + ".onnx")
            try ONNXFile.save(model, to: path, metadata: ["note": "round trip"])
            let again = try ONNXFile.load(path)
            #expect(again.metadata["note"] == "round trip")
            #expect(again.model.parameters.map(\.path) == model.parameters.map(\.path))
            let input = randomTensor([4] + model.inputShape, low: 0, high: 1, seed: 3)
            #expect(maxAbsoluteDifference(again.model.forward(input), model.forward(input)) <= 1e-6, "\(name)")
        }
    }

    @Test("sparse initializers store a 90%-sparse model in under a third of the bytes and read back the same weights; half-sparse weights stay dense")
    func sparseInitializers() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 4)
        for (_, p) in model.trainableParameters where p.value.rank == 2 {
            p.mask = Tensor(shape: p.value.shape, scalars: (0..<p.count).map { $0 % 10 == 0 ? 1 : 0 })
            p.applyMask()
        }
        let dense = folder.file("dense.onnx"), sparse = folder.file("sparse.onnx")
        try ONNXFile.save(model, to: dense)
        try ONNXFile.save(model, to: sparse, options: .init(sparseInitializers: true))
        let (denseBytes, sparseBytes) = (try Data(contentsOf: URL(fileURLWithPath: dense)).count,
                                         try Data(contentsOf: URL(fileURLWithPath: sparse)).count)
        // Each kept weight costs 4 bytes of value and 8 of Int64 index (ONNX's COO): 30% of dense at 90%.
        #expect(Double(sparseBytes) < 0.32 * Double(denseBytes), "\(sparseBytes) vs \(denseBytes) bytes")
        let back = try ONNXFile.load(sparse).model
        for ((path, a), (_, b)) in zip(model.parameters, back.parameters) { #expect(a.value == b.value, "\(path)") }

        // Half zeros: COO (12 bytes per kept weight) would be larger than dense (4 per weight), so weights stay dense.
        let halfSparse = try Architecture.lenet300.build(seed: 5)
        for (_, p) in halfSparse.trainableParameters where p.value.rank == 2 {
            p.mask = Tensor(shape: p.value.shape, scalars: (0..<p.count).map { Float($0 % 2) })
            p.applyMask()
        }
        try ONNXFile.save(halfSparse, to: dense)
        try ONNXFile.save(halfSparse, to: sparse, options: .init(sparseInitializers: true))
        let half = try ONNXFile.load(sparse).model
        #expect(try Data(contentsOf: URL(fileURLWithPath: sparse)) == Data(contentsOf: URL(fileURLWithPath: dense)))
        for ((path, a), (_, b)) in zip(halfSparse.parameters, half.parameters) { #expect(a.value == b.value, "\(path)") }
    }
}

/// ONNX bytes built field by field (protobuf's wire format), so tests can write the hostile
/// files no exporter writes.
enum Wire {
    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        return out + [UInt8(v)]
    }
    static func int(_ field: Int, _ v: UInt64) -> [UInt8] { varint(UInt64(field << 3)) + varint(v) }
    static func bytes(_ field: Int, _ b: [UInt8]) -> [UInt8] { varint(UInt64(field << 3 | 2)) + varint(UInt64(b.count)) + b }
    static func string(_ field: Int, _ s: String) -> [UInt8] { bytes(field, Array(s.utf8)) }

    /// An initializer: dims, FLOAT, name, raw bytes.
    static func tensor(_ name: String, dims: [UInt64], raw: [Float]? = nil, rawBytes: [UInt8]? = nil) -> [UInt8] {
        let data = rawBytes ?? (raw ?? []).flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        return dims.flatMap { int(1, $0) } + int(2, 1) + string(8, name) + bytes(9, data)
    }

    /// A value info `[N, features]` of FLOAT.
    static func value(_ name: String, features: UInt64) -> [UInt8] {
        let shape = bytes(1, string(2, "N")) + bytes(1, int(1, features))
        return string(1, name) + bytes(2, bytes(1, int(1, 1) + bytes(2, shape)))
    }

    /// `y = Gemm(x, W, b)` with `transB = 1` over `initializers`, reading `input` (default "x").
    static func gemmModel(initializers: [[UInt8]], input: String = "x") -> Data {
        let transB = string(1, "transB") + int(3, 1) + int(20, 2)
        let node = string(1, input) + string(1, "W") + string(1, "b") + string(2, "y") + string(3, "/fc/Gemm")
            + string(4, "Gemm") + bytes(5, transB)
        let graph = bytes(1, node) + string(2, "g") + initializers.flatMap { bytes(5, $0) }
            + bytes(11, value("x", features: 4)) + bytes(12, value("y", features: 3))
        return Data(int(1, 8) + bytes(7, graph) + bytes(8, string(1, "") + int(2, 17)))
    }
}

@Suite("hostile ONNX files")
struct HostileONNXTests {
    static let weight: [Float] = (0..<12).map { Float($0) / 10 }

    @Test("a well-formed hand-built file reads: the control for the hostile ones")
    func control() throws {
        let data = Wire.gemmModel(initializers: [Wire.tensor("W", dims: [3, 4], raw: Self.weight),
                                                 Wire.tensor("b", dims: [3], raw: [1, 2, 3])])
        let model = try ONNXFile.decode(data, path: "ok.onnx").model
        let y = model.forward(Tensor(shape: [1, 4], scalars: [1, 0, 0, 1]))
        let expected: [Float] = [1.3, 3.1, 4.9]   // W·x + b with x = [1, 0, 0, 1]: rows' first and last weights, plus the bias
        #expect(zip(y.scalars, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(y.scalars)")
    }

    @Test("overflowing shapes, lying byte counts, duplicate names and dangling inputs are refused by name",
          arguments: [
            ([Wire.tensor("W", dims: [1 << 40, 1 << 40], raw: weight), Wire.tensor("b", dims: [3], raw: [1, 2, 3])], "x", "'W'"),
            ([Wire.tensor("W", dims: [3, 4], rawBytes: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), Wire.tensor("b", dims: [3], raw: [1, 2, 3])], "x", "10 bytes"),
            ([Wire.tensor("W", dims: [3, 4], raw: weight), Wire.tensor("W", dims: [3, 4], raw: weight)], "x", "two initializers are named 'W'"),
            ([Wire.tensor("W", dims: [3, 4], raw: weight), Wire.tensor("b", dims: [3], raw: [1, 2, 3])], "z", "input 'z'"),
            ([Wire.tensor("W", dims: [4, 3], raw: weight), Wire.tensor("b", dims: [3], raw: [1, 2, 3])], "x", "does not fit 4 input features"),
          ] as [([[UInt8]], String, String)])
    func refused(_ initializers: [[UInt8]], _ input: String, _ mentions: String) throws {
        let error = formatError { _ = try ONNXFile.decode(Wire.gemmModel(initializers: initializers, input: input), path: "bad.onnx") }
        #expect(error?.description.contains(mentions) == true, "\(String(describing: error))")
    }
}
