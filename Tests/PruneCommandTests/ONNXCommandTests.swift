import FileFormats
import Foundation
import TestSupport
import Testing

/// The CLI on ONNX files: PyTorch's exports read by every command, predictions equal to
/// ONNX Runtime's, and `export --format onnx`.
@Suite("prune commands on ONNX models")
struct ONNXCommandTests {
    static let folder = referenceFolder + "/onnx"

    @Test("prune predict on a PyTorch-exported LeNet-5 writes ONNX Runtime's outputs (≤ 1e-4)")
    func predictMatchesONNXRuntime() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("prune-onnx-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("y.npy").path
        for model in ["lenet5-view-opset11", "zoo-gelu-dynamo-opset20"] {
            let result = try prune("predict", "\(Self.folder)/\(model).onnx", "--input", "\(Self.folder)/inputs-image.npy", "--out", out)
            #expect(result.status == 0, "\(result)")
            let predicted = try NPY.read(out).floats(), expected = try NPY.read("\(Self.folder)/\(model).out.npy").floats()
            #expect(predicted.count == expected.count)
            #expect(zip(predicted, expected).map { abs($0 - $1) }.max() ?? 1 <= 1e-4, "\(model)")
        }
    }

    @Test("info, eval and export read ONNX; an unsupported op is one line naming the node, exit 1")
    func commandsReadONNX() throws {
        let info = try prune("info", "\(Self.folder)/lenet5-view-opset11.onnx")
        #expect(info.status == 0 && info.stdout.contains("conv1") && info.stdout.contains("fc3"), "\(info)")
        let lstm = try prune("info", "\(Self.folder)/lstm-opset13.onnx")
        #expect(lstm.status == 1)
        #expect(lstm.stderrLines.count == 1 && lstm.stderr.contains("node /lstm/LSTM: op LSTM is not supported"), "\(lstm)")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("prune-onnx-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let exported = scratch.appendingPathComponent("again.onnx").path
        let export = try prune("export", "\(Self.folder)/zoo-opset13.onnx", "--format", "onnx", "--out", exported, "--json")
        #expect(export.status == 0, "\(export)")
        let again = try ONNXFile.load(exported).model, original = try ONNXFile.load("\(Self.folder)/zoo-opset13.onnx").model
        #expect(again.parameters.map(\.path) == original.parameters.map(\.path))
        let refused = try prune("export", "\(Self.folder)/zoo-opset13.onnx", "--format", "onnx", "--fp16", "--out", exported)
        #expect(refused.status == 2, "\(refused)")
    }
}
