import Synchronization
import TensorCore

/// An inference-only fully connected layer whose weight keeps at most `n` of every `m`
/// consecutive inputs of each row (N:M, e.g. 2:4): `y = x·Wᵀ + b` from the kept weights only,
/// through `NMPanels` (half the multiply-adds of the dense layer at 2:4, 3/4 of its weight
/// bytes). Made by `Graph.withNMLayers()` from a Dense layer pruned N:M. It has no backward
/// pass: train the masked dense model, then convert it.
///
/// The N:M kernel wins on few rows (one sentence's tokens: 1.1-2× the dense product at 8-64
/// tokens on an AVX-512 Xeon), where the dense kernel pads to whole tiles; on large batches
/// the dense kernel runs faster, and on an AVX2 CPU (8 lanes per permute) the dense kernel can
/// win at one row too. Each layer therefore runs through the kernel only at the row counts
/// where it was measured faster (`kernelProbes`, timed once per shape and pattern in the
/// process, see `NMChoice`), and through a dense copy of the weights, built on first use,
/// elsewhere, as every input does on a CPU without a vector variant of the kernel
/// (`hasVectorKernel`).
public final class NMDense: Layer {
    public var name: String
    /// The weight `[out, in]` in N:M form (what model files and reports read back).
    public let weight: NMMatrix
    /// The weight laid out for the product.
    let panels: NMPanels
    /// `[out]`, or nil.
    public let bias: Tensor?
    /// Threads that share each product by panels of rows, or nil for the calling thread alone.
    public var pool: WorkerPool?
    /// The most rows (tokens) a product may run through the N:M kernel.
    public static let largestKernelBatch = 64
    /// The row counts timed (`NMChoice.probes`: 1, 8, 32, 64) at which this layer's product
    /// runs through the N:M kernel, as `NMChoice` decides: by measurement (the default), or as
    /// `NMChoice.mode` pins it. A product of `r` rows follows the first probe ≥ `r`; beyond the
    /// last it runs dense.
    public var kernelProbes: [Int] {
        get {
            chosenProbes.withLock { probes in
                if probes == nil { probes = NMChoice.kernelProbes(for: self) }
                return probes!
            }
        }
        set { chosenProbes.withLock { $0 = newValue } }
    }
    /// The choice, made at the first product (under a lock: inference may run on several
    /// threads at once).
    private let chosenProbes = Mutex<[Int]?>(nil)

    /// Whether a product of `rows` rows runs through the N:M kernel.
    public func usesKernel(rows: Int) -> Bool {
        guard let probe = NMChoice.probes.first(where: { $0 >= rows }) else { return false }
        return kernelProbes.contains(probe)
    }
    /// Whether this CPU runs a vector variant of the N:M kernel (AVX-512 or AVX2). The scalar
    /// variant runs 30-50× slower than the dense product (`prune bench nm --variant scalar`),
    /// so without one (on ARM, for now) every product goes through the dense copy.
    public static let hasVectorKernel = NMPanels.Variant.best != .scalar
    /// The dense weight, for larger batches; built on first use (under a lock: inference may
    /// run on several threads at once).
    private let denseForm = Mutex<Tensor?>(nil)
    private var denseWeight: Tensor {
        denseForm.withLock { form in
            if form == nil { form = weight.dense() }
            return form!
        }
    }

    /// The N:M form of a dense layer (the entries its mask keeps, its non-zeros without a
    /// mask), or nil when some group of `m` keeps more than `n` or the kernel has no panel
    /// form for the pattern (`NMPanels.supports`).
    public init?(_ dense: Dense, n: Int, m: Int) {
        guard NMPanels.supports(n: n, m: m, columns: dense.inFeatures),
              let weight = NMMatrix(dense.weight.value, mask: dense.weight.mask, n: n, m: m),
              let panels = NMPanels(weight) else { return nil }
        name = dense.name
        self.weight = weight; self.panels = panels
        bias = dense.bias?.value
    }

    /// Creates the layer from an N:M weight `[out, in]` (as a model file stores it) and a bias
    /// `[out]`, or nil when the kernel has no panel form for the pattern.
    /// - Precondition: the bias has one entry per row.
    public init?(name: String, weight: NMMatrix, bias: Tensor?) {
        precondition(bias == nil || bias!.shape == [weight.rows], "bias must be [\(weight.rows)]")
        guard let panels = NMPanels(weight) else { return nil }
        self.name = name; self.weight = weight; self.panels = panels; self.bias = bias
    }

    /// The equivalent dense layer, masked to its stored non-zero weights.
    public func densified() -> Dense {
        let w = weight.dense()
        let dense = Dense(name: name, weight: w, bias: bias)
        dense.weight.mask = w.map { $0 == 0 ? 0 : 1 }
        return dense
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .dense)
        s.inFeatures = weight.columns; s.outFeatures = weight.rows; s.bias = bias != nil
        return s
    }

    /// The weight rebuilt dense and masked to its non-zeros (so reports and model files see
    /// the parameters of the masked dense layer).
    public var namedParameters: [(String, Parameter)] { densified().namedParameters }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try linearOutputShape(inputShapes, layer: name, inFeatures: weight.columns, outFeatures: weight.rows)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        (nonZeroOnly ? weight.values.count { $0 != 0 } : weight.rows * weight.columns) * linearRowsPerSample(inputShapes)
    }

    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.rank >= 2 && input.shape.last == weight.columns,
                     "\(name): input \(input.shape) does not fit [N, …, \(weight.columns)]")
        let rows = input.count / weight.columns
        var y = usesKernel(rows: rows) ? kernelProduct(input) : denseProduct(input)
        if let bias {
            var flat = y.reshaped([y.count / weight.rows, weight.rows])
            addRowVector(&flat, bias)
            y = flat.reshaped(y.shape)
        }
        return y
    }

    /// `x·Wᵀ` through the N:M kernel, without the bias.
    func kernelProduct(_ input: Tensor) -> Tensor { panels.multiplyTransposed(batch: input, pool: pool) }

    /// `x·Wᵀ` through the dense kernels and the dense copy of the weights, without the bias.
    func denseProduct(_ input: Tensor) -> Tensor {
        let rows = input.count / weight.columns
        return linear(input.reshaped([rows, weight.columns]), weight: denseWeight, pool: pool)
            .reshaped(Array(input.shape.dropLast()) + [weight.rows])
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        preconditionFailure("\(name) is an inference-only N:M layer; train the masked dense model instead")
    }
}

extension Graph {
    /// The N:M pattern that a Dense layer's kept weights (by mask, or its non-zeros) follow,
    /// if any (`NMMatrix.pattern(of:)`: `m` of 4 or 8, `n ≤ m/2`, at least 3/4 of the slots
    /// filled).
    public static func nmPattern(of dense: Dense) -> (n: Int, m: Int)? {
        NMMatrix.pattern(of: dense.weight.mask ?? dense.weight.value)
    }

    /// An inference copy of the model in which every Dense layer whose kept weights follow
    /// an N:M pattern (`nmPattern`: 2:4, 1:4, 4:8, …) computes through `NMDense` (sharing
    /// `pool` when given); other layers are shared with this model. Outputs equal the masked
    /// model's up to float rounding.
    /// - Returns: the copy and the names of the converted layers with their patterns.
    /// - Throws: `ModelError` if the copy cannot be assembled (it always fits).
    public func withNMLayers(pool: WorkerPool? = nil) throws -> (model: Graph, converted: [(name: String, n: Int, m: Int)]) {
        var converted: [(name: String, n: Int, m: Int)] = []
        let model = try mappingModules { module in
            guard let dense = module as? Dense, let (n, m) = Self.nmPattern(of: dense),
                  let layer = NMDense(dense, n: n, m: m) else { return module }
            layer.pool = pool
            converted.append((dense.name, n, m))
            return layer
        }
        return (model, converted)
    }
}
