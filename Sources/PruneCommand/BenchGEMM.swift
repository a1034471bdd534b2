import ArgumentParser
import Dispatch
import Foundation
import TensorCore

/// `prune bench gemm`: GFLOP/s of the GEMMs a training step of LeNet-300-100 and LeNet-5
/// runs, and those of issue #15's transformers (all-MiniLM-L6-v2 inference, gpt-tiny training),
/// next to a large square GEMM, each on the system BLAS and on Prune's packed kernel.
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GFLOP/s of the training GEMM shapes vs a 1024³ GEMM, on BLAS and the packed kernel.",
        discussion: """
            Every shape runs on both backends; the first line names the one products use (the \
            faster by a calibration at first use, or PRUNE_GEMM=blas|packed|packed-6x16|packed-12x32). With --threads N each GEMM splits the rows of its output between N threads (one BLAS \
            thread each), as `prune bench spmm` and `prune bench infer` split their products; the \
            split products are checked against the whole one. --concurrent runs independent \
            copies instead; the two cannot be combined.
            """)

    @Option(help: "Samples per step (the m or k of the shapes).")
    var batchSize: Int = 128
    @Option(help: "Run this many copies of each GEMM at once on separate threads (reports per-copy GFLOP/s).")
    var concurrent: Int = 1
    @Option(help: "GEMM calls per timed batch (0: enough for about 2 GFLOP); 5 batches are timed.")
    var calls: Int = 0
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, batchSize, for: "--batch-size")
        try requireAtLeast(0, calls, for: "--calls")
        guard (1...64).contains(concurrent) else { throw ValidationError("--concurrent must be between 1 and 64, got \(concurrent)") }
        guard concurrent == 1 || threadOptions.threads == 1 else {
            throw ValidationError("--threads splits one GEMM and --concurrent runs copies of it: give only one of them")
        }
    }

    struct Shape: Encodable {
        var label: String, m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool
        /// GFLOP/s on the backend in use (`Result.backend`).
        var gflops: Double = 0
        /// GFLOP/s on the system BLAS and on the packed kernel.
        var blasGFLOPS: Double = 0, packedGFLOPS: Double = 0
        /// The threads the product was split between (at most `m`: one row each).
        var threads = 1
        /// The largest difference between the split product and the whole one, relative
        /// to max(1, |entry|).
        var maxRelativeError = 0.0
    }

    struct Result: Encodable {
        var batchSize: Int, threads: Int, concurrent: Int
        /// The backend products use, and the calibration's figures.
        var backend: String
        /// The system BLAS and the kernels it chose.
        var systemBLAS: String
        var shapes: [Shape]
    }

    /// `op(a)` cut into `parts` blocks of consecutive rows, each stored as `a` is (rows of
    /// `a`, or its columns when `transposed`): thread t multiplies block t by all of `op(b)`.
    static func rowBlocks(of a: Tensor, transposed: Bool, parts: Int) -> [Tensor] {
        let (height, width) = (a.shape[0], a.shape[1])
        let m = transposed ? width : height
        return (0..<parts).map { t in
            let lo = m * t / parts, hi = m * (t + 1) / parts
            guard transposed else { return Tensor(shape: [hi - lo, width], scalars: Array(a.scalars[lo * width..<hi * width])) }
            return Tensor(shape: [height, hi - lo], scalars: (0..<height).flatMap { r in a.scalars[(r * width + lo)..<(r * width + hi)] })
        }
    }

    /// The shapes of issue #15's transformers. all-MiniLM-L6-v2: width 384, 12 heads of 32, FFN
    /// 1536, 1024 or 4096 token rows (B·T); gpt-tiny training: width 128, 4 heads of 32, FFN 512,
    /// 32 windows of 128 tokens (4096 rows). Layers compute x·Wᵀ (W is [out, in]), input
    /// gradients dy·W and weight gradients dyᵀ·x.
    static let transformerShapes = [
        Shape(label: "minilm q/k/v/out", m: 1024, n: 384, k: 384, transposeA: false, transposeB: true),
        Shape(label: "minilm q/k/v/out", m: 4096, n: 384, k: 384, transposeA: false, transposeB: true),
        Shape(label: "minilm ffn up", m: 1024, n: 1536, k: 384, transposeA: false, transposeB: true),
        Shape(label: "minilm ffn down", m: 1024, n: 384, k: 1536, transposeA: false, transposeB: true),
        Shape(label: "minilm one token ffn up", m: 1, n: 1536, k: 384, transposeA: false, transposeB: true),
        Shape(label: "attention scores Q·Kᵀ", m: 128, n: 128, k: 32, transposeA: false, transposeB: true),
        Shape(label: "attention P·V", m: 128, n: 32, k: 128, transposeA: false, transposeB: false),
        Shape(label: "attention dK = dSᵀ·Q", m: 128, n: 32, k: 128, transposeA: true, transposeB: false),
        Shape(label: "gpt qkv forward", m: 4096, n: 384, k: 128, transposeA: false, transposeB: true),
        Shape(label: "gpt ffn up forward", m: 4096, n: 512, k: 128, transposeA: false, transposeB: true),
        Shape(label: "gpt ffn down forward", m: 4096, n: 128, k: 512, transposeA: false, transposeB: true),
        Shape(label: "gpt qkv input grad", m: 4096, n: 128, k: 384, transposeA: false, transposeB: false),
        Shape(label: "gpt ffn up input grad", m: 4096, n: 128, k: 512, transposeA: false, transposeB: false),
        Shape(label: "gpt qkv weight grad", m: 384, n: 128, k: 4096, transposeA: true, transposeB: false),
        Shape(label: "gpt ffn down weight grad", m: 128, n: 512, k: 4096, transposeA: true, transposeB: false),
    ]

    func run() throws {
        threadOptions.apply()
        let pool = threadOptions.threads > 1 ? WorkerPool(count: threadOptions.threads) : nil
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
        ] + Self.transformerShapes
        // The backend products use (calibrated, or PRUNE_GEMM); both are measured below.
        let backend = BLAS.backend, backendDescription = BLAS.backendDescription
        let explicitBackend = ProcessInfo.processInfo.environment["PRUNE_GEMM"].flatMap(GEMMChoice.init)?.backend
        defer { BLAS.setBackend(explicitBackend) }
        var rng = SeededGenerator(seed: 7)
        let clock = ContinuousClock()
        for i in shapes.indices {
            let s = shapes[i]
            let a = Tensor.uniform(s.transposeA ? [s.k, s.m] : [s.m, s.k], low: -1, high: 1, using: &rng)
            let bm = Tensor.uniform(s.transposeB ? [s.n, s.k] : [s.k, s.n], low: -1, high: 1, using: &rng)
            let product = { (block: Tensor) in matmul(block, s.transposeA ? .transposed : .none, bm, s.transposeB ? .transposed : .none) }
            // With --threads: one block of rows per thread; the stacked blocks are the whole product.
            let blocks = pool.map { Self.rowBlocks(of: a, transposed: s.transposeA, parts: min($0.count, s.m)) } ?? [a]
            let multiply: () -> Float = {
                guard let pool, blocks.count > 1 else { return product(a).scalars[0] }
                var first: Float = 0
                pool.run { t in
                    guard t < blocks.count else { return }
                    let c = product(blocks[t])
                    if t == 0 { first = c.scalars[0] }
                }
                return first
            }
            shapes[i].threads = blocks.count
            let flops = 2.0 * Double(s.m * s.n * s.k)
            let reps = calls > 0 ? calls : max(3, Int(2e9 / flops))
            for candidate in GEMMBackend.allCases {
                BLAS.setBackend(candidate)
                if candidate == backend {
                    shapes[i].maxRelativeError = zip(blocks.flatMap { product($0).scalars }, product(a).scalars).reduce(0.0) {
                        max($0, Double(abs($1.0 - $1.1)) / max(1, Double(abs($1.1))))
                    }
                }
                var times: [Double] = []
                var checksum: Float = 0
                for _ in 0..<5 {
                    let start = clock.now
                    let sums = Checksums(count: concurrent)
                    DispatchQueue.concurrentPerform(iterations: concurrent) { t in
                        var local: Float = 0
                        for _ in 0..<reps { local += multiply() }
                        sums.set(t, local)
                    }
                    checksum += sums.total
                    times.append((clock.now - start).seconds / Double(reps))
                }
                precondition(checksum.isFinite, "GEMM produced a non-finite value")
                let gflops = flops / times.sorted()[2] / 1e9
                if candidate == .blas { shapes[i].blasGFLOPS = gflops } else { shapes[i].packedGFLOPS = gflops }
                if candidate == backend { shapes[i].gflops = gflops }
            }
        }
        if output.json {
            try printJSON(Result(batchSize: batchSize, threads: threadOptions.threads, concurrent: concurrent,
                                 backend: backendDescription, systemBLAS: BLAS.systemDescription, shapes: shapes))
        } else {
            print("GEMM backend: \(backendDescription)")
            print("system BLAS: \(BLAS.systemDescription)")
            print("shape                            m ×    n ×    k    BLAS  packed  GFLOP/s  packed/BLAS")
            for s in shapes {
                print(String(format: "%@ %5d×%5d×%5d  %6.1f  %6.1f  %5.2f×%@", s.label.padding(toLength: 28, withPad: " ", startingAt: 0), s.m, s.n, s.k,
                             s.blasGFLOPS, s.packedGFLOPS, s.packedGFLOPS / s.blasGFLOPS,
                             s.threads > 1 ? ", split between \(s.threads) threads" : ""))
            }
        }
    }
}

/// One checksum per concurrent worker, written under a lock.
final class Checksums: @unchecked Sendable {
    private var values: [Float]
    private let lock = NSLock()
    init(count: Int) { values = [Float](repeating: 0, count: count) }
    func set(_ i: Int, _ value: Float) { lock.lock(); values[i] = value; lock.unlock() }
    var total: Float { lock.lock(); defer { lock.unlock() }; return values.reduce(0, +) }
}
