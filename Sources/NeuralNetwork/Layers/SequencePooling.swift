import TensorCore

/// The mean of a sequence's token features: `[T, d]` (and optionally its `[T]` padding mask) in,
/// `[d]` out. With a mask, only real tokens count: `Σₜ mₜ·hₜ / max(Σₜ mₜ, 1e-9)`, as
/// sentence-transformers' mean pooling.
public final class MeanPooling: MergeLayer {
    public var name: String
    private var mask: Tensor?
    private var shape: [Int] = []
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .meanPooling) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard (1...2).contains(inputShapes.count) else {
            throw ModelError.sequenceInput(layer: name, problem: "takes [hidden] or [hidden, mask], got \(inputShapes.count) inputs")
        }
        guard inputShapes[0].count == 2 else {
            throw ModelError.inputRank(layer: name, rank: 2, expected: "token features [T, d]", shape: inputShapes[0])
        }
        if inputShapes.count == 2, inputShapes[1] != [inputShapes[0][0]] {
            throw ModelError.sequenceInput(layer: name, problem: "the padding mask \(inputShapes[1]) is not [\(inputShapes[0][0])]")
        }
        return [inputShapes[0][1]]
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let mask = inputs.count == 2 ? inputs[1] : nil
        if training { self.mask = mask; shape = inputs[0].shape }
        return meanOverTokens(inputs[0], weights: mask)
    }

    public func backward(_ gradient: Tensor) -> [Tensor] {
        precondition(shape.count == 3 && gradient.shape == [shape[0], shape[2]],
                     "\(name): backward without a matching training forward")
        let dx = meanOverTokensBackward(gradient, weights: mask, tokens: shape[1])
        return [dx] + (mask.map { [Tensor.zeros($0.shape)] } ?? [])
    }
}

/// Scales each row (the last axis) to unit Euclidean length: `x / max(‖x‖₂, 1e-12)`, as
/// PyTorch's `F.normalize`. Backward: `dx = (dy − y·(y·dy)) / ‖x‖` (`dy / 1e-12` for a row
/// shorter than that).
public final class L2Normalize: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    private var norms: [Float] = []
    /// The smallest norm divided by.
    public static let epsilon: Float = 1e-12
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .l2Normalize) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (y, norms) = normalizeRows(x, floor: Self.epsilon)
        if training { output = y; self.norms = norms }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "\(name): backward without a matching training forward")
        return normalizeRowsBackward(dy, rows: output, norms: norms, floor: Self.epsilon)
    }
}
