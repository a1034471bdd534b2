import Foundation
import NeuralNetwork
import TensorCore

/// Prune's native model file: a safetensors file holding every parameter by its dotted
/// path (`fc1.weight`), the architecture as JSON in `__metadata__["prune.architecture"]`,
/// and masks.
///
/// A mask equal to "the non-zero entries" is implied by the zeros and stored only as the
/// path in `__metadata__["prune.masked"]`, so a pruned file is as large as the dense one
/// apart from those names in the header; any other mask is stored as a `<path>.mask` tensor.
public enum ModelFile {
    /// The metadata key holding the architecture JSON.
    public static let architectureKey = "prune.architecture"
    /// The metadata key holding the JSON list of masked parameter paths.
    public static let maskedKey = "prune.masked"
    /// The metadata key holding the format version.
    public static let versionKey = "prune.format"

    /// Writes `model` to `path` atomically. `metadata` entries are stored alongside
    /// (keys starting with `prune.` are reserved).
    /// - Throws: `FormatError` when `metadata` uses a reserved key or the file cannot be written.
    public static func save(_ model: Graph, to path: String, metadata: [String: String] = [:]) throws {
        if let reserved = metadata.keys.sorted().first(where: { $0.hasPrefix("prune.") }) {
            throw FormatError(path: path, "metadata key '\(reserved)' is reserved for Prune; choose another name")
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        var masked: [String] = []
        for (p, parameter) in model.parameters {
            tensors.append((p, parameter.value))
            if let mask = parameter.mask {
                masked.append(p)
                let implied = zip(mask.scalars, parameter.value.scalars).allSatisfy { ($0 != 0) == ($1 != 0) }
                if !implied { tensors.append(("\(p).mask", mask)) }
            }
        }
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        meta[architectureKey] = String(decoding: try encoder.encode(model.spec), as: UTF8.self)
        meta[maskedKey] = String(decoding: try encoder.encode(masked), as: UTF8.self)
        meta[versionKey] = "1"
        try Safetensors.write(Safetensors.Contents(tensors: tensors, metadata: meta), to: path)
    }

    /// A loaded model and the file's metadata.
    public struct Loaded {
        /// The model with the file's weights and masks.
        public var model: Graph
        /// All `__metadata__` entries.
        public var metadata: [String: String]
    }

    /// Reads a model file written by `save`.
    /// - Throws: `FormatError` naming the file and the tensor or field that is wrong.
    public static func load(_ path: String) throws -> Loaded {
        try decode(try Safetensors.read(path), path: path)
    }

    /// Builds the model held by already-decoded safetensors contents; `path` names the
    /// source in errors.
    /// - Throws: `FormatError` naming the tensor or field that is wrong.
    public static func decode(_ contents: Safetensors.Contents, path: String) throws -> Loaded {
        guard let architecture = contents.metadata[architectureKey] else {
            throw FormatError(path: path, "not a Prune model file: the metadata has no '\(architectureKey)' entry")
        }
        let spec: GraphSpec
        do {
            spec = try JSONDecoder().decode(GraphSpec.self, from: Data(architecture.utf8))
        } catch {
            throw FormatError(path: path, "the '\(architectureKey)' metadata is not a valid architecture: \(error)")
        }
        let model: Graph
        do {
            model = try spec.makeGraph()
        } catch {
            throw FormatError(path: path, "the '\(architectureKey)' metadata describes an architecture that cannot be built: \(error)")
        }
        var masked: Set<String> = []
        if let list = contents.metadata[maskedKey] {
            guard let names = try? JSONDecoder().decode([String].self, from: Data(list.utf8)) else {
                throw FormatError(path: path, "'\(maskedKey)' metadata is not a list of names")
            }
            masked = Set(names)
        }
        var byName: [String: Tensor] = [:]
        for (name, tensor) in contents.tensors { byName[name] = tensor }
        let known = Set(model.parameters.map(\.path))
        for name in byName.keys where !known.contains(name) && !(name.hasSuffix(".mask") && known.contains(String(name.dropLast(5)))) {
            throw FormatError(path: path, "tensor '\(name)' does not belong to any layer of the architecture")
        }
        for (p, parameter) in model.parameters {
            guard let value = byName[p] else { throw FormatError(path: path, "tensor '\(p)' is missing") }
            guard value.shape == parameter.value.shape else {
                throw FormatError(path: path, "tensor '\(p)' has shape \(value.shape) but the architecture needs \(parameter.value.shape)")
            }
            guard allFinite(value) else { throw FormatError(path: path, "tensor '\(p)' contains NaN or infinity") }
            parameter.value = value
            if let mask = byName["\(p).mask"] {
                guard mask.shape == value.shape, mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
                    throw FormatError(path: path, "mask '\(p).mask' must be 0/1 values of shape \(value.shape)")
                }
                parameter.mask = mask
            } else if masked.contains(p) {
                parameter.mask = value.map { $0 != 0 ? 1 : 0 }
            }
        }
        return Loaded(model: model, metadata: contents.metadata)
    }
}
