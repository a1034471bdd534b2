import Foundation
import NeuralNetwork
import TensorCore

/// A Hugging Face model folder used as a model file: read with `ModelFile.load`, written with
/// `ModelFile.save`, so every command that takes a model takes a folder too.
///
/// - A BERT folder (all-MiniLM-L6-v2: `config.json` with `model_type` "bert",
///   `model.safetensors`, the tokenizer and the sentence-transformers files) is read as its
///   encoder with pooling, as `BertCheckpoint.read` builds it. It is written back as the same
///   folder: every file but the weights copied from the folder the model was read from, and
///   `model.safetensors` as Prune's model file, whose tensors carry `BertModel`'s names (pruned
///   entries exact zeros), plus the source's classification pooler (`pooler.*`, unused by
///   sentence embeddings, kept so that `BertModel` finds every tensor), and whose metadata adds
///   the masks and `"format": "pt"`, so that transformers and sentence-transformers load it and
///   Prune reads the masks back.
/// - A GPT-2 folder (`model_type` "gpt2") is read and written by `GPT2Checkpoint`; masks are
///   not kept (the weights' zeros are).
///
/// The folder is staged beside its destination and moved into place only once it reads back as
/// the library it is meant for would read it, so a failed write leaves nothing half-written.
public enum ModelFolder {
    /// The metadata key recording the folder a model was read from: writing a folder copies
    /// its tokenizer and configuration from there.
    public static let sourceKey = "source_folder"

    /// The weight files a folder may hold besides `model.safetensors`, which a written folder
    /// leaves out (its weights are the model's own).
    static let weightExtensions: Set<String> = ["safetensors", "bin", "h5", "msgpack", "onnx", "ot", "pt", "pth", "ckpt", "gguf"]

    /// Whether `path` is an existing folder (what `ModelFile.load` reads as a model folder).
    public static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Whether `ModelFile.save` writes `path` as a folder: an existing folder, or, for a model
    /// read from a folder (`metadata[sourceKey]`), a path that does not end in a weight file's
    /// extension (`pruned-minilm` and `minilm-0.5` are folders, `pruned.safetensors` and
    /// `pruned.onnx` files). Other models keep writing files whatever the name.
    public static func handles(_ path: String, metadata: [String: String]) -> Bool {
        if isFolder(path) { return true }
        return metadata[sourceKey] != nil && !FileManager.default.fileExists(atPath: path)
            && !weightExtensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// Reads the model a folder holds, recording the folder in the metadata (`sourceKey`).
    /// - Throws: `FormatError` naming the file and the field or tensor that is wrong: no
    ///   `config.json`, a `model_type` other than bert or gpt2, a missing or mis-shaped tensor.
    public static func load(_ folder: String) throws -> ModelFile.Loaded {
        let configPath = file("config.json", in: folder)
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw FormatError(path: folder, .unexpectedContent(expected: "a Hugging Face model folder (config.json and model.safetensors)",
                                                               found: "no config.json"))
        }
        var loaded: ModelFile.Loaded
        switch try modelType(of: folder) {
        case "bert":
            let weights = file("model.safetensors", in: folder)
            let contents = try Safetensors.read(weights)
            if contents.metadata[ModelFile.architectureKey] != nil {   // written by Prune: masks and all
                var encoder = contents
                encoder.tensors.removeAll { $0.name.hasPrefix(poolerPrefix) }
                loaded = try ModelFile.decode(encoder, path: weights)
            } else {
                loaded = ModelFile.Loaded(model: try BertCheckpoint.read(folder: folder, weights: contents).model, metadata: [:])
            }
        default:
            loaded = ModelFile.Loaded(model: try GPT2Checkpoint.read(folder: folder), metadata: [:])
        }
        loaded.metadata[sourceKey] = folder
        return loaded
    }

    /// Writes `model` as a folder like the one it was read from (`metadata[sourceKey]`).
    /// - Throws: `FormatError` when the model was not read from a folder, when its shapes no
    ///   longer fit the folder's `config.json` (a compacted encoder: save it as `.safetensors`),
    ///   or when the folder cannot be written; the destination is then left as it was.
    public static func save(_ model: Graph, to folder: String, metadata: [String: String]) throws {
        guard let source = metadata[sourceKey] else {
            throw FormatError(path: folder, .other("a model is written as a Hugging Face folder only when it was read from one (its config.json and tokenizer are copied from there): give a .safetensors or .onnx path"))
        }
        let type = try modelType(of: source)
        let fileManager = FileManager.default
        let destination = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
        let staging = destination + ".partial-\(getpid())"
        try? fileManager.removeItem(atPath: staging)
        do {
            try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true)
            try copySupportFiles(from: source, to: staging)
            var fields = metadata
            fields[sourceKey] = nil
            fields["format"] = "pt"   // transformers refuses safetensors without it
            do {
                if type == "bert" {
                    try recordHeads(of: model, inConfigAt: file("config.json", in: staging))
                    try saveEncoder(model, to: file("model.safetensors", in: staging), metadata: fields,
                                    pooler: file("model.safetensors", in: source))
                    _ = try BertCheckpoint.read(folder: staging)   // what transformers will find
                } else {
                    let configuration = try GPT2Checkpoint.configuration(HuggingFaceConfig(path: file("config.json", in: source)))
                    try GPT2Checkpoint.write(model, configuration: configuration, to: staging)
                    _ = try GPT2Checkpoint.read(folder: staging)
                }
            } catch let error as FormatError {
                throw FormatError(path: folder, .other("the model does not fit its folder's config.json (\(error)); a model compacted beyond what config.json records (a block with fewer feed-forward neurons, or a GPT-2 block with fewer heads) is saved as a .safetensors file"))
            }
            try replace(destination, with: staging)
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw error
        }
    }

    /// Sets `pruned_heads` in a staged `config.json` to the heads the encoder no longer has
    /// (a head-compacted model: fewer heads in some block than `num_attention_heads`), so that
    /// transformers shrinks those blocks before it loads the weights. transformers needs only
    /// how many heads each block lost; the indices written are the last ones of the block.
    static func recordHeads(of model: Graph, inConfigAt path: String) throws {
        let config = try HuggingFaceConfig(path: path)
        let heads = try config.integer("num_attention_heads", in: 1...4096)
        let kept = model.nodes.compactMap { ($0.module as? SelfAttention)?.heads }
        guard kept.contains(where: { $0 != heads }) || config.has("pruned_heads") else { return }
        let url = URL(fileURLWithPath: path)
        guard var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw FormatError(path: path, .corrupt(what: "not a JSON object"))
        }
        var pruned: [String: [Int]] = [:]
        for (block, count) in kept.enumerated() where count < heads { pruned[String(block)] = Array(count..<heads) }
        object["pruned_heads"] = pruned.isEmpty ? nil : pruned
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
    }

    /// The names of BertModel's classification pooler, which sentence embeddings do not use.
    static let poolerPrefix = "pooler."

    /// Writes an encoder as Prune's model file with the source's pooler tensors added (as they
    /// were, unpruned), so that transformers finds every tensor of BertModel.
    static func saveEncoder(_ model: Graph, to path: String, metadata: [String: String], pooler source: String) throws {
        let pooler = try Safetensors.read(source).tensors.compactMap { tensor -> (name: String, tensor: Tensor)? in
            let name = tensor.name.hasPrefix("bert.") ? String(tensor.name.dropFirst(5)) : tensor.name
            return name.hasPrefix(poolerPrefix) ? (name, tensor.tensor) : nil
        }
        try ModelFile.save(model, to: path, metadata: metadata, extraTensors: pooler)
    }

    /// The folder's `model_type`, bert or gpt2.
    static func modelType(of folder: String) throws -> String {
        try HuggingFaceConfig(path: file("config.json", in: folder)).require("model_type", oneOf: ["bert", "gpt2"])
    }

    /// Copies every file of `source` (subfolders too, such as `1_Pooling/`) but weights and
    /// hidden files.
    static func copySupportFiles(from source: String, to staging: String) throws {
        let fileManager = FileManager.default
        guard let entries = fileManager.enumerator(atPath: source) else {
            throw FormatError(path: source, .missingFolder(source))
        }
        for case let relative as String in entries {
            let name = (relative as NSString).lastPathComponent
            let from = file(relative, in: source), to = file(relative, in: staging)
            if isFolder(from) {
                // Hidden folders (huggingface_hub's `.cache/`) and other runtimes' weights stay behind.
                if name.hasPrefix(".") || ["onnx", "openvino"].contains(name) { entries.skipDescendants(); continue }
                try fileManager.createDirectory(atPath: to, withIntermediateDirectories: true)
            } else if !name.hasPrefix(".") && !weightExtensions.contains((name as NSString).pathExtension.lowercased()) {
                // The file itself, not a link to it (huggingface_hub's snapshots link into its blob cache).
                try fileManager.copyItem(atPath: URL(fileURLWithPath: from).resolvingSymlinksInPath().path, toPath: to)
            }
        }
    }

    /// Moves `staging` to `destination`, replacing a folder already there.
    static func replace(_ destination: String, with staging: String) throws {
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: destination) {
            guard isFolder(destination) else {
                throw FormatError(path: destination, .cannotWrite(step: "write a model folder", reason: "a file of that name exists"))
            }
            let old = destination + ".old-\(getpid())"
            try fileManager.moveItem(atPath: destination, toPath: old)
            do { try fileManager.moveItem(atPath: staging, toPath: destination) } catch {
                try? fileManager.moveItem(atPath: old, toPath: destination)
                throw error
            }
            try? fileManager.removeItem(atPath: old)
        } else {
            try fileManager.moveItem(atPath: staging, toPath: destination)
        }
    }

    static func file(_ name: String, in folder: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(name).path
    }
}
