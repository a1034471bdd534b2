import Foundation
import NeuralNetwork
import TensorCore

/// A run's checkpoint on disk: one safetensors file holding the run's named tensors (F32,
/// bit-exact), the run's state as JSON in `__metadata__["prune.checkpoint"]`, the model's
/// architecture in `__metadata__["prune.architecture"]` (so a resume needs no model file)
/// and `"prune.format": "checkpoint-1"`. Other metadata entries are the caller's (the
/// command line keeps there what the final model file will carry).
///
/// FileFormats knows nothing of the pruning engine: the state is JSON text to it, and the
/// tensor names are the engine's (`model/fc1.weight`, `optimizer/fc1.weight`, …).
/// Writes are atomic (a temporary file in the same folder, then a rename), so a crash at
/// any moment leaves the previous checkpoint whole.
public enum CheckpointFile {
    /// The value of `__metadata__["prune.format"]` in a checkpoint.
    public static let format = "checkpoint-1"
    /// The metadata key holding the run's state as JSON.
    public static let stateKey = "prune.checkpoint"

    /// What a checkpoint file holds.
    public struct Contents {
        /// The run's state as JSON text.
        public var state: String
        /// The model's architecture.
        public var architecture: GraphSpec
        /// The run's tensors by name.
        public var tensors: [String: Tensor]
        /// The caller's metadata (keys must not start with `prune.`).
        public var metadata: [String: String]

        /// Creates contents.
        public init(state: String, architecture: GraphSpec, tensors: [String: Tensor], metadata: [String: String] = [:]) {
            self.state = state; self.architecture = architecture; self.tensors = tensors; self.metadata = metadata
        }
    }

    /// Writes `contents` to `path` atomically, tensors in name order.
    /// - Throws: `FormatError` for a reserved metadata key or when the file cannot be written.
    public static func write(_ contents: Contents, to path: String) throws {
        if let reserved = contents.metadata.keys.sorted().first(where: { $0.hasPrefix("prune.") }) {
            throw FormatError(path: path, .reservedMetadataKey(reserved))
        }
        var metadata = contents.metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        metadata[ModelFile.architectureKey] = String(decoding: try encoder.encode(contents.architecture), as: UTF8.self)
        metadata[ModelFile.versionKey] = format
        metadata[stateKey] = contents.state
        let tensors = contents.tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
        try Safetensors.write(Safetensors.Contents(tensors: tensors, metadata: metadata), to: path)
    }

    /// Reads a checkpoint written by `write`.
    /// - Throws: `FormatError` naming the file and what is wrong: not a checkpoint (a model
    ///   file, say), a missing or malformed entry, an integer tensor.
    public static func read(_ path: String) throws -> Contents {
        try decode(try Safetensors.read(path), path: path)
    }

    /// The checkpoint in safetensors contents read from `path` (see `read`).
    public static func decode(_ file: Safetensors.Contents, path: String) throws -> Contents {
        guard let version = file.metadata[ModelFile.versionKey] else { throw FormatError(path: path, .missingMetadata(key: ModelFile.versionKey)) }
        guard version == format else {
            throw FormatError(path: path, .unexpectedContent(expected: "a Prune checkpoint (\(ModelFile.versionKey) \(format))",
                                                             found: "\(ModelFile.versionKey) \(version)"))
        }
        guard let state = file.metadata[stateKey] else { throw FormatError(path: path, .missingMetadata(key: stateKey)) }
        guard let spec = file.metadata[ModelFile.architectureKey] else {
            throw FormatError(path: path, .missingMetadata(key: ModelFile.architectureKey))
        }
        let architecture: GraphSpec
        do {
            architecture = try JSONDecoder().decode(GraphSpec.self, from: Data(spec.utf8))
        } catch {
            throw FormatError(path: path, .invalidMetadata(key: ModelFile.architectureKey, expected: "an architecture", detail: "\(error)"))
        }
        if let integer = file.integers.first {
            throw FormatError(path: path, .malformedTensor(tensor: integer.name, problem: "is of dtype \(integer.tensor.dtype); a checkpoint holds F32 tensors only"))
        }
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in file.tensors { tensors[name] = tensor }
        return Contents(state: state, architecture: architecture, tensors: tensors,
                        metadata: file.metadata.filter { !$0.key.hasPrefix("prune.") })
    }
}

extension AtomicFile {
    /// Removes the temporary files that writes of `path` by processes no longer running
    /// left behind (`.NAME.tmp-PID-N`, see `write`): a process killed while writing leaves
    /// one. Files of running processes are kept. Failures are ignored.
    /// - Returns: the paths removed.
    @discardableResult
    public static func removeStaleTemporaries(of path: String) -> [String] {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = ".\(url.lastPathComponent).tmp-"
        var removed: [String] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = name.dropFirst(prefix.count).split(separator: "-").first.flatMap({ Int32($0) }), pid > 0,
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            let file = "\(folder)/\(name)"
            if (try? FileManager.default.removeItem(atPath: file)) != nil { removed.append(file) }
        }
        return removed
    }
}
