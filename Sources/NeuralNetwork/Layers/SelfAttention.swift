import TensorCore

/// Multi-head scaled dot-product self-attention, without parameters of its own: the Q, K and V
/// projections (and the output projection after it) are `Dense` layers, so the pruning criteria,
/// granularities and sparse kernels apply to them as to any other.
///
/// Inputs, each `[T, ·]` per sample:
/// - `[qkv]` or `[qkv, mask]`: one fused projection `[T, 3d]`, Q, K and V side by side (GPT-2);
/// - `[q, k, v]` or `[q, k, v, mask]`: three `[T, d]` projections (BERT);
/// - `mask`: `[T]`, 1 for a real token and 0 for padding (a `PaddingMask`'s output): padded keys
///   get no attention.
///
/// The output is `[T, d]`: each head's `softmax(Q_h·K_hᵀ/√dₕ)·V_h`, heads side by side. With
/// `causal`, token `i` attends to tokens `0…i` only.
public final class SelfAttention: MergeLayer {
    public var name: String
    /// Attention heads; the features divide evenly between them.
    public let heads: Int
    /// Whether each token sees only itself and the tokens before it.
    public let causal: Bool
    private var inputs: [Tensor] = []
    private var probabilities: Tensor?
    /// The keys and values of the tokens seen so far, when the model continues a sequence one
    /// token at a time (`Generator`); nil for whole-sequence passes.
    public var cache: KeyValueCache?

    /// Creates the layer.
    public init(name: String, heads: Int, causal: Bool) {
        self.name = name; self.heads = heads; self.causal = causal
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .selfAttention)
        s.heads = heads; s.causal = causal
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let projections = inputShapes.count <= 2 ? 1 : 3
        guard (1...4).contains(inputShapes.count) else {
            throw ModelError.sequenceInput(layer: name, problem: "takes [qkv], [qkv, mask], [q, k, v] or [q, k, v, mask], got \(inputShapes.count) inputs")
        }
        let first = inputShapes[0]
        guard first.count == 2 else {
            throw ModelError.inputRank(layer: name, rank: 2, expected: "token features [T, d]", shape: first)
        }
        let d = projections == 1 ? first[1] / 3 : first[1]
        guard d > 0, d % heads == 0, projections == 3 || first[1] == 3 * d else {
            throw ModelError.sequenceInput(layer: name, problem: "\(first[1]) features do not split into \(projections == 1 ? "Q, K and V of " : "")\(heads) equal heads")
        }
        for s in inputShapes[1..<projections] where s != first {
            throw ModelError.mismatchedInputs(layer: name, shapes: inputShapes)
        }
        if inputShapes.count > projections, inputShapes[projections] != [first[0]] {
            throw ModelError.sequenceInput(layer: name, problem: "the padding mask \(inputShapes[projections]) is not [\(first[0])]")
        }
        return [first[0], d]
    }

    /// 2·T²·d multiply-adds per sample: the scores `Q·Kᵀ` and the mix `P·V` (T² each per feature).
    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        guard let first = inputShapes.first, first.count == 2 else { return 0 }
        let d = inputShapes.count <= 2 ? first[1] / 3 : first[1]
        return 2 * first[0] * first[0] * d
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        if let cache, !training { return forwardCached(inputs, cache: cache) }
        let (q, k, v, mask, shape) = operands(inputs)
        let (output, probabilities) = attention(query: q, key: k, value: v, shape: shape, keyMask: mask,
                                                keepProbabilities: training)
        if training { self.inputs = inputs; self.probabilities = probabilities }
        return output
    }

    public func backward(_ gradient: Tensor) -> [Tensor] {
        guard let probabilities else { preconditionFailure("\(name): backward without a training forward") }
        let (q, k, v, mask, shape) = operands(inputs)
        let fused = inputs.count <= 2
        let (dq, dk, dv) = attentionBackward(gradient, probabilities: probabilities, query: q, key: k, value: v,
                                             shape: shape, fusedWidth: fused ? 3 * shape.features : nil)
        let maskGradient = mask.map { Tensor.zeros($0.shape) }
        return (fused ? [dq] : [dq, dk, dv]) + (maskGradient.map { [$0] } ?? [])
    }

    /// Appends the new tokens' keys and values to `cache`, then lets the new queries attend to
    /// every cached token (the queries are the last tokens of the sequence).
    private func forwardCached(_ inputs: [Tensor], cache: KeyValueCache) -> Tensor {
        let (q, k, v, mask, shape) = operands(inputs)
        precondition(mask == nil, "\(name): cached attention takes no padding mask")
        cache.append(keys: k, values: v, features: shape.features)
        var full = shape
        full.keyLength = cache.length
        return attention(query: q, key: AttentionOperand(cache.keys), value: AttentionOperand(cache.values), shape: full).output
    }

    private func operands(_ inputs: [Tensor])
        -> (AttentionOperand, AttentionOperand, AttentionOperand, Tensor?, AttentionShape) {
        let first = inputs[0]
        precondition(first.rank == 3, "\(name): input \(first.shape) is not [N, T, features]")
        let fused = inputs.count <= 2
        let d = fused ? first.shape[2] / 3 : first.shape[2]
        let shape = AttentionShape(batch: first.shape[0], length: first.shape[1], heads: heads,
                                   headDimension: d / heads, causal: causal)
        let mask = inputs.count == 2 || inputs.count == 4 ? inputs.last : nil
        if fused {
            return (AttentionOperand(first, column: 0), AttentionOperand(first, column: d),
                    AttentionOperand(first, column: 2 * d), mask, shape)
        }
        return (AttentionOperand(inputs[0]), AttentionOperand(inputs[1]), AttentionOperand(inputs[2]), mask, shape)
    }
}

/// The keys and values `[N, L, d]` of the `L` tokens an attention layer has seen, kept between
/// calls while a model generates one token at a time.
public final class KeyValueCache {
    /// `[N, L, d]`.
    public private(set) var keys = Tensor.zeros([0, 0, 0]), values = Tensor.zeros([0, 0, 0])
    /// Tokens cached.
    public var length: Int { keys.shape[1] }
    /// An empty cache.
    public init() {}

    /// Appends the `d` columns of `key` and `value` (`[N, t, width]` from their offsets).
    func append(keys key: AttentionOperand, values value: AttentionOperand, features d: Int) {
        keys = Self.appending(keys, key, d)
        values = Self.appending(values, value, d)
    }

    private static func appending(_ old: Tensor, _ new: AttentionOperand, _ d: Int) -> Tensor {
        let (n, t, width) = (new.tensor.shape[0], new.tensor.shape[1], new.tensor.shape[2])
        let l = old.shape[0] == n ? old.shape[1] : 0
        var out = Tensor.zeros([n, l + t, d])
        for s in 0..<n {
            for i in 0..<l { for j in 0..<d { out.scalars[(s * (l + t) + i) * d + j] = old.scalars[(s * l + i) * d + j] } }
            for i in 0..<t {
                for j in 0..<d { out.scalars[(s * (l + t) + l + i) * d + j] = new.tensor.scalars[(s * t + i) * width + new.column + j] }
            }
        }
        return out
    }
}

/// Token ids `[N, T]` in, `[N, T]` out: 1 where the id is a real token, 0 where it is `paddingID`.
/// Feeds `SelfAttention` and `MeanPooling`.
public final class PaddingMask: Layer, TokenInput {
    public var name: String
    /// The id that marks padding.
    public let paddingID: Int
    /// Creates the layer.
    public init(name: String, paddingID: Int) { self.name = name; self.paddingID = paddingID }
    public var spec: LayerSpec { var s = LayerSpec(kind: .paddingMask); s.paddingID = paddingID; return s }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try requireRank(inputShapes, 1, name, "a sequence of token ids [T]")
    }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let pad = Float(paddingID)
        return x.map { $0 == pad ? 0 : 1 }
    }
    public func backward(_ dy: Tensor) -> Tensor { Tensor.zeros(dy.shape) }
}
