// The seed's example, working: a 10→20→10 MLP trained for 1,000 SGD steps (learning
// rate 0.01) on random regression data, importance w·|w|, an absolute threshold of 0.01,
// then a report of what was cut and what it cost.
//
// Run it with `swift run -c release SeedExample`. With `--json` it prints one JSON object
// instead: the threshold and every weight before and after the cut (what the tests check).

import Foundation
import NeuralNetwork
import Pruning
import TensorCore

@main
enum SeedExample {
    static func main() throws {
        var rng = SeededGenerator(seed: 1)

        // Random regression data with something to learn: targets are a fixed random
        // linear map of the inputs plus a little noise. 100 samples, 10 features.
        let teacher = Tensor.normal([10, 10], standardDeviation: 0.5, using: &rng)
        let inputs = Tensor.normal([100, 10], standardDeviation: 1, using: &rng)
        var targets = matmul(inputs, .none, teacher, .transposed)
        targets.add(Tensor.normal([100, 10], standardDeviation: 0.05, using: &rng))
        let data = try Dataset(inputs: inputs.scalars, sampleShape: [10], targets: targets.scalars, targetWidth: 10)

        let model = try Graph(inputShape: [10], sequential: [
            Dense(name: "fc1", inFeatures: 10, outFeatures: 20, rng: &rng), ReLU(name: "relu"),
            Dense(name: "fc2", inFeatures: 20, outFeatures: 10, rng: &rng),
        ])
        var options = TrainingOptions()
        options.loss = .mse
        options.learningRate = 0.01
        options.schedule = .constant
        options.batchSize = 10
        options.epochs = 100                 // 10 steps per epoch: 1,000 steps
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD()))
        try trainer.fit(data, options: options)
        let trained = trainer.evaluate(data, loss: .mse)

        // Flaw 1 in the original idea: w·|w| is signed. Compared with a positive threshold,
        // every negative weight (however large) falls below it and would be cut.
        let weights = ["fc1.weight", "fc2.weight"].map { model.parameter(at: $0)! }
        let before = weights.map(\.value)
        let signedCuts = weights.reduce(0) { n, p in n + p.value.scalars.filter { $0 * abs($0) < 0.01 }.count }
        let negatives = weights.reduce(0) { n, p in n + p.value.scalars.filter { $0 < 0 }.count }
        let total = weights.reduce(0) { $0 + $1.count }

        // Flaw 2: summing |w| over a whole tensor gives one score per tensor, so a
        // threshold keeps or removes whole layers. Prune scores every weight instead.
        let tensorScores = weights.map { $0.value.magnitudes().sum() }

        // The corrected criterion: the magnitude of w·|w|, i.e. w², per weight. With the
        // threshold 0.01 it cuts exactly the weights with |w| < 0.1.
        let result = try Pruner.prune(model, with: PruningPlan(criterion: SquaredMagnitude(), threshold: .value(0.01)))
        let pruned = trainer.evaluate(data, loss: .mse)

        if CommandLine.arguments.dropFirst().contains("--json") {
            struct Weights: Encodable { var before: [Float], after: [Float] }
            struct Output: Encodable { var threshold: Float, weights: [String: Weights] }
            var output = Output(threshold: 0.01, weights: [:])
            for (path, (old, p)) in zip(["fc1.weight", "fc2.weight"], zip(before, weights)) {
                output.weights[path] = Weights(before: old.scalars, after: p.value.scalars)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
            return
        }

        print(String(format: "trained 1000 steps: mean squared error %.4f", trained.loss))
        print("signed w·|w| < 0.01 would cut \(signedCuts) of \(total) weights, including all \(negatives) negative ones")
        print("summed |w| per tensor: \(tensorScores.map { String(format: "%.2f", $0) }.joined(separator: ", ")): one score per layer, not per weight")
        print("w² < 0.01 (|w| < 0.1), per weight:")
        for p in result.parameters {
            print("  \(p.path): \(p.count) weights, \(p.count - p.nonZerosAfter) cut, \(p.nonZerosAfter) kept (\(String(format: "%.1f", 100 * p.sparsity))% sparse)")
        }
        print(String(format: "overall sparsity %.1f%%; mean squared error %.4f → %.4f after the cut", 100 * result.sparsity, trained.loss, pruned.loss))
    }
}
