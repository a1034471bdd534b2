import Foundation
import NeuralNetwork
import Pruning
import TensorCore

/// Weight magnitudes before and after pruning, counted in bins spaced evenly on a log
/// scale (magnitudes span decades); exact zeros are counted apart, since a log axis cannot
/// place them.
public struct WeightHistogram: Codable, Equatable, Sendable {
    /// `bins + 1` increasing bin edges (magnitudes), shared by both sides.
    public var edges: [Double]
    /// Non-zero magnitudes per bin, before (when the report has a "before" model) and after.
    public var before: [Int]?, after: [Int]
    /// Exact zeros, before and after.
    public var zerosBefore: Int?, zerosAfter: Int
    /// The smallest magnitude that survived, when pruning cut anything: where a magnitude
    /// cut would have drawn its line (for other criteria, where the kept weights begin).
    public var smallestKept: Double?
    /// The magnitude below which the last cut removed weights, when the criterion ranks by
    /// magnitude and one cutoff held for every tensor (global sparsity or a value threshold).
    /// Fine-tuning after the cut moves the kept weights, so some may now sit below it.
    public var lastCut: Double?
    /// The parameters counted.
    public var parameters: [String]

    /// Counts the weights of `after` (and of `before`) at `paths` in `bins` log-spaced bins
    /// from the smallest to the largest non-zero magnitude of either model.
    public init(after: Graph, before: Graph?, paths: [String], bins: Int = 60) {
        func magnitudes(_ model: Graph) -> [Float] {
            paths.flatMap { model.parameter(at: $0)?.value.scalars.map { abs($0) } ?? [] }
        }
        let a = magnitudes(after), b = before.map(magnitudes)
        let nonZero = (a + (b ?? [])).filter { $0 > 0 && $0.isFinite }
        var low = Double(nonZero.min() ?? 1e-3), high = Double(nonZero.max() ?? 1)
        if high <= low { (low, high) = (low / 2, low * 2) }
        let (l, h) = (log10(low), log10(high))
        edges = (0...bins).map { pow(10, l + (h - l) * Double($0) / Double(bins)) }
        // pow(10, log10(x)) can round below x: the ends are the magnitudes themselves, so the
        // largest and smallest weights sit inside the first and last bins.
        (edges[0], edges[bins]) = (low, high)
        func count(_ values: [Float]) -> [Int] {
            var counts = [Int](repeating: 0, count: bins)
            for v in values where v > 0 && v.isFinite {
                let i = Int((log10(Double(v)) - l) / (h - l) * Double(bins))
                counts[min(max(i, 0), bins - 1)] += 1
            }
            return counts
        }
        self.after = count(a)
        self.before = b.map(count)
        zerosAfter = a.count(where: { $0 == 0 })
        zerosBefore = b.map { $0.count(where: { $0 == 0 }) }
        let cut = zerosAfter > (zerosBefore ?? 0) || (before == nil && zerosAfter > 0)
        smallestKept = cut ? a.filter { $0 > 0 }.min().map(Double.init) : nil
        parameters = paths
    }
}

/// Batch-1 inference latency before and after pruning, each model on its fastest path
/// (the pruned one through `Graph.sparsified(.measured)`: CSR where that is faster).
public struct LatencyFigures: Codable, Equatable, Sendable {
    /// Samples per forward pass.
    public var batch: Int
    /// Median milliseconds per forward pass, before (nil without a "before" model) and after.
    public var beforeMilliseconds: Double?, afterMilliseconds: Double
    /// Layers the pruned model runs from CSR.
    public var sparseLayers: Int
    /// Forward passes timed per model.
    public var runs: Int

    /// Times `after` and `before` on `input` in turns for about `seconds` in all.
    /// - Throws: `ModelError` when the sparse copy cannot be assembled.
    public init(after: Graph, before: Graph?, input: Tensor, seconds: Double = 0.2) throws {
        let sparse = try after.sparsified(.measured(batchSize: input.shape[0]))
        sparseLayers = sparse.nodes.filter { $0.module is SparseDense || $0.module is SparseConv2D }.count
        let models = [sparse] + (before.map { [$0] } ?? [])
        for m in models { _ = m.forward(input, training: false) }   // warm up
        var times = [[Double]](repeating: [], count: models.count)
        let clock = ContinuousClock()
        let start = clock.now
        repeat {
            for (i, m) in models.enumerated() {
                let t = clock.now
                _ = m.forward(input, training: false)
                times[i].append((clock.now - t).seconds)
            }
        } while (clock.now - start).seconds < seconds && times[0].count < 1000
        func median(_ x: [Double]) -> Double { let s = x.sorted(); return s[s.count / 2] * 1000 }
        batch = input.shape[0]
        afterMilliseconds = median(times[0])
        beforeMilliseconds = before == nil ? nil : median(times[1])
        runs = times[0].count
    }
}

/// One pruned weight tensor's sparsity, before and after (weights only, unlike
/// `ModelReport`'s per-layer figures, which count biases too).
public struct WeightSparsity: Codable, Equatable, Sendable {
    /// The parameter's path (`"fc1.weight"`) and its entries.
    public var path: String, count: Int
    /// Its sparsity before (nil without a "before" model) and after.
    public var before: Double?, after: Double

    /// The parameters at `paths` of `model`, with `before`'s when given.
    static func layers(of model: Graph, before: Graph?, paths: [String]) -> [WeightSparsity] {
        func sparsity(_ p: Parameter) -> Double { Pruner.sparsity(of: [(path: "", parameter: p)]) }
        return paths.compactMap { path in
            guard let p = model.parameter(at: path) else { return nil }
            return WeightSparsity(path: path, count: p.count, before: before?.parameter(at: path).map(sparsity), after: sparsity(p))
        }
    }
}
