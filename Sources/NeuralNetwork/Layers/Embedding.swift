import TensorCore

/// What the three embedding layers share: a table `weight` of `[count, features]` (one row per
/// id, position or token type), named `weight` as PyTorch's `nn.Embedding` names it.
public class EmbeddingTable {
    public var name: String
    /// `[count, features]`.
    public let weight: Parameter
    private let kind: LayerKind

    /// The rows of the table.
    public var count: Int { weight.value.shape[0] }
    /// Features per token.
    public var features: Int { weight.value.shape[1] }

    /// A table with entries drawn from N(0, `standardDeviation`²) (PyTorch's `nn.Embedding` draws
    /// N(0, 1); GPT-2 draws N(0, 0.02²); 0 gives zeros, for weights about to be loaded).
    init(name: String, kind: LayerKind, count: Int, features: Int, standardDeviation: Float, rng: inout SeededGenerator) {
        self.name = name
        self.kind = kind
        weight = Parameter(normalTensor([count, features], standardDeviation: standardDeviation, rng: &rng))
    }

    /// A table from explicit values `[count, features]`.
    init(name: String, kind: LayerKind, weight: Tensor) {
        precondition(weight.rank == 2, "\(kind.rawValue) weight must be [count, features], got \(weight.shape)")
        self.name = name
        self.kind = kind
        self.weight = Parameter(weight)
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: kind)
        s.count = count; s.features = features
        return s
    }

    public var namedParameters: [(String, Parameter)] { [("weight", weight)] }
}

/// A lookup table: each token id of a `[N, T]` batch becomes its row of `weight` (`[count,
/// features]`), giving `[N, T, features]`. Ids are whole numbers stored as floats (exact below
/// 2²⁴). Backward adds each token's gradient into its row; ids have no gradient.
public final class Embedding: EmbeddingTable, Layer, TokenInput {
    private var ids: [Int] = []
    /// The gradient a `TiedHead` on this table left in the current backward pass (the head's
    /// backward runs first), added to the table's own by `backward`.
    var headGradient: Tensor?

    /// Creates a table of `count` ids (the vocabulary) with entries drawn from N(0, `standardDeviation`²).
    public init(name: String, count: Int, features: Int, standardDeviation: Float = 1, rng: inout SeededGenerator) {
        super.init(name: name, kind: .embedding, count: count, features: features, standardDeviation: standardDeviation, rng: &rng)
    }

    /// Creates a table from explicit values `[count, features]`.
    public init(name: String, weight: Tensor) { super.init(name: name, kind: .embedding, weight: weight) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let s = try requireRank(inputShapes, 1, name, "a sequence of token ids [T]")
        return [s[0], features]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (d, v) = (features, count)
        let ids = x.scalars.map { id -> Int in
            precondition(id >= 0 && id < Float(v) && id == id.rounded(.down),
                         "\(name): token id \(id) is not a whole number in 0..<\(v)")
            return Int(id)
        }
        if training { self.ids = ids }
        return Tensor(gathering: ids, from: weight.value.scalars, sampleShape: [d]).reshaped(x.shape + [d])
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let d = features
        precondition(dy.count == ids.count * d, "\(name): backward without a matching training forward")
        var gradient = scatterAddRows(dy, at: ids, count: count, features: d)
        if let head = headGradient { gradient.add(head); headGradient = nil }
        weight.gradient = gradient
        return Tensor.zeros(Array(dy.shape.dropLast()))
    }
}

/// Learned positions: adds row `offset + t` of `weight` (`[count, features]`) to token `t` of
/// each `[N, T, features]` sample. `offset` is the position of the first token (0, or the
/// tokens already generated when a model continues text one token at a time).
public final class PositionEmbedding: EmbeddingTable, Layer {
    /// The position of the first token of the next forward pass.
    public var offset = 0
    private var length = 0

    /// Creates a table of `count` positions (the longest sequence) drawn from N(0, `standardDeviation`²).
    public init(name: String, count: Int, features: Int, standardDeviation: Float = 1, rng: inout SeededGenerator) {
        super.init(name: name, kind: .positionEmbedding, count: count, features: features,
                   standardDeviation: standardDeviation, rng: &rng)
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try rowAddingShape(inputShapes, layer: name, features: features, maximumLength: count)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (t, d) = (x.shape[1], features)
        precondition(x.rank == 3 && x.shape[2] == d && offset + t <= count,
                     "\(name): input \(x.shape) at position \(offset) does not fit \(count) positions of \(d) features")
        if training { length = t }
        var y = x.reshaped([x.shape[0], t * d])
        addRowVector(&y, weight.value.rows(offset..<(offset + t)))
        return y.reshaped(x.shape)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let d = features
        precondition(dy.rank == 3 && dy.shape[1] == length, "\(name): backward without a matching training forward")
        var gradient = Tensor.zeros(weight.value.shape)
        gradient.addRows(channelSums(dy.reshaped([dy.shape[0], length * d])), from: offset)
        weight.gradient = gradient
        return dy
    }
}

/// Token types (BERT's segments A and B): adds row `type` of `weight` (`[count, features]`) to
/// every token. Single sentences are all type 0, which is what this layer adds.
public final class TokenTypeEmbedding: EmbeddingTable, Layer {
    /// The type every token gets.
    public let type = 0

    /// Creates a table of `count` token types drawn from N(0, `standardDeviation`²).
    public init(name: String, count: Int, features: Int, standardDeviation: Float = 1, rng: inout SeededGenerator) {
        super.init(name: name, kind: .tokenTypeEmbedding, count: count, features: features,
                   standardDeviation: standardDeviation, rng: &rng)
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try rowAddingShape(inputShapes, layer: name, features: features, maximumLength: nil)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let d = features
        precondition(x.shape.last == d, "\(name): input \(x.shape) does not end in \(d) features")
        var y = x
        addRowVector(&y, weight.value.rows(type..<(type + 1)))
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        let d = features
        var gradient = Tensor.zeros(weight.value.shape)
        gradient.addRows(channelSums(dy.reshaped([dy.count / d, d])), from: type)
        weight.gradient = gradient
        return dy
    }
}

/// `[T, features]` in, the same out, with `T` within `maximumLength` when given.
private func rowAddingShape(_ shapes: [[Int]], layer: String, features: Int, maximumLength: Int?) throws -> [Int] {
    let s = try requireRank(shapes, 2, layer, "a sequence of token features [T, \(features)]")
    guard s[1] == features else { throw ModelError.inputFeatures(layer: layer, expected: features, got: s[1]) }
    if let maximumLength, s[0] > maximumLength {
        throw ModelError.sequenceInput(layer: layer, problem: "sequences of \(s[0]) tokens exceed its \(maximumLength) positions")
    }
    return s
}

/// A tensor of N(0, σ²) entries (Box–Muller on the seeded generator); zeros, drawing nothing,
/// for σ = 0 (a model whose weights are about to be loaded).
func normalTensor(_ shape: [Int], standardDeviation: Float, rng: inout SeededGenerator) -> Tensor {
    var t = Tensor.zeros(shape)
    guard standardDeviation != 0 else { return t }
    for i in 0..<t.count { t.scalars[i] = rng.nextNormal() * standardDeviation }
    return t
}
