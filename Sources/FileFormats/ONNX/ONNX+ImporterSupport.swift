import Foundation
import NeuralNetwork
import TensorCore

/// The ONNX importer's support besides the ops: the graph input's shape, sparse
/// initializers, appending layers, layer names, node inputs (computed values and
/// constants) and attributes.
extension ONNXImporter {
    // MARK: - Building

    /// Appends `layer` reading `x`; its output gets ONNX shape `shape` (nil: the Prune shape).
    mutating func add(_ layer: Layer, _ node: Onnx_NodeProto, _ x: Activation, shape: [Int]?) throws {
        let id: Graph.NodeID
        do { id = try graph.add(layer, after: x.id) } catch { throw fail(node, "\(error)") }
        activations[try output(node)] = Activation(id: id, shape: shape ?? graph.shapes[id.index])
    }

    mutating func addMerge(_ merge: MergeLayer, _ node: Onnx_NodeProto, _ inputs: [Activation], shape: [Int]) throws {
        let id: Graph.NodeID
        do { id = try graph.add(merge, inputs: inputs.map(\.id)) } catch { throw fail(node, "\(error)") }
        activations[try output(node)] = Activation(id: id, shape: shape)
    }

    func prunedShape(_ x: Activation) -> [Int] { x.id.index < 0 ? graph.inputShape : graph.shapes[x.id.index] }

    /// A layer name: the prefix of a `….weight` (or `….bias`) tensor the node reads, so that
    /// parameters keep their names; else the node's name with `/` as `.` (`/conv1/Conv` →
    /// `conv1.Conv`); made valid and unique.
    mutating func name(for node: Onnx_NodeProto, weight: String? = nil, bias: String? = nil) -> String {
        var base = ""
        if let weight, weight.hasSuffix(".weight"), weight.count > 7 { base = String(weight.dropLast(7)) }
        else if let bias, bias.hasSuffix(".bias"), bias.count > 5 { base = String(bias.dropLast(5)) }
        if base.isEmpty {
            base = node.name.split(separator: "/", omittingEmptySubsequences: true).joined(separator: ".")
        }
        base = base.split(separator: ".", omittingEmptySubsequences: true).joined(separator: ".")
        if base.isEmpty || base == GraphSpec.inputName { base = "\(node.opType.lowercased())\(graph.nodes.count + 1)" }
        var candidate = base, k = 2
        while usedNames.contains(candidate) { candidate = "\(base)_\(k)"; k += 1 }
        usedNames.insert(candidate)
        return candidate
    }

    // MARK: - Inputs and attributes

    /// The per-sample shape of the graph input: every dimension after the batch known.
    static func sampleShape(of input: Onnx_ValueInfoProto, path: String) throws -> [Int] {
        let type = input.type.tensorType
        guard input.type.tensorType.elemType == ONNXFile.ElementType.float.rawValue else {
            throw FormatError(path: path, .unexpectedContent(expected: "a FLOAT graph input", found: "input '\(input.name)' of element type \(type.elemType)"))
        }
        let dims = type.shape.dim
        guard dims.count >= 2 else {
            throw FormatError(path: path, .unexpectedContent(expected: "an input shaped [N, …]", found: "input '\(input.name)' of rank \(dims.count)"))
        }
        var shape: [Int] = []
        for d in dims.dropFirst() {
            guard case .dimValue(let v)? = d.value, v > 0, v <= 1 << 20 else {
                throw FormatError(path: path, .unexpectedContent(expected: "an input whose dimensions after the batch are fixed sizes",
                                                                 found: "input '\(input.name)' with dimension \(d.value.map { "\($0)" } ?? "unknown")"))
            }
            shape.append(Int(v))
        }
        guard shape.reduce(1.0, { $0 * Double($1) }) <= Double(ONNXFile.maximumElements) else {
            throw FormatError(path: path, .unexpectedContent(expected: "an input of at most 2³¹ values per sample", found: "\(shape)"))
        }
        return shape
    }

    /// A sparse initializer's dense values (COO: indices `[NNZ, rank]` or linear `[NNZ]`).
    static func densify(_ s: Onnx_SparseTensorProto, path: String) throws -> Tensor {
        var dims = Onnx_TensorProto()
        dims.name = s.values.name
        dims.dims = s.dims
        let shape = try ONNXFile.shape(of: dims, path: path)
        let values = try ONNXFile.floatTensor(s.values, path: path)
        let (indexShape, indices) = try ONNXFile.integerTensor(s.indices, path: path, maximumCount: ONNXFile.maximumElements)
        let count = shape.reduce(1, *), nnz = values.count
        let linear: Bool = indexShape == [nnz]
        guard values.rank == 1, linear || indexShape == [nnz, shape.count] else {
            throw FormatError(path: path, .malformedTensor(tensor: s.values.name, problem: "is a sparse initializer whose indices \(indexShape) do not fit \(nnz) values of rank \(shape.count)"))
        }
        var dense = [Float](repeating: 0, count: count)
        for k in 0..<nnz {
            var offset = 0
            if linear {
                offset = Int(clamping: indices[k])
            } else {
                for (axis, extent) in shape.enumerated() {
                    let i = indices[k * shape.count + axis]
                    guard i >= 0, i < Int64(extent) else { offset = -1; break }
                    offset = offset * extent + Int(i)
                }
            }
            guard offset >= 0, offset < count else {
                throw FormatError(path: path, .malformedTensor(tensor: s.values.name, problem: "is a sparse initializer with an index outside its shape \(shape)"))
            }
            dense[offset] = values.scalars[k]
        }
        return Tensor(shape: shape, scalars: dense)
    }

    func fail(_ node: Onnx_NodeProto, _ problem: String) -> FormatError {
        let label = node.name.isEmpty ? "#\((nodes.firstIndex(of: node) ?? 0) + 1) (\(node.opType))" : node.name
        return FormatError(path: path, .onnxNode(node: label, op: node.opType, problem: problem))
    }

    func input(_ node: Onnx_NodeProto, _ k: Int) throws -> String {
        guard k < node.input.count, !node.input[k].isEmpty else { throw fail(node, "op \(node.opType) lacks input \(k + 1)") }
        return node.input[k]
    }

    func output(_ node: Onnx_NodeProto) throws -> String {
        guard let o = node.output.first, !o.isEmpty else { throw fail(node, "op \(node.opType) has no output") }
        guard activations[o] == nil, constants[o] == nil, decoded[o] == nil else { throw fail(node, "output '\(o)' is computed twice") }
        return o
    }

    /// Input `k` as a value computed from the graph input.
    func computed(_ node: Onnx_NodeProto, _ k: Int) throws -> Activation {
        let name = try input(node, k)
        if let a = activations[name] { return a }
        if constants[name] != nil || decoded[name] != nil {
            throw fail(node, "op \(node.opType) reads the constant '\(name)' where Prune expects a tensor computed from the input")
        }
        throw fail(node, "input '\(name)' is not computed by an earlier node")
    }

    /// Input `k` as a constant float tensor.
    mutating func floats(_ node: Onnx_NodeProto, _ k: Int) throws -> Tensor {
        let name = try input(node, k)
        guard let t = try constantFloats(name) else {
            throw fail(node, "op \(node.opType) needs '\(name)' to be a constant (an initializer), but it is computed from the input")
        }
        return t
    }

    /// The constant `name` as floats (decoded once), or nil when it is not a constant.
    mutating func constantFloats(_ name: String) throws -> Tensor? {
        if let d = decoded[name] { return d }
        guard let proto = constants[name] else { return nil }
        let t = try ONNXFile.floatTensor(proto, path: path)
        decoded[name] = t
        constants[name] = nil   // the bytes are no longer needed
        return t
    }

    /// Input `k` as constant integers (a shape or axes).
    func integers(_ node: Onnx_NodeProto, _ k: Int) throws -> [Int64] {
        let name = try input(node, k)
        guard let proto = constants[name] else { throw fail(node, "op \(node.opType) needs '\(name)' to be a constant list of integers") }
        return try ONNXFile.integerTensor(proto, path: path).values
    }

    func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }
    func int(_ node: Onnx_NodeProto, _ name: String, _ fallback: Int) -> Int { attribute(node, name).map { Int(clamping: $0.i) } ?? fallback }
    func float(_ node: Onnx_NodeProto, _ name: String, _ fallback: Float) -> Float { attribute(node, name)?.f ?? fallback }
    func ints(_ node: Onnx_NodeProto, _ name: String) -> [Int64]? { attribute(node, name)?.ints }
    func string(_ node: Onnx_NodeProto, _ name: String) -> String? { attribute(node, name).map { String(decoding: $0.s, as: UTF8.self) } }

    /// A 2-D attribute whose two values agree (`strides`, `dilations`, `kernel_shape`).
    func square(_ node: Onnx_NodeProto, _ name: String, default fallback: Int?) throws -> Int {
        guard let values = ints(node, name) else {
            guard let fallback else { throw fail(node, "op \(node.opType) lacks attribute \(name)") }
            return fallback
        }
        guard values.count == 2, values[0] == values[1], values[0] > 0, values[0] <= 1 << 20 else {
            throw fail(node, "op \(node.opType) with \(name) \(values) is not supported (two equal positive values only)")
        }
        return Int(values[0])
    }

    /// The one padding of a node whose `pads` are all equal (and `auto_pad` NOTSET or VALID).
    func symmetricPadding(_ node: Onnx_NodeProto) throws -> Int {
        let autoPad = string(node, "auto_pad") ?? "NOTSET"
        guard autoPad == "NOTSET" || autoPad == "VALID" || autoPad.isEmpty else {
            throw fail(node, "op \(node.opType) with auto_pad=\(autoPad) is not supported (export with explicit pads)")
        }
        guard let pads = ints(node, "pads"), autoPad != "VALID" else { return 0 }
        guard pads.count == 4, Set(pads).count == 1, pads[0] >= 0, pads[0] <= 1024 else {
            throw fail(node, "op \(node.opType) with pads \(pads) is not supported (equal padding on every side only)")
        }
        return Int(pads[0])
    }
}
