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
///
/// `Storage.sparse` writes each weight that sparse inference will use (a Dense layer's,
/// keeping at most `csrMaximumDensity` of its entries) in whichever is smaller of the
/// packed form and CSR (smaller below about 1/16 density):
/// `<path>.csr_values` (F32 or F16), `<path>.csr_columns` (U16 when the matrix is at most
/// 65,536 wide, else U32) and `<path>.csr_row_starts` (I32, rows + 1 offsets), with the
/// shape in `__metadata__["prune.csr"]`. `load(_:sparse: true)` builds those layers, and
/// the packed Dense weights keeping at most `csrMaximumDensity`, as `SparseDense` straight
/// from the arrays (bits to CSR), never making the dense matrix.
public enum ModelFile {
    /// The metadata key holding the architecture JSON.
    public static let architectureKey = "prune.architecture"
    /// The metadata key holding the JSON list of masked parameter paths.
    public static let maskedKey = "prune.masked"
    /// The metadata key holding the format version.
    public static let versionKey = "prune.format"
    /// The metadata key holding the JSON object of packed parameter paths and their shapes.
    public static let packedKey = "prune.packed"
    /// The metadata key holding the JSON object of CSR parameter paths and their shapes.
    public static let csrKey = "prune.csr"
    /// `Storage.sparse` writes a Dense weight as CSR when it keeps at most this fraction of
    /// its entries (the batch-1 crossover of the sparse kernels; denser ones are packed).
    public static let csrMaximumDensity = 0.3

    /// How masked parameters are written.
    public enum Storage: Sendable {
        /// Bitmask plus kept values when smaller than dense (the default).
        case packed
        /// Every parameter as a dense F32 tensor, readable as-is by any safetensors user.
        case dense
        /// Sparse Dense weights as CSR arrays (runnable without densifying), other masked
        /// parameters packed.
        case sparse
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
        var csr: [String: [Int]] = [:]
        for (p, parameter) in model.parameters {
            // A pruned (masked) Dense weight; an unmasked one stays dense, so that loading
            // it back does not add a mask it never had.
            if storage == .sparse, let mask = parameter.mask, let (layer, name) = split(p), name == "weight",
               let module = model.module(named: layer), module is Dense || module is SparseDense {
                let kept = mask.nonZeroCount()
                let (rows, columns) = (parameter.value.shape[0], parameter.value.shape[1])
                let valueBytes = halfPrecision ? 2 : 4
                let csrBytes = kept * (valueBytes + (columns <= 65_536 ? 2 : 4)) + 4 * (rows + 1)
                let bitmaskBytes = (parameter.count + 7) / 8 + kept * valueBytes
                // Both forms load straight into a sparse layer: write the smaller one.
                if Double(kept) <= csrMaximumDensity * Double(parameter.count), csrBytes <= bitmaskBytes {
                    let matrix = (module as? SparseDense)?.weight ?? CSRMatrix(parameter.value, mask: mask)
                    tensors.append(("\(p).csr_values", Tensor(shape: [matrix.values.count], scalars: matrix.values)))
                    integers.append(("\(p).csr_columns", integerTensor(matrix.columnIndices)))
                    integers.append(("\(p).csr_row_starts", Safetensors.IntegerTensor(
                        dtype: "I32", shape: [matrix.rowStarts.count], bytes: littleEndianBytes(matrix.rowStarts))))
                    csr[p] = parameter.value.shape
                    continue
                }
            }
            guard let mask = parameter.mask else {
                tensors.append((p, parameter.value))
                continue
            }
            let n = parameter.count
            let kept = mask.nonZeroCount()
            if storage != .dense, (n + 7) / 8 + 4 * kept < 4 * n {
                let (bitmask, values) = pack(parameter.value, mask: mask)
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
        if !csr.isEmpty { meta[csrKey] = String(decoding: try encoder.encode(csr), as: UTF8.self) }
        meta[versionKey] = "1"
        var half: Set<String> = []
        if halfPrecision {
            let trainable = Set(model.trainableParameters.map(\.path))
            half = Set(tensors.map(\.name).filter { name in
                trainable.contains(name) || [".values", ".csr_values"].contains { suffix in
                    name.hasSuffix(suffix) && trainable.contains(String(name.dropLast(suffix.count)))
                }
            })
        }
        try Safetensors.write(Safetensors.Contents(tensors: tensors, integers: integers, metadata: meta, halfPrecision: half), to: path)
    }

    /// `("fc1", "weight")` for `"fc1.weight"`.
    static func split(_ path: String) -> (layer: String, name: String)? {
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return (String(path[..<dot]), String(path[path.index(after: dot)...]))
    }

    static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    static func integerTensor(_ indices: CSRMatrix.ColumnIndices) -> Safetensors.IntegerTensor {
        switch indices {
        case let .narrow(c): return Safetensors.IntegerTensor(dtype: "U16", shape: [c.count], bytes: littleEndianBytes(c))
        case let .wide(c): return Safetensors.IntegerTensor(dtype: "U32", shape: [c.count], bytes: littleEndianBytes(c))
        }
    }

    static func integers<T: FixedWidthInteger>(_ tensor: Safetensors.IntegerTensor, as _: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        return (0..<tensor.bytes.count / size).map { i in
            var v: T = 0
            for b in 0..<size { v |= T(tensor.bytes[i * size + b]) << (8 * b) }
            return v
        }
    }

    /// The CSR matrix of parameter `p` of `shape`, checked.
    static func csrMatrix(_ p: String, shape: [Int], contents: Safetensors.Contents, values: Tensor?, path: String) throws -> CSRMatrix {
        guard shape.count == 2 else { throw FormatError(path: path, "CSR parameter '\(p)' must be a matrix, the architecture gives \(shape)") }
        guard let values, values.rank == 1 else {
            throw FormatError(path: path, "CSR parameter '\(p)' needs a 1-D float tensor '\(p).csr_values'")
        }
        guard allFinite(values) else { throw FormatError(path: path, "tensor '\(p).csr_values' contains NaN or infinity") }
        guard let starts = contents.integer("\(p).csr_row_starts"), starts.dtype == "I32", starts.shape == [shape[0] + 1] else {
            throw FormatError(path: path, "CSR parameter '\(p)' needs an I32 tensor '\(p).csr_row_starts' of shape [\(shape[0] + 1)]")
        }
        let columns: CSRMatrix.ColumnIndices
        switch contents.integer("\(p).csr_columns") {
        case let c? where c.dtype == "U16" && c.shape == values.shape: columns = .narrow(integers(c, as: UInt16.self))
        case let c? where c.dtype == "U32" && c.shape == values.shape: columns = .wide(integers(c, as: UInt32.self))
        default:
            throw FormatError(path: path, "CSR parameter '\(p)' needs a U16 or U32 tensor '\(p).csr_columns' of shape \(values.shape)")
        }
        guard let matrix = CSRMatrix(rows: shape[0], columns: shape[1], rowStarts: integers(starts, as: Int32.self),
                                     columnIndices: columns, values: values.scalars) else {
            throw FormatError(path: path, "CSR arrays of '\(p)' are inconsistent: row starts must rise from 0 to \(values.count) and every column must be below \(shape[1])")
        }
        return matrix
    }

    /// The bitmask (bit i = entry i kept, least significant bit first) and the kept values.
    static func pack(_ value: Tensor, mask: Tensor) -> (Safetensors.IntegerTensor, Tensor) {
        let flat = [1, value.count]
        let matrix = BitmaskMatrix(value.reshaped(flat), mask: mask.reshaped(flat))
        return (Safetensors.IntegerTensor(shape: [matrix.bits.count], bytes: matrix.bits),
                Tensor(shape: [matrix.values.count], scalars: matrix.values))
    }

    /// The bitmask form of a packed parameter `p` of `shape` (as a `[1, n]` matrix when it is
    /// not rank 2), checked.
    static func packedMatrix(_ p: String, shape: [Int], bitmask: Safetensors.IntegerTensor?, values: Tensor?,
                             path: String) throws -> BitmaskMatrix {
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
        guard allFinite(values) else { throw FormatError(path: path, "tensor '\(p).values' contains NaN or infinity") }
        let (rows, columns) = shape.count == 2 ? (shape[0], shape[1]) : (1, n)
        return BitmaskMatrix(rows: rows, columns: columns, bits: bitmask.bytes, values: values.scalars)!
    }

    /// The dense value and mask of a packed parameter `p` of `shape`, checked.
    static func unpack(_ p: String, shape: [Int], bitmask: Safetensors.IntegerTensor?, values: Tensor?,
                       path: String) throws -> (value: Tensor, mask: Tensor) {
        let matrix = try packedMatrix(p, shape: shape, bitmask: bitmask, values: values, path: path)
        let value = matrix.dense().reshaped(shape)
        let mask = BitmaskMatrix(rows: matrix.rows, columns: matrix.columns, bits: matrix.bits,
                                 values: [Float](repeating: 1, count: matrix.values.count))!.dense().reshaped(shape)
        return (value, mask)
    }

    /// A loaded model and the file's metadata.
    public struct Loaded {
        /// The model with the file's weights and masks.
        public var model: Graph
        /// All `__metadata__` entries.
        public var metadata: [String: String]
    }

    /// Reads a model file written by `save`. With `sparse`, weights stored as CSR become
    /// inference-only `SparseDense` layers built from the arrays; otherwise they are
    /// rebuilt as masked dense weights (trainable, exactly the same values).
    /// - Throws: `FormatError` naming the file and the tensor or field that is wrong.
    public static func load(_ path: String, sparse: Bool = false) throws -> Loaded {
        try decode(try Safetensors.read(path), path: path, sparse: sparse)
    }

    /// Builds the model held by already-decoded safetensors contents; `path` names the
    /// source in errors.
    /// - Throws: `FormatError` naming the tensor or field that is wrong.
    public static func decode(_ contents: Safetensors.Contents, path: String, sparse: Bool = false) throws -> Loaded {
        guard let architecture = contents.metadata[architectureKey] else {
            throw FormatError(path: path, "not a Prune model file: the metadata has no '\(architectureKey)' entry")
        }
        let spec: GraphSpec
        do {
            spec = try JSONDecoder().decode(GraphSpec.self, from: Data(architecture.utf8))
        } catch {
            throw FormatError(path: path, "the '\(architectureKey)' metadata is not a valid architecture: \(error)")
        }
        var masked: Set<String> = []
        if let list = contents.metadata[maskedKey] {
            guard let names = try? JSONDecoder().decode([String].self, from: Data(list.utf8)) else {
                throw FormatError(path: path, "'\(maskedKey)' metadata is not a list of names")
            }
            masked = Set(names)
        }
        let packed = try shapeMap(packedKey, in: contents, path: path)
        let csr = try shapeMap(csrKey, in: contents, path: path)
        var byName: [String: Tensor] = [:]
        for (name, tensor) in contents.tensors { byName[name] = tensor }

        // With `sparse`, the Dense layers whose weight is stored as CSR (or packed and light)
        // are built as SparseDense straight from the arrays, before the graph: no dense
        // matrix of theirs is ever allocated.
        var prebuilt: [String: Module] = [:]
        if sparse {
            for node in spec.nodes where node.layer.kind == .dense {
                // Sizes makeModule would refuse are left to it (and its error).
                guard let out = node.layer.outFeatures, let inputs = node.layer.inFeatures,
                      (1...(1 << 20)).contains(out), (1...(1 << 20)).contains(inputs), out * inputs <= 1 << 31 else { continue }
                let p = "\(node.name).weight", shape = [out, inputs]
                let matrix: CSRMatrix
                if csr[p] == shape {
                    matrix = try csrMatrix(p, shape: shape, contents: contents, values: byName["\(p).csr_values"], path: path)
                } else if packed[p] == shape {
                    let bits = try packedMatrix(p, shape: shape, bitmask: contents.integer("\(p).bitmask"), values: byName["\(p).values"], path: path)
                    guard Double(bits.values.count) <= csrMaximumDensity * Double(out * inputs) else { continue }
                    matrix = bits.csr()
                } else {
                    continue
                }
                guard byName[p] == nil else { throw FormatError(path: path, "'\(p)' is stored twice (sparse and dense)") }
                var bias: Tensor?
                if node.layer.bias ?? true {
                    let b = "\(node.name).bias"
                    if packed[b] == [out] {
                        bias = try unpack(b, shape: [out], bitmask: contents.integer("\(b).bitmask"), values: byName["\(b).values"], path: path).value
                    } else {
                        guard let value = byName[b] else { throw FormatError(path: path, "tensor '\(b)' is missing") }
                        guard value.shape == [out] else {
                            throw FormatError(path: path, "tensor '\(b)' has shape \(value.shape) but the architecture needs [\(out)]")
                        }
                        guard allFinite(value) else { throw FormatError(path: path, "tensor '\(b)' contains NaN or infinity") }
                        if let mask = byName["\(b).mask"], mask.shape != [out] || !mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) {
                            throw FormatError(path: path, "mask '\(b).mask' must be 0/1 values of shape [\(out)]")
                        }
                        bias = value
                    }
                }
                prebuilt[node.name] = SparseDense(name: node.name, weight: matrix, bias: bias)
            }
        }
        let model: Graph
        do {
            model = try spec.makeGraph(modules: prebuilt)
        } catch {
            throw FormatError(path: path, "the '\(architectureKey)' metadata describes an architecture that cannot be built: \(error)")
        }
        // The parameters still to read (a prebuilt layer's are read already), and every
        // parameter's shape by path (from the spec for prebuilt layers: asking a sparse
        // layer for its parameters would build them dense).
        var parameters: [(path: String, parameter: Parameter)] = []
        var shapes: [String: [Int]] = [:]
        for node in model.nodes {
            let name = node.module.name
            if let layer = prebuilt[name] as? SparseDense {
                shapes["\(name).weight"] = [layer.weight.rows, layer.weight.columns]
                if layer.bias != nil { shapes["\(name).bias"] = [layer.weight.rows] }
                continue
            }
            for (key, parameter) in node.module.namedParameters {
                parameters.append(("\(name).\(key)", parameter))
                shapes["\(name).\(key)"] = parameter.value.shape
            }
        }
        func belongs(_ name: String) -> Bool {
            if shapes[name] != nil { return true }
            if name.hasSuffix(".mask") {   // only a parameter stored dense has a mask tensor
                let base = String(name.dropLast(5))
                return shapes[base] != nil && packed[base] == nil && csr[base] == nil
            }
            if name.hasSuffix(".values") { return packed[String(name.dropLast(7))] != nil }
            if name.hasSuffix(".bitmask") { return packed[String(name.dropLast(8))] != nil }
            for suffix in [".csr_values", ".csr_columns", ".csr_row_starts"] where name.hasSuffix(suffix) {
                return csr[String(name.dropLast(suffix.count))] != nil
            }
            return false
        }
        for name in byName.keys.sorted() + contents.integers.map(\.name) where !belongs(name) {
            throw FormatError(path: path, "tensor '\(name)' does not belong to any layer of the architecture")
        }
        for (p, shape) in packed.sorted(by: { $0.key < $1.key }) where shapes[p] != shape {
            throw FormatError(path: path, "'\(packedKey)' gives '\(p)' the shape \(shape) but the architecture has \(shapes[p].map { "\($0)" } ?? "no such parameter")")
        }
        for (p, shape) in csr.sorted(by: { $0.key < $1.key }) {
            guard shapes[p] == shape, let (layer, name) = split(p), name == "weight",
                  model.module(named: layer) is Dense || prebuilt[layer] != nil else {
                throw FormatError(path: path, "'\(csrKey)' gives '\(p)' the shape \(shape), but the architecture has no Dense weight '\(p)' of that shape")
            }
            guard packed[p] == nil, byName[p] == nil else { throw FormatError(path: path, "'\(p)' is stored twice (CSR and another form)") }
        }
        for (p, parameter) in parameters {
            if let shape = csr[p] {
                let matrix = try csrMatrix(p, shape: shape, contents: contents, values: byName["\(p).csr_values"], path: path)
                parameter.value = matrix.dense()
                parameter.mask = matrix.storedMask()
                continue
            }
            if packed[p] != nil {
                guard byName[p] == nil else { throw FormatError(path: path, "'\(p)' is stored both dense and packed") }
                let (value, mask) = try unpack(p, shape: parameter.value.shape, bitmask: contents.integer("\(p).bitmask"),
                                               values: byName["\(p).values"], path: path)
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

    /// The JSON object of parameter paths and shapes under metadata `key` (`packedKey`,
    /// `csrKey`); empty when absent.
    /// - Throws: `FormatError` when the entry is not such an object.
    public static func shapeMap(_ key: String, in contents: Safetensors.Contents, path: String) throws -> [String: [Int]] {
        guard let object = contents.metadata[key] else { return [:] }
        guard let shapes = try? JSONDecoder().decode([String: [Int]].self, from: Data(object.utf8)) else {
            throw FormatError(path: path, "'\(key)' metadata is not an object of names and shapes")
        }
        return shapes
    }

}
