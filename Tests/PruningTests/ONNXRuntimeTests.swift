import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import TensorCore
import TestSupport
import Testing

/// The Python that runs `tools/onnx-reference/check.py`: `PRUNE_PYTHON`, else `python3` on
/// the PATH. It needs numpy, onnx and onnxruntime (`.ci/run` installs them).
let onnxPython: String? = {
    let environment = ProcessInfo.processInfo.environment
    if let explicit = environment["PRUNE_PYTHON"] { return explicit }
    for folder in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(folder)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}()

/// ONNX files Prune writes, checked by the real ecosystem: `onnx.checker.check_model(
/// full_check=True)` and ONNX Runtime's outputs against Prune's. Without Python's onnx and
/// onnxruntime these tests fail (they do not skip): install them with
/// `pip install numpy onnx onnxruntime`, or point PRUNE_PYTHON at a Python that has them.
@Suite("ONNX files Prune writes run in ONNX Runtime")
struct ONNXRuntimeTests {
    struct Check: Decodable {
        var checker: String, full_check: Bool, max_abs_diff: Double, same_argmax: Int, samples: Int, sparse_initializers: Int
    }

    /// Writes `model` as ONNX and Prune's outputs on `input`, runs check.py, returns its verdict.
    func check(_ model: Graph, input: Tensor, sparse: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> Check? {
        guard let python = onnxPython,
              (try? runProgram(python, ["-c", "import numpy, onnx, onnxruntime"]))?.status == 0 else {
            Issue.record("needs a Python with numpy, onnx and onnxruntime (pip install numpy onnx onnxruntime; or set PRUNE_PYTHON)",
                         sourceLocation: sourceLocation)
            return nil
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prune-ort-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try ONNXFile.save(model, to: "\(folder)/model.onnx", options: .init(sparseInitializers: sparse))
        try NPY.write(NPY.Array(input), to: "\(folder)/input.npy")
        try NPY.write(NPY.Array(model.forward(input)), to: "\(folder)/expected.npy")
        let script = URL(fileURLWithPath: referenceFolder).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/onnx-reference/check.py").path
        let result = try runProgram(python, [script, "\(folder)/model.onnx", "\(folder)/input.npy", "\(folder)/expected.npy"])
        guard result.status == 0 else {
            Issue.record("check.py failed: \(result.stderr)", sourceLocation: sourceLocation)
            return nil
        }
        return try JSONDecoder().decode(Check.self, from: Data(result.stdout.utf8))
    }

    static func images(_ n: Int) -> Tensor { randomTensor([n, 1, 28, 28], low: 0, high: 1, seed: 31) }

    @Test("dense LeNet-5 and resnet8 pass the full checker and give Prune's outputs within 1e-4")
    func dense() throws {
        for architecture in [Architecture.lenet5, .resnet8] {
            let model = try architecture.build(seed: 3)
            guard let c = try check(model, input: Self.images(16)) else { return }
            #expect(c.checker == "ok" && c.full_check, "\(architecture)")
            #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 16, "\(architecture): \(c)")
        }
    }

    @Test("a 90%-pruned model, written dense or as sparse initializers, gives Prune's outputs")
    func pruned() throws {
        let model = try Architecture.lenet5.build(seed: 4)
        _ = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.9)))
        for sparse in [false, true] {
            guard let c = try check(model, input: Self.images(16), sparse: sparse) else { return }
            #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 16, "sparse \(sparse): \(c)")
            #expect((c.sparse_initializers > 0) == sparse && c.full_check == !sparse)
        }
    }

    @Test("a compacted resnet8 (half its filters removed, BatchNorm folded) gives Prune's outputs")
    func compacted() throws {
        let model = try Architecture.resnet8.build(seed: 5)
        _ = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5)))
        let small = try Structured.compact(model).model
        #expect(small.parameters.reduce(0) { $0 + $1.parameter.count } < model.parameters.reduce(0) { $0 + $1.parameter.count })
        guard let c = try check(small, input: Self.images(16)) else { return }
        #expect(c.checker == "ok" && c.full_check)
        #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 16, "\(c)")
    }

    @Test("an imported model with grouped and dilated convolutions, GELU, Concat and BatchNorm exports and runs")
    func importedZoo() throws {
        let zoo = try ONNXFile.load(referenceFolder + "/onnx/zoo-gelu-opset20.onnx").model
        guard let c = try check(zoo, input: Self.images(16)) else { return }
        #expect(c.checker == "ok" && c.full_check)
        #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 16, "\(c)")
    }
}
