import ArgumentParser
import Foundation
import TensorCore

/// `prune bench nm`: one N:M layer (e.g. 2:4) against the dense product of the same masked
/// weights, as a model's Linear layer runs them (`[tokens, in] · Wᵀ`).
struct BenchNM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nm",
        abstract: "An N:M (e.g. 2:4) weight matrix times a batch of tokens, against the dense product of the same weights (medians, timed in turns).",
        discussion: """
            The weights are uniform random, keeping N random entries of every M consecutive ones \
            in each row (seeded). Both sides compute [tokens, cols] · Wᵀ: the dense side through \
            the model's Linear product (BLAS or the packed kernel, as calibrated), the N:M side \
            through the panel layout an N:M layer runs (`NMPanels`, the kernel variant this CPU runs). Each side runs in blocks \
            of consecutive calls, the blocks taking turns.
            """)

    @Option(help: "Output features (matrix rows).")
    var rows: Int = 1536
    @Option(help: "Input features (matrix columns).")
    var cols: Int = 384
    @Option(help: "Tokens (rows of the batch).")
    var tokens: Int = 32
    @Option(help: "Kept entries per group, and the group length (N:M).")
    var pattern: String = "2:4"
    @Option(help: "The N:M kernel variant: avx512, avx2 or scalar (default: the best this CPU runs).")
    var variant: String?
    @Option(help: "Timed runs of each product (0: about 0.5 s each).")
    var runs: Int = 0
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, rows, for: "--rows")
        try requireAtLeast(1, cols, for: "--cols")
        try requireAtLeast(1, tokens, for: "--tokens")
        try requireAtLeast(0, runs, for: "--runs")
        guard parsedPattern != nil else { throw ValidationError("--pattern must be N:M with 1 ≤ N ≤ M ≤ 16, got '\(pattern)'") }
        if let variant {
            guard let kernel = Self.variants[variant] else {
                throw ValidationError("--variant must be one of \(Self.variants.keys.sorted().joined(separator: ", ")), got '\(variant)'")
            }
            guard kernel.rawValue <= NMPanels.Variant.best.rawValue else {
                throw ValidationError("this CPU does not run the \(kernel) kernel (the best it runs: \(NMPanels.Variant.best))")
            }
        }
    }

    static let variants: [String: NMPanels.Variant] = ["avx512": .avx512, "avx2": .avx2, "scalar": .scalar]

    var parsedPattern: (n: Int, m: Int)? {
        let parts = pattern.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, 1 <= parts[0], parts[0] <= parts[1], parts[1] <= 16 else { return nil }
        return (parts[0], parts[1])
    }

    struct Result: Encodable {
        var rows: Int, cols: Int, tokens: Int, pattern: String, variant: String
        var denseMs: Double, nmMs: Double, speedup: Double, maxRelativeError: Double, denseBytes: Int, nmBytes: Int
        enum CodingKeys: String, CodingKey {
            case rows, cols, tokens, pattern, variant, speedup
            case denseMs = "dense_ms", nmMs = "nm_ms", maxRelativeError = "max_relative_error"
            case denseBytes = "dense_bytes", nmBytes = "nm_bytes"
        }
    }

    func run() throws {
        threadOptions.apply()
        let (n, m) = parsedPattern!
        let pool = threadOptions.threads > 1 ? WorkerPool(count: threadOptions.threads) : nil
        var rng = SeededGenerator(seed: 11)
        var weights = Tensor.uniform([rows, cols], low: -1, high: 1, using: &rng)
        for r in 0..<rows {
            for g in stride(from: 0, to: cols, by: m) {
                var slots = Array(g..<min(g + m, cols))
                rng.shuffle(&slots)
                for j in slots.dropFirst(n) { weights[flat: r * cols + j] = 0 }
            }
        }
        guard let panels = NMMatrix(weights, n: n, m: m).flatMap(NMPanels.init) else {
            throw ValidationError("\(pattern) has no panel form for \(cols) columns: M must be 4 or 8 and divide --cols")
        }
        let x = Tensor.uniform([tokens, cols], low: -1, high: 1, using: &rng)
        var denseOut = Tensor.zeros([0]), nmOut = Tensor.zeros([0])
        let dense: () -> Void = { denseOut = linear(x, weight: weights, pool: pool) }
        let kernel = variant.flatMap { Self.variants[$0] } ?? .best
        let sparse: () -> Void = { nmOut = panels.multiplyTransposed(batch: x, pool: pool, variant: kernel) }
        let samples = timeInTurns([dense, sparse], count: runs, seconds: 0.5, maximumRuns: 5000, block: 20)
        var worst = 0.0
        for (a, b) in zip(nmOut.scalars, denseOut.scalars) { worst = max(worst, Double(abs(a - b)) / max(1, Double(abs(b)))) }
        let result = Result(rows: rows, cols: cols, tokens: tokens, pattern: pattern, variant: kernel.description, denseMs: 1000 * median(samples[0]),
                            nmMs: 1000 * median(samples[1]), speedup: median(samples[0]) / median(samples[1]),
                            maxRelativeError: worst, denseBytes: 4 * weights.count, nmBytes: panels.bytes)
        if output.json {
            try printJSON(result)
        } else {
            print(String(format: "%d×%d at %@, %d tokens: dense %.4f ms (%@), N:M %.4f ms (%@ kernel) → %.2f× (warm caches, median of %d each; N:M %@ bytes vs %@ dense; max relative difference %.1e)",
                         rows, cols, pattern, tokens, result.denseMs, BLAS.backendDescription, result.nmMs, kernel.description, result.speedup,
                         samples[0].count, grouped(result.nmBytes), grouped(result.denseBytes), worst))
        }
    }
}
