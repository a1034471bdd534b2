import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("Node-by-node forward: batches walked one node at a time")
struct NodeWalkTests {
    static func encoder() throws -> Graph {
        let config = TransformerConfiguration(vocabulary: 30, positions: 8, tokenTypes: 1, features: 16, heads: 2, layers: 2,
                                              intermediate: 32, normalization: .post, causal: false, activation: .none,
                                              epsilon: 1e-12, paddingID: 0)
        return try Graph.bertEncoder(config, seed: 5)
    }

    @Test("the outputs equal forward's for batches of different lengths, merges and residuals included")
    func sameOutputs() throws {
        let model = try Self.encoder()
        let batches = [Tensor(shape: [2, 5], scalars: [3, 7, 9, 11, 2, 5, 8, 2, 0, 0]), Tensor(shape: [1, 3], scalars: [4, 6, 2])]
        var seen: [Int] = []
        let walked = model.forwardNodeByNode(batches) { i, inputs in
            seen.append(i)
            #expect(inputs.count == 2 && inputs[0].count == model.nodes[i].inputs.count)
        }
        #expect(seen == Array(model.nodes.indices))
        for (b, x) in batches.enumerated() { #expect(walked[b] == model.forward(x)) }
    }

    @Test("a parameter changed before its node runs reaches that node and every later one, not the earlier ones")
    func changesTakeEffect() throws {
        let model = try Self.encoder()
        let x = Tensor(shape: [1, 4], scalars: [3, 7, 9, 2])
        let target = try #require(model.nodes.firstIndex { $0.module.name == "encoder.layer.1.intermediate.dense" })
        let weight = try #require(model.parameter(at: "encoder.layer.1.intermediate.dense.weight"))
        var observed: Tensor?
        let walked = model.forwardNodeByNode([x]) { i, inputs in
            if i == target { observed = inputs[0][0]; weight.value = weight.value * 0.5 }
        }
        // The node's input is what the unchanged layers before it give; the output is the changed model's.
        var before: Tensor?
        let source = model.nodes[target].inputs[0].index
        _ = model.forward(x) { i, y in if i == source { before = y } }
        #expect(observed == before)
        #expect(walked[0] == model.forward(x))
        weight.value = weight.value * 2
        #expect(walked[0] != model.forward(x))
    }
}

@Suite("Padding trimmed from sentence batches")
struct PaddingTrimTests {
    @Test("a pooled encoder's batch loses the all-padding positions, with the same outputs and loss; per-token models keep theirs")
    func trims() throws {
        var rng = SeededGenerator(seed: 8)
        let model = try NodeWalkTests.encoder()
        // Two sentences of 3 and 2 tokens padded to 7.
        let ids: [Float] = [3, 7, 9, 0, 0, 0, 0, 5, 8, 0, 0, 0, 0, 0]
        let data = try Dataset(inputs: ids, sampleShape: [7], targets: randomTensor([2, 16], seed: 3).scalars, targetWidth: 16)
        let batch = data.batch(0..<2)
        let trimmed = model.trimmingPadding(batch)
        #expect(trimmed.inputs.shape == [2, 3] && trimmed.inputs.scalars == [3, 7, 9, 5, 8, 0])
        let (short, long) = (model.forward(trimmed.inputs), model.forward(batch.inputs))
        #expect(zip(short.scalars, long.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let evaluated = Trainer.evaluate(model, on: data)
        let direct = Loss.mse.evaluate(long, on: batch, outputs: model.outputKind).value
        #expect(abs(evaluated.loss - direct) < 1e-5)
        let perToken = try Graph.bertEncoder(TransformerConfiguration(vocabulary: 30, positions: 8, tokenTypes: 1, features: 16, heads: 2,
                                                                      layers: 1, intermediate: 32, normalization: .post, causal: false,
                                                                      activation: .none, epsilon: 1e-12, paddingID: 0), pooling: false)
        #expect(perToken.trimmingPadding(batch).inputs.shape == [2, 7])
        // Mean pooling that does not read the padding mask averages the padding too: no trimming.
        let unmasked = Graph(inputShape: [7])
        let embedded = try unmasked.add(Embedding(name: "e", count: 30, features: 4, rng: &rng), after: .input)
        _ = try unmasked.add(PaddingMask(name: "mask", paddingID: 0), after: .input)
        _ = try unmasked.add(MeanPooling(name: "pool"), inputs: [embedded])
        #expect(unmasked.trailingPaddingID == nil && model.trailingPaddingID == 0)
        #expect(unmasked.trimmingPadding(batch).inputs.shape == [2, 7])
    }
}
