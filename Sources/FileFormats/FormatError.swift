/// A problem reading or writing a file: names the file, the tensor or metadata entry where
/// there is one, and what is wrong, as values a caller can match on (`kind`) and as a
/// message (`description`).
public struct FormatError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, with the names and values that say where and what was expected.
    public enum Kind: Equatable, Sendable {
        /// The file does not exist.
        case missingFile
        /// The file exists but cannot be read.
        case unreadable
        /// The folder to write the file into does not exist.
        case missingFolder(String)
        /// Writing the file failed at `step` ("write", "replace the file"), for the system's `reason`.
        case cannotWrite(step: String, reason: String)
        /// The bytes are not in the format, or are cut short: `what` says how.
        case corrupt(what: String)
        /// The header entry (or bytes) of `tensor` are malformed: `problem` says how.
        case malformedTensor(tensor: String, problem: String)
        /// A name the format cannot hold (the error's path is the name).
        case invalidTensorName(tensor: String, reason: String)
        /// A tensor the architecture needs is absent.
        case missingTensor(tensor: String)
        /// `tensor` has shape `found`, the architecture needs `expected`.
        case wrongShape(tensor: String, found: [Int], expected: [Int])
        /// `tensor` holds NaN or infinity.
        case nonFinite(tensor: String)
        /// The mask `tensor` is not 0/1 values of `shape`.
        case invalidMask(tensor: String, shape: [Int])
        /// `tensor` belongs to no parameter of the architecture.
        case unexpectedTensor(tensor: String)
        /// `tensor` is stored in two forms (`forms`, e.g. "dense and packed").
        case storedTwice(tensor: String, forms: String)
        /// The `encoding` ("packed", "CSR") of `parameter` needs the array `tensor` as `expected`
        /// describes it (type and shape), and the file's is missing or different.
        case missingArray(encoding: String, parameter: String, tensor: String, expected: String)
        /// The arrays of an encoded parameter disagree: `problem` says how.
        case inconsistentArrays(tensor: String, problem: String)
        /// The metadata has no `key` entry.
        case missingMetadata(key: String)
        /// The metadata entry `key` is not `expected`; `detail` is the decoder's reason.
        case invalidMetadata(key: String, expected: String, detail: String?)
        /// The metadata entry `key` gives parameter `tensor` something the architecture disagrees with.
        case metadataMismatch(key: String, tensor: String, problem: String)
        /// The caller's metadata uses `key`, which Prune reserves.
        case reservedMetadataKey(String)
        /// The file holds something other than what it should: `expected`, `found`.
        case unexpectedContent(expected: String, found: String)
        /// A state dict does not fit the architecture `architecture` describes: every
        /// missing, unexpected, mis-shaped, mistyped or invalid tensor at once.
        case stateDictMismatch(architecture: String, problems: [TensorProblem])
        /// An architecture (graph spec) file is wrong at `field` (`nodes[2] 'conv1'.layer.kind`;
        /// nil when the problem names its layer itself).
        case invalidArchitecture(field: String?, problem: String)
        /// The data folder does not exist (the message says how to install Fashion-MNIST).
        case missingDataFolder
        /// The data folder lacks the IDX file `stem` (raw or `.gz`).
        case missingDataFile(String)
        /// ONNX node `node` (op `op`) cannot be imported: `problem` says why.
        case onnxNode(node: String, op: String, problem: String)
        /// The ONNX model's operator set `domain` version `version` is outside what Prune reads.
        case unsupportedOpset(domain: String, version: Int, supported: String)
        /// `tensor` keeps its data in another file (ONNX external data).
        case externalData(tensor: String)
        /// The label of `sample` (e.g. "row 18", "y_train[17]", "cat/003.png") is wrong: `problem`
        /// says how and what to do.
        case invalidLabel(sample: String, problem: String)
        /// A model folder's configuration (Hugging Face `config.json` and its siblings) is wrong at
        /// `field`: `problem` says how.
        case configField(field: String, problem: String)
        /// A tokenizer's vocabulary is wrong at `line` (1-based; nil when the problem is the
        /// file as a whole): `problem` says how and what to do.
        case invalidVocabulary(line: Int?, problem: String)
        /// Anything else, as text (what `init(path:_:)` with a message makes).
        case other(String)
    }

    /// The file involved.
    public let path: String
    /// What is wrong.
    public let kind: Kind

    /// Creates an error of `kind` for `path`.
    public init(path: String, _ kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// Creates an error for `path` with a message (kind `.other`).
    public init(path: String, _ problem: String) {
        self.init(path: path, .other(problem))
    }

    /// The tensor (or parameter) the error is about, if any.
    public var tensor: String? {
        switch kind {
        case let .malformedTensor(t, _), let .invalidTensorName(t, _), let .missingTensor(t), let .wrongShape(t, _, _),
             let .nonFinite(t), let .invalidMask(t, _), let .unexpectedTensor(t), let .storedTwice(t, _),
             let .missingArray(_, _, t, _), let .inconsistentArrays(t, _), let .metadataMismatch(_, t, _),
             let .externalData(t):
            return t
        case .missingFile, .unreadable, .missingFolder, .cannotWrite, .corrupt, .missingMetadata, .invalidMetadata,
             .reservedMetadataKey, .unexpectedContent, .missingDataFolder, .missingDataFile, .invalidLabel, .other, .onnxNode,
             .unsupportedOpset, .invalidArchitecture, .configField, .invalidVocabulary:
            return nil
        case let .stateDictMismatch(_, problems):
            return problems.first?.tensor
        }
    }

    /// What is wrong, and what to do where that helps (the message without the path).
    public var problem: String {
        switch kind {
        case .missingFile: return "no such file"
        case .unreadable: return "cannot be read"
        case let .missingFolder(folder): return "folder \(folder) does not exist"
        case let .cannotWrite(step, reason): return "cannot \(step): \(reason)"
        case let .corrupt(what): return what
        case let .malformedTensor(t, problem): return "tensor '\(t)' \(problem)"
        case let .invalidTensorName(_, reason): return reason
        case let .missingTensor(t): return "tensor '\(t)' is missing"
        case let .wrongShape(t, found, expected): return "tensor '\(t)' has shape \(found) but the architecture needs \(expected)"
        case let .nonFinite(t): return "tensor '\(t)' contains NaN or infinity"
        case let .invalidMask(t, shape): return "mask '\(t)' must be 0/1 values of shape \(shape)"
        case let .unexpectedTensor(t): return "tensor '\(t)' does not belong to any layer of the architecture"
        case let .storedTwice(t, forms): return "'\(t)' is stored \(forms)"
        case let .missingArray(encoding, parameter, _, expected): return "\(encoding) parameter '\(parameter)' needs \(expected)"
        case let .inconsistentArrays(_, problem): return problem
        case let .missingMetadata(key):
            let hint = key == ModelFile.architectureKey ? " (a PyTorch state dict? turn it into one with `prune import FILE --arch ARCHITECTURE --out MODEL`)" : ""
            return "not a Prune model file: the metadata has no '\(key)' entry\(hint)"
        case let .invalidMetadata(key, expected, detail): return "the '\(key)' metadata is not \(expected)\(detail.map { ": \($0)" } ?? "")"
        case let .metadataMismatch(key, t, problem): return "'\(key)' gives '\(t)' \(problem)"
        case let .reservedMetadataKey(key): return "metadata key '\(key)' is reserved for Prune; choose another name"
        case let .unexpectedContent(expected, found): return "expected \(expected), got \(found)"
        case let .stateDictMismatch(architecture, problems):
            return "the state dict does not fit \(architecture): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
                + problems.map { "  \($0)" }.joined(separator: "\n") + (TensorProblem.prefixHint(problems).map { "\n\($0)" } ?? "")
        case let .invalidArchitecture(field, problem):
            return field.map { "architecture field \($0): \(problem)" } ?? "architecture: \(problem)"
        case .missingDataFolder:
            return "data folder not found; install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` or pass --data PATH with your own data (IDX, .npz, .npy, CSV or an image folder; see docs/DATA.md)"
        case let .missingDataFile(stem): return "missing \(stem) or \(stem).gz in the data folder"
        case let .onnxNode(node, _, problem): return "node \(node): \(problem)"
        case let .unsupportedOpset(domain, version, supported):
            return "operator set \(domain.isEmpty ? "ai.onnx" : domain) version \(version) is not supported (Prune reads \(supported))"
        case let .externalData(t):
            return "tensor '\(t)' keeps its data in another file (ONNX external data), which Prune does not read; save the model with its weights inside (onnx.save(model, path, save_as_external_data=False))"
        case let .invalidLabel(sample, problem): return "\(sample): \(problem)"
        case let .configField(field, problem): return "config field '\(field)' \(problem)"
        case let .invalidVocabulary(line, problem): return line.map { "line \($0): \(problem)" } ?? problem
        case let .other(message): return message
        }
    }

    public var description: String { "\(path): \(problem)" }
}

/// One way a tensor of a file disagrees with what an architecture needs (see
/// `FormatError.Kind.stateDictMismatch`).
public enum TensorProblem: Equatable, Sendable, CustomStringConvertible {
    /// The architecture needs `tensor` of shape `expected`; the file lacks it.
    case missing(tensor: String, expected: [Int])
    /// The file holds `tensor` (`shape`, `dtype`), which no layer of the architecture has.
    case unexpected(tensor: String, shape: [Int], dtype: String)
    /// `tensor` has shape `found`; the architecture needs `expected`.
    case wrongShape(tensor: String, found: [Int], expected: [Int])
    /// `tensor` is stored as `found`; the architecture needs `expected` (e.g. "a float type").
    case wrongType(tensor: String, found: String, expected: String)
    /// `tensor`'s values are unusable: `problem` says how (NaN, a negative count).
    case invalidValue(tensor: String, problem: String)

    /// The tensor the problem is about.
    public var tensor: String {
        switch self {
        case let .missing(t, _), let .unexpected(t, _, _), let .wrongShape(t, _, _), let .wrongType(t, _, _), let .invalidValue(t, _): return t
        }
    }

    public var description: String {
        switch self {
        case let .missing(t, expected): return "missing: '\(t)' \(expected)"
        case let .unexpected(t, shape, dtype): return "unexpected: '\(t)' \(shape) \(dtype) belongs to no layer of the architecture"
        case let .wrongShape(t, found, expected): return "wrong shape: '\(t)' is \(found), the architecture needs \(expected)"
        case let .wrongType(t, found, expected): return "wrong type: '\(t)' is \(found), the architecture needs \(expected)"
        case let .invalidValue(t, problem): return "invalid: '\(t)' \(problem)"
        }
    }

    /// A hint when every unexpected name is a missing one behind the same prefix (a
    /// `module.` from `nn.DataParallel`, say), else nil.
    static func prefixHint(_ problems: [TensorProblem]) -> String? {
        let missing = problems.compactMap { if case let .missing(t, _) = $0 { return t } else { return nil } }
        let unexpected = problems.compactMap { if case let .unexpected(t, _, _) = $0 { return t } else { return nil } }
        guard let first = unexpected.first,
              let match = missing.first(where: { first.hasSuffix("." + $0) }) else { return nil }
        let prefix = String(first.dropLast(match.count))
        guard unexpected.allSatisfy({ $0.hasPrefix(prefix) && missing.contains(String($0.dropFirst(prefix.count))) }) else { return nil }
        return "every unexpected name is a missing one behind the prefix '\(prefix)': save the inner module's state dict, or strip the prefix"
    }
}
