import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

/// The residual CNN of docs/FORMATS.md: a stem, one residual block, pooling, a classifier.
let residualExample = """
    {
      "inputShape": [1, 28, 28],
      "nodes": [
        {"name": "stem", "layer": {"kind": "conv2d", "inChannels": 1, "outChannels": 8, "kernelSize": 3, "padding": 1, "bias": false}, "inputs": ["input"]},
        {"name": "stem_bn", "layer": {"kind": "batchNorm", "features": 8}, "inputs": ["stem"]},
        {"name": "stem_relu", "layer": {"kind": "relu"}, "inputs": ["stem_bn"]},
        {"name": "conv_a", "layer": {"kind": "conv2d", "inChannels": 8, "outChannels": 8, "kernelSize": 3, "padding": 1}, "inputs": ["stem_relu"]},
        {"name": "relu_a", "layer": {"kind": "relu"}, "inputs": ["conv_a"]},
        {"name": "conv_b", "layer": {"kind": "conv2d", "inChannels": 8, "outChannels": 8, "kernelSize": 3, "padding": 1}, "inputs": ["relu_a"]},
        {"name": "residual", "layer": {"kind": "add"}, "inputs": ["conv_b", "stem_relu"]},
        {"name": "relu_b", "layer": {"kind": "relu"}, "inputs": ["residual"]},
        {"name": "pool", "layer": {"kind": "maxPool2d", "kernelSize": 2}, "inputs": ["relu_b"]},
        {"name": "gap", "layer": {"kind": "globalAvgPool"}, "inputs": ["pool"]},
        {"name": "fc", "layer": {"kind": "dense", "inFeatures": 8, "outFeatures": 10}, "inputs": ["gap"]}
      ]
    }
    """

@Suite("architecture files")
struct ArchitectureFileTests {
    @Test("the documented residual CNN decodes, builds, runs, saves and loads back")
    func documentedExample() throws {
        let spec = try ArchitectureFile.decode(Data(residualExample.utf8), path: "cnn.json")
        #expect(spec.nodes.count == 11 && spec.nodes[6].inputs == ["conv_b", "stem_relu"])
        let model = try spec.makeGraph(seed: 3)
        let x = randomTensor([2, 1, 28, 28], low: 0, high: 1, seed: 1)
        #expect(model.forward(x, training: false).shape == [2, 10])
        #expect(model.spec.nodes.map(\.name) == spec.nodes.map(\.name) && model.spec.nodes.map(\.inputs) == spec.nodes.map(\.inputs))
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try ModelFile.save(model, to: folder.file("m.safetensors"))
        #expect(try ModelFile.load(folder.file("m.safetensors")).model.forward(x, training: false) == model.forward(x, training: false))
        // docs/FORMATS.md shows this very JSON.
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/FORMATS.md").path
        let text = try String(contentsOfFile: docs, encoding: .utf8)
        let compact = { (s: String) in s.filter { !$0.isWhitespace } }
        #expect(compact(text).contains(compact(residualExample)), "docs/FORMATS.md should show the example")
    }

    @Test("a spec of lenet300 builds the same weights as the built-in from the same seed")
    func sameAsBuiltIn() throws {
        let builtIn = try Architecture.lenet300.build(seed: 7)
        let json = try JSONEncoder().encode(builtIn.spec)
        let fromFile = try ArchitectureFile.decode(json, path: "l.json").makeGraph(seed: 7)
        #expect(fromFile.parameters.map(\.parameter.value) == builtIn.parameters.map(\.parameter.value))
    }

    @Test("mistakes are refused naming the file, the field or node, and what to do",
          arguments: [
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "linear", "inFeatures": 784, "outFeatures": 10}, "inputs": ["input"]}]}"#,
             ["nodes[0] 'fc1'.layer.kind", "not a layer kind", "dense"]),
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "dense", "in_features": 784, "outFeatures": 10}, "inputs": ["input"]}]}"#,
             ["nodes[0] 'fc1'.layer.in_features", "unknown field", "inFeatures"]),
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "dense", "outFeatures": 10}, "inputs": ["input"]}]}"#,
             ["'fc1'", "inFeatures"]),
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "dense", "inFeatures": 784, "outFeatures": 10}}]}"#,
             ["nodes[0] 'fc1'.inputs", "missing"]),
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "dense", "inFeatures": 784, "outFeatures": 10}, "inputs": ["fc0"]}]}"#,
             ["'fc1'", "unknown node 'fc0'"]),
            (#"{"inputShape": [784], "nodes": [{"name": "fc1", "layer": {"kind": "dense", "inFeatures": 700, "outFeatures": 10}, "inputs": ["input"]}]}"#,
             ["'fc1'", "700"]),
            (#"{"inputShape": "784", "nodes": []}"#, ["inputShape"]),
            (#"{"inputShape": [784], "nodes": []}"#, ["nodes", "at least one"]),
            (#"{"inputShape": [0], "nodes": [{"name": "r", "layer": {"kind": "relu"}, "inputs": ["input"]}]}"#, ["inputShape"]),
            (#"{"inputShape": [784], "layers": []}"#, ["unknown field 'layers'"]),
            (#"{"inputShape": [784], "nodes": [{"name": "a..b", "layer": {"kind": "relu"}, "inputs": ["input"]}]}"#, ["'a..b'"]),
            (#"[1, 2]"#, ["not a JSON object"]),
            ("{\"inputShape\": [784], \"nodes\": " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}", ["nested deeper"]),
          ])
    func refusesMistakes(_ json: String, _ mentions: [String]) throws {
        expectError(formatError { _ = try ArchitectureFile.decode(Data(json.utf8), path: "bad.json") }, path: "bad.json", mentions: mentions)
    }

    @Test("too many nodes, a missing file and an oversized file are refused before building")
    func refusesLimits() throws {
        let node = #"{"name": "r%d", "layer": {"kind": "relu"}, "inputs": ["input"]}"#
        let many = "{\"inputShape\": [4], \"nodes\": [" + (0...ArchitectureFile.maximumNodes).map { String(format: node, $0) }.joined(separator: ",") + "]}"
        expectError(formatError { _ = try ArchitectureFile.decode(Data(many.utf8), path: "many.json") }, path: "many.json",
                    mentions: ["nodes", "more than \(ArchitectureFile.maximumNodes)"])
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        expectError(formatError { _ = try ArchitectureFile.read(folder.file("none.json")) }, path: folder.file("none.json"), mentions: ["no such file"])
        let big = folder.file("big.json")
        try Data(repeating: 0x20, count: (16 << 20) + 1).write(to: URL(fileURLWithPath: big))
        expectError(formatError { _ = try ArchitectureFile.read(big) }, path: big, mentions: ["at most"])
    }
}
