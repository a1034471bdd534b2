import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing
import TestSupport

/// Tiny random `GPT2LMHeadModel`s written by transformers (tools/gpt-reference), with their
/// logits for two sequences of 16 bytes.
@Suite("GPT-2 checkpoints read and written (transformers' tiny GPT2LMHeadModel)")
struct GPT2CheckpointTests {
    static func folder(_ name: String) -> String { "\(referenceFolder)/\(name)" }

    /// The reference input ids `[2, 16]` as a float batch, and the logits `[2, 16, 256]`.
    static func reference(_ name: String) throws -> (ids: Tensor, logits: Tensor) {
        let ids = try NPY.read("\(folder(name))/input_ids.npy")
        let logits = try NPY.read("\(folder(name))/logits.npy")
        return (Tensor(shape: ids.shape, scalars: ids.integers().map(Float.init)), Tensor(shape: logits.shape, scalars: logits.floats()))
    }

    @Test("tied and untied: logits within 1e-4 of transformers'", arguments: ["gpt2-tiny", "gpt2-tiny-untied"])
    func logits(_ name: String) throws {
        let model = try GPT2Checkpoint.read(folder: Self.folder(name))
        let (ids, expected) = try Self.reference(name)
        let logits = model.forward(ids)
        #expect(logits.shape == [2, 16, 256])
        let worst = zip(logits.scalars, expected.scalars).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4, "max |Δ| \(worst)")
        // The parameters transformers counts: a tied head is the token embedding, counted once.
        let count = model.trainableParameters.map(\.parameter.count).reduce(0, +)
        #expect(count == (name == "gpt2-tiny" ? 35_712 : 43_904))
        #expect((model.module(named: "head") is TiedHead) == (name == "gpt2-tiny"))
    }

    @Test("write then read gives the same model; a tied head stays tied (no lm_head.weight)", arguments: [true, false])
    func roundTrip(tied: Bool) throws {
        let model = try GPT2Checkpoint.read(folder: Self.folder(tied ? "gpt2-tiny" : "gpt2-tiny-untied"))
        let configuration = try GPT2Checkpoint.configuration(HuggingFaceConfig(path: "\(Self.folder("gpt2-tiny"))/config.json"))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("prune-gpt2-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try GPT2Checkpoint.write(model, configuration: configuration, to: out)
        let names = try Safetensors.read("\(out)/model.safetensors").tensors.map(\.name)
        #expect(names.contains("lm_head.weight") == !tied)
        #expect(names.contains("transformer.h.1.attn.c_attn.weight"))
        let again = try GPT2Checkpoint.read(folder: out)
        let ids = try Self.reference("gpt2-tiny").ids
        #expect(again.forward(ids) == model.forward(ids))
        // Prune's own file keeps the tie: one table, and the head rebuilt on it.
        let file = out + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try ModelFile.save(model, to: file)
        let loaded = try ModelFile.load(file).model
        #expect(loaded.forward(ids) == model.forward(ids))
        #expect((loaded.module(named: "head") is TiedHead) == tied)
        #expect(try Safetensors.read(file).tensors.contains { $0.name == "head.weight" } == !tied)
    }

    @Test("a missing layer, a wrong shape, an unknown tensor and an unknown model_type are named")
    func badCheckpoints() throws {
        let contents = try Safetensors.read("\(Self.folder("gpt2-tiny"))/model.safetensors")
        let configuration = try GPT2Checkpoint.configuration(HuggingFaceConfig(path: "\(Self.folder("gpt2-tiny"))/config.json"))
        var broken = contents
        broken.tensors.removeAll { $0.name == "transformer.h.1.mlp.c_fc.weight" }
        if let i = broken.tensors.firstIndex(where: { $0.name == "transformer.h.0.attn.c_attn.weight" }) {
            broken.tensors[i].tensor = Tensor.zeros([96, 32])   // stored as [out, in]: the wrong way round
        }
        broken.tensors.append(("transformer.h.0.attn.extra", Tensor.zeros([3])))
        let error = #expect(throws: FormatError.self) {
            try GPT2Checkpoint.load(broken, into: Graph.gptDecoder(configuration), path: "m.safetensors", layers: 2)
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("missing: 'h.1.mlp.c_fc.weight' [32, 128]"), "\(text)")
        #expect(text.contains("'h.0.attn.c_attn.weight' is [96, 32], the architecture needs [32, 96]"), "\(text)")
        #expect(text.contains("h.0.attn.extra"), "\(text)")

        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("prune-gpt2-config-\(UUID())").path
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        try #"{"model_type": "llama", "n_embd": 32}"#.write(toFile: "\(temporary)/config.json", atomically: true, encoding: .utf8)
        let config = #expect(throws: FormatError.self) { try GPT2Checkpoint.read(folder: temporary) }
        #expect(config?.description.contains("config field 'model_type' is 'llama'") == true)
    }
}
