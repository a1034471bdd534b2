import NeuralNetwork
import Testing
import TensorCore
import TestSupport

/// Token ids `[N, T]` as floats, drawn from `0..<vocabulary`.
func tokenIDs(_ n: Int, _ t: Int, vocabulary: Int, seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor(shape: [n, t], scalars: (0..<(n * t)).map { _ in Float(rng.nextInt(below: vocabulary)) })
}

/// Gives the embedding tables of `g` entries of order 1: at GPT-2's 0.02 the LayerNorm after them
/// is so curved that central differences with a step of 1e-2 are not accurate.
func widenEmbeddings(_ g: Graph) {
    for (i, (path, p)) in g.parameters.enumerated() where path.contains("emb") {
        p.value = randomTensor(p.value.shape, seed: 40 + UInt64(i))
    }
}

/// A small BERT and a small GPT, the shapes of all-MiniLM-L6-v2 and gpt-tiny scaled down.
let tinyBERT = TransformerConfiguration(vocabulary: 13, positions: 6, tokenTypes: 2, features: 8, heads: 2, layers: 2,
                                        intermediate: 12, normalization: .post, causal: false, activation: .none,
                                        epsilon: 1e-12, paddingID: 0)
let tinyGPT = TransformerConfiguration(vocabulary: 11, positions: 6, features: 8, heads: 2, layers: 2, intermediate: 16,
                                       normalization: .pre, causal: true, activation: .tanh, epsilon: 1e-5)

@Suite("Transformer layers: gradients by finite differences")
struct TransformerGradientTests {
    static let tolerance = 5e-3

    @Test("Dense on [N, T, in] equals Dense on the N·T rows, forward and backward; multiply-adds count every token")
    func denseOnSequences() throws {
        var rng = SeededGenerator(seed: 1)
        let layer = Dense(name: "fc", inFeatures: 5, outFeatures: 3, rng: &rng)
        let x = randomTensor([2, 4, 5], seed: 2), dy = randomTensor([2, 4, 3], seed: 3)
        let y = layer.forward(x, training: true)
        let dx = layer.backward(dy)
        let (dw, db) = (layer.weight.gradient, layer.bias!.gradient)
        let rows = layer.forward(x.reshaped([8, 5]), training: true)
        let dxRows = layer.backward(dy.reshaped([8, 3]))
        #expect(y.shape == [2, 4, 3] && y.scalars == rows.scalars)
        #expect(dx.shape == [2, 4, 5] && dx.scalars == dxRows.scalars)
        #expect(dw == layer.weight.gradient && db == layer.bias!.gradient)
        #expect(try layer.outputShape(for: [[4, 5]]) == [4, 3])
        #expect(layer.multiplyAdds(for: [[4, 5]], nonZeroOnly: false) == 4 * 15)
        #expect(throws: ModelError.inputFeatures(layer: "fc", expected: 5, got: 6)) { try layer.outputShape(for: [[4, 6]]) }
        let check = checkLayerGradients(layer, input: x)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("Embedding: a row per id; its gradient sums the rows of repeated ids")
    func embedding() {
        var rng = SeededGenerator(seed: 4)
        let layer = Embedding(name: "emb", count: 5, features: 3, rng: &rng)
        let ids = Tensor(shape: [2, 3], scalars: [4, 0, 4, 1, 1, 2])
        let y = layer.forward(ids, training: true)
        #expect(y.shape == [2, 3, 3])
        for (t, id) in [4, 0, 4, 1, 1, 2].enumerated() {
            #expect(Array(y.scalars[(t * 3)..<(t * 3 + 3)]) == Array(layer.weight.value.scalars[(id * 3)..<(id * 3 + 3)]))
        }
        let check = checkLayerGradients(layer, input: ids, checkInput: false)
        #expect(check.worstError < Self.tolerance, "\(check)")
        // Id 3 does not occur: its row's gradient is zero.
        #expect(layer.weight.gradient.scalars[9..<12].allSatisfy { $0 == 0 })
    }

    @Test("position and token-type embeddings add their rows; gradients", arguments: [0, 2])
    func positions(offset: Int) {
        var rng = SeededGenerator(seed: 5)
        let positions = PositionEmbedding(name: "pos", count: 6, features: 3, rng: &rng)
        positions.offset = offset
        let x = randomTensor([2, 4, 3], seed: 6)
        let y = positions.forward(x, training: false)
        #expect(y.scalars[3 + 1] == x.scalars[3 + 1] + positions.weight.value.scalars[(offset + 1) * 3 + 1])
        var check = checkLayerGradients(positions, input: x)
        #expect(check.worstError < Self.tolerance, "\(check)")
        let types = TokenTypeEmbedding(name: "types", count: 2, features: 3, rng: &rng)
        check = checkLayerGradients(types, input: x)
        #expect(check.worstError < Self.tolerance, "\(check)")
        #expect(types.weight.gradient.scalars[3..<6].allSatisfy { $0 == 0 })   // type 1 is unused
    }

    @Test("LayerNorm over the last axis", arguments: [1e-12, 1e-5, 0.5] as [Float])
    func layerNorm(_ eps: Float) {
        let layer = LayerNorm(name: "ln", features: 6, epsilon: eps)
        layer.weight.value = randomTensor([6], low: 0.5, high: 1.5, seed: 7)
        layer.bias.value = randomTensor([6], seed: 8)
        let check = checkLayerGradients(layer, input: randomTensor([2, 3, 6], seed: 9), epsilon: 1e-2, maxEntries: 36)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("GELU, tanh approximation: PyTorch's values and the gradient")
    func geluTanh() {
        let layer = GELU(name: "gelu", approximation: .tanh)
        // torch.nn.functional.gelu(x, approximate='tanh') at these points.
        let y = layer.forward(Tensor(shape: [1, 4], scalars: [-3, -0.5, 0.5, 2]), training: false)
        let torch: [Float] = [-0.0036373, -0.1542860, 0.3457140, 1.9545977]
        #expect(maxRelativeError(y.scalars, torch) < 1e-5)
        let check = checkLayerGradients(layer, input: randomTensor([3, 8], low: -3, high: 3, seed: 10), epsilon: 1e-3)
        #expect(check.worstError < Self.tolerance, "\(check)")
    }

    @Test("MeanPooling with a mask and L2Normalize")
    func pooling() throws {
        let g = Graph(inputShape: [4, 3])
        let pooled = try g.add(MeanPooling(name: "pool"), inputs: [.input])
        try g.add(L2Normalize(name: "norm"), after: pooled)
        let x = randomTensor([2, 4, 3], seed: 11)
        let y = g.forward(x)
        #expect(y.shape == [2, 3])
        for n in 0..<2 { #expect(abs((0..<3).map { y.scalars[n * 3 + $0] * y.scalars[n * 3 + $0] }.reduce(0, +) - 1) < 1e-6) }
        let check = checkGraphGradients(g, input: x, maxEntries: 24)
        #expect(check.worstError < Self.tolerance, "\(check)")
        // With a mask, padded tokens change nothing.
        let pool = MeanPooling(name: "masked")
        let mask = Tensor(shape: [1, 4], scalars: [1, 1, 0, 0])
        var padded = randomTensor([1, 4, 3], seed: 12)
        let before = pool.forward([padded, mask], training: false)
        for j in 6..<12 { padded.scalars[j] = 100 }
        #expect(pool.forward([padded, mask], training: false) == before)
        #expect(before.scalars[0] == (padded.scalars[0] + padded.scalars[3]) / 2)
    }

    @Test("a tiny BERT encoder (post-LN, padding mask, pooled): every parameter's gradient")
    func bert() throws {
        let g = try Graph.bertEncoder(tinyBERT, seed: 13)
        widenEmbeddings(g)
        var ids = tokenIDs(2, 6, vocabulary: 12, seed: 14).map { $0 + 1 }   // 1...12: no padding
        ids.scalars[10] = 0; ids.scalars[11] = 0                              // sample 1 ends in two pads
        let check = checkGraphGradients(g, input: ids, epsilon: 1e-2, maxEntries: 12, checkInput: false)
        #expect(check.worstError < Self.tolerance, "\(check)")
        #expect(check.checked > 300)
    }

    @Test("a tiny GPT decoder (pre-LN, causal, fused QKV), untied and tied: every parameter's gradient", arguments: [false, true])
    func gpt(tied: Bool) throws {
        let g = try Graph.gptDecoder(tinyGPT, seed: 15, tiedHead: tied)   // tied: the table's gradient sums both uses
        widenEmbeddings(g)
        let check = checkGraphGradients(g, input: tokenIDs(2, 5, vocabulary: 11, seed: 16), epsilon: 1e-2, maxEntries: 12,
                                        checkInput: false)
        #expect(check.worstError < Self.tolerance, "\(check)")
        #expect(check.checked > (tied ? 280 : 300))   // tied: no head weight of its own
    }
}

@Suite("Transformer graphs: sequences, masks, specs")
struct TransformerGraphTests {
    @Test("padding changes no sentence embedding: one sentence alone equals it padded in a batch")
    func paddingIsExact() throws {
        let g = try Graph.bertEncoder(tinyBERT, seed: 20)
        let alone = g.forward(Tensor(shape: [1, 3], scalars: [5, 7, 2]))
        let batch = g.forward(Tensor(shape: [2, 6], scalars: [5, 7, 2, 0, 0, 0, 3, 4, 5, 6, 7, 8]))
        #expect(g.takesSequences)
        #expect(maxRelativeError(Array(batch.scalars[0..<8]), alone.scalars) < 1e-6)
    }

    @Test("causal: a token's logits do not depend on the tokens after it")
    func causality() throws {
        let g = try Graph.gptDecoder(tinyGPT, seed: 21)
        let full = g.forward(Tensor(shape: [1, 5], scalars: [1, 2, 3, 4, 5]))
        let changed = g.forward(Tensor(shape: [1, 5], scalars: [1, 2, 3, 9, 0]))
        let prefix = g.forward(Tensor(shape: [1, 3], scalars: [1, 2, 3]))
        #expect(full.shape == [1, 5, 11] && prefix.shape == [1, 3, 11])
        #expect(Array(full.scalars[0..<33]) == Array(changed.scalars[0..<33]))
        #expect(maxRelativeError(Array(full.scalars[0..<33]), prefix.scalars) < 1e-6)
        #expect(full.scalars[33..<55] != changed.scalars[33..<55])
    }

    @Test("gpt-tiny's shape has 875,264 parameters, as the PyTorch reference")
    func gptTinyCount() throws {
        let c = TransformerConfiguration(vocabulary: 256, positions: 128, features: 128, heads: 4, layers: 4, intermediate: 512,
                                         normalization: .pre, causal: true, activation: .tanh, epsilon: 1e-5)
        let g = try Graph.gptDecoder(c)
        #expect(g.trainableParameters.map(\.parameter.count).reduce(0, +) == 875_264)
        #expect(g.parameters.first!.path == "tok_emb.weight" && g.parameters.last!.path == "head.weight")
        // Tied to the token embedding, the head's weight is the table: counted once.
        let tied = try Graph.gptDecoder(c, tiedHead: true)
        #expect(tied.trainableParameters.map(\.parameter.count).reduce(0, +) == 875_264 - 256 * 128)
        #expect(tied.parameter(at: "head.weight") == nil && tied.parameters.last!.path == "ln_f.bias")
        #expect(ModelComplexity(tied).totals.flops == ModelComplexity(g).totals.flops)   // the head's work still counts
    }

    @Test("the spec rebuilds each model; copies give the same outputs; a copy's tied head reads the copy's table",
          arguments: ["bert", "gpt", "gpt-tied"])
    func specRoundTrip(model: String) throws {
        let g = model == "bert" ? try Graph.bertEncoder(tinyBERT, seed: 22) : try Graph.gptDecoder(tinyGPT, seed: 22, tiedHead: model == "gpt-tied")
        let copy = try g.copy()
        #expect(copy.spec == g.spec)
        let ids = tokenIDs(2, 4, vocabulary: 11, seed: 23)
        #expect(copy.forward(ids) == g.forward(ids))
        if model == "gpt-tied" {
            let head = try #require(copy.module(named: "head") as? TiedHead)
            #expect(head.embedding === copy.module(named: "tok_emb") && head.spec.tiedTo == "tok_emb")
            var spec = g.spec
            spec.nodes[spec.nodes.count - 1].layer.tiedTo = "ln_f"
            #expect(throws: ModelError.tiedHead(layer: "head", embedding: "ln_f")) { try spec.makeGraph() }
        }
    }

    @Test("sequence layers reject what does not fit, naming the layer")
    func badShapes() throws {
        let attention = SelfAttention(name: "attn", heads: 3, causal: false)
        #expect(throws: ModelError.self) { try attention.outputShape(for: [[4, 8]]) }         // 8/3 is not 3 equal parts
        #expect(throws: ModelError.self) { try attention.outputShape(for: [[4, 8], [4, 8], [4, 6]]) }
        #expect(try attention.outputShape(for: [[4, 9], [4]]) == [4, 3])
        let error = #expect(throws: ModelError.self) { try attention.outputShape(for: [[4, 6], [4, 6], [4, 6], [5]]) }
        #expect(error?.description.contains("'attn'") == true)
        var rng = SeededGenerator(seed: 1)
        let positions = PositionEmbedding(name: "pos", count: 4, features: 2, rng: &rng)
        #expect(throws: ModelError.sequenceInput(layer: "pos", problem: "sequences of 5 tokens exceed its 4 positions")) {
            try positions.outputShape(for: [[5, 2]])
        }
        #expect(throws: ModelError.self) { try Graph.gptDecoder(TransformerConfiguration(
            vocabulary: 5, positions: 4, features: 6, heads: 4, layers: 1, intermediate: 8, normalization: .pre,
            causal: true, activation: .tanh, epsilon: 1e-5)) }
    }
}
