import Synchronization
import TensorCore

/// An inference-only fully connected layer with its weight in CSR form: `y = x·Wᵀ + b`
/// computed from the stored (kept) weights only. Made by `Graph.sparsified()`.
///
/// Batch 1 uses the sparse matrix × vector kernel (or, when many inputs are zero, the
/// CSC form that skips them); larger batches use the batch-vectorized kernel, which
/// transposes 64-sample panels on the way in and out (through the entries regrouped by
/// blocks of columns when the weight is more than 1,024 inputs wide: a second copy of the
/// stored entries, made on the first batch).
/// It has no backward pass: train the masked dense model, then sparsify it.
public final class SparseDense: Layer {
    public var name: String
    /// The weight `[out, in]` in CSR form.
    public let weight: CSRMatrix
    /// `[out]`, or nil.
    public let bias: Tensor?
    /// Threads that share each product by rows, or nil for the calling thread alone.
    public var pool: WorkerPool?
    /// The weight by input features (CSC), for single samples with many zero inputs; built
    /// on first use (under a lock: inference may run on several threads at once).
    private let columnForm = Mutex<CSRMatrix?>(nil)
    private var byInput: CSRMatrix {
        columnForm.withLock { form in
            if form == nil { form = weight.transposed() }
            return form!
        }
    }
    /// For a weight more than 1,024 inputs wide, the weight with its entries also stored by
    /// blocks of columns (`CSRMatrix.withColumnBlocks`), for batches; built on first use.
    private let blockedForm = Mutex<CSRMatrix?>(nil)
    private var forBatches: CSRMatrix {
        guard weight.benefitsFromColumnBlocks else { return weight }
        return blockedForm.withLock { form in
            if form == nil { form = weight.withColumnBlocks() }
            return form!
        }
    }

    /// Creates the layer from a dense layer, keeping the entries its mask keeps (its
    /// non-zeros when it has no mask).
    public init(_ dense: Dense) {
        name = dense.name
        weight = CSRMatrix(dense.weight.value, mask: dense.weight.mask)
        bias = dense.bias?.value
    }

    /// Creates the layer from a CSR weight `[out, in]` and a bias `[out]`.
    /// - Precondition: the bias has one entry per row.
    public init(name: String, weight: CSRMatrix, bias: Tensor?) {
        precondition(bias == nil || bias!.shape == [weight.rows], "bias must be [\(weight.rows)]")
        self.name = name
        self.weight = weight
        self.bias = bias
    }

    /// The equivalent dense layer, masked to the stored entries (for training or pruning further).
    public func densified() -> Dense {
        let dense = Dense(name: name, weight: weight.dense(), bias: bias)
        dense.weight.mask = weight.storedMask()
        return dense
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .dense)
        s.inFeatures = weight.columns; s.outFeatures = weight.rows; s.bias = bias != nil
        return s
    }

    /// The weight rebuilt dense and masked to the stored entries (so reports and model files
    /// see the same parameters as the masked dense layer's).
    public var namedParameters: [(String, Parameter)] {
        let w = Parameter(weight.dense())
        w.mask = weight.storedMask()
        return [("weight", w)] + (bias.map { [("bias", Parameter($0))] } ?? [])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try linearOutputShape(inputShapes, layer: name, inFeatures: weight.columns, outFeatures: weight.rows)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        (nonZeroOnly ? weight.nonZeroCount : weight.rows * weight.columns) * linearRowsPerSample(inputShapes)
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.rank >= 2 && input.shape.last == weight.columns,
                     "\(name): input \(input.shape) does not fit [N, …, \(weight.columns)]")
        // Tokens of a sequence ([N, T, in]) are rows like samples.
        let x = input.rank == 2 ? input : input.reshaped([input.count / weight.columns, weight.columns])
        let n = x.shape[0], rows = weight.rows, columns = weight.columns
        var y: Tensor
        if n == 1 {
            // Many zero inputs (at least a quarter): walk only their columns of the weight.
            if 4 * (columns - x.nonZeroCount()) >= columns {
                y = byInput.multiplyTransposed(vector: x, pool: pool).reshaped([1, rows])
            } else {
                y = weight.multiply(vector: x, pool: pool).reshaped([1, rows])
            }
        } else {
            y = forBatches.multiply(batch: x, pool: pool)
        }
        if let bias { addRowVector(&y, bias) }
        return input.rank == 2 ? y : y.reshaped(Array(input.shape.dropLast()) + [rows])
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        preconditionFailure("\(name) is an inference-only sparse layer; train the masked dense model instead")
    }
}

/// How `Graph.sparsified` decides which Dense and Conv2D layers compute from CSR.
public enum SparseChoice: Sendable, Equatable {
    /// Every layer keeping at most this fraction of its weights (by mask, or by non-zeros).
    case density(maximum: Double)
    /// Each layer keeping at most `maximumDensity` of its weights is timed both ways on
    /// random inputs of `batchSize` samples, and goes sparse only when that is faster: the
    /// crossover moves with the shape, the batch and the machine.
    case measured(batchSize: Int, maximumDensity: Double = 0.6)
}

extension Graph {
    /// A copy of the model whose modules are `transform` of this model's (the same object
    /// where `transform` returns its argument).
    /// - Throws: `ModelError` if a module is neither a Layer nor a MergeLayer, or `transform` throws.
    public func mappingModules(_ transform: (Module) throws -> Module) throws -> Graph {
        let copy = Graph(inputShape: inputShape)
        var ids: [Int: NodeID] = [:]
        for (i, node) in nodes.enumerated() {
            let inputs = node.inputs.map { $0.index < 0 ? NodeID.input : ids[$0.index]! }
            switch try transform(node.module) {
            case let layer as Layer: ids[i] = try copy.add(layer, after: inputs[0])
            case let merge as MergeLayer: ids[i] = try copy.add(merge, inputs: inputs)
            case let other: throw ModelError.unsupportedModule(other.name)
            }
        }
        return copy
    }

    /// An inference copy of the model in which the Dense and Conv2D layers chosen by
    /// `choice` compute from CSR (`SparseDense`, `SparseConv2D`, sharing `pool` when given);
    /// other layers are shared with this model. Outputs equal the masked model's up to
    /// float rounding.
    /// - Throws: `ModelError` if the copy cannot be assembled (it always fits).
    public func sparsified(_ choice: SparseChoice, pool: WorkerPool? = nil) throws -> Graph {
        var inputShapes: [String: [Int]] = [:]
        for i in nodes.indices { inputShapes[nodes[i].module.name] = self.inputShapes(ofNode: i).first }
        return try mappingModules { module in
            // Layers that are sparse already: copies with this pool (the arrays are shared, not
            // copied), leaving the source model's layers as they were.
            if let sparse = module as? SparseDense {
                let copy = SparseDense(name: sparse.name, weight: sparse.weight, bias: sparse.bias)
                copy.pool = pool
                return copy
            }
            if let sparse = module as? SparseConv2D {
                let copy = sparse.withWeight(sparse.weight)
                copy.pool = pool
                return copy
            }
            let weight: Parameter
            let make: () -> Layer
            switch module {
            case let dense as Dense:
                weight = dense.weight
                make = { let s = SparseDense(dense); s.pool = pool; return s }
            case let conv as Conv2D where conv.groups == 1 && conv.dilation == 1:   // the sparse kernel's geometry
                weight = conv.weight
                make = { let s = SparseConv2D(conv); s.pool = pool; return s }
            default:
                return module
            }
            let kept = weight.mask?.nonZeroCount() ?? weight.value.nonZeroCount()
            let density = Double(kept) / Double(max(weight.count, 1))
            switch choice {
            case let .density(maximum):
                return density <= maximum ? make() : module
            case let .measured(batchSize, maximum):
                guard density <= maximum, let layer = module as? Layer, let shape = inputShapes[module.name] else { return module }
                return Self.fasterOf(layer, make(), input: [batchSize] + shape)
            }
        }
    }

    /// Gives every Dense, SparseDense, NMDense and SparseConv2D layer `pool` for inference (nil: one
    /// thread). A pool runs one job at a time: while the model has one, run its inference
    /// from one thread at a time.
    public func useThreads(_ pool: WorkerPool?) {
        for node in nodes {
            switch node.module {
            case let d as Dense: d.pool = pool
            case let d as SparseDense: d.pool = pool
            case let d as NMDense: d.pool = pool
            case let c as SparseConv2D: c.pool = pool
            default: break
            }
        }
    }

    /// `sparsified(.density(maximum: maximumDensity))`. The default 0.3 follows the measured
    /// batch-1 crossover: denser layers are faster through BLAS (docs/RESULTS.md).
    public func sparsified(maximumDensity: Double = 0.3) throws -> Graph {
        try sparsified(.density(maximum: maximumDensity))
    }

    /// A trainable copy: every `SparseDense` (`SparseConv2D`) layer becomes a Dense (Conv2D)
    /// layer masked to its stored entries.
    public func densified() throws -> Graph {
        try mappingModules { ($0 as? SparseDense)?.densified() ?? ($0 as? SparseConv2D)?.densified() ?? $0 }
    }

    /// Whichever of two equivalent layers runs a random input of `shape` faster (medians of
    /// runs taken in turns, about 20 ms in all; `medianSeconds`).
    static func fasterOf(_ dense: Layer, _ sparse: Layer, input shape: [Int]) -> Layer {
        let times = medianSeconds([dense, sparse], input: shape, seconds: 0.02)
        return times[1] < times[0] ? sparse : dense
    }
}
