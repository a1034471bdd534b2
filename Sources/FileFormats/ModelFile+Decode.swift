import Foundation
import NeuralNetwork
import TensorCore

extension ModelFile {
    /// The tensors of a model file by name, with the storage lists its metadata gives
    /// (masked, packed and CSR parameters); each encoding reads its parameters from here.
    struct StoredTensors {
        /// The decoded file.
        let contents: Safetensors.Contents
        /// The file, for errors.
        let path: String
        /// The float tensors by name.
        let floats: [String: Tensor]
        /// Parameters stored dense whose mask is implied by their zeros (unless given otherwise).
        let masked: Set<String>
        /// Dense-stored masks given as base64 bitmasks, by parameter path.
        let bitmasks: [String: String]
        /// Packed parameters and their shapes.
        let packed: [String: [Int]]
        /// CSR parameters and their shapes.
        let csr: [String: [Int]]
        /// N:M parameters, their shapes and patterns.
        let nm: [String: NMEntry]

        /// Reads the storage lists from `contents`' metadata.
        /// - Throws: `FormatError` when a list is not the JSON it should be.
        init(_ contents: Safetensors.Contents, path: String) throws {
            self.contents = contents
            self.path = path
            var masked: Set<String> = []
            if let list = contents.metadata[maskedKey] {
                guard let names = try? JSONDecoder().decode([String].self, from: Data(list.utf8)) else {
                    throw FormatError(path: path, .invalidMetadata(key: maskedKey, expected: "a list of names", detail: nil))
                }
                masked = Set(names)
            }
            self.masked = masked
            var bitmasks: [String: String] = [:]
            if let object = contents.metadata[bitmasksKey] {
                guard let masks = try? JSONDecoder().decode([String: String].self, from: Data(object.utf8)) else {
                    throw FormatError(path: path, .invalidMetadata(key: bitmasksKey, expected: "an object of names and base64 bitmasks", detail: nil))
                }
                bitmasks = masks
            }
            self.bitmasks = bitmasks
            packed = try shapeMap(packedKey, in: contents, path: path)
            csr = try shapeMap(csrKey, in: contents, path: path)
            nm = try nmEntries(in: contents, path: path)
            var floats: [String: Tensor] = [:]
            for (name, tensor) in contents.tensors { floats[name] = tensor }
            self.floats = floats
        }

        /// Whether tensor `name` is one the parameters with `shapes` (by path) are stored as.
        func belongs(_ name: String, shapes: [String: [Int]]) -> Bool {
            if shapes[name] != nil { return true }
            if name.hasSuffix(".mask") {   // only a parameter stored dense has a mask tensor
                let base = String(name.dropLast(5))
                return shapes[base] != nil && packed[base] == nil && csr[base] == nil && nm[base] == nil
            }
            if name.hasSuffix(".values") { return packed[String(name.dropLast(7))] != nil }
            if name.hasSuffix(".bitmask") { return packed[String(name.dropLast(8))] != nil }
            for suffix in [".csr_values", ".csr_columns", ".csr_row_starts"] where name.hasSuffix(suffix) {
                return csr[String(name.dropLast(suffix.count))] != nil
            }
            for suffix in [".nm_values", ".nm_positions"] where name.hasSuffix(suffix) {
                return nm[String(name.dropLast(suffix.count))] != nil
            }
            return false
        }
    }

    /// Builds the model held by already-decoded safetensors contents; `path` names the
    /// source in errors.
    /// - Throws: `FormatError` naming the tensor or field that is wrong.
    public static func decode(_ contents: Safetensors.Contents, path: String, sparse: Bool = false) throws -> Loaded {
        let spec = try architecture(of: contents, path: path)
        let stored = try StoredTensors(contents, path: path)
        let prebuilt = sparse ? try sparseLayers(of: spec, from: stored) : [:]
        let model: Graph
        do {
            model = try spec.makeGraph(modules: prebuilt)
        } catch {
            throw FormatError(path: path, .invalidMetadata(key: architectureKey, expected: "an architecture that can be built", detail: "\(error)"))
        }
        let (parameters, shapes) = parametersToRead(model, prebuilt: prebuilt)
        let counters = batchCounters(of: model)
        try checkEveryTensorBelongs(stored, shapes: shapes, counters: counters)
        try checkStorageLists(stored, shapes: shapes, model: model, prebuilt: prebuilt)
        for (p, parameter) in parameters { try read(p, into: parameter, from: stored) }
        for (name, layer) in counters {
            if let count = try batchCount(name, in: contents, path: path) { layer.batchesTracked = count }
        }
        return Loaded(model: model, metadata: contents.metadata)
    }

    /// Step 1: the architecture from the metadata.
    static func architecture(of contents: Safetensors.Contents, path: String) throws -> GraphSpec {
        guard let architecture = contents.metadata[architectureKey] else {
            throw FormatError(path: path, .missingMetadata(key: architectureKey))
        }
        do {
            return try JSONDecoder().decode(GraphSpec.self, from: Data(architecture.utf8))
        } catch {
            throw FormatError(path: path, .invalidMetadata(key: architectureKey, expected: "a valid architecture", detail: "\(error)"))
        }
    }

    /// Step 2 (sparse loads only): the Dense layers whose weight is stored as CSR (or packed
    /// and light) built as SparseDense straight from the arrays, before the graph, so that
    /// no dense matrix of theirs is ever allocated. Keyed by node name.
    static func sparseLayers(of spec: GraphSpec, from stored: StoredTensors) throws -> [String: Module] {
        var prebuilt: [String: Module] = [:]
        for node in spec.nodes where node.layer.kind == .dense {
            // Sizes makeModule would refuse are left to it (and its error).
            guard let out = node.layer.outFeatures, let inputs = node.layer.inFeatures,
                  (1...(1 << 20)).contains(out), (1...(1 << 20)).contains(inputs), out * inputs <= 1 << 31 else { continue }
            let p = "\(node.name).weight", shape = [out, inputs]
            if let entry = stored.nm[p], entry.shape == shape {
                guard stored.floats[p] == nil else { throw FormatError(path: stored.path, .storedTwice(tensor: p, forms: "twice (N:M and dense)")) }
                let weight = try stored.nmMatrix(p, entry)
                if let layer = NMDense(name: node.name, weight: weight, bias: try bias(of: node, out: out, stored: stored)) {
                    prebuilt[node.name] = layer
                }
                continue
            }
            let matrix: CSRMatrix
            if stored.csr[p] == shape {
                matrix = try stored.csrMatrix(p, shape: shape)
            } else if stored.packed[p] == shape {
                let bits = try stored.packed(p, shape: shape)
                guard Double(bits.values.count) <= csrMaximumDensity * Double(out * inputs) else { continue }
                matrix = bits.csr()
            } else {
                continue
            }
            guard stored.floats[p] == nil else { throw FormatError(path: stored.path, .storedTwice(tensor: p, forms: "twice (sparse and dense)")) }
            prebuilt[node.name] = SparseDense(name: node.name, weight: matrix, bias: try bias(of: node, out: out, stored: stored))
        }
        return prebuilt
    }

    /// The bias `[out]` of a Dense node that has one, packed or dense.
    private static func bias(of node: GraphSpec.NodeSpec, out: Int, stored: StoredTensors) throws -> Tensor? {
        guard node.layer.bias ?? true else { return nil }
        let b = "\(node.name).bias"
        return stored.packed[b] == [out] ? try stored.unpacked(b, shape: [out]).value : try stored.dense(b, shape: [out]).value
    }

    /// Step 3: the parameters still to read (a prebuilt layer's are read already), and every
    /// parameter's shape by path (from the spec for prebuilt layers: asking a sparse layer
    /// for its parameters would build them dense).
    static func parametersToRead(_ model: Graph, prebuilt: [String: Module])
        -> (parameters: [(path: String, parameter: Parameter)], shapes: [String: [Int]]) {
        var parameters: [(path: String, parameter: Parameter)] = []
        var shapes: [String: [Int]] = [:]
        for node in model.nodes {
            let name = node.module.name
            if let layer = prebuilt[name] as? SparseDense {
                shapes["\(name).weight"] = [layer.weight.rows, layer.weight.columns]
                if layer.bias != nil { shapes["\(name).bias"] = [layer.weight.rows] }
                continue
            }
            if let layer = prebuilt[name] as? NMDense {
                shapes["\(name).weight"] = [layer.weight.rows, layer.weight.columns]
                if layer.bias != nil { shapes["\(name).bias"] = [layer.weight.rows] }
                continue
            }
            for (key, parameter) in node.module.namedParameters {
                parameters.append(("\(name).\(key)", parameter))
                shapes["\(name).\(key)"] = parameter.value.shape
            }
        }
        return (parameters, shapes)
    }

    /// Each BatchNorm layer by the name of its batch count (`bn1.num_batches_tracked`).
    static func batchCounters(of model: Graph) -> [String: BatchNorm] {
        var counters: [String: BatchNorm] = [:]
        for node in model.nodes {
            if let bn = node.module as? BatchNorm { counters["\(bn.name).\(batchesTrackedName)"] = bn }
        }
        return counters
    }

    /// The batch count stored as `name` (nil when absent, as PyTorch allows).
    /// - Throws: `FormatError` when it is not an I64 scalar holding a count ≥ 0.
    static func batchCount(_ name: String, in contents: Safetensors.Contents, path: String) throws -> Int? {
        let problem = "must be a count ≥ 0 stored as an I64 scalar (shape []), as PyTorch writes it"
        if contents[name] != nil { throw FormatError(path: path, .malformedTensor(tensor: name, problem: problem)) }
        guard let tensor = contents.integer(name) else { return nil }
        guard tensor.dtype == "I64", tensor.shape == [], let count = integers(tensor, as: Int64.self).first, count >= 0 else {
            throw FormatError(path: path, .malformedTensor(tensor: name, problem: problem))
        }
        return Int(count)
    }

    /// Step 4: every tensor in the file is one of the architecture's parameters in some
    /// form, or a BatchNorm's batch count.
    static func checkEveryTensorBelongs(_ stored: StoredTensors, shapes: [String: [Int]], counters: [String: BatchNorm]) throws {
        for name in stored.floats.keys.sorted() + stored.contents.integers.map(\.name)
        where !stored.belongs(name, shapes: shapes) && counters[name] == nil {
            throw FormatError(path: stored.path, .unexpectedTensor(tensor: name))
        }
    }

    /// Step 5: the packed and CSR lists name parameters of the architecture, with their
    /// shapes, each stored in one form only.
    static func checkStorageLists(_ stored: StoredTensors, shapes: [String: [Int]], model: Graph,
                                  prebuilt: [String: Module]) throws {
        for (p, shape) in stored.packed.sorted(by: { $0.key < $1.key }) where shapes[p] != shape {
            throw FormatError(path: stored.path, .metadataMismatch(
                key: packedKey, tensor: p, problem: "the shape \(shape) but the architecture has \(shapes[p].map { "\($0)" } ?? "no such parameter")"))
        }
        for p in stored.bitmasks.keys.sorted() where shapes[p] == nil || stored.packed[p] != nil || stored.csr[p] != nil || stored.nm[p] != nil {
            throw FormatError(path: stored.path, .metadataMismatch(
                key: bitmasksKey, tensor: p, problem: "a bitmask, but the file stores no dense parameter '\(p)'"))
        }
        for (p, shape) in stored.csr.sorted(by: { $0.key < $1.key }) {
            guard shapes[p] == shape, let (layer, name) = split(p), name == "weight",
                  model.module(named: layer) is Dense || prebuilt[layer] != nil else {
                throw FormatError(path: stored.path, .metadataMismatch(
                    key: csrKey, tensor: p, problem: "the shape \(shape), but the architecture has no Dense weight '\(p)' of that shape"))
            }
            guard stored.packed[p] == nil, stored.floats[p] == nil else {
                throw FormatError(path: stored.path, .storedTwice(tensor: p, forms: "twice (CSR and another form)"))
            }
        }
        for (p, entry) in stored.nm.sorted(by: { $0.key < $1.key }) {
            guard shapes[p] == entry.shape, let (layer, name) = split(p), name == "weight",
                  model.module(named: layer) is Dense || prebuilt[layer] != nil else {
                throw FormatError(path: stored.path, .metadataMismatch(
                    key: nmKey, tensor: p, problem: "the shape \(entry.shape), but the architecture has no Dense weight '\(p)' of that shape"))
            }
            guard stored.packed[p] == nil, stored.csr[p] == nil, stored.floats[p] == nil else {
                throw FormatError(path: stored.path, .storedTwice(tensor: p, forms: "twice (N:M and another form)"))
            }
        }
    }

    /// Step 6: one parameter's value and mask, from whichever form it is stored in.
    static func read(_ p: String, into parameter: Parameter, from stored: StoredTensors) throws {
        if let entry = stored.nm[p] {
            let matrix = try stored.nmMatrix(p, entry)
            parameter.value = matrix.dense()
            parameter.mask = parameter.value.map { $0 == 0 ? 0 : 1 }
        } else if let shape = stored.csr[p] {
            let matrix = try stored.csrMatrix(p, shape: shape)
            parameter.value = matrix.dense()
            parameter.mask = matrix.storedMask()
        } else if stored.packed[p] != nil {
            guard stored.floats[p] == nil else { throw FormatError(path: stored.path, .storedTwice(tensor: p, forms: "both dense and packed")) }
            (parameter.value, parameter.mask) = try stored.unpacked(p, shape: parameter.value.shape)
        } else {
            let (value, mask) = try stored.dense(p, shape: parameter.value.shape)
            parameter.value = value
            if let mask { parameter.mask = mask }
        }
    }
}
