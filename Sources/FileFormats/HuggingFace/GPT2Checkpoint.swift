import Foundation
import NeuralNetwork
import TensorCore

/// Hugging Face's GPT-2 layout (`GPT2LMHeadModel` saved with `save_pretrained`), read into and
/// written from Prune's `Graph.gptDecoder`.
///
/// The layouts differ in names and in one orientation: GPT-2's `Conv1D` stores weights `[in,
/// out]` (`c_attn`, `c_proj`, `c_fc`), where Prune's `Dense` stores `[out, in]`; they are
/// transposed on the way in and out. Names may carry a `transformer.` prefix (models saved from
/// `GPT2LMHeadModel`) or not (OpenAI's `gpt2`); the causal-mask buffers of older files
/// (`attn.bias`, `attn.masked_bias`) are skipped. A tied head (no `lm_head.weight`, as GPT-2 ties
/// it to `wte`) is read as a `TiedHead` on the token embedding, and written tied, as is a head
/// whose own weight equals the embedding.
/// Prune's own gpt-tiny files keep Prune's names (`blocks.0.attn.qkv.weight`, `[out, in]`).
public enum GPT2Checkpoint {
    /// Prune's name of each GPT-2 tensor (without prefix), and whether it is a transposed `Conv1D` weight.
    static func mapping(layers: Int) -> [(gpt2: String, prune: String, transposed: Bool)] {
        var m: [(String, String, Bool)] = [("wte.weight", "tok_emb.weight", false), ("wpe.weight", "pos_emb.weight", false)]
        for i in 0..<layers {
            let (h, b) = ("h.\(i).", "blocks.\(i).")
            m += [
                (h + "ln_1.weight", b + "ln1.weight", false), (h + "ln_1.bias", b + "ln1.bias", false),
                (h + "attn.c_attn.weight", b + "attn.qkv.weight", true), (h + "attn.c_attn.bias", b + "attn.qkv.bias", false),
                (h + "attn.c_proj.weight", b + "attn.proj.weight", true), (h + "attn.c_proj.bias", b + "attn.proj.bias", false),
                (h + "ln_2.weight", b + "ln2.weight", false), (h + "ln_2.bias", b + "ln2.bias", false),
                (h + "mlp.c_fc.weight", b + "mlp.fc.weight", true), (h + "mlp.c_fc.bias", b + "mlp.fc.bias", false),
                (h + "mlp.c_proj.weight", b + "mlp.proj.weight", true), (h + "mlp.c_proj.bias", b + "mlp.proj.bias", false),
            ]
        }
        m += [("ln_f.weight", "ln_f.weight", false), ("ln_f.bias", "ln_f.bias", false)]
        return m.map { (gpt2: $0.0, prune: $0.1, transposed: $0.2) }
    }

    /// The decoder a GPT-2 `config.json` describes.
    /// - Throws: `FormatError` naming the field that is missing, out of range or unsupported.
    public static func configuration(_ config: HuggingFaceConfig) throws -> TransformerConfiguration {
        _ = try config.require("model_type", oneOf: ["gpt2"])
        let activation = try config.require("activation_function", oneOf: ["gelu_new", "gelu_pytorch_tanh", "gelu"], fallback: "gelu_new")
        let features = try config.integer("n_embd"), heads = try config.integer("n_head", in: 1...4096)
        guard features % heads == 0 else {
            throw FormatError(path: config.path, .configField(field: "n_head", problem: "(\(heads)) does not divide n_embd \(features)"))
        }
        for flag in ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"] where try config.bool(flag, fallback: false) {
            throw FormatError(path: config.path, .configField(field: flag, problem: "is true; Prune reads GPT-2's standard attention only"))
        }
        return TransformerConfiguration(
            vocabulary: try config.integer("vocab_size"), positions: try config.integer("n_positions"), features: features,
            heads: heads, layers: try config.integer("n_layer", in: 1...4096),
            intermediate: config.has("n_inner") ? try config.integer("n_inner") : 4 * features,
            normalization: .pre, causal: true, activation: activation == "gelu" ? .none : .tanh,
            epsilon: Float(try config.number("layer_norm_epsilon", fallback: 1e-5)))
    }

    /// Reads a GPT-2 folder (`config.json`, `model.safetensors`) into a `Graph.gptDecoder`.
    /// - Throws: `FormatError` naming the config field, or listing every tensor that is missing,
    ///   mis-shaped or unknown.
    public static func read(folder: String) throws -> Graph {
        let root = URL(fileURLWithPath: folder)
        guard FileManager.default.fileExists(atPath: folder) else { throw FormatError(path: folder, .missingFolder(folder)) }
        let c = try configuration(HuggingFaceConfig(path: root.appendingPathComponent("config.json").path))
        let weights = root.appendingPathComponent("model.safetensors").path
        let contents = try Safetensors.read(weights)
        let model = try Graph.gptDecoder(c, seed: nil, tiedHead: !contents.tensors.contains { $0.name == "lm_head.weight" })
        try load(contents, into: model, path: weights, layers: c.layers)
        return model
    }

    /// Loads GPT-2 tensors into a `Graph.gptDecoder` of `layers` blocks.
    /// - Throws: `FormatError` listing every tensor that does not fit.
    public static func load(_ contents: Safetensors.Contents, into model: Graph, path: String, layers: Int) throws {
        var byName: [String: Tensor] = [:]
        for (name, tensor) in contents.tensors {
            let bare = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            if bare.hasSuffix(".attn.bias") || bare.hasSuffix(".attn.masked_bias") { continue }   // causal-mask buffers
            byName[bare] = tensor
        }
        var renamed = Safetensors.Contents(tensors: [])
        var problems: [TensorProblem] = []
        for m in mapping(layers: layers) {
            let needed = model.parameter(at: m.prune)?.value.shape ?? []
            let stored = m.transposed ? Array(needed.reversed()) : needed   // as the file keeps it
            guard let tensor = byName.removeValue(forKey: m.gpt2) else {
                problems.append(.missing(tensor: m.gpt2, expected: stored)); continue
            }
            guard tensor.shape == stored else {
                problems.append(.wrongShape(tensor: m.gpt2, found: tensor.shape, expected: stored)); continue
            }
            renamed.tensors.append((m.prune, m.transposed ? transposed(tensor) : tensor))
        }
        let tied = model.module(named: "head") is TiedHead
        if let head = byName.removeValue(forKey: "lm_head.weight") {
            if tied {   // a head of its own for a tied model: unexpected
                problems.append(.unexpected(tensor: "lm_head.weight", shape: head.shape, dtype: contents.storedTypes["lm_head.weight"] ?? "F32"))
            } else {
                renamed.tensors.append(("head.weight", head))
            }
        } else if !tied, let embedding = renamed.tensors.first(where: { $0.name == "tok_emb.weight" }) {
            renamed.tensors.append(("head.weight", embedding.tensor))   // an untied model starts from the tied values
        }
        for (name, tensor) in byName.sorted(by: { $0.key < $1.key }) {
            problems.append(.unexpected(tensor: name, shape: tensor.shape, dtype: contents.storedTypes[name] ?? "F32"))
        }
        guard problems.isEmpty else {
            throw FormatError(path: path, .stateDictMismatch(architecture: "a GPT-2 model (GPT2LMHeadModel)", problems: problems))
        }
        try StateDict.load(renamed, into: model, path: path, architecture: "a GPT-2 model (GPT2LMHeadModel)")
    }

    /// Writes `model` (a `Graph.gptDecoder`) as a GPT-2 folder: `config.json` and
    /// `model.safetensors` with `transformer.` names and `[in, out]` Conv1D weights; the head is
    /// written as `lm_head.weight` unless it equals the token embedding (then it is tied).
    /// - Throws: `FormatError` when the folder cannot be written or the model is not a GPT decoder.
    public static func write(_ model: Graph, configuration c: TransformerConfiguration, to folder: String) throws {
        var tensors: [(name: String, tensor: Tensor)] = []
        for m in mapping(layers: c.layers) {
            guard let p = model.parameter(at: m.prune) else {
                throw FormatError(path: folder, .other("the model has no '\(m.prune)': only a GPT decoder (Graph.gptDecoder) can be written as GPT-2"))
            }
            tensors.append(("transformer." + m.gpt2, m.transposed ? transposed(p.value) : p.value))
        }
        let head = model.parameter(at: "head.weight")?.value, embedding = model.parameter(at: "tok_emb.weight")?.value
        let tied = model.module(named: "head") is TiedHead || head == embedding
        if let head, !tied { tensors.append(("lm_head.weight", head)) }
        let config: [String: Any] = [
            "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": c.vocabulary, "n_positions": c.positions,
            "n_embd": c.features, "n_layer": c.layers, "n_head": c.heads, "n_inner": c.intermediate,
            "activation_function": c.activation == "tanh" ? "gelu_new" : "gelu", "layer_norm_epsilon": Double(c.epsilon),
            "tie_word_embeddings": tied,
        ]
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json, to: URL(fileURLWithPath: folder).appendingPathComponent("config.json").path)
        try Safetensors.write(Safetensors.Contents(tensors: tensors, metadata: ["format": "pt"]),
                              to: URL(fileURLWithPath: folder).appendingPathComponent("model.safetensors").path)
    }

    private static func transposed(_ t: Tensor) -> Tensor {
        let (rows, columns) = (t.shape[0], t.shape[1])
        var out = Tensor.zeros([columns, rows])
        for r in 0..<rows { for c in 0..<columns { out.scalars[c * rows + r] = t.scalars[r * columns + c] } }
        return out
    }
}
