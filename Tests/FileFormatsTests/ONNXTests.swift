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
            let input = try readReferenceNPY(ONNXReference.file(entry.input))
            let expected = try readReferenceNPY(ONNXReference.file(entry.name + ".out.npy"))
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

    @Test("sparse initializers store a 90%-sparse model in under a third of the bytes and read back the same weights")
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
    }
}
