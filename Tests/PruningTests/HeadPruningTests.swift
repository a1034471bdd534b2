import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

/// Attention heads as dependency groups: a head's rows of Q, K and V with its columns of the
/// output projection, cut together and compacted into a smaller encoder with fewer heads.
@Suite("Attention heads as dependency groups")
struct HeadPruningTests {
    /// A padded two-block BERT encoder: 16 features in 4 heads of 4, a feed-forward of 32.
    static func encoder(seed: UInt64 = 6) throws -> Graph {
        try Graph.bertEncoder(TransformerConfiguration(vocabulary: 30, positions: 8, tokenTypes: 1, features: 16, heads: 4, layers: 2,
                                                       intermediate: 32, normalization: .post, causal: false, activation: .none,
                                                       epsilon: 1e-12, paddingID: 0), seed: seed)
    }

    /// Three sentences of 6, 3 and 8 tokens, padded with 0 to 8.
    static let tokens = Tensor(shape: [3, 8], scalars: [3, 7, 9, 11, 4, 2, 0, 0, 5, 8, 2, 0, 0, 0, 0, 0,
                                                        1, 12, 13, 14, 15, 16, 17, 2])

    @Test("BERT: each block's heads are one group (Q, K, V rows and the output projection's columns, ×4); FFN neurons are another")
    func groups() throws {
        let groups = Dependencies.groups(try Self.encoder())
        let p = "encoder.layer.0."
        let heads = try #require(groups.first { $0.isHeads && $0.name.hasPrefix(p) })
        #expect(heads.units == 4 && heads.isPrunable)
        #expect(heads.members.map(\.description) == [
            p + "attention.self.query (producer, ×4)", p + "attention.self.key (producer, ×4)",
            p + "attention.self.value (producer, ×4)", p + "attention.self (attention, ×4)",
            p + "attention.output.dense (consumer, ×4)",
        ])
        let ffn = try #require(groups.first { $0.name == p + "intermediate.dense" })
        #expect(ffn.units == 32 && ffn.isPrunable && !ffn.isHeads)
        #expect(ffn.members.map(\.description) == [p + "intermediate.dense (producer)", p + "output.dense (consumer)"])
        #expect(groups.filter(\.isHeads).count == 2)
        // The residual stream reaches LayerNorm, which the analysis does not split.
        let stream = try #require(groups.first { $0.name.contains(p + "attention.output.dense") })
        #expect(!stream.isPrunable)
    }

    /// A two-block GPT-2-style decoder: 16 features in 4 heads of 4, one fused QKV projection per block.
    static func decoder(seed: UInt64 = 2) throws -> Graph {
        try Graph.gptDecoder(TransformerConfiguration(vocabulary: 20, positions: 8, features: 16, heads: 4, layers: 2,
                                                      intermediate: 32, normalization: .pre, causal: true,
                                                      activation: .tanh, epsilon: 1e-5), seed: seed)
    }

    @Test("GPT-2's fused QKV projection is split by head: head j is its block of rows in each of Q, K and V")
    func fused() throws {
        let groups = Dependencies.groups(try Self.decoder())
        let heads = try #require(groups.first { $0.name == "blocks.0.attn.qkv" })
        #expect(heads.isPrunable && heads.isHeads && heads.units == 4)
        #expect(heads.members.map(\.description) == ["blocks.0.attn.qkv (producer, ×4, 3 parts)", "blocks.0.attn (attention, ×4)",
                                                     "blocks.0.attn.proj (consumer, ×4)"])
        #expect(heads.producers[0].indices(of: [1, 3], count: 4) == [4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31,
                                                                      36, 37, 38, 39, 44, 45, 46, 47])
        #expect(groups.filter(\.isHeads).count == 2)
    }

    @Test("a fused head cut masks the head's rows in all three parts, and compaction keeps the decoder's logits (≤ 1e-5)")
    func fusedCompaction() throws {
        let model = try Self.decoder()
        let plan = StructuredPlan(criterion: Magnitude(), threshold: .perLayer(["blocks.0.attn.qkv.weight": 0.5, "blocks.1.attn.qkv.weight": 0.25]),
                                  unit: .head)
        let cuts = try Structured.prune(model, with: plan)
        #expect(cuts.map(\.kept) == [2, 3])
        let mask = try #require(model.parameter(at: "blocks.0.attn.qkv.weight")?.mask)   // [48, 16]
        let cutHeads = (0..<4).filter { h in mask.scalars[(h * 64)..<((h + 1) * 64)].allSatisfy { $0 == 0 } }
        // Heads ranked by the mean |w| of their rows in Q, K and V and of their columns of the
        // output projection, each a quarter, as BERT's separate projections weigh them.
        let qkv = try #require(model.parameter(at: "blocks.0.attn.qkv.weight")).value.scalars
        let proj = try #require(model.parameter(at: "blocks.0.attn.proj.weight")).value.scalars   // [16, 16]
        let means = (0..<4).map { h in
            (0..<3).reduce(Float(0)) { sum, part in sum + qkv[((part * 4 + h) * 64)..<((part * 4 + h + 1) * 64)].reduce(0) { $0 + abs($1) } / 64 / 4 }
                + (0..<16).reduce(Float(0)) { sum, r in sum + (0..<4).reduce(0) { $0 + abs(proj[r * 16 + h * 4 + $1]) } } / 64 / 4
        }
        #expect(cutHeads == (0..<4).sorted { means[$0] < means[$1] }.prefix(2).sorted(), "means \(means)")
        // Cutting again to the same plan finds those heads already cut and keeps them.
        #expect(try Structured.prune(model, with: plan).map(\.kept) == [2, 3])
        #expect(model.parameter(at: "blocks.0.attn.qkv.weight")?.mask == mask)
        for part in 0..<3 {
            for h in 0..<4 {
                let rows = mask.scalars[((part * 4 + h) * 64)..<((part * 4 + h + 1) * 64)]
                #expect(rows.allSatisfy { $0 == (cutHeads.contains(h) ? 0 : 1) }, "part \(part) head \(h)")
            }
        }
        let tokens = Tensor(shape: [2, 8], scalars: [3, 7, 9, 11, 4, 2, 5, 1, 19, 8, 2, 0, 6, 6, 13, 12])
        let masked = model.forward(tokens, training: false)
        let small = try Structured.compact(model).model
        #expect(small.nodes.compactMap { ($0.module as? SelfAttention)?.heads } == [2, 3])
        #expect(small.parameter(at: "blocks.0.attn.qkv.weight")?.value.shape == [24, 16])
        #expect(small.parameter(at: "blocks.1.attn.proj.weight")?.value.shape == [16, 12])
        let out = small.forward(tokens, training: false)
        let worst = zip(out.scalars, masked.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(out.shape == masked.shape && worst <= 1e-5, "max |Δ| = \(worst)")
    }

    @Test("a head cut masks exactly the head's rows of Q, K and V; neuron granularity leaves heads alone")
    func masks() throws {
        let model = try Self.encoder()
        let cuts = try Structured.prune(model, with: StructuredPlan(criterion: Magnitude(), threshold: .sparsity(0.5), unit: .head))
        #expect(cuts.map(\.kept) == [2, 2] && cuts.map(\.units) == [4, 4])
        for block in 0..<2 {
            let p = "encoder.layer.\(block).attention."
            let query = try #require(model.parameter(at: p + "self.query.weight"))
            let mask = try #require(query.mask)
            // Heads ranked by the mean |w| of their Q, K and V rows and their output-projection
            // columns: the two lowest go.
            var means = [Float](repeating: 0, count: 4)
            for layer in ["query", "key", "value"] {
                let w = try #require(model.parameter(at: p + "self.\(layer).weight")).value.scalars
                for h in 0..<4 { means[h] += w[(h * 64)..<((h + 1) * 64)].reduce(0) { $0 + abs($1) } / 64 / 4 }
            }
            let o = try #require(model.parameter(at: p + "output.dense.weight")).value.scalars   // [16, 16]
            for h in 0..<4 {
                means[h] += (0..<16).reduce(0) { sum, r in sum + (0..<4).reduce(0) { $0 + abs(o[r * 16 + h * 4 + $1]) } } / 64 / 4
            }
            let cut = Set((0..<4).sorted { means[$0] < means[$1] }.prefix(2))
            for h in 0..<4 {
                let rows = mask.scalars[(h * 64)..<((h + 1) * 64)]
                #expect(rows.allSatisfy { $0 == (cut.contains(h) ? 0 : 1) }, "block \(block) head \(h)")
                for layer in ["key", "value"] {
                    let other = try #require(model.parameter(at: p + "self.\(layer).weight")?.mask)
                    #expect(Array(other.scalars[(h * 64)..<((h + 1) * 64)]) == Array(rows))
                }
            }
            #expect(model.parameter(at: p + "output.dense.weight")?.mask == nil)
        }
        let neurons = try Self.encoder()
        let neuronCuts = try Structured.prune(neurons, with: StructuredPlan(threshold: .sparsity(0.5), unit: .neuron))
        #expect(neuronCuts.map(\.group) == ["encoder.layer.0.intermediate.dense", "encoder.layer.1.intermediate.dense"])
    }

    @Test("compaction removes cut heads, a different count per block, and keeps the outputs (≤ 1e-5); the file loads on its own")
    func compaction() throws {
        let model = try Self.encoder()
        let plan = StructuredPlan(threshold: .perLayer(["encoder.layer.0.attention.self.query.weight": 0.25,
                                                        "encoder.layer.1.attention.self.key.weight": 0.75]), unit: .head)
        _ = try Structured.prune(model, with: plan)
        _ = try Structured.prune(model, with: StructuredPlan(threshold: .sparsity(0.5), unit: .neuron))
        let masked = model.forward(Self.tokens, training: false)
        let result = try Structured.compact(model)
        let small = result.model
        let attention = small.nodes.compactMap { $0.module as? SelfAttention }
        #expect(attention.map(\.heads) == [3, 1])
        #expect(small.parameter(at: "encoder.layer.0.attention.self.value.weight")?.value.shape == [12, 16])
        #expect(small.parameter(at: "encoder.layer.1.attention.output.dense.weight")?.value.shape == [16, 4])
        #expect(small.parameter(at: "encoder.layer.1.intermediate.dense.weight")?.value.shape == [16, 16])
        let out = small.forward(Self.tokens, training: false)
        #expect(out.shape == masked.shape)
        let worst = zip(out.scalars, masked.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "max |Δ| = \(worst)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("heads-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.save(small, to: path)
        let loaded = try ModelFile.load(path).model
        #expect(loaded.nodes.compactMap { ($0.module as? SelfAttention)?.heads } == [3, 1])
        #expect(loaded.forward(Self.tokens, training: false).scalars.map(\.bitPattern) == out.scalars.map(\.bitPattern))
    }

    @Test("MiniLM with heads cut and compacted is written as its folder with pruned_heads; the folder embeds as the masked model does (≤ 1e-5)")
    func miniLMFolder() throws {
        let folder = TestSupport.miniLMFolder
        try #require(FileManager.default.fileExists(atPath: "\(folder)/model.safetensors"), "all-MiniLM-L6-v2 is not unpacked at \(folder): run `make models`")
        let loaded = try ModelFile.load(folder)
        let model = loaded.model
        _ = try Structured.prune(model, with: StructuredPlan(criterion: Magnitude(), threshold: .perLayer([
            "encoder.layer.0.attention.self.query.weight": 0.5, "encoder.layer.3.attention.self.query.weight": 0.25,
        ]), unit: .head))
        let ids = try #require(miniLMReferenceTokens())
        let batch = paddedTokenBatch(Array(ids.prefix(12)))
        let masked = model.forward(batch, training: false)
        let small = try Structured.compact(model).model
        #expect(small.nodes.compactMap { ($0.module as? SelfAttention)?.heads } == [6, 12, 12, 9, 12, 12])
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("prune-heads-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ModelFile.save(small, to: out, metadata: loaded.metadata)
        let config = try HuggingFaceConfig(path: "\(out)/config.json")
        #expect(try config.keptHeads(layers: 6, heads: 12) == [6, 12, 12, 9, 12, 12])
        // What transformers reads: the config's smaller blocks and the plain tensors.
        let (plain, _) = try BertCheckpoint.read(folder: out)
        let written = plain.forward(batch, training: false)
        let worst = zip(written.scalars, masked.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "max |Δ| = \(worst)")
        #expect(plain.parameter(at: "encoder.layer.0.attention.self.key.weight")?.value.shape == [192, 384])
    }

    @Test("a config's pruned_heads gives the heads kept per block; a list that removes every head, or a block out of range, is refused by name")
    func prunedHeadsField() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("heads-config-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        func kept(_ field: String) throws -> [Int]? {
            try Data("{\"pruned_heads\": \(field)}".utf8).write(to: URL(fileURLWithPath: path))
            return try HuggingFaceConfig(path: path).keptHeads(layers: 3, heads: 4)
        }
        #expect(try kept("{\"0\": [1, 3], \"2\": [0]}") == [2, 4, 3])
        #expect(try kept("{}") == nil)
        for bad in ["{\"0\": [0, 1, 2, 3]}", "{\"3\": [1]}", "{\"1\": [4]}", "[1, 2]"] {
            let error = #expect(throws: FormatError.self) { _ = try kept(bad) }
            #expect(error?.description.contains("pruned_heads") == true, "\(bad): \(String(describing: error))")
        }
    }
}
