import TensorCore

/// A fully connected layer: `y = x · Wᵀ + b`.
///
/// Shapes: input `[N, in]`, weight `[out, in]`, bias `[out]`, output `[N, out]`.
/// Backward: `dW = dyᵀ · x`, `db = Σₙ dy`, `dx = dy · W`.
public final class Dense: Layer, InputGradientSkipping {
    public var name: String
    /// `[out, in]`.
    public let weight: Parameter
    /// `[out]`, or nil for a layer without bias.
    public let bias: Parameter?
    public var computesInputGradient = true
    private var input = Tensor.zeros([0, 0])  // [N, in], cached by forward

    /// Threads that share each inference product by output features, or nil for the calling
    /// thread alone. Training ignores it (it splits batches between its own workers).
    public var pool: WorkerPool?

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
        let s = try requireRank(inputShapes, 1, name, "a flat vector (add a Flatten layer before it)")
        guard s[0] == inFeatures else {
            throw ModelError.inputFeatures(layer: name, expected: inFeatures, got: s[0])
        }
        return [outFeatures]
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        nonZeroOnly ? weight.value.nonZeroCount() : weight.count
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inFeatures, "\(name): input \(x.shape) does not fit [N, \(inFeatures)]")
        let n = x.shape[0]
        if training { input = x }
        // Smaller products lose more to the hand-off between threads than they gain.
        let threads = !training && n * weight.count >= 65_536 ? pool : nil
        var y = linear(x, weight: weight.value, pool: threads)
        if let bias { addRowVector(&y, bias.value) }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let n = dy.shape[0]
        precondition(input.shape == [n, inFeatures], "\(name): backward without a matching training forward")
        weight.gradient = matmul(dy, .transposed, input, .none)   // dyᵀ · x: [out, in]
        if let bias { bias.gradient = channelSums(dy) }
        guard computesInputGradient else { return Tensor.zeros([0]) }
        return matmul(dy, .none, weight.value, .none)               // dy · W: [N, in]
    }
}
