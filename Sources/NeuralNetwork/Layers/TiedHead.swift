import TensorCore

/// An output head tied to a token embedding: `y = x · Eᵀ`, with `E` the embedding's table
/// (`[vocabulary, features]`), as GPT-2 ties `lm_head` to `wte`. Input `[N, T, features]`,
/// output `[N, T, vocabulary]`.
///
/// The head has no parameter of its own: the table is counted, saved, pruned and updated once,
/// as the embedding's (`tok_emb.weight`). Its weight gradient `dyᵀ·x` goes to the embedding,
/// whose backward (which runs after the head's: the embedding is upstream) adds it to the
/// table's gradient.
public final class TiedHead: Layer {
    public var name: String
    /// The embedding whose table the head multiplies by.
    public let embedding: Embedding
    private var input = Tensor.zeros([0, 0])   // [rows, features], cached by forward
    private var inputShape: [Int] = []

    /// Creates a head tied to `embedding`.
    public init(name: String, tiedTo embedding: Embedding) {
        self.name = name
        self.embedding = embedding
    }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: .tiedHead)
        s.tiedTo = embedding.name; s.count = embedding.count; s.features = embedding.features
        return s
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try linearOutputShape(inputShapes, layer: name, inFeatures: embedding.features, outFeatures: embedding.count)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        let table = embedding.weight.value
        return (nonZeroOnly ? table.nonZeroCount() : table.count) * linearRowsPerSample(inputShapes)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let d = embedding.features
        precondition(x.rank >= 2 && x.shape.last == d, "\(name): input \(x.shape) does not fit [N, …, \(d)]")
        let rows = x.rank == 2 ? x : x.reshaped([x.count / d, d])
        if training { input = rows; inputShape = x.shape }
        let y = linear(rows, weight: embedding.weight.value, pool: nil)
        return x.rank == 2 ? y : y.reshaped(Array(x.shape.dropLast()) + [embedding.count])
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        let v = embedding.count
        let dy = gradient.rank == 2 ? gradient : gradient.reshaped([gradient.count / v, v])
        precondition(input.shape == [dy.shape[0], embedding.features], "\(name): backward without a matching training forward")
        embedding.headGradient = matmul(dy, .transposed, input, .none)   // dyᵀ · x: [vocabulary, features]
        return matmul(dy, .none, embedding.weight.value, .none).reshaped(inputShape)
    }
}
