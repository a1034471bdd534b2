import NeuralNetwork
import Testing
import TensorCore
import TestSupport

@Suite("Generation with cached keys and values")
struct GeneratorTests {
    let model = try! Graph.gptDecoder(tinyGPT, seed: 31)

    @Test("logits fed one token at a time through the caches equal the whole-sequence pass")
    func cachedEqualsFull() throws {
        let generator = try Generator(model: model)
        let tokens = [3, 1, 4, 1, 5, 9]
        let full = generator.logits(tokens)
        let stepwise = generator.incrementalLogits(tokens)
        #expect(full.shape == [6, 11] && stepwise.count == 6)
        for (t, row) in stepwise.enumerated() {
            #expect(maxRelativeError(row, Array(full.scalars[(t * 11)..<((t + 1) * 11)])) < 1e-5, "position \(t)")
        }
        // The caches are dropped afterwards: a plain forward pass is unaffected.
        #expect(generator.logits(tokens) == full)
    }

    @Test("temperature 0 follows the argmax of the whole-sequence pass, past the context's end")
    func greedy() throws {
        let generator = try Generator(model: model)
        let prompt = [2, 7]
        let produced = generator.generate(prompt: prompt, count: 9, sampling: .init(temperature: 0, topK: nil))
        var context = prompt
        for token in produced {
            let window = Array(context.suffix(6))
            if context.count >= 6 { break }   // beyond the 6 positions the window restarts; checked below
            let logits = generator.logits(window)
            let last = Array(logits.scalars.suffix(11))
            #expect(token == last.indices.max { last[$0] < last[$1] }!)
            context.append(token)
        }
        #expect(produced.count == 9 && produced.allSatisfy { (0..<11).contains($0) })
        // top-k 1 at any temperature is greedy too.
        #expect(generator.generate(prompt: prompt, count: 9, sampling: .init(temperature: 1.5, topK: 1)) == produced)
    }

    @Test("sampling: the same seed gives the same tokens; top-k keeps to the k most likely")
    func sampling() throws {
        let generator = try Generator(model: model)
        let a = generator.generate(prompt: [1], count: 20, sampling: .init(temperature: 1, topK: nil, seed: 5))
        let b = generator.generate(prompt: [1], count: 20, sampling: .init(temperature: 1, topK: nil, seed: 5))
        let c = generator.generate(prompt: [1], count: 20, sampling: .init(temperature: 1, topK: nil, seed: 6))
        #expect(a == b && a != c)
        // With top-k 2 the first token is one of the two most likely after the prompt.
        let logits = Array(generator.logits([1]).scalars)
        let best = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(2)
        for seed in 1...20 as ClosedRange<UInt64> {
            let first = generator.generate(prompt: [1], count: 1, sampling: .init(temperature: 2, topK: 2, seed: seed))[0]
            #expect(best.contains(first))
        }
    }

    @Test("a classifier is refused with a reason")
    func refusesClassifiers() throws {
        let mlp = try Architecture.mlp.build(inputShape: [4], classes: 3, layers: [4, 3])
        #expect(throws: ModelError.self) { try Generator(model: mlp) }
    }
}
