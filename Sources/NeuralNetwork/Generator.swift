import RealModule
import TensorCore

/// Continues a token sequence with a causal language model (gpt-tiny), one token at a time,
/// keeping each attention layer's keys and values (`KeyValueCache`) so that a new token costs
/// one position's work rather than the whole context's.
///
/// When the context reaches the model's positions, the cache is rebuilt from the last half of
/// the tokens (the model never sees more positions than it was trained on).
public final class Generator {
    /// How the next token is drawn from the logits.
    public struct Sampling: Equatable, Sendable {
        /// Divides the logits; 0 always takes the most likely token.
        public var temperature: Float
        /// Draw only among the `topK` most likely tokens (nil: all).
        public var topK: Int?
        /// The generator's seed: the same seed and prompt give the same text.
        public var seed: UInt64
        /// Creates sampling settings.
        public init(temperature: Float = 0.8, topK: Int? = 40, seed: UInt64 = 1) {
            self.temperature = temperature; self.topK = topK; self.seed = seed
        }
    }

    /// The model.
    public let model: Graph
    private let attention: [SelfAttention]
    private let positions: [PositionEmbedding]

    /// The context length the model was built for.
    public var contextLength: Int { model.inputShape[0] }

    /// Wraps a causal language model: token ids `[T]` in, logits `[T, vocabulary]` out, with
    /// learned positions and causal self-attention.
    /// - Throws: `ModelError` when the model is not such a model.
    public init(model: Graph) throws {
        attention = model.nodes.compactMap { $0.module as? SelfAttention }
        positions = model.nodes.compactMap { $0.module as? PositionEmbedding }
        guard model.takesSequences, model.outputShape.count == 2, !attention.isEmpty, attention.allSatisfy(\.causal) else {
            throw ModelError.sequenceInput(layer: model.nodes.last?.module.name ?? "model",
                                           problem: "generation needs a causal language model (token ids [T] in, logits [T, vocabulary] out), got \(model.inputShape) → \(model.outputShape)")
        }
        self.model = model
    }

    /// The logits `[T, vocabulary]` of a whole sequence at once, without the cache.
    public func logits(_ tokens: [Int]) -> Tensor {
        reset(offset: nil)
        let y = model.forward(Tensor(shape: [1, tokens.count], scalars: tokens.map(Float.init)))
        return y.reshaped(Array(y.shape.dropFirst()))
    }

    /// Each position's logits of `tokens` fed one at a time through the caches (what generation
    /// computes), as `[T][vocabulary]`; equal to `logits(tokens)` up to rounding.
    /// - Precondition: `tokens` fits the context.
    public func incrementalLogits(_ tokens: [Int]) -> [[Float]] {
        precondition(!tokens.isEmpty && tokens.count <= contextLength, "\(tokens.count) tokens do not fit a context of \(contextLength)")
        reset(offset: 0)
        defer { reset(offset: nil) }
        return tokens.map { feed([$0], restart: false) }
    }

    /// Appends `count` tokens to `prompt`, calling `onToken` with each as it is drawn; returns
    /// the new tokens.
    /// - Precondition: the prompt is not empty and its ids are within the vocabulary.
    public func generate(prompt: [Int], count: Int, sampling: Sampling = Sampling(),
                         onToken: ((Int) -> Void)? = nil) -> [Int] {
        precondition(!prompt.isEmpty, "generation needs a prompt of at least one token")
        var rng = SeededGenerator(seed: sampling.seed)
        var context = Array(prompt.suffix(contextLength))
        var next = feed(context, restart: true)
        var produced: [Int] = []
        for _ in 0..<count {
            let token = Self.draw(next, sampling: sampling, rng: &rng)
            produced.append(token)
            onToken?(token)
            context.append(token)
            if context.count > contextLength {
                // The positions are used up: start again from the last half of the text.
                context = Array(context.suffix(contextLength / 2))
                next = feed(context, restart: true)
            } else {
                next = feed([token], restart: false)
            }
        }
        reset(offset: nil)
        return produced
    }

    /// Runs `tokens` after what the caches hold (or from scratch) and returns the last position's logits.
    private func feed(_ tokens: [Int], restart: Bool) -> [Float] {
        if restart { reset(offset: 0) }
        let y = model.forward(Tensor(shape: [1, tokens.count], scalars: tokens.map(Float.init)))
        for p in positions { p.offset += tokens.count }
        let v = y.shape.last!
        return Array(y.scalars[(y.count - v)...])
    }

    /// Empties the caches and sets the positions' offset (nil: no caching, offset 0).
    private func reset(offset: Int?) {
        for a in attention { a.cache = offset == nil ? nil : KeyValueCache() }
        for p in positions { p.offset = offset ?? 0 }
    }

    /// Draws a token from `logits`: the argmax at temperature 0, else a sample from the softmax of
    /// `logits / temperature` over the `topK` largest.
    static func draw(_ logits: [Float], sampling: Sampling, rng: inout SeededGenerator) -> Int {
        guard sampling.temperature > 0 else { return logits.indices.max { logits[$0] < logits[$1] }! }
        var candidates = Array(logits.indices)
        if let k = sampling.topK, k < candidates.count {
            candidates = Array(candidates.sorted { logits[$0] > logits[$1] }.prefix(max(k, 1)))
        }
        let top = candidates.map { logits[$0] }.max()!
        let weights = candidates.map { Double.exp(Double(logits[$0] - top) / Double(sampling.temperature)) }
        var u = Double(rng.nextUnitFloat()) * weights.reduce(0, +)
        for (i, w) in zip(candidates, weights) {
            u -= w
            if u <= 0 { return i }
        }
        return candidates.last!
    }
}
