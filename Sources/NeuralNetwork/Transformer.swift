import TensorCore

/// Transformer encoders and decoders built from Prune's layers: embeddings, `Dense` projections,
/// `SelfAttention`, `LayerNorm`, `GELU` and residual `Add`s in one `Graph`. A block is a pattern of
/// nodes, not a layer of its own, so every projection is a `Dense` that the pruning criteria,
/// granularities and sparse kernels already handle.
public struct TransformerConfiguration: Codable, Equatable, Sendable {
    /// Where each block normalizes.
    public enum Normalization: String, Codable, Sendable {
        /// After each residual sum (BERT): `x = LN(x + f(x))`.
        case post
        /// Before each sub-layer (GPT-2): `x = x + f(LN(x))`, with a final LayerNorm.
        case pre
    }

    /// Token ids.
    public var vocabulary: Int
    /// The longest sequence (learned positions).
    public var positions: Int
    /// Token types (BERT's segments); 0 for none.
    public var tokenTypes: Int
    /// The model width `d`.
    public var features: Int
    /// Attention heads; they divide `features`.
    public var heads: Int
    /// Blocks.
    public var layers: Int
    /// The feed-forward width (4·d in BERT and GPT-2).
    public var intermediate: Int
    /// Post-LN (BERT) or pre-LN (GPT-2).
    public var normalization: Normalization
    /// Whether each token sees only the tokens before it (a language model).
    public var causal: Bool
    /// The feed-forward GELU: exact (BERT) or tanh (GPT-2).
    public var activation: String
    /// LayerNorm's ε.
    public var epsilon: Float
    /// The id that marks padding, when sequences in a batch are padded (BERT: 0).
    public var paddingID: Int?
    /// Heads kept in each block after some were removed (Hugging Face's `pruned_heads`), each
    /// still `features / heads` wide; nil: `heads` in every block. Only `bertEncoder` reads it.
    public var layerHeads: [Int]?

    /// Creates a configuration.
    public init(vocabulary: Int, positions: Int, tokenTypes: Int = 0, features: Int, heads: Int, layers: Int,
                intermediate: Int, normalization: Normalization, causal: Bool, activation: GELU.Approximation,
                epsilon: Float, paddingID: Int? = nil) {
        self.vocabulary = vocabulary; self.positions = positions; self.tokenTypes = tokenTypes
        self.features = features; self.heads = heads; self.layers = layers; self.intermediate = intermediate
        self.normalization = normalization; self.causal = causal; self.activation = activation.rawValue
        self.epsilon = epsilon; self.paddingID = paddingID
    }

    /// Checks the sizes, naming the first that does not fit.
    func validate() throws {
        for (field, value) in [("vocabulary", vocabulary), ("positions", positions), ("features", features),
                               ("heads", heads), ("layers", layers), ("intermediate", intermediate)]
        where value < 1 || value > 1 << 20 {
            throw ModelError.specField(layer: "transformer", kind: .selfAttention, field: field, limit: 1 << 20, got: value)
        }
        guard features % heads == 0 else {
            throw ModelError.sequenceInput(layer: "transformer", problem: "\(features) features do not split into \(heads) equal heads")
        }
        if let layerHeads, layerHeads.count != layers || layerHeads.contains(where: { !(1...heads).contains($0) }) {
            throw ModelError.sequenceInput(layer: "transformer", problem: "heads per block \(layerHeads) are not \(layers) counts in 1...\(heads)")
        }
        guard GELU.Approximation(rawValue: activation) != nil else {
            throw ModelError.sequenceInput(layer: "transformer", problem: "activation '\(activation)' is neither 'none' nor 'tanh'")
        }
    }
}

extension Graph {
    /// A BERT encoder with Hugging Face's module names (`embeddings.word_embeddings`,
    /// `encoder.layer.0.attention.self.query`, …), so a `BertModel` state dict loads as it is.
    ///
    /// Input: token ids `[T]` per sample, `T` = `sequenceLength` (default: every position;
    /// shorter batches are fine), padded with `paddingID`. Output: with `pooling`, the mean of
    /// the real tokens' last hidden states (`[d]`, a sentence embedding as sentence-transformers
    /// computes it), L2-normalized when `normalize`; otherwise the last hidden states `[T, d]`.
    /// Weights are drawn at random from `seed` (nil: zeros, for a checkpoint to overwrite); load a
    /// checkpoint to use a trained model.
    public static func bertEncoder(_ c: TransformerConfiguration, pooling: Bool = true, normalize: Bool = true,
                                   sequenceLength: Int? = nil, seed: UInt64? = 1) throws -> Graph {
        try c.validate()
        var rng = SeededGenerator(seed: seed ?? 0)
        let sd: Float = seed == nil ? 0 : 0.02
        let length = min(sequenceLength ?? c.positions, c.positions)
        let (d, g) = (c.features, Graph(inputShape: [max(length, 1)]))
        func dense(_ name: String, _ inputs: Int, _ outputs: Int, after x: Graph.NodeID) throws -> Graph.NodeID {
            let layer = seed == nil
                ? Dense(name: name, weight: Tensor.zeros([outputs, inputs]), bias: Tensor.zeros([outputs]))
                : Dense(name: name, inFeatures: inputs, outFeatures: outputs, initializer: .torch, rng: &rng)
            return try g.add(layer, after: x)
        }
        var x = try g.add(Embedding(name: "embeddings.word_embeddings", count: c.vocabulary, features: d,
                                    standardDeviation: sd, rng: &rng), after: .input)
        x = try g.add(PositionEmbedding(name: "embeddings.position_embeddings", count: c.positions, features: d,
                                        standardDeviation: sd, rng: &rng), after: x)
        if c.tokenTypes > 0 {
            x = try g.add(TokenTypeEmbedding(name: "embeddings.token_type_embeddings", count: c.tokenTypes, features: d,
                                             standardDeviation: sd, rng: &rng), after: x)
        }
        x = try g.add(LayerNorm(name: "embeddings.LayerNorm", features: d, epsilon: c.epsilon), after: x)
        let mask = try c.paddingID.map { try g.add(PaddingMask(name: "attention_mask", paddingID: $0), after: .input) }
        for i in 0..<c.layers {
            let p = "encoder.layer.\(i)."
            let heads = c.layerHeads?[i] ?? c.heads, width = heads * (d / c.heads)
            let q = try dense(p + "attention.self.query", d, width, after: x)
            let k = try dense(p + "attention.self.key", d, width, after: x)
            let v = try dense(p + "attention.self.value", d, width, after: x)
            var a = try g.add(SelfAttention(name: p + "attention.self", heads: heads, causal: c.causal),
                              inputs: [q, k, v] + (mask.map { [$0] } ?? []))
            a = try dense(p + "attention.output.dense", width, d, after: a)
            a = try g.add(Add(name: p + "attention.output.residual"), inputs: [a, x])
            x = try g.add(LayerNorm(name: p + "attention.output.LayerNorm", features: d, epsilon: c.epsilon), after: a)
            var h = try dense(p + "intermediate.dense", d, c.intermediate, after: x)
            h = try g.add(GELU(name: p + "intermediate.gelu", approximation: GELU.Approximation(rawValue: c.activation)!), after: h)
            h = try dense(p + "output.dense", c.intermediate, d, after: h)
            h = try g.add(Add(name: p + "output.residual"), inputs: [h, x])
            x = try g.add(LayerNorm(name: p + "output.LayerNorm", features: d, epsilon: c.epsilon), after: h)
        }
        if pooling {
            x = try g.add(MeanPooling(name: "pooling"), inputs: [x] + (mask.map { [$0] } ?? []))
            if normalize { try g.add(L2Normalize(name: "normalize"), after: x) }
        }
        return g
    }

    /// A GPT-style causal language model with nn.Linear-style names (`tok_emb`, `pos_emb`,
    /// `blocks.0.attn.qkv`, …, `ln_f`, `head`): pre-LN blocks with a fused QKV projection and
    /// a tanh-GELU MLP, a final LayerNorm, and a head without bias: its own weight, or with
    /// `tiedHead` the token embedding's table (`TiedHead`, as GPT-2). Output: logits
    /// `[T, vocabulary]` per sample.
    ///
    /// Initialized as GPT-2: Linear and embedding weights N(0, 0.02²), the two projections back
    /// into the residual stream N(0, (0.02/√(2·layers))²), biases 0, LayerNorms 1 and 0.
    public static func gptDecoder(_ c: TransformerConfiguration, seed: UInt64? = 1, tiedHead: Bool = false) throws -> Graph {
        try c.validate()
        var rng = SeededGenerator(seed: seed ?? 0)
        let sd: Float = seed == nil ? 0 : 0.02   // nil: zeros, for a checkpoint to overwrite
        let (d, g) = (c.features, Graph(inputShape: [c.positions]))
        let residualScale = 1 / Float(2 * c.layers).squareRoot()
        func dense(_ name: String, _ inputs: Int, _ outputs: Int, bias: Bool = true, scale: Float = 1,
                   after x: Graph.NodeID) throws -> Graph.NodeID {
            let weight = normalTensor([outputs, inputs], standardDeviation: sd * scale, rng: &rng)
            return try g.add(Dense(name: name, weight: weight, bias: bias ? Tensor.zeros([outputs]) : nil), after: x)
        }
        let activation = GELU.Approximation(rawValue: c.activation)!
        let tokens = Embedding(name: "tok_emb", count: c.vocabulary, features: d, standardDeviation: sd, rng: &rng)
        var x = try g.add(tokens, after: .input)
        x = try g.add(PositionEmbedding(name: "pos_emb", count: c.positions, features: d, standardDeviation: sd, rng: &rng),
                      after: x)
        for i in 0..<c.layers {
            let p = "blocks.\(i)."
            var a = try g.add(LayerNorm(name: p + "ln1", features: d, epsilon: c.epsilon), after: x)
            a = try dense(p + "attn.qkv", d, 3 * d, after: a)
            a = try g.add(SelfAttention(name: p + "attn", heads: c.heads, causal: c.causal), inputs: [a])
            a = try dense(p + "attn.proj", d, d, scale: residualScale, after: a)
            x = try g.add(Add(name: p + "attn.residual"), inputs: [x, a])
            var h = try g.add(LayerNorm(name: p + "ln2", features: d, epsilon: c.epsilon), after: x)
            h = try dense(p + "mlp.fc", d, c.intermediate, after: h)
            h = try g.add(GELU(name: p + "mlp.gelu", approximation: activation), after: h)
            h = try dense(p + "mlp.proj", c.intermediate, d, scale: residualScale, after: h)
            x = try g.add(Add(name: p + "mlp.residual"), inputs: [x, h])
        }
        x = try g.add(LayerNorm(name: "ln_f", features: d, epsilon: c.epsilon), after: x)
        if tiedHead {
            try g.add(TiedHead(name: "head", tiedTo: tokens), after: x)
        } else {
            _ = try dense("head", d, c.vocabulary, bias: false, after: x)
        }
        return g
    }
}
