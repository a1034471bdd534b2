import Foundation
import NeuralNetwork

/// A Hugging Face `config.json` read field by field, so an error names the field that is
/// missing or wrong (`num_attention_heads`, `model_type`, …).
public struct HuggingFaceConfig {
    /// The file the fields came from.
    public let path: String
    private let fields: [String: Any]

    /// Reads `config.json` (or any JSON object) at `path`.
    /// - Throws: `FormatError` when the file is missing or is not a JSON object.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw FormatError(path: path, .corrupt(what: "not a JSON object"))
        }
        self.path = path
        self.fields = fields
    }

    /// Whether `field` is present (and not null).
    public func has(_ field: String) -> Bool { fields[field].map { !($0 is NSNull) } ?? false }

    /// The whole number at `field`, within `range`; `fallback` when absent and one is given.
    public func integer(_ field: String, in range: ClosedRange<Int> = 1...(1 << 20), fallback: Int? = nil) throws -> Int {
        guard has(field) else {
            if let fallback { return fallback }
            throw FormatError(path: path, .configField(field: field, problem: "is missing"))
        }
        guard let number = fields[field] as? NSNumber, !isBoolean(number),
              let value = Int(exactly: number.doubleValue), range.contains(value) else {
            throw FormatError(path: path, .configField(field: field, problem: "must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(describe(fields[field]))"))
        }
        return value
    }

    /// Heads kept per block under `pruned_heads` (`{"0": [1, 5], …}`: block → removed heads),
    /// or nil when no head was removed.
    /// - Throws: `FormatError` when the field is not such a map, names a block or head out of
    ///   range, or removes every head of a block.
    public func keptHeads(layers: Int, heads: Int) throws -> [Int]? {
        guard has("pruned_heads") else { return nil }
        let problem = FormatError(path: path, .configField(field: "pruned_heads", problem: "must map blocks 0..<\(layers) to lists of heads 0..<\(heads), keeping at least one, got \(describe(fields["pruned_heads"]))"))
        guard let map = fields["pruned_heads"] as? [String: Any] else { throw problem }
        var kept = [Int](repeating: heads, count: layers)
        for (key, value) in map {
            guard let block = Int(key), (0..<layers).contains(block), let list = value as? [NSNumber] else { throw problem }
            let removed = Set(list.map(\.intValue))
            guard removed.allSatisfy({ (0..<heads).contains($0) }), removed.count < heads else { throw problem }
            kept[block] = heads - removed.count
        }
        return kept.allSatisfy { $0 == heads } ? nil : kept
    }

    /// The positive number at `field`; `fallback` when absent.
    public func number(_ field: String, fallback: Double) throws -> Double {
        guard has(field) else { return fallback }
        guard let number = fields[field] as? NSNumber, !isBoolean(number),
              number.doubleValue.isFinite, number.doubleValue > 0 else {
            throw FormatError(path: path, .configField(field: field, problem: "must be a positive number, got \(describe(fields[field]))"))
        }
        return number.doubleValue
    }

    /// The string at `field`; `fallback` when absent and one is given.
    public func string(_ field: String, fallback: String? = nil) throws -> String {
        guard has(field) else {
            if let fallback { return fallback }
            throw FormatError(path: path, .configField(field: field, problem: "is missing"))
        }
        guard let value = fields[field] as? String else {
            throw FormatError(path: path, .configField(field: field, problem: "must be a string, got \(describe(fields[field]))"))
        }
        return value
    }

    /// The boolean at `field`; `fallback` when absent.
    public func bool(_ field: String, fallback: Bool) throws -> Bool {
        guard has(field) else { return fallback }
        guard let number = fields[field] as? NSNumber, isBoolean(number) else {
            throw FormatError(path: path, .configField(field: field, problem: "must be true or false, got \(describe(fields[field]))"))
        }
        return number.boolValue
    }

    /// Throws unless `field` holds one of `allowed`, naming them.
    public func require(_ field: String, oneOf allowed: [String], fallback: String? = nil) throws -> String {
        let value = try string(field, fallback: fallback)
        guard allowed.contains(value) else {
            throw FormatError(path: path, .configField(field: field, problem: "is '\(value)'; Prune reads \(allowed.map { "'\($0)'" }.joined(separator: ", "))"))
        }
        return value
    }

    /// JSON's true and false arrive as NSNumbers of the boolean class (on Linux and Darwin alike).
    private func isBoolean(_ number: NSNumber) -> Bool {
        ObjectIdentifier(type(of: number)) == ObjectIdentifier(type(of: NSNumber(value: true)))
    }

    private func describe(_ value: Any?) -> String {
        guard let value else { return "nothing" }
        if let s = value as? String { return "'\(s)'" }
        return "\(value)"
    }
}

extension TransformerConfiguration {
    /// A BERT encoder's configuration from a Hugging Face `config.json` (`model_type` "bert"):
    /// sizes, the activation (`gelu` exact; `gelu_new` and `gelu_pytorch_tanh` the tanh
    /// approximation), LayerNorm ε and the padding id.
    /// - Throws: `FormatError` naming the field that is missing, out of range or unsupported.
    public init(bertConfig config: HuggingFaceConfig) throws {
        _ = try config.require("model_type", oneOf: ["bert"])
        _ = try config.require("position_embedding_type", oneOf: ["absolute"], fallback: "absolute")
        let activation = try config.require("hidden_act", oneOf: ["gelu", "gelu_new", "gelu_pytorch_tanh"], fallback: "gelu")
        let features = try config.integer("hidden_size"), heads = try config.integer("num_attention_heads", in: 1...4096)
        guard features % heads == 0 else {
            throw FormatError(path: config.path, .configField(field: "num_attention_heads", problem: "(\(heads)) does not divide hidden_size \(features)"))
        }
        self.init(vocabulary: try config.integer("vocab_size"),
                  positions: try config.integer("max_position_embeddings", fallback: 512),
                  tokenTypes: try config.integer("type_vocab_size", in: 0...(1 << 20), fallback: 2),
                  features: features, heads: heads,
                  layers: try config.integer("num_hidden_layers", in: 1...4096),
                  intermediate: try config.integer("intermediate_size"),
                  normalization: .post, causal: false, activation: activation == "gelu" ? .none : .tanh,
                  epsilon: Float(try config.number("layer_norm_eps", fallback: 1e-12)),
                  paddingID: try config.integer("pad_token_id", in: 0...(1 << 20), fallback: 0))
        layerHeads = try config.keptHeads(layers: layers, heads: heads)
    }
}
