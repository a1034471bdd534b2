import ArgumentParser
import Foundation
import NeuralNetwork
import TensorCore

/// `prune bench layers`: where a training step's time goes, layer by layer
/// (sequential architectures only).
struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers", abstract: "Forward and backward time of each layer in a training step (chain models).")

    @Option(help: "Architecture (a chain: mlp, lenet300, lenet5).")
    var model: Architecture = .lenet5
    @OptionGroup var batch: BenchBatchOptions
    @Option(help: "Steps to time.")
    var steps: Int = 50
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, steps, for: "--steps")
    }

    struct Timing: Encodable {
        var name: String, kind: String, forwardMicroseconds: Double, backwardMicroseconds: Double, share: Double
        enum CodingKeys: String, CodingKey {
            case name, kind, share
            case forwardMicroseconds = "forward_us_per_sample", backwardMicroseconds = "backward_us_per_sample"
        }
    }

    struct Result: Encodable {
        var model: String, batchSize: Int, steps: Int, microsecondsPerSample: Double, layers: [Timing]
        enum CodingKeys: String, CodingKey {
            case model, batchSize = "batch_size", steps, microsecondsPerSample = "us_per_sample", layers
        }
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let graph = try model.build(seed: 1)
        guard graph.nodes.enumerated().allSatisfy({ i, n in n.inputs.map(\.index) == [i - 1] }) else {
            throw ValidationError("\(model.rawValue) is not a chain of layers")
        }
        let layers = graph.nodes.map { $0.module as! Layer }
        var forward = [Double](repeating: 0, count: layers.count), backward = forward
        let clock = ContinuousClock()
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.uniform([batch.batchSize] + graph.inputShape, low: 0, high: 1, using: &rng)
        let labels = (0..<batch.batchSize).map { Int32($0 % 10) }
        for step in 0..<(steps + 5) {
            var h = x
            for (i, l) in layers.enumerated() {
                let t = clock.now
                h = l.forward(h, training: true)
                if step >= 5 { forward[i] += (clock.now - t).seconds }
            }
            var g = softmaxCrossEntropy(logits: h, labels: labels).gradient
            for (i, l) in layers.enumerated().reversed() {
                let t = clock.now
                g = l.backward(g)
                if step >= 5 { backward[i] += (clock.now - t).seconds }
            }
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +)
        let perSample = 1e6 / Double(steps * batch.batchSize)   // seconds summed over the steps → µs per sample
        let result = Result(model: model.rawValue, batchSize: batch.batchSize, steps: steps, microsecondsPerSample: perSample * total,
                            layers: layers.enumerated().map { i, l in
                                Timing(name: l.name, kind: l.spec.kind.rawValue,
                                       forwardMicroseconds: perSample * forward[i], backwardMicroseconds: perSample * backward[i],
                                       share: (forward[i] + backward[i]) / total)
                            })
        if output.json {
            try printJSON(result)
            return
        }
        print(String(format: "%@ batch %d: %.1f µs per sample in layers", model.rawValue, batch.batchSize, result.microsecondsPerSample))
        for l in result.layers {
            print(String(format: "  %@ forward %7.2f µs/sample  backward %7.2f µs/sample  (%.1f%%)",
                         l.name.padding(toLength: 8, withPad: " ", startingAt: 0),
                         l.forwardMicroseconds, l.backwardMicroseconds, 100 * l.share))
        }
    }
}
