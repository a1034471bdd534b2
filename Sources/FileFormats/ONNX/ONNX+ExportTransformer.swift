import Foundation
import NeuralNetwork
import TensorCore

/// ONNX forms of the transformer layers (operator set 20). A model that reads token ids takes
/// `input` as INT64 `[N, T]`, with `T` symbolic: any length up to the declared one, as Prune's
/// own `forward` takes.
///
/// - Embedding: `Gather` of the table's rows; learned positions: `Add` of the table's first `T`
///   rows (`Slice` by the input's length); token types: `Add` of row 0.
/// - `PaddingMask`: `Cast(Not(Equal(ids, pad)))`, 1 for a real token and 0 for padding.
/// - `LayerNorm`: `LayerNormalization` over the last axis.
/// - `Dense` on token features: `MatMul` by the transposed weight (kept `[out, in]` under its own
///   name, so pruned weights and sparse initializers stay as they are), then `Add` of the bias.
/// - `SelfAttention`: each head's `Softmax(Q·Kᵀ/√dₕ + masks)·V` with `Reshape`, `Transpose`
///   and `MatMul`; padded keys and, when causal, later tokens get the lowest Float added, so
///   their weight is exactly 0 as in Prune's kernel.
/// - `MeanPooling`: `ReduceSum` of the masked features over `max(ΣReal, 1e-9)`, or `ReduceMean`;
///   `L2Normalize`: division by `max(ReduceL2, 1e-12)`; `TiedHead`: `MatMul` by the transposed
///   token table, stored once.
extension ONNXExporter {
    /// The float added to the scores of keys a query may not see (PyTorch's `finfo.min`, as
    /// transformers adds it).
    static let maskedScore = -Float.greatestFiniteMagnitude

    /// Appends the nodes of a transformer layer (one of `sequenceKinds`, or a Dense layer on token features).
    mutating func emitSequenceLayer(_ module: Module, index: Int, inputs: [String], output: String) throws {
        let name = module.name, spec = module.spec
        let parameters = Dictionary(module.namedParameters.map { ($0.0, $0.1.value) }, uniquingKeysWith: { a, _ in a })
        func weight(_ local: String) -> String {
            let tensorName = "\(name).\(local)"
            store(tensorName, parameters[local]!)
            return tensorName
        }
        switch spec.kind {
        case .embedding:
            append("Gather", name, [weight("weight"), inputs[0]], output, [Self.int("axis", 0)])
        case .positionEmbedding:
            let length = value(name, "length")
            append("Shape", name, [inputs[0]], length, [Self.int("start", 1), Self.int("end", 2)], step: "Shape")
            let rows = value(name, "rows")
            append("Slice", name, [weight("weight"), integers("\(name)/zero", [0]), length, integers("\(name)/axes", [0])],
                   rows, step: "Slice")
            append("Add", name, [inputs[0], rows], output)
        case .tokenTypeEmbedding:
            let row = value(name, "row")
            append("Gather", name, [weight("weight"), integers("\(name)/type", [0], shape: [])], row,
                   [Self.int("axis", 0)], step: "Gather")
            append("Add", name, [inputs[0], row], output)
        case .paddingMask:
            let padding = value(name, "padding"), real = value(name, "real")
            append("Equal", name, [inputs[0], integers("\(name)/id", [Int64(spec.paddingID ?? 0)], shape: [])], padding)
            append("Not", name, [padding], real)
            append("Cast", name, [real], output, [Self.int("to", Int64(ONNXFile.ElementType.float.rawValue))])
        case .layerNorm:
            append("LayerNormalization", name, [inputs[0], weight("weight"), weight("bias")], output,
                   [Self.int("axis", -1), Self.float("epsilon", spec.epsilon ?? 1e-5)])
        case .dense:
            let transposed = value(name, "weight_t")
            append("Transpose", name, [weight("weight")], transposed, [Self.ints("perm", [1, 0])])
            guard parameters["bias"] != nil else {
                append("MatMul", name, [inputs[0], transposed], output)
                return
            }
            let product = value(name, "product")
            append("MatMul", name, [inputs[0], transposed], product)
            append("Add", name, [product, weight("bias")], output)
        case .selfAttention:
            try emitAttention(name: name, spec: spec, index: index, inputs: inputs, output: output)
        case .meanPooling:
            let axis = integers("\(name)/tokens", [1])
            guard inputs.count == 2 else {
                append("ReduceMean", name, [inputs[0], axis], output, [Self.int("keepdims", 0)])
                return
            }
            let weights = value(name, "weights"), masked = value(name, "masked"), sum = value(name, "sum")
            let count = value(name, "count"), floor = value(name, "floored_count")
            append("Unsqueeze", name, [inputs[1], integers("\(name)/feature_axis", [2])], weights)
            append("Mul", name, [inputs[0], weights], masked)
            append("ReduceSum", name, [masked, axis], sum, [Self.int("keepdims", 0)], step: "ReduceSum_features")
            append("ReduceSum", name, [inputs[1], axis], count, [Self.int("keepdims", 1)], step: "ReduceSum_tokens")
            append("Max", name, [count, scalar("\(name)/least_count", 1e-9)], floor)
            append("Div", name, [sum, floor], output)
        case .l2Normalize:
            let norm = value(name, "norm"), floor = value(name, "floored_norm")
            append("ReduceL2", name, [inputs[0], integers("\(name)/axes", [-1])], norm, [Self.int("keepdims", 1)])
            append("Max", name, [norm, scalar("\(name)/least_norm", L2Normalize.epsilon)], floor)
            append("Div", name, [inputs[0], floor], output)
        case .tiedHead:
            guard let table = spec.tiedTo, initializers.contains(where: { $0.name == "\(table).weight" })
                    || sparseInitializers.contains(where: { $0.values.name == "\(table).weight" }) else {
                throw FormatError(path: path, .onnxNode(node: name, op: "MatMul", problem: "the tied table '\(spec.tiedTo ?? "")' is not written before the head"))
            }
            let transposed = value(name, "table_t")
            append("Transpose", name, ["\(table).weight"], transposed, [Self.ints("perm", [1, 0])])
            append("MatMul", name, [inputs[0], transposed], output)
        default:
            preconditionFailure("\(spec.kind) has no transformer form")
        }
    }

    /// Multi-head attention from `[N, T, d]` projections (or one fused `[N, T, 3d]`), with an
    /// optional `[N, T]` padding mask last.
    private mutating func emitAttention(name: String, spec: LayerSpec, index: Int, inputs: [String], output: String) throws {
        guard let shapes = model.inputShapes(ofNode: index).first, shapes.count == 2, let heads = spec.heads else {
            throw FormatError(path: path, .onnxNode(node: name, op: "Attention", problem: "attention input is not [T, d]"))
        }
        let fused = inputs.count <= 2
        let d = fused ? shapes[1] / 3 : shapes[1], headWidth = d / heads
        var projections = Array(inputs.prefix(fused ? 1 : 3))
        let mask = inputs.count == (fused ? 2 : 4) ? inputs.last : nil
        if fused {
            projections = ["q", "k", "v"].map { value(name, $0) }
            var node = Onnx_NodeProto()
            node.opType = "Split"; node.name = "/\(name)/Split"
            node.input = [inputs[0], integers("\(name)/split", [Int64(d), Int64(d), Int64(d)])]
            node.output = projections
            node.attribute = [Self.int("axis", 2)]
            nodes.append(node)
        }
        // [N, T, d] → [N, T, h, dₕ] → [N, h, T, dₕ] (keys: [N, h, dₕ, T]).
        let split = integers("\(name)/head_shape", [0, 0, Int64(heads), Int64(headWidth)])
        var perHead: [String] = []
        for (role, projection) in zip(["q", "k", "v"], projections) {
            let reshaped = value(name, "\(role)_heads"), transposed = value(name, "\(role)_t")
            append("Reshape", name, [projection, split], reshaped, step: "Reshape_\(role)")
            append("Transpose", name, [reshaped], transposed, [Self.ints("perm", role == "k" ? [0, 2, 3, 1] : [0, 2, 1, 3])],
                   step: "Transpose_\(role)")
            perHead.append(transposed)
        }
        let products = value(name, "products"), scores = value(name, "scores")
        append("MatMul", name, [perHead[0], perHead[1]], products, step: "MatMul_scores")
        append("Mul", name, [products, scalar("\(name)/scale", 1 / Float(headWidth).squareRoot())], scores)
        var masked = scores
        if let mask {
            // (mask − 1)·big: 0 for a real key, the lowest float for a padded one; [N, 1, 1, T].
            let offset = value(name, "mask_offset"), bias = value(name, "mask_bias"), broadcast = value(name, "mask_4d")
            append("Sub", name, [mask, scalar("\(name)/one", 1)], offset)
            append("Mul", name, [offset, scalar("\(name)/big", Float.greatestFiniteMagnitude)], bias, step: "Mul_mask")
            append("Unsqueeze", name, [bias, integers("\(name)/mask_axes", [1, 2])], broadcast)
            let added = value(name, "padding_masked")
            append("Add", name, [masked, broadcast], added, step: "Add_padding")
            masked = added
        }
        if spec.causal == true {
            let positions = shapes[0]
            let causal = "causal_mask_\(positions)"   // one for every layer
            if constants.insert(causal).inserted {
                var table = [Float](repeating: 0, count: positions * positions)
                for i in 0..<positions { for j in (i + 1)..<positions { table[i * positions + j] = Self.maskedScore } }
                initializers.append(ONNXFile.tensorProto(causal, Tensor(shape: [positions, positions], scalars: table)))
            }
            let length = value(name, "length"), ends = value(name, "ends"), window = value(name, "causal_window")
            append("Shape", name, [projections[0]], length, [Self.int("start", 1), Self.int("end", 2)])
            append("Concat", name, [length, length], ends, [Self.int("axis", 0)])
            append("Slice", name, [causal, integers("\(name)/zeros", [0, 0]), ends, integers("\(name)/causal_axes", [0, 1])], window)
            let added = value(name, "causal_masked")
            append("Add", name, [masked, window], added, step: "Add_causal")
            masked = added
        }
        let weights = value(name, "weights"), mixed = value(name, "mixed"), gathered = value(name, "tokens_heads")
        append("Softmax", name, [masked], weights, [Self.int("axis", -1)])
        append("MatMul", name, [weights, perHead[2]], mixed, step: "MatMul_values")
        append("Transpose", name, [mixed], gathered, [Self.ints("perm", [0, 2, 1, 3])], step: "Transpose_out")
        append("Reshape", name, [gathered, integers("\(name)/out_shape", [0, 0, Int64(d)])], output, step: "Reshape_out")
    }

    /// The name of an intermediate value of layer `layer`.
    func value(_ layer: String, _ what: String) -> String { "/\(layer)/\(what)" }

    /// An INT64 initializer (shapes, axes, ids), named `name`; returns its name.
    mutating func integers(_ name: String, _ values: [Int64], shape: [Int]? = nil) -> String {
        if constants.insert(name).inserted { initializers.append(ONNXFile.integerProto(name, values, shape: shape)) }
        return name
    }

    /// A FLOAT initializer of one value (`[1]`, broadcast) named `name`; returns its name.
    mutating func scalar(_ name: String, _ x: Float) -> String {
        if constants.insert(name).inserted { initializers.append(ONNXFile.tensorProto(name, Tensor(shape: [1], scalars: [x]))) }
        return name
    }
}
