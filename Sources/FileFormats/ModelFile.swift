import Foundation
import NeuralNetwork
import TensorCore

/// Prune's native model file: a safetensors file holding every parameter by its dotted
/// path (`fc1.weight`), the architecture as JSON in `__metadata__["prune.architecture"]`,
/// and masks.
///
/// A masked parameter is stored packed when that is smaller than dense (sparsity above
/// 1/32): `<path>.bitmask` (U8, the mask's bits in row-major order, least significant bit
/// first, zero padding bits) and `<path>.values` (F32, the kept entries in order), with the
/// shape in `__metadata__["prune.packed"]`. A pruned file is therefore smaller than the
/// dense one (LeNet-300-100 at 90%: about 13% of it). Stored dense (`Storage.dense`, or
/// sparsity below 1/32), a mask equal to "the non-zero entries" is implied by the zeros and
/// named in `__metadata__["prune.masked"]`; any other mask is a `<path>.mask` tensor.
public enum ModelFile {
    /// The metadata key holding the architecture JSON.
    public static let architectureKey = "prune.architecture"
    /// The metadata key holding the JSON list of masked parameter paths.
    public static let maskedKey = "prune.masked"
    /// The metadata key holding the format version.
    public static let versionKey = "prune.format"
    /// The metadata key holding the JSON object of packed parameter paths and their shapes.
    public static let packedKey = "prune.packed"

    /// How masked parameters are written.
    public enum Storage: Sendable {
        /// Bitmask plus kept values when smaller than dense (the default).
        case packed
        /// Every parameter as a dense F32 tensor, readable as-is by any safetensors user.
        case dense
    }

    /// Writes `model` to `path` atomically. `metadata` entries are stored alongside
    /// (keys starting with `prune.` are reserved).
    /// - Throws: `FormatError` when `metadata` uses a reserved key or the file cannot be written.
    ///   With `halfPrecision`, trainable parameters (and packed values) are written as F16:
    ///   half the bytes, values rounded to the nearest Float16; running statistics stay F32.
    public static func save(_ model: Graph, to path: String, metadata: [String: String] = [:],
                            storage: Storage = .packed, halfPrecision: Bool = false) throws {
        if let reserved = metadata.keys.sorted().first(where: { $0.hasPrefix("prune.") }) {
            throw FormatError(path: path, "metadata key '\(reserved)' is reserved for Prune; choose another name")
        }
        var tensors: [(name: String, tensor: Tensor)] = []
        var integers: [(name: String, tensor: Safetensors.IntegerTensor)] = []
        var masked: [String] = []
        var packed: [String: [Int]] = [:]
        for (p, parameter) in model.parameters {
            guard let mask = parameter.mask else {
                tensors.append((p, parameter.value))
                continue
            }
            let n = parameter.count
            let kept = mask.nonZeroCount()
            if storage == .packed, (n + 7) / 8 + 4 * kept < 4 * n {
                let (bitmask, values) = pack(parameter.value, mask: mask, kept: kept)
                tensors.append(("\(p).values", values))
                integers.append(("\(p).bitmask", bitmask))
                packed[p] = parameter.value.shape
                continue
            }
            tensors.append((p, parameter.value))
            masked.append(p)
            let implied = zip(mask.scalars, parameter.value.scalars).allSatisfy { ($0 != 0) == ($1 != 0) }
            if !implied { tensors.append(("\(p).mask", mask)) }
        }
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        meta[architectureKey] = String(decoding: try encoder.encode(model.spec), as: UTF8.self)
        if !masked.isEmpty { meta[maskedKey] = String(decoding: try encoder.encode(masked), as: UTF8.self) }
        if !packed.isEmpty { meta[packedKey] = String(decoding: try encoder.encode(packed), as: UTF8.self) }
        meta[versionKey] = "1"
        var half: Set<String> = []
        if halfPrecision {
            let trainable = Set(model.trainableParameters.map(\.path))
            half = Set(tensors.map(\.name).filter { trainable.contains($0) || ($0.hasSuffix(".values") && trainable.contains(String($0.dropLast(7)))) })
        }
        try Safetensors.write(Safetensors.Contents(tensors: tensors, integers: integers, metadata: meta, halfPrecision: half), to: path)
    }

    /// The bitmask (bit i = entry i kept, least significant bit first) and the kept values.
    static func pack(_ value: Tensor, mask: Tensor, kept: Int) -> (Safetensors.IntegerTensor, Tensor) {
        var bits = [UInt8](repeating: 0, count: (value.count + 7) / 8)
        var values = [Float]()
        values.reserveCapacity(kept)
        mask.withUnsafeBufferPointer { m in
            value.withUnsafeBufferPointer { v in
                for i in 0..<m.count where m[i] != 0 {
                    bits[i >> 3] |= 1 << UInt8(i & 7)
                    values.append(v[i])
                }
            }
        }
        return (Safetensors.IntegerTensor(shape: [bits.count], bytes: bits), Tensor(shape: [values.count], scalars: values))
    }

    /// The dense value and mask of a packed parameter `p` of `shape`, checked.
    static func unpack(_ p: String, shape: [Int], bitmask: Safetensors.IntegerTensor?, values: Tensor?,
                       path: String) throws -> (value: Tensor, mask: Tensor) {
        let n = shape.product
        guard let bitmask, bitmask.dtype == "U8", bitmask.shape == [(n + 7) / 8] else {
            throw FormatError(path: path, "packed parameter '\(p)' needs a U8 tensor '\(p).bitmask' of shape [\((n + 7) / 8)]")
        }
        let kept = bitmask.bytes.reduce(0) { $0 + $1.nonzeroBitCount }
        guard let values, values.shape == [kept] else {
            throw FormatError(path: path, "packed parameter '\(p)' needs an F32 tensor '\(p).values' of shape [\(kept)] (the bitmask keeps \(kept) entries)")
        }
        if n % 8 != 0, bitmask.bytes[n / 8] >> UInt8(n % 8) != 0 {
            throw FormatError(path: path, "'\(p).bitmask' sets bits past the \(n) entries of the parameter")
        }
        var value = Tensor.zeros(shape), mask = Tensor.zeros(shape)
        var next = 0
        value.withUnsafeMutableBufferPointer { v in
            mask.withUnsafeMutableBufferPointer { m in
                values.withUnsafeBufferPointer { kept in
                    for i in 0..<n where bitmask.bytes[i >> 3] >> UInt8(i & 7) & 1 != 0 {
                        v[i] = kept[next]
                        m[i] = 1
                        next += 1
                    }
                }
            }
        }
        return (value, mask)
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
        var packed: [String: [Int]] = [:]
        if let object = contents.metadata[packedKey] {
            guard let shapes = try? JSONDecoder().decode([String: [Int]].self, from: Data(object.utf8)) else {
                throw FormatError(path: path, "'\(packedKey)' metadata is not an object of names and shapes")
            }
            packed = shapes
        }
        var byName: [String: Tensor] = [:]
        for (name, tensor) in contents.tensors { byName[name] = tensor }
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.path, $0.parameter.value.shape) })
        func belongs(_ name: String) -> Bool {
            if shapes[name] != nil { return true }
            if name.hasSuffix(".mask") { return shapes[String(name.dropLast(5))] != nil }
            if name.hasSuffix(".values") { return packed[String(name.dropLast(7))] != nil }
            if name.hasSuffix(".bitmask") { return packed[String(name.dropLast(8))] != nil }
            return false
        }
        for name in byName.keys.sorted() + contents.integers.map(\.name) where !belongs(name) {
            throw FormatError(path: path, "tensor '\(name)' does not belong to any layer of the architecture")
        }
        for (p, shape) in packed.sorted(by: { $0.key < $1.key }) where shapes[p] != shape {
            throw FormatError(path: path, "'\(packedKey)' gives '\(p)' the shape \(shape) but the architecture has \(shapes[p].map { "\($0)" } ?? "no such parameter")")
        }
        for (p, parameter) in model.parameters {
            if packed[p] != nil {
                guard byName[p] == nil else { throw FormatError(path: path, "'\(p)' is stored both dense and packed") }
                let (value, mask) = try unpack(p, shape: parameter.value.shape, bitmask: contents.integer("\(p).bitmask"),
                                               values: byName["\(p).values"], path: path)
                guard allFinite(value) else { throw FormatError(path: path, "tensor '\(p).values' contains NaN or infinity") }
                parameter.value = value
                parameter.mask = mask
                continue
            }
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
