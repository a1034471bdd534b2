import Foundation
import NeuralNetwork
import TensorCore

/// Translates an ONNX graph into a Prune `Graph`, one node at a time in the file's
/// (topological) order. Every value is either computed from the input (an *activation*: a
/// Prune node and its ONNX per-sample shape) or a *constant* (an initializer or a Constant
/// node's tensor). Layers read activations; weights, shapes and axes come from constants.
struct ONNXImporter {
    /// A value computed from the graph input.
    struct Activation {
        /// The Prune node that computes it.
        var id: Graph.NodeID
        /// Its per-sample shape as ONNX sees it (a global pooling gives `[C, 1, 1]` where
        /// the Prune node gives `[C]`).
        var shape: [Int]
    }

    let proto: Onnx_ModelProto
    let path: String
    let opset: Int
    let nodes: [Onnx_NodeProto]
    var graph: Graph
    var activations: [String: Activation] = [:]
    var constants: [String: Onnx_TensorProto] = [:]
    /// Dense values of sparse initializers, and constants already decoded.
    var decoded: [String: Tensor] = [:]
    var usedNames: Set<String> = []
    /// How many nodes (and graph outputs) read each value.
    var readers: [String: Int] = [:]
    /// Add nodes already folded into the MatMul before them as its bias.
    var foldedAdds: Set<Int> = []
    let inputName: String

    /// `proto` is the model without its initializers, which come decoded (`floatInitializers`)
    /// or as protos (`otherInitializers`: integers).
    init(_ proto: Onnx_ModelProto, path: String, floatInitializers: [(String, Tensor)], otherInitializers: [Onnx_TensorProto]) throws {
        self.proto = proto
        self.path = path
        let defaultDomain = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
        let range = ONNXFile.supportedOpsets
        guard let version = defaultDomain.first?.version else {
            throw FormatError(path: path, .unsupportedOpset(domain: "", version: 0, supported: "\(range.lowerBound)–\(range.upperBound); the file declares none"))
        }
        guard range.contains(Int(clamping: version)) else {
            throw FormatError(path: path, .unsupportedOpset(domain: "", version: Int(clamping: version), supported: "\(range.lowerBound)–\(range.upperBound)"))
        }
        opset = Int(version)
        let g = proto.graph
        nodes = g.node
        for (name, t) in floatInitializers {
            guard decoded[name] == nil else { throw FormatError(path: path, .corrupt(what: "two initializers are named '\(name)'")) }
            decoded[name] = t
        }
        for t in otherInitializers + g.initializer {
            guard constants[t.name] == nil, decoded[t.name] == nil else { throw FormatError(path: path, .corrupt(what: "two initializers are named '\(t.name)'")) }
            if t.dataLocation == .external { throw FormatError(path: path, .externalData(tensor: t.name)) }
            constants[t.name] = t
        }
        for s in g.sparseInitializer {
            let name = s.values.name
            guard constants[name] == nil, decoded[name] == nil else { throw FormatError(path: path, .corrupt(what: "two initializers are named '\(name)'")) }
            decoded[name] = try Self.densify(s, path: path)
        }
        let (known, dense) = (constants, decoded)
        let inputs = g.input.filter { known[$0.name] == nil && dense[$0.name] == nil }
        guard inputs.count == 1, let input = inputs.first else {
            throw FormatError(path: path, .unexpectedContent(expected: "a graph with one input", found: "\(inputs.count) inputs (\(inputs.map(\.name).joined(separator: ", ")))"))
        }
        guard g.output.count == 1 else {
            throw FormatError(path: path, .unexpectedContent(expected: "a graph with one output", found: "\(g.output.count) outputs"))
        }
        inputName = input.name
        graph = Graph(inputShape: try Self.sampleShape(of: input, path: path))
        activations[input.name] = Activation(id: .input, shape: graph.inputShape)
        for node in nodes { for name in node.input where !name.isEmpty { readers[name, default: 0] += 1 } }
        readers[g.output[0].name, default: 0] += 1
    }

    // MARK: - The walk

    /// The op types `translate` reads.
    static let supportedOps: Set<String> = [
        "Identity", "Constant", "Gemm", "MatMul", "Conv", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Gelu", "Softmax",
        "LogSoftmax", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape",
        "BatchNormalization", "Add", "Concat", "Dropout",
    ]

    mutating func run() throws -> ONNXFile.Imported {
        // An op Prune lacks is the first thing to say, whatever else the graph holds: the
        // first such node with weights (the layer a user knows, an LSTM rather than the Shape
        // feeding it), naming the other missing op types too.
        let unsupported = nodes.filter { !($0.domain.isEmpty || $0.domain == "ai.onnx") || !Self.supportedOps.contains($0.opType) }
        if let first = unsupported.first(where: { $0.input.contains { constants[$0] != nil || decoded[$0] != nil } }) ?? unsupported.first {
            var others: [String] = []
            for node in unsupported where node.opType != first.opType && !others.contains(node.opType) { others.append(node.opType) }
            let domain = first.domain.isEmpty || first.domain == "ai.onnx" ? "" : " of domain '\(first.domain)'"
            throw fail(first, "op \(first.opType)\(domain) is not supported" + (others.isEmpty ? "" : " (nor are \(others.joined(separator: ", ")) here)"))
        }
        for (i, node) in nodes.enumerated() where !foldedAdds.contains(i) {
            try translate(node, index: i)
        }
        let output = proto.graph.output[0].name
        guard let result = activations[output] else {
            throw FormatError(path: path, .unexpectedContent(expected: "an output computed from the input", found: "output '\(output)' is a constant or never computed"))
        }
        guard !graph.nodes.isEmpty, result.id.index == graph.nodes.count - 1 else {
            throw FormatError(path: path, .unexpectedContent(expected: "an output computed by the graph's last layer", found: "output '\(output)' comes from an earlier one"))
        }
        let producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        var metadata: [String: String] = [:]
        for entry in proto.metadataProps { metadata[entry.key] = entry.value }
        return ONNXFile.Imported(model: graph, opset: opset, producer: producer, inputName: inputName, outputName: output,
                                 metadata: metadata)
    }

    mutating func translate(_ node: Onnx_NodeProto, index: Int) throws {
        switch node.opType {
        case "Identity":
            try alias(node)
        case "Constant":
            try constant(node)
        case "Gemm":
            try gemm(node)
        case "MatMul":
            try matMul(node, index: index)
        case "Conv":
            try conv(node)
        case "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Gelu":
            try activation(node)
        case "Softmax", "LogSoftmax":
            try softmax(node)
        case "MaxPool", "AveragePool":
            try pool(node)
        case "GlobalAveragePool":
            let x = try computed(node, 0)
            guard x.shape.count == 3 else { throw fail(node, "op GlobalAveragePool needs [N, C, H, W] input, got [N] + \(x.shape)") }
            try add(GlobalAvgPool(name: name(for: node)), node, x, shape: [x.shape[0], 1, 1])
        case "ReduceMean":
            try reduceMean(node)
        case "Flatten":
            try flatten(node)
        case "Reshape":
            try reshape(node)
        case "BatchNormalization":
            try batchNorm(node)
        case "Add":
            try addition(node)
        case "Concat":
            try concat(node)
        case "Dropout":
            try dropout(node)
        default:
            throw fail(node, "op \(node.opType) is not supported")
        }
    }

    // MARK: - Ops

    mutating func alias(_ node: Onnx_NodeProto) throws {
        let source = try input(node, 0)
        if let a = activations[source] { activations[try output(node)] = a } else if let c = constants[source] {
            constants[try output(node)] = c
        } else if let d = decoded[source] {
            decoded[try output(node)] = d
        } else {
            throw fail(node, "input '\(source)' is not computed by an earlier node")
        }
    }

    mutating func constant(_ node: Onnx_NodeProto) throws {
        var t: Onnx_TensorProto
        if let value = node.attribute.first(where: { $0.name == "value" }) {
            t = value.t
        } else if let a = node.attribute.first(where: { ["value_float", "value_floats", "value_int", "value_ints"].contains($0.name) }) {
            switch a.name {
            case "value_float": t = ONNXFile.tensorProto("", Tensor(shape: [], scalars: [a.f]))
            case "value_floats": t = ONNXFile.tensorProto("", Tensor(shape: [a.floats.count], scalars: a.floats))
            case "value_int": t = ONNXFile.integerProto("", [a.i], shape: [])
            default: t = ONNXFile.integerProto("", a.ints)
            }
        } else {
            throw fail(node, "op Constant without a tensor, float or integer value is not supported")
        }
        t.name = try output(node)
        if t.dataLocation == .external { throw FormatError(path: path, .externalData(tensor: t.name)) }
        constants[t.name] = t
    }

    mutating func gemm(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        guard int(node, "transA", 0) == 0 else { throw fail(node, "op Gemm with transA=1 (a transposed input) is not supported") }
        guard x.shape.count == 1 else { throw fail(node, "op Gemm needs [N, features] input, got [N] + \(x.shape)") }
        var b = try floats(node, 1)
        let transB = int(node, "transB", 0) != 0
        guard b.rank == 2, b.shape[transB ? 1 : 0] == x.shape[0] else {
            throw fail(node, "op Gemm weight '\(node.input[1])' of shape \(b.shape) does not fit \(x.shape[0]) input features (transB=\(transB ? 1 : 0))")
        }
        if !transB { b = b.transposed() }
        let alpha = float(node, "alpha", 1), beta = float(node, "beta", 1)
        if alpha != 1 { b = b.map { $0 * alpha } }
        let m = b.shape[0]
        var bias: Tensor?
        if node.input.count > 2, !node.input[2].isEmpty {
            let c = try floats(node, 2)
            guard c.count == m || c.count == 1, c.rank <= 2 else {
                throw fail(node, "op Gemm bias '\(node.input[2])' of shape \(c.shape) does not fit \(m) outputs")
            }
            bias = Tensor(shape: [m], scalars: c.count == 1 ? Array(repeating: c.scalars[0] * beta, count: m) : c.scalars.map { $0 * beta })
        }
        let layer = Dense(name: name(for: node, weight: node.input[1], bias: node.input.count > 2 ? node.input[2] : nil), weight: b, bias: bias)
        try add(layer, node, x, shape: [m])
    }

    mutating func matMul(_ node: Onnx_NodeProto, index: Int) throws {
        let x = try computed(node, 0)
        guard x.shape.count == 1 else { throw fail(node, "op MatMul needs [N, features] input, got [N] + \(x.shape)") }
        let w = try floats(node, 1)
        guard w.rank == 2, w.shape[0] == x.shape[0] else {
            throw fail(node, "op MatMul weight '\(node.input[1])' of shape \(w.shape) does not fit \(x.shape[0]) input features")
        }
        let m = w.shape[1]
        // An Add of a constant [M] that is the product's only reader is its bias.
        let product = try output(node)
        var bias: (tensor: Tensor, name: String, add: Int)?
        if readers[product] == 1, let j = nodes.indices.first(where: { $0 > index && nodes[$0].input.contains(product) }),
           nodes[j].opType == "Add", nodes[j].input.count == 2, nodes[j].output.count == 1 {
            let other = nodes[j].input[0] == product ? nodes[j].input[1] : nodes[j].input[0]
            if let c = try constantFloats(other), c.count == m, c.rank == 1 || c.shape == [1, m] {
                bias = (c.reshaped([m]), other, j)
            }
        }
        let layer = Dense(name: name(for: node, weight: node.input[1], bias: bias?.name), weight: w.transposed(), bias: bias?.tensor)
        try add(layer, node, x, shape: [m])
        if let bias {
            foldedAdds.insert(bias.add)
            activations[nodes[bias.add].output[0]] = activations[product]
        }
    }

    mutating func conv(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        guard x.shape.count == 3 else { throw fail(node, "op Conv needs [N, C, H, W] input, got [N] + \(x.shape)") }
        let w = try floats(node, 1)
        guard w.rank == 4 else { throw fail(node, "op Conv weight '\(node.input[1])' of shape \(w.shape) is not [Cout, C/groups, KH, KW]") }
        guard w.shape[2] == w.shape[3] else { throw fail(node, "op Conv with a \(w.shape[2])×\(w.shape[3]) kernel is not supported (square kernels only)") }
        if let k = ints(node, "kernel_shape"), k != [Int64(w.shape[2]), Int64(w.shape[3])] {
            throw fail(node, "op Conv kernel_shape \(k) disagrees with its weight \(w.shape)")
        }
        let groups = int(node, "group", 1)
        guard groups >= 1, x.shape[0] % groups == 0, w.shape[0] % groups == 0, w.shape[1] * groups == x.shape[0] else {
            throw fail(node, "op Conv weight \(w.shape) with \(groups) groups does not fit \(x.shape[0]) input channels")
        }
        let stride = try square(node, "strides", default: 1)
        let dilation = try square(node, "dilations", default: 1)
        let padding = try symmetricPadding(node)
        guard (1...1024).contains(stride), (1...1024).contains(dilation) else {
            throw fail(node, "op Conv stride \(stride) and dilation \(dilation) must lie in 1...1024")
        }
        var bias: Tensor?
        if node.input.count > 2, !node.input[2].isEmpty {
            bias = try floats(node, 2)
            guard bias!.count == w.shape[0] else { throw fail(node, "op Conv bias of shape \(bias!.shape) does not fit \(w.shape[0]) filters") }
            bias = bias!.reshaped([w.shape[0]])
        }
        let extent = dilation * (w.shape[2] - 1) + 1
        guard x.shape[1] + 2 * padding >= extent, x.shape[2] + 2 * padding >= extent else {
            throw fail(node, "op Conv kernel (extent \(extent)) does not fit its input [N] + \(x.shape)")
        }
        let layer = Conv2D(name: name(for: node, weight: node.input[1], bias: node.input.count > 2 ? node.input[2] : nil),
                           weight: w, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        try add(layer, node, x, shape: nil)
    }

    mutating func activation(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        let layer: Layer
        switch node.opType {
        case "Relu": layer = ReLU(name: name(for: node))
        case "Sigmoid": layer = Sigmoid(name: name(for: node))
        case "Tanh": layer = Tanh(name: name(for: node))
        case "LeakyRelu": layer = LeakyReLU(name: name(for: node), negativeSlope: float(node, "alpha", 0.01))
        default:
            let approximation = string(node, "approximate") ?? "none"
            guard approximation == "none" else { throw fail(node, "op Gelu with approximate='\(approximation)' is not supported (only the exact form)") }
            layer = GELU(name: name(for: node))
        }
        try add(layer, node, x, shape: x.shape)
    }

    mutating func softmax(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        let axis = int(node, "axis", opset < 13 ? 1 : -1)
        guard x.shape.count == 1, axis == 1 || axis == -1 else {
            throw fail(node, "op \(node.opType) over axis \(axis) of [N] + \(x.shape) is not supported (only over the features of [N, features])")
        }
        let layer: Layer = node.opType == "Softmax" ? Softmax(name: name(for: node)) : LogSoftmax(name: name(for: node))
        try add(layer, node, x, shape: x.shape)
    }

    mutating func pool(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        guard x.shape.count == 3 else { throw fail(node, "op \(node.opType) needs [N, C, H, W] input, got [N] + \(x.shape)") }
        let kernel = try square(node, "kernel_shape", default: nil)
        let stride = try square(node, "strides", default: 1)
        guard try symmetricPadding(node) == 0 else { throw fail(node, "op \(node.opType) with padding is not supported") }
        guard int(node, "ceil_mode", 0) == 0 else { throw fail(node, "op \(node.opType) with ceil_mode=1 is not supported") }
        guard try square(node, "dilations", default: 1) == 1 else { throw fail(node, "op \(node.opType) with dilations is not supported") }
        guard kernel <= x.shape[1], kernel <= x.shape[2], (1...1024).contains(stride) else {
            throw fail(node, "op \(node.opType) window \(kernel) (stride \(stride)) does not fit [N] + \(x.shape)")
        }
        let layer: Layer = node.opType == "MaxPool"
            ? MaxPool2D(name: name(for: node), kernelSize: kernel, stride: stride)
            : AvgPool2D(name: name(for: node), kernelSize: kernel, stride: stride)
        try add(layer, node, x, shape: nil)
    }

    mutating func reduceMean(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        var axes = ints(node, "axes")
        if opset >= 18, node.input.count > 1, !node.input[1].isEmpty { axes = try integers(node, 1) }
        let keep = int(node, "keepdims", 1) != 0
        let normalized = Set((axes ?? []).map { $0 < 0 ? $0 + 4 : $0 })
        guard x.shape.count == 3, normalized == [2, 3] else {
            throw fail(node, "op ReduceMean over axes \(axes ?? []) of [N] + \(x.shape) is not supported (only over H and W of [N, C, H, W], a global average pooling)")
        }
        try add(GlobalAvgPool(name: name(for: node)), node, x, shape: keep ? [x.shape[0], 1, 1] : [x.shape[0]])
    }

    mutating func flatten(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        let axis = int(node, "axis", 1)
        guard axis == 1 || axis == -x.shape.count else { throw fail(node, "op Flatten with axis \(axis) is not supported (only axis 1)") }
        try flattenLayer(node, x)
    }

    mutating func reshape(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        let target = try integers(node, 1)
        let features = x.shape.reduce(1, *)
        let allowZero = int(node, "allowzero", 0) != 0
        let batchKept = target.first.map { $0 == -1 || ($0 == 0 && !allowZero) } ?? false
        if target.count == 2, batchKept || target[0] > 0, target[1] == Int64(features) || (target[1] == -1 && batchKept) {
            return try flattenLayer(node, x)
        }
        if batchKept, target.count == x.shape.count + 1, zip(target.dropFirst(), x.shape).allSatisfy({ $0 == Int64($1) }) {
            activations[try output(node)] = x
            return
        }
        throw fail(node, "op Reshape to \(target) is not supported (only a flatten to [N, \(features)] or the same shape)")
    }

    /// A flatten to `[N, features]`, or nothing when the Prune node already gives that.
    mutating func flattenLayer(_ node: Onnx_NodeProto, _ x: Activation) throws {
        let features = x.shape.reduce(1, *)
        if prunedShape(x) == [features] {
            activations[try output(node)] = Activation(id: x.id, shape: [features])
        } else {
            try add(Flatten(name: name(for: node)), node, x, shape: [features])
        }
    }

    mutating func batchNorm(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        guard int(node, "training_mode", 0) == 0, node.output.dropFirst().allSatisfy(\.isEmpty) else {
            throw fail(node, "op BatchNormalization in training mode is not supported (export the model in eval mode)")
        }
        guard node.input.count == 5, x.shape.count == 1 || x.shape.count == 3 else {
            throw fail(node, "op BatchNormalization needs five inputs and [N, C] or [N, C, H, W] input, got [N] + \(x.shape)")
        }
        let c = x.shape[0]
        let parameters = try (1...4).map { k -> Tensor in
            let t = try floats(node, k)
            guard t.count == c else { throw fail(node, "op BatchNormalization input '\(node.input[k])' of shape \(t.shape) does not fit \(c) channels") }
            return t.reshaped([c])
        }
        let momentum = float(node, "momentum", 0.9)
        let layer = BatchNorm(name: name(for: node, weight: node.input[1], bias: node.input[2]), features: c,
                              epsilon: float(node, "epsilon", 1e-5), momentum: 1 - momentum)
        layer.scale.value = parameters[0]
        layer.shift.value = parameters[1]
        layer.runningMean.value = parameters[2]
        layer.runningVariance.value = parameters[3]
        try add(layer, node, x, shape: x.shape)
    }

    mutating func addition(_ node: Onnx_NodeProto) throws {
        guard node.input.count == 2 else { throw fail(node, "op Add needs two inputs") }
        guard let a = activations[node.input[0]], let b = activations[node.input[1]] else {
            throw fail(node, "op Add of a constant is supported only as the bias right after a MatMul")
        }
        guard a.shape == b.shape else { throw fail(node, "op Add of shapes [N] + \(a.shape) and [N] + \(b.shape) is not supported (no broadcasting)") }
        let merge = Add(name: name(for: node))
        try addMerge(merge, node, [a, b], shape: a.shape)
    }

    mutating func concat(_ node: Onnx_NodeProto) throws {
        let parts = try node.input.indices.map { try computed(node, $0) }
        let rank = parts.first?.shape.count ?? 0
        let axis = int(node, "axis", 1)
        guard axis == 1 || axis == -(rank) else {
            throw fail(node, "op Concat along axis \(axis) is not supported (only along channels, axis 1)")
        }
        guard parts.count >= 2, parts.allSatisfy({ $0.shape.count == rank && $0.shape.dropFirst() == parts[0].shape.dropFirst() }) else {
            throw fail(node, "op Concat of shapes \(parts.map(\.shape)) is not supported")
        }
        try addMerge(Concat(name: name(for: node)), node, parts, shape: [parts.reduce(0) { $0 + $1.shape[0] }] + parts[0].shape.dropFirst())
    }

    mutating func dropout(_ node: Onnx_NodeProto) throws {
        let x = try computed(node, 0)
        var rate = float(node, "ratio", 0.5)
        if node.input.count > 1, !node.input[1].isEmpty, let r = try constantFloats(node.input[1]), r.count == 1 { rate = r.scalars[0] }
        guard rate >= 0, rate < 1 else { throw fail(node, "op Dropout with ratio \(rate) is not supported") }
        if rate == 0 {
            activations[try output(node)] = x
            return
        }
        try add(Dropout(name: name(for: node), rate: rate, seed: 0), node, x, shape: x.shape)
    }
}
