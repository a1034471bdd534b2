import Foundation
import NeuralNetwork
import TensorCore

/// Prune's native model file: a safetensors file that is a PyTorch state dict. Every
/// parameter is stored under its dotted path (`fc1.weight` `[out, in]`, `conv1.weight`
/// `[out, in, kh, kw]`, `bn1.running_mean`, …) as F32, each BatchNorm's batch count as
/// `<name>.num_batches_tracked` (I64, shape `[]`), and nothing else, so the file loads into
/// the equivalent PyTorch module with `load_state_dict(…, strict=True)`. Pruned entries are
/// exact zeros. Prune's own state is metadata, which strict loading ignores: the
/// architecture JSON in `__metadata__["prune.architecture"]`, and masks: a mask equal to
/// "the non-zero entries" is implied by the zeros and the parameter named in
/// `__metadata__["prune.masked"]`; a mask that keeps some zero entries (after L1
/// soft-thresholding, say) is also given as a base64 bitmask in `__metadata__["prune.bitmasks"]`.
///
/// Export forms (`Storage.packed`, `Storage.sparse`) trade that for size. Packed: a masked
/// parameter as `<path>.bitmask` (U8, the mask's bits in row-major order, least
/// significant bit first, zero padding bits) and `<path>.values` (F32, the kept entries in
/// order), with the shape in `__metadata__["prune.packed"]`, whenever that is smaller than
/// dense (sparsity above 1/32): LeNet-300-100 at 90% takes about 13% of the dense bytes.
/// Sparse: a Dense weight pruned N:M (2:4, …) in the N:M form (`ModelFile+NM`), which a
/// sparse load runs as `NMDense`; each other weight that sparse inference will use (a Dense
/// layer's, keeping at most `csrMaximumDensity` of its entries) in whichever is smaller of
/// the packed form and CSR (smaller below about 1/16 density):
/// `<path>.csr_values` (F32 or F16), `<path>.csr_columns` (U16 when the matrix is at most
/// 65,536 wide, else U32) and `<path>.csr_row_starts` (I32, rows + 1 offsets), with the
/// shape in `__metadata__["prune.csr"]`. `load(_:sparse: true)` builds those layers, and
/// the packed Dense weights keeping at most `csrMaximumDensity`, as `SparseDense` straight
/// from the arrays (bits to CSR), never making the dense matrix. Files of every form (and
/// older files with `<path>.mask` tensors) load back.
///
/// Each encoding lives in its own file (`ModelFile+Dense`, `+Packed`, `+CSR`, `+NM`): how a
/// parameter is written in that form, and how it is read back and checked. The reader's
/// steps are in `ModelFile+Decode`.
public enum ModelFile {
    /// The metadata key holding the architecture JSON.
    public static let architectureKey = "prune.architecture"
    /// The metadata key holding the JSON list of masked parameter paths.
    public static let maskedKey = "prune.masked"
    /// The metadata key holding the JSON object of parameter paths and their masks as
    /// base64 bitmasks, for dense-stored masks that keep some zero entries.
    public static let bitmasksKey = "prune.bitmasks"
    /// The last component of a BatchNorm's batch count (`bn1.num_batches_tracked`).
    public static let batchesTrackedName = "num_batches_tracked"
    /// The metadata key holding the format version.
    public static let versionKey = "prune.format"
    /// The metadata key holding the JSON object of packed parameter paths and their shapes.
    public static let packedKey = "prune.packed"
    /// The metadata key holding the JSON object of CSR parameter paths and their shapes.
    public static let csrKey = "prune.csr"
    /// The metadata key holding the JSON object of N:M parameter paths, their shapes and
    /// patterns (`{"fc1.weight": {"shape": [300, 784], "n": 2, "m": 4}}`).
    public static let nmKey = "prune.nm"
    /// `Storage.sparse` writes a Dense weight as CSR when it keeps at most this fraction of
    /// its entries (the batch-1 crossover of the sparse kernels; denser ones are packed).
    public static let csrMaximumDensity = 0.3

    /// How masked parameters are written.
    public enum Storage: Sendable {
        /// Every parameter as a dense tensor, masks in the metadata: a PyTorch state dict
        /// (the default).
        case dense
        /// Bitmask plus kept values when smaller than dense (an export form).
        case packed
        /// Sparse Dense weights as CSR arrays (runnable without densifying), other masked
        /// parameters packed (an export form).
        case sparse
    }

    /// The tensors and metadata lists `save` gathers, one parameter at a time.
    struct Encoding {
        var tensors: [(name: String, tensor: Tensor)] = []
        var integers: [(name: String, tensor: Safetensors.IntegerTensor)] = []
        /// Parameters stored dense whose mask is implied by their zeros, or given in `bitmasks`.
        var masked: [String] = []
        /// Dense-stored masks that keep zero entries, as base64 bitmasks.
        var bitmasks: [String: String] = [:]
        /// Packed parameters and their shapes.
        var packed: [String: [Int]] = [:]
        /// CSR parameters and their shapes.
        var csr: [String: [Int]] = [:]
        /// N:M parameters, their shapes and patterns.
        var nm: [String: NMEntry] = [:]
    }

    /// Writes `model` to `path` atomically, by default as a PyTorch state dict (`Storage.dense`);
    /// as ONNX when the path ends in `.onnx`, and as a Hugging Face model folder when it is a
    /// folder, or does not end in a weight file's extension and the model was read from a
    /// folder (`ModelFolder.handles`;
    /// `storage` and `halfPrecision` then do not apply).
    /// `metadata` entries are stored alongside (keys starting with `prune.` are reserved).
    /// - Throws: `FormatError` when `metadata` uses a reserved key or the file cannot be written.
    ///   With `halfPrecision`, trainable parameters (and packed values) are written as F16:
    ///   half the bytes, values rounded to the nearest Float16; running statistics stay F32.
    public static func save(_ model: Graph, to path: String, metadata: [String: String] = [:],
                            storage: Storage = .dense, halfPrecision: Bool = false) throws {
        try save(model, to: path, metadata: metadata, storage: storage, halfPrecision: halfPrecision, extraTensors: [])
    }

    /// `save`, with tensors that belong to no parameter written after the model's (a Hugging
    /// Face folder's classification pooler, kept for the library that reads the folder).
    static func save(_ model: Graph, to path: String, metadata: [String: String], storage: Storage = .dense,
                     halfPrecision: Bool = false, extraTensors: [(name: String, tensor: Tensor)]) throws {
        if let reserved = metadata.keys.sorted().first(where: { $0.hasPrefix("prune.") }) {
            throw FormatError(path: path, .reservedMetadataKey(reserved))
        }
        if ONNXFile.handles(path) { return try ONNXFile.save(model, to: path, metadata: metadata) }
        if ModelFolder.handles(path, metadata: metadata) { return try ModelFolder.save(model, to: path, metadata: metadata) }
        var encoding = Encoding()
        for (p, parameter) in model.parameters {
            if storage == .sparse, encoding.appendNM(p, parameter, of: model) { continue }
            if storage == .sparse, encoding.appendCSR(p, parameter, of: model, halfPrecision: halfPrecision) { continue }
            guard let mask = parameter.mask else {
                encoding.tensors.append((p, parameter.value))
                continue
            }
            if storage != .dense, encoding.appendPacked(p, parameter.value, mask: mask) { continue }
            encoding.appendDense(p, parameter.value, mask: mask)
        }
        for node in model.nodes {
            guard let bn = node.module as? BatchNorm else { continue }
            encoding.integers.append(("\(bn.name).\(batchesTrackedName)", Safetensors.IntegerTensor(
                dtype: "I64", shape: [], bytes: littleEndianBytes([Int64(bn.batchesTracked)]))))
        }
        var meta = metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        meta[architectureKey] = String(decoding: try encoder.encode(model.spec), as: UTF8.self)
        if !encoding.masked.isEmpty { meta[maskedKey] = String(decoding: try encoder.encode(encoding.masked), as: UTF8.self) }
        if !encoding.bitmasks.isEmpty { meta[bitmasksKey] = String(decoding: try encoder.encode(encoding.bitmasks), as: UTF8.self) }
        if !encoding.packed.isEmpty { meta[packedKey] = String(decoding: try encoder.encode(encoding.packed), as: UTF8.self) }
        if !encoding.csr.isEmpty { meta[csrKey] = String(decoding: try encoder.encode(encoding.csr), as: UTF8.self) }
        if !encoding.nm.isEmpty { meta[nmKey] = String(decoding: try encoder.encode(encoding.nm), as: UTF8.self) }
        meta[versionKey] = "1"
        var half: Set<String> = []
        if halfPrecision {
            let trainable = Set(model.trainableParameters.map(\.path))
            half = Set(encoding.tensors.map(\.name).filter { name in
                trainable.contains(name) || [".values", ".csr_values", ".nm_values"].contains { suffix in
                    name.hasSuffix(suffix) && trainable.contains(String(name.dropLast(suffix.count)))
                }
            })
        }
        try Safetensors.write(Safetensors.Contents(tensors: encoding.tensors + extraTensors, integers: encoding.integers, metadata: meta,
                                                   halfPrecision: half), to: path)
    }

    /// `("fc1", "weight")` for `"fc1.weight"`.
    static func split(_ path: String) -> (layer: String, name: String)? {
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return (String(path[..<dot]), String(path[path.index(after: dot)...]))
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
    /// A path ending in `.onnx` is read as an ONNX model (`ONNXFile`), its `metadata_props`
    /// as the metadata; a folder as a Hugging Face model folder (`ModelFolder`).
    public static func load(_ path: String, sparse: Bool = false) throws -> Loaded {
        if ModelFolder.isFolder(path) { return try ModelFolder.load(path) }
        if ONNXFile.handles(path) {
            let imported = try ONNXFile.load(path)
            return Loaded(model: imported.model, metadata: imported.metadata)
        }
        return try decode(try Safetensors.read(path), path: path, sparse: sparse)
    }

    /// The JSON object of parameter paths and shapes under metadata `key` (`packedKey`,
    /// `csrKey`); empty when absent.
    /// - Throws: `FormatError` when the entry is not such an object.
    public static func shapeMap(_ key: String, in contents: Safetensors.Contents, path: String) throws -> [String: [Int]] {
        guard let object = contents.metadata[key] else { return [:] }
        guard let shapes = try? JSONDecoder().decode([String: [Int]].self, from: Data(object.utf8)) else {
            throw FormatError(path: path, .invalidMetadata(key: key, expected: "an object of names and shapes", detail: nil))
        }
        return shapes
    }
}
