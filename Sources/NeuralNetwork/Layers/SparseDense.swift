import TensorCore

/// An inference-only fully connected layer with its weight in CSR form: `y = x·Wᵀ + b`
/// computed from the stored (kept) weights only. Made by `Graph.sparsified()`.
///
/// Batch 1 uses the sparse matrix × vector kernel; larger batches are transposed to
/// feature-major, multiplied with the batch-vectorized kernel and transposed back.
/// It has no backward pass: train the masked dense model, then sparsify it.
public final class SparseDense: Layer {
    public var name: String
    /// The weight `[out, in]` in CSR form.
    public let weight: CSRMatrix
    /// `[out]`, or nil.
    public let bias: Tensor?

    /// Creates the layer from a dense layer, keeping the entries its mask keeps (its
    /// non-zeros when it has no mask).
    public init(_ dense: Dense) {
        name = dense.name
        weight = CSRMatrix(dense.weight.value, mask: dense.weight.mask)
        bias = dense.bias?.value
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .dense)
        s.inFeatures = weight.columns; s.outFeatures = weight.rows; s.bias = bias != nil
        return s
    }

    /// The weight rebuilt dense (so a sparsified model can still be saved as a model file).
    public var namedParameters: [(String, Parameter)] {
        [("weight", Parameter(weight.dense()))] + (bias.map { [("bias", Parameter($0))] } ?? [])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let s = try requireRank(inputShapes, 1, name, "a flat vector (add a Flatten layer before it)")
        guard s[0] == weight.columns else { throw ModelError("layer '\(name)' expects \(weight.columns) input features, got \(s[0])") }
        return [weight.rows]
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        nonZeroOnly ? weight.nonZeroCount : weight.rows * weight.columns
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == weight.columns, "\(name): input \(x.shape) does not fit [N, \(weight.columns)]")
        let n = x.shape[0], rows = weight.rows, columns = weight.columns
        var y: Tensor
        if n == 1 {
            y = Tensor(shape: [1, rows]) { out in x.withUnsafeBufferPointer { weight.multiply(vector: $0.baseAddress!, into: out.baseAddress!) } }
        } else {
            let xt = transposed(x, rows: n, columns: columns)
            let yt = Tensor(shape: [rows, n]) { out in
                xt.withUnsafeBufferPointer { weight.multiply(transposedBatch: $0.baseAddress!, count: n, into: out.baseAddress!) }
            }
            y = transposed(yt, rows: rows, columns: n)
        }
        if let bias { addRowVector(&y, bias) }
        return y
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        preconditionFailure("\(name) is an inference-only sparse layer; train the masked dense model instead")
    }
}

/// The transpose of a row-major `rows × columns` matrix, in 16×16 tiles.
func transposed(_ a: Tensor, rows: Int, columns: Int) -> Tensor {
    Tensor(shape: [columns, rows]) { out in
        a.withUnsafeBufferPointer { p in
            var i = 0
            while i < rows {
                let iEnd = min(i + 16, rows)
                var j = 0
                while j < columns {
                    let jEnd = min(j + 16, columns)
                    for r in i..<iEnd { for c in j..<jEnd { out[c * rows + r] = p[r * columns + c] } }
                    j = jEnd
                }
                i = iEnd
            }
        }
    }
}

extension Graph {
    /// An inference copy of the model in which every Dense layer whose weight keeps at most
    /// `maximumDensity` of its entries (by mask, or by non-zeros) computes from CSR
    /// (`SparseDense`); other layers are shared with this model. Outputs equal the masked
    /// model's up to float rounding. The default 0.3 follows the measured crossover: denser
    /// layers are faster through BLAS (docs/RESULTS.md).
    /// - Throws: `ModelError` if the copy cannot be assembled (it always fits).
    public func sparsified(maximumDensity: Double = 0.3) throws -> Graph {
        let copy = Graph(inputShape: inputShape)
        var ids: [Int: NodeID] = [:]
        for (i, node) in nodes.enumerated() {
            let inputs = node.inputs.map { $0.index < 0 ? NodeID.input : ids[$0.index]! }
            var module = node.module
            if let dense = module as? Dense {
                let kept = dense.weight.mask?.nonZeroCount() ?? dense.weight.value.nonZeroCount()
                if Double(kept) <= maximumDensity * Double(dense.weight.count) { module = SparseDense(dense) }
            }
            switch module {
            case let layer as Layer: ids[i] = try copy.add(layer, after: inputs[0])
            case let merge as MergeLayer: ids[i] = try copy.add(merge, inputs: inputs)
            default: throw ModelError("module '\(module.name)' is neither a Layer nor a MergeLayer")
            }
        }
        return copy
    }
}
