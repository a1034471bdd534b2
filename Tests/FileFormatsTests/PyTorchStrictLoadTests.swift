import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// A Python with torch and safetensors: `$PRUNE_PYTHON`, else `python3` on the PATH.
///
/// Torch (several GB from PyPI) is not a dependency of Prune, and CI does not install it: the
/// always-run tests compare Prune's files with PyTorch's committed key lists and outputs
/// (`Tests/Reference/pytorch`). This live check runs when `PRUNE_TORCH_TESTS=1`, and then
/// fails, rather than skips, without a Python that has torch (tools/pytorch-reference says
/// how to make one).
let pythonWithTorch: String? = {
    let candidates = [ProcessInfo.processInfo.environment["PRUNE_PYTHON"], python3].compactMap { $0 }
    return candidates.first { (try? run($0, ["-c", "import torch, safetensors.torch"]).status) == 0 }
}()

@Suite("PyTorch loads Prune's files strictly",
       .enabled(if: ProcessInfo.processInfo.environment["PRUNE_TORCH_TESTS"] == "1",
                "the live PyTorch check runs with PRUNE_TORCH_TESTS=1 (and PRUNE_PYTHON naming a Python with torch)"))
struct PyTorchStrictLoadTests {
    @Test("a pruned file loads with load_state_dict(strict=True) and gives Prune's outputs within 1e-4",
          arguments: [Architecture.lenet5, .resnet8])
    func strictLoad(_ architecture: Architecture) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try architecture.build(seed: 21)
        _ = model.forward(randomTensor([8, 1, 28, 28], low: 0, high: 1, seed: 2), training: true)   // moves BatchNorm statistics
        for (p, parameter) in model.parameters where p.hasSuffix(".weight") && parameter.value.rank >= 2 {
            parameter.mask = Tensor(shape: parameter.value.shape, scalars: (0..<parameter.count).map { $0 % 10 == 3 ? 1 : 0 })
        }
        try #require(model.parameter(at: "fc\(architecture == .lenet5 ? "1" : "").weight")).value[flat: 3] = 0   // a kept zero
        let path = folder.file("m.safetensors")
        try ModelFile.save(model, to: path)
        let x = try readNPY(PyTorchReference.file("inputs.npy"))
        try writeNPY(x, to: folder.file("x.npy"))
        try writeNPY(model.forward(x, training: false), to: folder.file("y.npy"))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/pytorch-reference/check_strict.py").path
        let python = try #require(pythonWithTorch, "PRUNE_TORCH_TESTS=1 needs a Python with torch and safetensors (set PRUNE_PYTHON)")
        let result = try run(python, [script, path, "--inputs", folder.file("x.npy"), "--outputs", folder.file("y.npy")])
        #expect(result.status == 0, "\(result.output)\(result.error)")
        #expect(result.output.contains("missing 0, unexpected 0"), "\(result.output)")
        let weights = model.parameters.filter { $0.path.hasSuffix(".weight") && $0.parameter.value.rank >= 2 }.map(\.parameter.value)
        let zeros = weights.reduce(0) { $0 + $1.count - $1.nonZeroCount() }, total = weights.reduce(0) { $0 + $1.count }
        #expect(result.output.contains("weights \(zeros)/\(total) exact zeros"), "\(result.output)")
        #expect(result.output.hasSuffix("OK\n"), "\(result.output)")
    }
}
