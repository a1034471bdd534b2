import TensorCore

/// A fully connected layer: `y = x · Wᵀ + b`.
///
/// Shapes: input `[N, in]`, weight `[out, in]`, bias `[out]`, output `[N, out]`. An input with
/// more axes (`[N, T, in]`, the tokens of a sequence) is treated as `N·T` rows of `in` features and
/// gives `[N, T, out]`.
/// Backward: `dW = dyᵀ · x`, `db = Σₙ dy`, `dx = dy · W`.
public final class Dense: Layer, InputGradientSkipping {
    public var name: String
    /// `[out, in]`.
    public let weight: Parameter
    /// `[out]`, or nil for a layer without bias.
    public let bias: Parameter?
    public var computesInputGradient = true
    private var input = Tensor.zeros([0, 0])  // [rows, in], cached by forward
    private var inputShape: [Int] = []         // the batch's shape before flattening to rows

    /// Threads that share each inference product by output features, or nil for the calling
    /// thread alone. Training ignores it (it splits batches between its own workers).
    public var pool: WorkerPool?

    /// When set, and while the weight's mask is the one it was made from, training computes
    /// through CSR: the forward product and the input gradient from the kept weights only, the
    /// weight gradient at the kept entries only (zero elsewhere, as the optimizer leaves cut
    /// entries). Results equal the dense products' up to float rounding. Set it with
    /// `trainSparse(_:)` or `Graph.useSparseTraining(_:)`.
    public private(set) var sparsePattern: SparsePattern?
    private var patternMaskVersion = 0
    private var sparseForward = false   // whether the last training forward ran through CSR

    /// Trains through CSR from now on, with the pattern of the weight's current mask (true), or
    /// with dense products (false). A layer without a mask trains dense.
    public func trainSparse(_ sparse: Bool) {
        sparsePattern = sparse ? weight.mask.map { SparsePattern(mask: $0) } : nil
        patternMaskVersion = weight.maskVersion
    }

    /// The pattern, when it still describes the weight's mask.
    private var currentPattern: SparsePattern? {
        patternMaskVersion == weight.maskVersion ? sparsePattern : nil
    }

    /// The number of input features.
    public var inFeatures: Int { weight.value.shape[1] }
    /// The number of output features.
    public var outFeatures: Int { weight.value.shape[0] }

    /// Creates a layer with weights drawn by `initializer` from `rng`.
    public init(name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
                initializer: Initializer = .default, rng: inout SeededGenerator) {
        self.name = name
        weight = Parameter(initializer.weight(shape: [outFeatures, inFeatures], fanIn: inFeatures, rng: &rng))
        self.bias = bias ? Parameter(initializer.bias(count: outFeatures, fanIn: inFeatures, rng: &rng)) : nil
    }

    /// Creates a layer from explicit weight `[out, in]` and bias `[out]` tensors.
    public init(name: String, weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Dense weight must be [out, in], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Dense bias must be [\(weight.shape[0])]")
        self.name = name
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .dense)
        s.inFeatures = inFeatures; s.outFeatures = outFeatures; s.bias = bias != nil
        return s
    }

    public var namedParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try linearOutputShape(inputShapes, layer: name, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        (nonZeroOnly ? weight.value.nonZeroCount() : weight.count) * linearRowsPerSample(inputShapes)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank >= 2 && x.shape.last == inFeatures, "\(name): input \(x.shape) does not fit [N, …, \(inFeatures)]")
        let rows = x.rank == 2 ? x : x.reshaped([x.count / inFeatures, inFeatures])
        if training { input = rows; inputShape = x.shape; sparseForward = false }
        if training, let pattern = currentPattern {
            sparseForward = true
            var y = pattern.matrix(from: weight.value).multiply(batch: rows)
            if let bias { addRowVector(&y, bias.value) }
            return x.rank == 2 ? y : y.reshaped(Array(x.shape.dropLast()) + [outFeatures])
        }
        // Smaller products lose more to the hand-off between threads than they gain.
        let threads = !training && rows.shape[0] * weight.count >= 65_536 ? pool : nil
        let y = linear(rows, weight: weight.value, bias: bias?.value, pool: threads)
        return x.rank == 2 ? y : y.reshaped(Array(x.shape.dropLast()) + [outFeatures])
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        let dy = gradient.rank == 2 ? gradient : gradient.reshaped([gradient.count / outFeatures, outFeatures])
        precondition(input.shape == [dy.shape[0], inFeatures] && gradient.shape.dropLast() == inputShape.dropLast(),
                     "\(name): backward without a matching training forward")
        if sparseForward, let pattern = sparsePattern {
            weight.gradient = pattern.sampledProduct(dy, input)     // dyᵀ · x at the kept entries
            if let bias { bias.gradient = channelSums(dy) }
            // Wᵀ only when the input gradient is asked for (not in a first layer, as a rule).
            guard computesInputGradient else { return Tensor.zeros([0]) }
            return pattern.transposedMatrix(from: weight.value).multiply(batch: dy).reshaped(inputShape)   // dy · W
        }
        weight.gradient = matmul(dy, .transposed, input, .none)   // dyᵀ · x: [out, in]
        if let bias { bias.gradient = channelSums(dy) }
        guard computesInputGradient else { return Tensor.zeros([0]) }
        return matmul(dy, .none, weight.value, .none).reshaped(inputShape)  // dy · W: [rows, in]
    }
}

/// The per-sample output shape of a linear layer: the input's leading axes kept, the last
/// (`inFeatures`) replaced by `outFeatures`.
func linearOutputShape(_ shapes: [[Int]], layer: String, inFeatures: Int, outFeatures: Int) throws -> [Int] {
    guard shapes.count == 1 else { throw ModelError.notOneInput(layer: layer, got: shapes.count) }
    guard let last = shapes[0].last else {
        throw ModelError.inputRank(layer: layer, rank: 1, expected: "features on the last axis", shape: shapes[0])
    }
    guard last == inFeatures else { throw ModelError.inputFeatures(layer: layer, expected: inFeatures, got: last) }
    return Array(shapes[0].dropLast()) + [outFeatures]
}

/// How many rows of features a linear layer multiplies per sample (the tokens of a sequence, else 1).
func linearRowsPerSample(_ shapes: [[Int]]) -> Int {
    shapes.first.map { $0.dropLast().reduce(1, *) } ?? 1
}
