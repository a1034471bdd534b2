import ArgumentParser
import Dispatch
import Foundation
import TensorCore

/// `prune bench gemm`: GFLOP/s of the GEMMs a training step of LeNet-300-100 and LeNet-5
/// runs, next to a large square GEMM (the BLAS peak on this machine).
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GFLOP/s of the training GEMM shapes vs a 1024³ GEMM.")

    @Option(help: "Samples per step (the m or k of the shapes).")
    var batchSize: Int = 128
    @Option(help: "Run this many copies of each GEMM at once on separate threads (reports per-copy GFLOP/s).")
    var concurrent: Int = 1
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, batchSize, for: "--batch-size")
        guard (1...64).contains(concurrent) else { throw ValidationError("--concurrent must be between 1 and 64, got \(concurrent)") }
    }

    struct Shape: Encodable {
        var label: String, m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool
        var gflops: Double = 0
    }

    func run() throws {
        threadOptions.apply()
        let b = batchSize
        var shapes = [
            Shape(label: "square 1024", m: 1024, n: 1024, k: 1024, transposeA: false, transposeB: false),
            Shape(label: "lenet300 fc1 forward", m: b, n: 300, k: 784, transposeA: false, transposeB: true),
            Shape(label: "lenet300 fc1 weight grad", m: 300, n: 784, k: b, transposeA: true, transposeB: false),
            Shape(label: "lenet300 fc2 forward", m: b, n: 100, k: 300, transposeA: false, transposeB: true),
            Shape(label: "lenet300 fc2 weight grad", m: 100, n: 300, k: b, transposeA: true, transposeB: false),
            Shape(label: "lenet300 fc2 input grad", m: b, n: 300, k: 100, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv1 forward", m: 6, n: b * 784, k: 25, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv2 forward", m: 16, n: b * 100, k: 150, transposeA: false, transposeB: false),
            Shape(label: "lenet5 conv2 input grad", m: 150, n: b * 100, k: 16, transposeA: true, transposeB: false),
            Shape(label: "lenet5 conv2 weight grad", m: 16, n: 150, k: b * 100, transposeA: false, transposeB: true),
        ]
        var rng = SeededGenerator(seed: 7)
        let clock = ContinuousClock()
        for i in shapes.indices {
            let s = shapes[i]
            let a = Tensor.uniform(s.transposeA ? [s.k, s.m] : [s.m, s.k], low: -1, high: 1, using: &rng)
            let bm = Tensor.uniform(s.transposeB ? [s.n, s.k] : [s.k, s.n], low: -1, high: 1, using: &rng)
            let flops = 2.0 * Double(s.m * s.n * s.k)
            let reps = max(3, Int(2e9 / flops))
            var times: [Double] = []
            var checksum: Float = 0
            for _ in 0..<5 {
                let start = clock.now
                let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: concurrent)
                defer { sums.deallocate() }
                DispatchQueue.concurrentPerform(iterations: concurrent) { t in
                    var local: Float = 0
                    for _ in 0..<reps {
                        let c = matmul(a, s.transposeA ? .transposed : .none, bm, s.transposeB ? .transposed : .none)
                        local += c.scalars[0]
                    }
                    sums[t] = local
                }
                checksum += sums.reduce(0, +)
                times.append((clock.now - start).seconds / Double(reps))
            }
            precondition(checksum.isFinite, "GEMM produced a non-finite value")
            shapes[i].gflops = flops / times.sorted()[2] / 1e9
        }
        if output.json {
            try printJSON(shapes)
        } else {
            for s in shapes {
                print(String(format: "%@ %5d×%5d×%5d  %6.1f GFLOP/s  (%.0f%% of square)", s.label.padding(toLength: 28, withPad: " ", startingAt: 0), s.m, s.n, s.k,
                             s.gflops, 100 * s.gflops / shapes[0].gflops))
            }
        }
    }
}
