import Foundation
import TestSupport
import Testing

/// LeNet-300-100 written as an architecture file (what `--model lenet300` builds).
let lenet300Spec = """
    {"inputShape": [1, 28, 28], "nodes": [
      {"name": "flatten", "layer": {"kind": "flatten"}, "inputs": ["input"]},
      {"name": "fc1", "layer": {"kind": "dense", "inFeatures": 784, "outFeatures": 300}, "inputs": ["flatten"]},
      {"name": "relu1", "layer": {"kind": "relu"}, "inputs": ["fc1"]},
      {"name": "fc2", "layer": {"kind": "dense", "inFeatures": 300, "outFeatures": 100}, "inputs": ["relu1"]},
      {"name": "relu2", "layer": {"kind": "relu"}, "inputs": ["fc2"]},
      {"name": "fc3", "layer": {"kind": "dense", "inFeatures": 100, "outFeatures": 10}, "inputs": ["relu2"]}
    ]}
    """

/// The PyTorch reference files (Tests/Reference/pytorch).
let pytorchReference = packageRoot.appendingPathComponent("Tests/Reference/pytorch")

@Suite("prune import and architecture files")
struct ImportTests {
    @Test("`prune import` turns PyTorch's F16 LeNet-5 state dict into a model file that evaluates, holding PyTorch's keys only")
    func importsStateDict() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("l5.safetensors").path
        let result = try prune("import", pytorchReference.appendingPathComponent("lenet5-f16.safetensors").path, "--arch", "lenet5",
                               "--out", out, "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect(json["tensors"] as? Int == 10 && json["parameters"] as? Int == 61_706, "\(json)")
        #expect(json["storedTypes"] as? [String: Int] == ["F16": 10], "\(json)")
        let header = try safetensorsHeader(out)
        #expect(Set(header.keys) == ["__metadata__", "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        #expect((header["__metadata__"] as? [String: String])?["imported.from"] == "lenet5-f16.safetensors")
        let eval = try prune("eval", out, "--json")
        #expect(eval.status == 0, "\(eval)")
    }

    @Test("`prune import` of a state dict that does not fit exits 1 listing every problem")
    func refusesMismatch() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("x.safetensors").path
        let result = try prune("import", pytorchReference.appendingPathComponent("mlp16-f32.safetensors").path, "--arch", "lenet300", "--out", out)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains("does not fit lenet300: 6 problems"), "\(result)")
        for line in ["wrong shape: 'fc1.weight' is [16, 784], the architecture needs [300, 784]", "missing: 'fc3.weight' [10, 100]",
                     "missing: 'fc3.bias' [10]"] {
            #expect(result.stderr.contains(line), "\(result)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        let usage = try prune("import", "s.safetensors", "--arch", "spec.json", "--classes", "5", "--out", out)
        #expect(usage.status == 2 && usage.stderr.contains("--classes applies to built-in architectures"), "\(usage)")
        let unknown = try prune("import", "s.safetensors", "--arch", "lenet7", "--out", out)
        #expect(unknown.status == 2 && unknown.stderr.contains("lenet7"), "\(unknown)")
    }

    @Test("`prune train --model SPEC.json` of lenet300's spec trains the same weights as `--model lenet300`; a bad spec names the field")
    func trainsArchitectureFile() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let spec = folder.appendingPathComponent("lenet300.json").path
        try Data(lenet300Spec.utf8).write(to: URL(fileURLWithPath: spec))
        let a = folder.appendingPathComponent("a.safetensors").path, b = folder.appendingPathComponent("b.safetensors").path
        let common = ["--epochs", "1", "--batch-size", "256", "--validation-split", "0", "--quiet", "--json"]
        let fromSpec = try prune(["train", "--model", spec, "--out", a] + common)
        let builtIn = try prune(["train", "--model", "lenet300", "--out", b] + common)
        #expect(fromSpec.status == 0 && builtIn.status == 0, "\(fromSpec)\n\(builtIn)")
        #expect(try singleJSONObject(fromSpec.stdout)["accuracy"] as? Double == (try singleJSONObject(builtIn.stdout)["accuracy"] as? Double))
        for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc3.weight", "fc3.bias"] {
            #expect(try safetensorsFloats(a, name) == (try safetensorsFloats(b, name)), "\(name)")
        }
        #expect((try safetensorsHeader(a)["__metadata__"] as? [String: String])?["model"] == spec)

        let bad = folder.appendingPathComponent("bad.json").path
        try Data(lenet300Spec.replacingOccurrences(of: #""kind": "relu"}, "inputs": ["fc1"]"#, with: #""kind": "rectify"}, "inputs": ["fc1"]"#).utf8)
            .write(to: URL(fileURLWithPath: bad))
        let refused = try prune("train", "--model", bad, "--epochs", "1", "--quiet")
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("nodes[2] 'relu1'.layer.kind") && refused.stderr.contains("not a layer kind"), "\(refused)")
        let notJSON = try prune("train", "--model", "model.yaml", "--epochs", "1")
        #expect(notJSON.status == 2 && notJSON.stderr.contains("model.yaml"), "\(notJSON)")
    }
}
