import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing
import TestSupport

/// all-MiniLM-L6-v2 as `make models` unpacks it, and sentence-transformers' outputs for 64
/// sentences (Tests/Reference/minilm, written by tools/sentence-reference).
enum MiniLM {
    static let folder = miniLMFolder
    static let reference = "\(referenceFolder)/minilm"

    /// The folder, or a failure saying how to get it.
    static func requireFolder() throws -> String {
        try #require(FileManager.default.fileExists(atPath: "\(folder)/model.safetensors"),
                     "all-MiniLM-L6-v2 is not unpacked at \(folder): run `make models`")
        return folder
    }

    /// The reference token ids of each sentence (with [CLS] and [SEP], truncated at 256).
    static func referenceTokens() throws -> [[Int32]] { try #require(miniLMReferenceTokens()) }

    /// The ids of `sentences` padded with 0 to the longest, as a `[N, T]` float batch.
    static func batch(_ ids: [[Int32]]) -> Tensor { paddedTokenBatch(ids) }

    /// The model, loaded once for the suite (reading 90 MB per test would dominate).
    nonisolated(unsafe) static var loaded: (model: Graph, settings: BertCheckpoint.SentenceSettings, seconds: Double)?
    static func model() throws -> (model: Graph, settings: BertCheckpoint.SentenceSettings, seconds: Double) {
        if let loaded { return loaded }
        let start = Date()
        let (model, settings) = try BertCheckpoint.read(folder: try requireFolder())
        loaded = (model, settings, Date().timeIntervalSince(start))
        return loaded!
    }
}

@Suite("all-MiniLM-L6-v2 loaded from its Hugging Face files, against sentence-transformers", .serialized)
struct MiniLMTests {
    @Test("the folder's settings: 256 tokens, mean pooling, L2-normalized; 22,565,376 parameters without the pooler")
    func settings() throws {
        let (model, settings, seconds) = try MiniLM.model()
        print("all-MiniLM-L6-v2 loaded in \(String(format: "%.3f", seconds)) s")
        #expect(settings == BertCheckpoint.SentenceSettings(maxLength: 256, pooling: true, normalize: true))
        #expect(model.inputShape == [256] && model.outputShape == [384])
        #expect(model.trainableParameters.map(\.parameter.count).reduce(0, +) == 22_565_376)
    }

    @Test("embeddings of all 64 sentences within 1e-4 of sentence-transformers', cosine ≥ 0.99999")
    func embeddings() throws {
        let model = try MiniLM.model().model
        let ids = try MiniLM.referenceTokens()
        let reference = try readNPY("\(MiniLM.reference)/embeddings.npy")
        #expect(reference.shape == [64, 384])
        var worst: Float = 0, lowestCosine: Float = 1
        // Batches of 32 padded to their longest, as sentence-transformers runs them.
        for start in stride(from: 0, to: ids.count, by: 32) {
            let rows = Array(ids[start..<min(start + 32, ids.count)])
            let y = model.forward(MiniLM.batch(rows))
            for n in 0..<rows.count {
                let ours = Array(y.scalars[(n * 384)..<((n + 1) * 384)])
                let theirs = Array(reference.scalars[((start + n) * 384)..<((start + n + 1) * 384)])
                worst = max(worst, zip(ours, theirs).map { abs($0 - $1) }.max()!)
                lowestCosine = min(lowestCosine, zip(ours, theirs).map { $0 * $1 }.reduce(0, +))
            }
        }
        print("MiniLM embeddings: max |Δ| \(worst), lowest cosine \(lowestCosine)")
        #expect(worst <= 1e-4)
        #expect(lowestCosine >= 0.99999)
    }

    @Test("hidden states after the embeddings and each of the 6 layers within 1e-4")
    func hiddenStates() throws {
        let model = try MiniLM.model().model
        let data = try #require(FileManager.default.contents(atPath: "\(MiniLM.reference)/hidden.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let entries = try #require(object["sentences"] as? [[String: Any]])
        let ids = try MiniLM.referenceTokens()
        let names = ["embeddings.LayerNorm"] + (0..<6).map { "encoder.layer.\($0).output.LayerNorm" }
        let nodes = names.map { name in model.nodes.firstIndex { $0.module.name == name }! }
        for entry in entries {
            let index = try #require(entry["index"] as? Int), file = try #require(entry["file"] as? String)
            let reference = try readNPY("\(MiniLM.reference)/\(file)")
            let t = ids[index].count
            #expect(reference.shape == [7, t, 384])
            var states: [Int: Tensor] = [:]
            _ = model.forward(MiniLM.batch([ids[index]]), observe: { i, y in if nodes.contains(i) { states[i] = y } })
            for (k, node) in nodes.enumerated() {
                let ours = try #require(states[node]).scalars
                let theirs = Array(reference.scalars[(k * t * 384)..<((k + 1) * t * 384)])
                let worst = zip(ours, theirs).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-4, "sentence \(index), \(names[k]): max |Δ| \(worst)")
            }
        }
    }

    @Test("a mismatched checkpoint is refused, naming each tensor; so is a config Prune cannot follow")
    func badCheckpoints() throws {
        let folder = try MiniLM.requireFolder()
        let contents = try Safetensors.read("\(folder)/model.safetensors")
        let model = try Graph.bertEncoder(TransformerConfiguration(bertConfig: HuggingFaceConfig(path: "\(folder)/config.json")))
        var broken = contents
        broken.tensors.removeAll { $0.name == "encoder.layer.3.attention.self.key.weight" }
        if let i = broken.tensors.firstIndex(where: { $0.name == "encoder.layer.5.output.dense.bias" }) {
            broken.tensors[i].tensor = Tensor.zeros([383])
        }
        let error = #expect(throws: FormatError.self) { try BertCheckpoint.load(broken, into: model, path: "model.safetensors") }
        #expect(error?.description.contains("missing: 'encoder.layer.3.attention.self.key.weight' [384, 384]") == true, "\(error!)")
        #expect(error?.description.contains("encoder.layer.5.output.dense.bias") == true)
        var ids = contents
        if let i = ids.integers.firstIndex(where: { $0.name == "embeddings.position_ids" }) {
            ids.integers[i].tensor.bytes[8] = 7   // position 1 claims to be 7
        }
        let positions = #expect(throws: FormatError.self) { try BertCheckpoint.load(ids, into: model, path: "m") }
        #expect(positions?.tensor == "embeddings.position_ids")

        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("prune-bert-\(UUID())")
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let config = temporary.appendingPathComponent("config.json").path
        for (json, field) in [(#"{"model_type": "gpt2", "hidden_size": 8}"#, "model_type"),
                              (#"{"model_type": "bert", "hidden_size": 384, "num_attention_heads": 5}"#, "num_attention_heads"),
                              (#"{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2, "hidden_act": "relu"}"#, "hidden_act"),
                              (#"{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2, "vocab_size": -3}"#, "vocab_size")] {
            try json.write(toFile: config, atomically: true, encoding: .utf8)
            let error = #expect(throws: FormatError.self) { try TransformerConfiguration(bertConfig: HuggingFaceConfig(path: config)) }
            #expect(error?.description.contains("config field '\(field)'") == true, "\(error.map { "\($0)" } ?? "no error")")
        }
    }

    @Test("from raw text: tokens identical to the reference on all 64 sentences, embeddings as sentence-transformers' (length-sorted batches)")
    func fromText() throws {
        let folder = try MiniLM.requireFolder()
        let data = try #require(FileManager.default.contents(atPath: "\(MiniLM.reference)/sentences.json"))
        let sentences = try #require(try JSONSerialization.jsonObject(with: data) as? [String])
        let tokenizer = try BertTokenizer(folder: folder)
        let reference = try MiniLM.referenceTokens()
        #expect(sentences.count == 64)
        for (i, sentence) in sentences.enumerated() {
            #expect(tokenizer.encode(sentence) == reference[i], "sentence \(i)")
        }
        let (model, settings, _) = try MiniLM.model()
        let embedder = SentenceEmbedder(tokenizer: tokenizer, model: model, settings: settings)
        var batches: [Int] = []
        let ours = embedder.embed(sentences, batchSize: 32) { batches.append($0) }
        #expect(batches == [32, 64])
        let theirs = try readNPY("\(MiniLM.reference)/embeddings.npy")
        let worst = zip(ours.scalars, theirs.scalars).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4, "max |Δ| \(worst)")
    }
}
