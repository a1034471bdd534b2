import ArgumentParser
import Foundation
import NeuralNetwork
import Pruning
import TensorCore

/// `prune bench prune`: what pruning itself costs.
struct BenchPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Time one global magnitude cut of LeNet-300-100 and an exact threshold over many weights.")

    @Option(help: "Weights for the large threshold benchmark (default 100M, as 10 tensors).")
    var weights: Int = 100_000_000
    @Option(help: "Repetitions of the LeNet-300-100 cut (the median is reported).")
    var repetitions: Int = 41
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(10, weights, for: "--weights")
        try requireAtLeast(1, repetitions, for: "--repetitions")
    }

    struct Result: Encodable {
        var lenet300CutMilliseconds: Double
        var lenet300Sparsity: Double
        var thresholdWeights: Int
        var thresholdSeconds: Double
        var thresholdExtraMiB: Double
    }

    func run() throws {
        BLAS.setThreadCount(1)
        // One global magnitude cut to 90% of a fresh LeNet-300-100 per repetition.
        var times: [Double] = []
        var sparsity = 0.0
        for r in 0..<repetitions {
            let model = try Architecture.lenet300.build(seed: UInt64(r + 1))
            let result = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.9)))
            times.append(result.seconds)
            sparsity = result.sparsity
        }
        // The exact 90% magnitude threshold over `weights` values in 10 tensors, in place.
        var rng = SeededGenerator(seed: 5)
        let parts = (0..<10).map { i in
            Tensor.uniform([weights / 10 + (i < weights % 10 ? 1 : 0)], low: -1, high: 1, using: &rng)
        }
        let total = parts.reduce(0) { $0 + $1.count }
        let rssBefore = peakResidentMiB()
        let clock = ContinuousClock()
        let start = clock.now
        let threshold = kthSmallestMagnitude(Int(0.9 * Double(total)), in: parts)
        let seconds = (clock.now - start).seconds
        let extra = peakResidentMiB() - rssBefore
        if total >= 10_000 && !(threshold > 0.85 && threshold < 0.95) {
            throw ValidationError("self-check failed: the 90% magnitude threshold of U(-1, 1) came out \(threshold), not about 0.9")
        }
        let result = Result(lenet300CutMilliseconds: 1000 * median(times), lenet300Sparsity: sparsity,
                            thresholdWeights: total, thresholdSeconds: seconds, thresholdExtraMiB: extra)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "LeNet-300-100, one global magnitude cut to %.0f%%: %.3f ms (median of %d)",
                         100 * sparsity, result.lenet300CutMilliseconds, repetitions))
            print(String(format: "exact 90%% magnitude threshold over %d weights: %.3f s, %.1f MiB above the weights",
                         total, seconds, extra))
        }
    }
}

/// The process's peak resident set (VmHWM) in MiB, from /proc (0 where unavailable).
func peakResidentMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}
