import ArgumentParser
import Foundation
import NeuralNetwork
import TensorCore

/// `prune bench layers`: where a training step's time goes, node by node and by kind of
/// layer. Any built-in architecture: gpt-tiny takes windows of random byte ids with a label per
/// position.
struct BenchLayers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers", abstract: "Forward and backward time of each layer in a training step.")

    @Option(help: "Architecture.")
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
        var model: String, batchSize: Int, steps: Int, microsecondsPerSample: Double, layers: [Timing], kinds: [Timing]
        enum CodingKeys: String, CodingKey {
            case model, batchSize = "batch_size", steps, microsecondsPerSample = "us_per_sample", layers, kinds
        }
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let language = model.isLanguageModel
        let graph = language ? try model.build(inputShape: [128], classes: 256, seed: 1) : try model.build(seed: 1)
        let n = graph.nodes.count
        var forward = [Double](repeating: 0, count: n), backward = forward
        let clock = ContinuousClock()
        var rng = SeededGenerator(seed: 1)
        let (x, labels): (Tensor, [Int32])
        if language {
            let ids = (0..<(batch.batchSize * 129)).map { _ in Float(Int.random(in: 0..<256, using: &rng)) }
            let windows = (0..<batch.batchSize).map { Array(ids[($0 * 129)..<($0 * 129 + 129)]) }
            x = Tensor(shape: [batch.batchSize, 128], scalars: windows.flatMap { $0.dropLast() })
            labels = windows.flatMap { $0.dropFirst().map { Int32($0) } }
        } else {
            x = Tensor.uniform([batch.batchSize] + graph.inputShape, low: 0, high: 1, using: &rng)
            labels = (0..<batch.batchSize).map { Int32($0 % 10) }
        }
        for step in 0..<(steps + 5) {
            let timed = step >= 5
            var last = clock.now
            // Each node's time is the interval since the previous node finished.
            func lap(_ into: inout [Double], _ i: Int) {
                let now = clock.now
                if timed { into[i] += (now - last).seconds }
                last = now
            }
            let h = graph.forward(x, training: true) { i, _ in lap(&forward, i) }
            let logits = language ? h.reshaped([labels.count, h.shape.last!]) : h
            let g = softmaxCrossEntropy(logits: logits, labels: labels).gradient.reshaped(h.shape)
            last = clock.now
            graph.backward(g) { i in lap(&backward, i) }
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +)
        let perSample = 1e6 / Double(steps * batch.batchSize)   // seconds summed over the steps → µs per sample
        func timing(_ name: String, _ kind: String, _ f: Double, _ b: Double) -> Timing {
            Timing(name: name, kind: kind, forwardMicroseconds: perSample * f, backwardMicroseconds: perSample * b,
                   share: (f + b) / total)
        }
        let layers = graph.nodes.enumerated().map { i, node in
            timing(node.module.name, node.module.spec.kind.rawValue, forward[i], backward[i])
        }
        let kinds = Dictionary(grouping: graph.nodes.indices, by: { graph.nodes[$0].module.spec.kind.rawValue })
            .map { kind, nodes in timing(kind, kind, nodes.map { forward[$0] }.reduce(0, +), nodes.map { backward[$0] }.reduce(0, +)) }
            .sorted { $0.share > $1.share }
        let result = Result(model: model.rawValue, batchSize: batch.batchSize, steps: steps,
                            microsecondsPerSample: perSample * total, layers: layers, kinds: kinds)
        if output.json {
            try printJSON(result)
            return
        }
        let width = max(8, layers.map(\.name.count).max() ?? 0)
        func line(_ t: Timing) -> String {
            String(format: "  %@ forward %8.2f µs/sample  backward %8.2f µs/sample  (%.1f%%)",
                   t.name.padding(toLength: width, withPad: " ", startingAt: 0),
                   t.forwardMicroseconds, t.backwardMicroseconds, 100 * t.share)
        }
        print(String(format: "%@ batch %d: %.1f µs per sample in layers (%@)", model.rawValue, batch.batchSize,
                     result.microsecondsPerSample, BLAS.backendDescription))
        for l in result.layers { print(line(l)) }
        print("by kind:")
        for k in result.kinds { print(line(k)) }
    }
}
