import Testing
import TensorCore
import NeuralNetwork
import TestSupport

@Suite("Relational loss")
struct RelationalLossTests {
    @Test("pairwise similarity error and gradient, computed by hand")
    func handComputed() {
        // Predictions e₁, e₂ (similarity 0); targets (1, 0), (0.6, 0.8) (similarity 0.6).
        let p = Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), t = Tensor(shape: [2, 2], scalars: [1, 0, 0.6, 0.8])
        let r = pairwiseSimilarityError(prediction: p, target: t)
        #expect(abs(r.value - 0.36) < 1e-6)   // both ordered pairs differ by −0.6
        // Row i: 4/(N(N−1)) · Σⱼ (sᵢⱼ − tᵢⱼ) pⱼ = 2 · (−0.6) · pⱼ.
        let expected: [Float] = [0, -1.2, -1.2, 0]
        #expect(zip(r.gradient.scalars, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(r.gradient.scalars)")
    }

    @Test("its gradient matches central differences on random rows")
    func gradient() {
        let p = randomTensor([5, 3], seed: 1), t = randomTensor([5, 3], seed: 2)
        let analytic = pairwiseSimilarityError(prediction: p, target: t).gradient
        let h: Float = 1e-2
        for i in 0..<p.count {
            var up = p, down = p
            up.scalars[i] += h; down.scalars[i] -= h
            let numeric = (pairwiseSimilarityError(prediction: up, target: t).value
                           - pairwiseSimilarityError(prediction: down, target: t).value) / (2 * h)
            #expect(abs(numeric - analytic.scalars[i]) < 1e-3 * max(1, abs(numeric)), "entry \(i): \(numeric) against \(analytic.scalars[i])")
        }
    }

    @Test("it sees neighbourhoods, not positions: rotated targets cost nothing, swapped neighbours do")
    func structure() {
        let t = Tensor(shape: [3, 2], scalars: [1, 0, 0.8, 0.6, 0, 1])
        // A rotation by 90° keeps every dot product; the mean squared error is large.
        let rotated = Tensor(shape: [3, 2], scalars: [0, 1, -0.6, 0.8, -1, 0])
        #expect(pairwiseSimilarityError(prediction: rotated, target: t).value < 1e-7)
        #expect(meanSquaredError(prediction: rotated, target: t).value > 0.5)
        // Row 0's nearest neighbour moves from row 1 to row 2.
        let swapped = Tensor(shape: [3, 2], scalars: [1, 0, 0, 1, 0.8, 0.6])
        #expect(pairwiseSimilarityError(prediction: swapped, target: t).value > 0.1)
    }

    @Test("the relational loss is the mean squared error plus the pair error, and needs targets")
    func lossCase() throws {
        let output = randomTensor([4, 3], seed: 3), targets = randomTensor([4, 3], seed: 4)
        let data = try Dataset(inputs: randomTensor([4, 2], seed: 5).scalars, sampleShape: [2], targets: targets.scalars, targetWidth: 3)
        let batch = data.batch(0..<4)
        let sum = Loss.relational.evaluate(output, on: batch)
        let mse = meanSquaredError(prediction: output, target: targets), pairs = pairwiseSimilarityError(prediction: output, target: targets)
        #expect(abs(sum.value - (mse.value + pairs.value)) < 1e-6)
        #expect(zip(sum.gradient.scalars, (mse.gradient + pairs.gradient).scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(pairs.value > 0)

        let g = Graph(inputShape: [2])
        var rng = SeededGenerator(seed: 6)
        try g.add(Dense(name: "d", inFeatures: 2, outFeatures: 3, rng: &rng), after: .input)
        try Trainer.check(data, fits: g, loss: .relational)
        let labelled = try Dataset(inputs: randomTensor([4, 2], seed: 5).scalars, sampleShape: [2], labels: [0, 1, 2, 0])
        #expect(throws: TrainingError.self) { try Trainer.check(labelled, fits: g, loss: .relational) }
    }
}
