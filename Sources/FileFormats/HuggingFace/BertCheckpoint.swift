import Foundation
import NeuralNetwork
import TensorCore

/// A BERT encoder in a Hugging Face / sentence-transformers model folder (all-MiniLM-L6-v2's
/// layout): `config.json`, `model.safetensors` with `BertModel`'s tensor names, and the
/// sentence-transformers files that say how token states become a sentence embedding
/// (`modules.json`, `1_Pooling/config.json`, `sentence_bert_config.json`).
public enum BertCheckpoint {
    /// How the folder turns token states into an embedding.
    public struct SentenceSettings: Equatable, Sendable {
        /// The longest input in tokens, `[CLS]` and `[SEP]` included (`max_seq_length`).
        public var maxLength: Int
        /// Mean pooling over real tokens (the only pooling Prune reads); false for token states.
        public var pooling: Bool
        /// Whether the embedding is L2-normalized (a `Normalize` module in `modules.json`).
        public var normalize: Bool
        /// Creates settings.
        public init(maxLength: Int, pooling: Bool, normalize: Bool) {
            self.maxLength = maxLength; self.pooling = pooling; self.normalize = normalize
        }
    }

    /// Reads the folder's settings, defaulting to token states over every position when the
    /// sentence-transformers files are absent.
    /// - Throws: `FormatError` naming a field that Prune cannot follow (a pooling other than
    ///   mean, a `max_seq_length` beyond the positions).
    public static func settings(folder: String, positions: Int) throws -> SentenceSettings {
        let root = URL(fileURLWithPath: folder)
        var settings = SentenceSettings(maxLength: positions, pooling: false, normalize: false)
        let sentenceConfig = root.appendingPathComponent("sentence_bert_config.json").path
        if FileManager.default.fileExists(atPath: sentenceConfig) {
            settings.maxLength = try HuggingFaceConfig(path: sentenceConfig).integer("max_seq_length", in: 2...positions)
        }
        let modules = root.appendingPathComponent("modules.json").path
        if FileManager.default.fileExists(atPath: modules) {
            guard let data = FileManager.default.contents(atPath: modules),
                  let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
                throw FormatError(path: modules, .corrupt(what: "not a JSON list of modules"))
            }
            let types = list.compactMap { $0["type"] as? String }
            settings.pooling = types.contains { $0.hasSuffix(".Pooling") }
            settings.normalize = types.contains { $0.hasSuffix(".Normalize") }
            if let pooling = list.first(where: { ($0["type"] as? String)?.hasSuffix(".Pooling") == true }),
               let path = pooling["path"] as? String {
                let poolingConfig = root.appendingPathComponent(path).appendingPathComponent("config.json").path
                let config = try HuggingFaceConfig(path: poolingConfig)
                guard try config.bool("pooling_mode_mean_tokens", fallback: false) else {
                    throw FormatError(path: poolingConfig, .configField(field: "pooling_mode_mean_tokens", problem: "is not true; Prune pools by the mean of the tokens only"))
                }
                for other in ["pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                              "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]
                where try config.bool(other, fallback: false) {
                    throw FormatError(path: poolingConfig, .configField(field: other, problem: "is true; Prune pools by the mean of the tokens only"))
                }
            }
        }
        return settings
    }

    /// Builds the encoder the folder describes and loads its weights.
    ///
    /// The state dict is read strictly (every tensor of the encoder present with its shape,
    /// nothing unknown), with three allowances: a `bert.` prefix on every name is removed;
    /// `embeddings.position_ids` must hold 0, 1, 2, … and is then dropped; the `pooler.*`
    /// tensors (BertModel's classification pooler, which sentence embeddings do not use) are
    /// dropped.
    /// - Parameter pooling: overrides the folder's settings: false gives the last hidden states.
    /// - Throws: `FormatError` naming the config field or every tensor that does not fit.
    /// - Parameter weights: the folder's `model.safetensors` when the caller has read it already.
    public static func read(folder: String, pooling: Bool? = nil,
                            weights contents: Safetensors.Contents? = nil) throws -> (model: Graph, settings: SentenceSettings) {
        let root = URL(fileURLWithPath: folder)
        guard FileManager.default.fileExists(atPath: folder) else { throw FormatError(path: folder, .missingFolder(folder)) }
        let configuration = try TransformerConfiguration(bertConfig: HuggingFaceConfig(path: root.appendingPathComponent("config.json").path))
        var settings = try Self.settings(folder: folder, positions: configuration.positions)
        if let pooling { settings.pooling = pooling; settings.normalize = pooling && settings.normalize }
        let model = try Graph.bertEncoder(configuration, pooling: settings.pooling, normalize: settings.normalize,
                                          sequenceLength: settings.maxLength, seed: nil)
        let weights = root.appendingPathComponent("model.safetensors").path
        try load(try contents ?? Safetensors.read(weights), into: model, path: weights)
        return (model, settings)
    }

    /// Loads a `BertModel` state dict into a `Graph.bertEncoder`, with the allowances of `read`.
    /// - Throws: `FormatError` listing every tensor that does not fit.
    public static func load(_ contents: Safetensors.Contents, into model: Graph, path: String) throws {
        var contents = contents
        let names = contents.tensors.map(\.name) + contents.integers.map(\.name)
        if !names.isEmpty, names.allSatisfy({ $0.hasPrefix("bert.") }) {
            contents.tensors = contents.tensors.map { (String($0.name.dropFirst(5)), $0.tensor) }
            contents.integers = contents.integers.map { (String($0.name.dropFirst(5)), $0.tensor) }
            contents.storedTypes = Dictionary(uniqueKeysWithValues: contents.storedTypes.map {
                ($0.key.hasPrefix("bert.") ? String($0.key.dropFirst(5)) : $0.key, $0.value)
            })
        }
        if let ids = contents.integer("embeddings.position_ids") {
            let values = ids.dtype == "I64" ? ModelFile.integers(ids, as: Int64.self).map(Int.init) : []
            guard values.count == ids.shape.reduce(1, *), values.enumerated().allSatisfy({ $0.offset == $0.element }) else {
                throw FormatError(path: path, .malformedTensor(tensor: "embeddings.position_ids", problem: "must hold 0, 1, 2, … as I64 (it is \(ids.dtype) \(ids.shape))"))
            }
            contents.integers.removeAll { $0.name == "embeddings.position_ids" }
        }
        contents.tensors.removeAll { $0.name.hasPrefix("pooler.") }
        try StateDict.load(contents, into: model, path: path, architecture: "a BERT encoder (BertModel)")
    }
}
