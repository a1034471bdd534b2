import Foundation
import NeuralNetwork
import TensorCore

/// Writes a Prune `Graph` as an ONNX model: one ONNX node per layer (two for a global
/// pooling, which ONNX keeps as `[N, C, 1, 1]`), values named `/<layer>/output`, weights
/// named by their parameter paths (`fc1.weight`).
struct ONNXExporter {
    let model: Graph
    let options: ONNXFile.ExportOptions
    let path: String
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    var sparseInitializers: [Onnx_SparseTensorProto] = []
    /// The names of the constant initializers written so far (shapes, axes, masks).
    var constants: Set<String> = []

    init(model: Graph, options: ONNXFile.ExportOptions, path: String) {
        self.model = model
        self.options = options
        self.path = path
    }

    /// The layers `emitSequenceLayer` writes (Dense too, when it reads token features).
    static let sequenceKinds: Set<LayerKind> = [.embedding, .positionEmbedding, .tokenTypeEmbedding, .layerNorm, .paddingMask,
                                                .selfAttention, .meanPooling, .l2Normalize, .tiedHead]

    mutating func run() throws -> Onnx_ModelProto {
        var values: [String] = []   // the value each Prune node's output is called
        func source(_ id: Graph.NodeID) -> String { id.index < 0 ? "input" : values[id.index] }
        for (i, node) in model.nodes.enumerated() {
            let module = node.module
            let output = i == model.nodes.count - 1 ? "output" : "/\(module.name)/output"
            let inputs = node.inputs.map(source)
            if try !emit(module, index: i, inputs: inputs, output: output) {
                // No ONNX node (Dropout): later readers read the input, unless it is the output.
                if i == model.nodes.count - 1 { append("Identity", module.name, inputs, output) } else { values.append(inputs[0]); continue }
            }
            values.append(output)
        }
        if model.nodes.isEmpty { append("Identity", "identity", ["input"], "output") }

        var graph = Onnx_GraphProto()
        graph.name = options.graphName
        graph.node = nodes
        graph.initializer = initializers
        graph.sparseInitializer = sparseInitializers
        // Token ids are INT64 [N, T] with T symbolic, as are the outputs kept per token.
        let tokens = model.takesSequences
        graph.input = [Self.valueInfo("input", sample: model.inputShape, type: tokens ? .int64 : .float, sequence: tokens)]
        graph.output = [Self.valueInfo("output", sample: model.outputShape, sequence: tokens && model.outputShape.count > 1)]

        var proto = Onnx_ModelProto()
        let recent = tokens || model.nodes.contains { $0.module is GELU || Self.sequenceKinds.contains($0.module.spec.kind) }
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = recent ? 20 : 17
        proto.irVersion = recent ? 9 : 8
        proto.opsetImport = [opset]
        proto.producerName = "prune"
        proto.graph = graph
        return proto
    }

    /// Appends the ONNX node(s) for `module`; false when it has none (Dropout).
    mutating func emit(_ module: Module, index: Int, inputs: [String], output: String) throws -> Bool {
        let name = module.name
        let parameters = Dictionary(module.namedParameters.map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
        func weight(_ local: String) -> String {
            let tensorName = "\(name).\(local)"
            store(tensorName, parameters[local]!)
            return tensorName
        }
        let spec = module.spec
        let tokenLevelDense = spec.kind == .dense && model.inputShapes(ofNode: index).first?.count != 1
        if Self.sequenceKinds.contains(spec.kind) || tokenLevelDense {
            try emitSequenceLayer(module, index: index, inputs: inputs, output: output)
            return true
        }
        switch spec.kind {
        case .dense:
            let operands = [inputs[0], weight("weight")] + (parameters["bias"] != nil ? [weight("bias")] : [])
            append("Gemm", name, operands, output, [Self.int("transB", 1)])
        case .conv2d:
            let k = Int64(spec.kernelSize ?? 1), s = Int64(spec.stride ?? 1), p = Int64(spec.padding ?? 0)
            let d = Int64(spec.dilation ?? 1)
            let operands = [inputs[0], weight("weight")] + (parameters["bias"] != nil ? [weight("bias")] : [])
            append("Conv", name, operands, output, [
                Self.ints("kernel_shape", [k, k]), Self.ints("strides", [s, s]), Self.ints("pads", [p, p, p, p]),
                Self.ints("dilations", [d, d]), Self.int("group", Int64(spec.groups ?? 1)),
            ])
        case .maxPool2d, .avgPool2d:
            let k = Int64(spec.kernelSize ?? 1), s = Int64(spec.stride ?? spec.kernelSize ?? 1)
            append(spec.kind == .maxPool2d ? "MaxPool" : "AveragePool", name, inputs, output,
                   [Self.ints("kernel_shape", [k, k]), Self.ints("strides", [s, s]), Self.ints("pads", [0, 0, 0, 0])])
        case .globalAvgPool:
            let pooled = "/\(name)/pooled"
            append("GlobalAveragePool", name, inputs, pooled)
            append("Flatten", "\(name)/flatten", [pooled], output, [Self.int("axis", 1)])
        case .flatten:
            append("Flatten", name, inputs, output, [Self.int("axis", 1)])
        case .relu: append("Relu", name, inputs, output)
        case .sigmoid: append("Sigmoid", name, inputs, output)
        case .tanh: append("Tanh", name, inputs, output)
        case .gelu:
            let tanh = spec.approximation == GELU.Approximation.tanh.rawValue
            append("Gelu", name, inputs, output, tanh ? [Self.string("approximate", "tanh")] : [])
        case .leakyRelu: append("LeakyRelu", name, inputs, output, [Self.float("alpha", spec.negativeSlope ?? 0.01)])
        case .softmax: append("Softmax", name, inputs, output, [Self.int("axis", 1)])
        case .logSoftmax: append("LogSoftmax", name, inputs, output, [Self.int("axis", 1)])
        case .batchNorm:
            append("BatchNormalization", name,
                   [inputs[0], weight("weight"), weight("bias"), weight("running_mean"), weight("running_var")], output,
                   [Self.float("epsilon", spec.epsilon ?? 1e-5), Self.float("momentum", 1 - (spec.momentum ?? 0.1))])
        case .add: append(inputs.count == 2 ? "Add" : "Sum", name, inputs, output)
        case .concat: append("Concat", name, inputs, output, [Self.int("axis", 1)])
        case .dropout: return false
        case .embedding, .positionEmbedding, .tokenTypeEmbedding, .layerNorm, .paddingMask, .selfAttention,
             .meanPooling, .l2Normalize, .tiedHead:
            preconditionFailure("\(spec.kind) is written by emitSequenceLayer")
        }
        return true
    }

    /// Appends one node, named `/<layer>/<step>` (`step` defaults to the op, for layers with
    /// one node of each op).
    mutating func append(_ op: String, _ name: String, _ inputs: [String], _ output: String, _ attributes: [Onnx_AttributeProto] = [],
                         step: String? = nil) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = "/\(name)/\(step ?? op)"
        node.input = inputs
        node.output = [output]
        node.attribute = attributes
        nodes.append(node)
    }

    /// Stores a weight, as a COO sparse initializer when asked and that form is smaller: COO
    /// spends 12 bytes per kept weight (a Float and an Int64 index) against 4 per weight dense,
    /// so it pays when fewer than a third are kept.
    mutating func store(_ name: String, _ tensor: Tensor) {
        let nonZeros = tensor.nonZeroCount()
        guard options.sparseInitializers, tensor.rank >= 2, nonZeros * 3 < tensor.count else {
            initializers.append(ONNXFile.tensorProto(name, tensor))
            return
        }
        var indices: [Int64] = [], values: [Float] = []
        indices.reserveCapacity(nonZeros); values.reserveCapacity(nonZeros)
        for (i, v) in tensor.scalars.enumerated() where v != 0 { indices.append(Int64(i)); values.append(v) }
        var sparse = Onnx_SparseTensorProto()
        sparse.dims = tensor.shape.map(Int64.init)
        sparse.values = ONNXFile.tensorProto(name, Tensor(shape: [values.count], scalars: values))
        var indexProto = ONNXFile.integerProto("\(name).indices", indices)
        indexProto.rawData = Data(indices.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        indexProto.int64Data = []
        sparse.indices = indexProto
        sparseInitializers.append(sparse)
    }

    /// A graph input's or output's type: `[N, …sample]` with `N` symbolic, and with `sequence`
    /// the sample's first axis too (`T`).
    static func valueInfo(_ name: String, sample: [Int], type element: ONNXFile.ElementType = .float,
                          sequence: Bool = false) -> Onnx_ValueInfoProto {
        func symbol(_ s: String) -> Onnx_TensorShapeProto.Dimension {
            var d = Onnx_TensorShapeProto.Dimension()
            d.dimParam = s
            return d
        }
        var shape = Onnx_TensorShapeProto()
        shape.dim = [symbol("N")] + sample.enumerated().map { axis, size in
            if sequence && axis == 0 { return symbol("T") }
            var d = Onnx_TensorShapeProto.Dimension()
            d.dimValue = Int64(size)
            return d
        }
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = element.rawValue
        tensorType.shape = shape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }

    static func int(_ name: String, _ value: Int64) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .int; a.i = value
        return a
    }

    static func ints(_ name: String, _ values: [Int64]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .ints; a.ints = values
        return a
    }

    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .string; a.s = Data(value.utf8)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .float; a.f = value
        return a
    }
}
