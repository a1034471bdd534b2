import TensorCore

/// `y = softmax(x)` over the features of each sample (`[N, C]`): probabilities, as models
/// exported for deployment often end. Training a model that ends here uses the
/// cross-entropy of the probabilities (`Loss.evaluate(_:on:outputs:)`), whose gradient
/// through this layer is the usual `softmax(x) − onehot`.
public final class Softmax: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .softmax) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try requireRank(inputShapes, 1, name, "a vector of features")
    }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = softmaxRows(x)
        if training { output = y }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor { softmaxRowsBackward(output: output, gradient: dy) }
}

/// `y = log softmax(x)` over the features of each sample (`[N, C]`). Its outputs work as
/// logits: `softmax(log softmax(x)) = softmax(x)`, so training needs nothing special.
public final class LogSoftmax: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .logSoftmax) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try requireRank(inputShapes, 1, name, "a vector of features")
    }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = logSoftmaxRows(x)
        if training { output = y }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor { logSoftmaxRowsBackward(output: output, gradient: dy) }
}

/// Concatenates its inputs along the channel (first per-sample) axis: `[C₁, …] + [C₂, …]`
/// → `[C₁ + C₂, …]`, the other dimensions equal. Backward hands each input its slice.
public final class Concat: MergeLayer {
    public var name: String
    private var sizes: [Int] = []
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .concat) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard let first = inputShapes.first, inputShapes.count >= 2 else {
            throw ModelError.tooFewInputs(layer: name, minimum: 2, got: inputShapes.count)
        }
        guard !first.isEmpty, inputShapes.allSatisfy({ $0.count == first.count && $0.dropFirst() == first.dropFirst() }) else {
            throw ModelError.concatenatedShapes(layer: name, shapes: inputShapes)
        }
        return [inputShapes.reduce(0) { $0 + $1[0] }] + first.dropFirst()
    }
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        if training { sizes = inputs.map { $0.shape[1] } }
        return concatenateChannels(inputs)
    }
    public func backward(_ gradient: Tensor) -> [Tensor] {
        var start = 0
        return sizes.map { c in
            defer { start += c }
            return channels(gradient, start..<start + c)
        }
    }
}
