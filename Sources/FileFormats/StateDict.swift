import NeuralNetwork
import TensorCore

/// PyTorch state dicts: the tensors the PyTorch module equivalent to a Prune graph holds,
/// by name, and loading a state dict saved as safetensors into a graph.
///
/// A graph's state dict is its parameters by dotted path (`fc1.weight` `[out, in]`,
/// `conv1.weight` `[out, in, kh, kw]`, BatchNorm's `weight`, `bias`, `running_mean`,
/// `running_var`) and each BatchNorm's `num_batches_tracked` (an I64 scalar). PyTorch
/// modules give the same names when their attributes are named as Prune's nodes
/// (`self.fc1 = nn.Linear(784, 300)`); tools/pytorch-reference has the three built-ins.
///
/// ```swift
/// let model = try Architecture.lenet5.build()
/// try StateDict.read("lenet5.safetensors", into: model)   // F32, F16 or BF16
/// try ModelFile.save(model, to: "model.safetensors")
/// ```
public enum StateDict {
    /// One tensor of a state dict: its key, shape and safetensors dtype.
    public struct Entry: Codable, Equatable, Sendable {
        /// The key (`fc1.weight`).
        public var name: String
        /// The shape.
        public var shape: [Int]
        /// The dtype as safetensors names it (`F32`, `I64`).
        public var dtype: String
        /// Creates an entry.
        public init(name: String, shape: [Int], dtype: String) { self.name = name; self.shape = shape; self.dtype = dtype }
    }

    /// What `load` read.
    public struct Summary: Equatable, Sendable {
        /// How many tensors were read, batch counts included.
        public var tensors: Int
        /// How many float tensors each stored dtype held (`["BF16": 6]`); all were converted to
        /// Float32 exactly.
        public var storedTypes: [String: Int]
    }

    /// The state dict of `model` as `ModelFile.save` writes it and PyTorch's equivalent
    /// module holds it, in PyTorch's order: per layer its parameters (F32), then a
    /// BatchNorm's `num_batches_tracked` (I64, shape `[]`).
    public static func entries(of model: Graph) -> [Entry] {
        model.nodes.flatMap { node -> [Entry] in
            let name = node.module.name
            var entries = node.module.namedParameters.map { Entry(name: "\(name).\($0.0)", shape: $0.1.value.shape, dtype: "F32") }
            if node.module is BatchNorm { entries.append(Entry(name: "\(name).\(ModelFile.batchesTrackedName)", shape: [], dtype: "I64")) }
            return entries
        }
    }

    /// Copies the tensors of a state dict into `model`'s parameters (and BatchNorm batch
    /// counts), after checking every tensor: nothing is changed unless all fit. Float
    /// tensors may be F32, F16, BF16 or F64; `num_batches_tracked` may be absent (it is
    /// then 0, as PyTorch allows). Masks of `model` are removed: a state dict has none.
    /// `architecture` names the model in errors.
    /// - Throws: `FormatError` of kind `stateDictMismatch` listing every missing,
    ///   unexpected, mis-shaped or mistyped tensor and every NaN or infinity, at once.
    /// - Complexity: O(total elements).
    @discardableResult
    public static func load(_ contents: Safetensors.Contents, into model: Graph, path: String,
                            architecture: String = "the architecture") throws -> Summary {
        let parameters = model.parameters
        var expected: [String: [Int]] = [:]
        for (p, parameter) in parameters { expected[p] = parameter.value.shape }
        let counters = ModelFile.batchCounters(of: model)
        var problems: [TensorProblem] = []
        var seen: Set<String> = []
        var floats: [String: Tensor] = [:]
        var types: [String: Int] = [:]
        for (name, tensor) in contents.tensors {
            let dtype = contents.storedTypes[name] ?? "F32"
            guard seen.insert(name).inserted else {
                problems.append(.invalidValue(tensor: name, problem: "is stored twice")); continue
            }
            if counters[name] != nil {
                problems.append(.wrongType(tensor: name, found: dtype, expected: "an I64 scalar")); continue
            }
            guard let shape = expected[name] else {
                problems.append(.unexpected(tensor: name, shape: tensor.shape, dtype: dtype)); continue
            }
            guard tensor.shape == shape else {
                problems.append(.wrongShape(tensor: name, found: tensor.shape, expected: shape)); continue
            }
            guard allFinite(tensor) else { problems.append(.invalidValue(tensor: name, problem: "holds NaN or infinity")); continue }
            floats[name] = tensor
            types[dtype, default: 0] += 1
        }
        var counts: [String: Int] = [:]
        for (name, tensor) in contents.integers {
            guard seen.insert(name).inserted else {
                problems.append(.invalidValue(tensor: name, problem: "is stored twice")); continue
            }
            if expected[name] != nil {
                problems.append(.wrongType(tensor: name, found: tensor.dtype, expected: "a float type (F32, F16, BF16, F64)")); continue
            }
            guard counters[name] != nil else {
                problems.append(.unexpected(tensor: name, shape: tensor.shape, dtype: tensor.dtype)); continue
            }
            guard tensor.dtype == "I64" else { problems.append(.wrongType(tensor: name, found: tensor.dtype, expected: "I64")); continue }
            guard tensor.shape == [] else { problems.append(.wrongShape(tensor: name, found: tensor.shape, expected: [])); continue }
            guard let count = ModelFile.integers(tensor, as: Int64.self).first, count >= 0 else {
                problems.append(.invalidValue(tensor: name, problem: "is a negative batch count")); continue
            }
            counts[name] = Int(count)
        }
        for (p, parameter) in parameters where floats[p] == nil && !seen.contains(p) {
            problems.append(.missing(tensor: p, expected: parameter.value.shape))
        }
        guard problems.isEmpty else {
            throw FormatError(path: path, .stateDictMismatch(architecture: architecture, problems: problems))
        }
        for (p, parameter) in parameters {
            parameter.mask = nil
            parameter.value = floats[p]!
        }
        for (name, layer) in counters { layer.batchesTracked = counts[name] ?? 0 }
        return Summary(tensors: floats.count + counts.count, storedTypes: types)
    }

    /// Reads a safetensors state dict into `model` (see `load(_:into:path:architecture:)`).
    /// - Throws: `FormatError` for an unreadable or malformed file, or one that does not fit.
    @discardableResult
    public static func read(_ path: String, into model: Graph, architecture: String = "the architecture") throws -> Summary {
        try load(try Safetensors.read(path), into: model, path: path, architecture: architecture)
    }
}
