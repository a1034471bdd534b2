import RealModule

/// The highest sparsity whose accuracy stays within a budget of a baseline, found by
/// bisection on the log of the density (so that 90 → 95 → 97.5 → 98.75% are equal steps:
/// where accuracy turns, each step halves what is left).
///
/// Each probe is one call of the caller's measurement (cut a copy, fine-tune briefly,
/// measure on the validation split). The search assumes accuracy falls as sparsity rises;
/// when a probe breaks the budget the search looks lower, otherwise higher, and it keeps
/// the highest sparsity that kept the budget. It never returns a sparsity it did not see
/// kept (or `lowest`, when nothing was).
///
/// ```swift
/// let search = AccuracyBudgetSearch(maximumDrop: 0.005, probes: 6)
/// let found = try search.run(baseline: 0.89) { s in try probe(s) }
/// found.sparsity   // e.g. 0.963
/// ```
public struct AccuracyBudgetSearch: Sendable {
    /// The most accuracy (a fraction, 0.005 = half a point) a kept sparsity may lose.
    public var maximumDrop: Float
    /// The lowest sparsity (taken as within budget without a probe) and the highest tried.
    public var lowest: Double, highest: Double
    /// The most probes.
    public var probes: Int

    /// One measurement of the search.
    public struct Probe: Codable, Equatable, Sendable {
        /// The sparsity probed.
        public var sparsity: Double
        /// Its accuracy on the split searched on.
        public var accuracy: Float
        /// Whether it kept the budget.
        public var kept: Bool
    }

    /// What the search found.
    public struct Result: Codable, Equatable, Sendable {
        /// The highest sparsity seen to keep the budget (or `lowest`).
        public var sparsity: Double
        /// Its probe's accuracy (nil when it is `lowest`, never probed).
        public var accuracy: Float?
        /// The lowest sparsity seen to break it (nil when none did).
        public var broke: Double?
        /// Every probe, in order.
        public var probes: [Probe]
    }

    /// Creates a search.
    /// - Parameters:
    ///   - maximumDrop: the budget, as a fraction of accuracy (0.005 = 0.5 points).
    ///   - lowest: a sparsity known to keep the budget (0: the model as it is).
    ///   - highest: the highest sparsity worth trying, below 1.
    ///   - probes: the most measurements.
    public init(maximumDrop: Float, lowest: Double = 0, highest: Double = 0.995, probes: Int = 6) {
        self.maximumDrop = maximumDrop; self.lowest = lowest; self.highest = highest; self.probes = probes
    }

    /// Searches with `measure` (the accuracy at a sparsity) against `baseline`.
    /// - Parameter broke: a sparsity already seen to break the budget (nil: start by
    ///   probing `highest`).
    /// - Throws: what `measure` throws; `PruningError` for bounds outside 0 ≤ lowest < highest < 1.
    public func run(baseline: Float, broke: Double? = nil, measure: (Double) throws -> Float) throws -> Result {
        guard lowest >= 0, lowest < highest, highest < 1, probes >= 0 else {
            throw PruningError.field("prune.threshold.auto", "needs 0 ≤ lowest < highest < 1 and probes ≥ 0, got \(lowest), \(highest), \(probes)")
        }
        func x(_ s: Double) -> Double { -Double.log(1 - s) }
        func s(_ x: Double) -> Double { 1 - Double.exp(-x) }
        var result = Result(sparsity: lowest, accuracy: nil, broke: broke, probes: [])
        var low = x(lowest), high = x(min(broke ?? highest, highest))
        var next = broke == nil ? high : (low + high) / 2
        while result.probes.count < probes {
            let sparsity = s(next)
            let accuracy = try measure(sparsity)
            let kept = accuracy >= baseline - maximumDrop
            result.probes.append(Probe(sparsity: sparsity, accuracy: accuracy, kept: kept))
            if kept {
                if sparsity > result.sparsity { result.sparsity = sparsity; result.accuracy = accuracy }
                if next >= high { break }   // the highest kept: nothing above to look for
                low = next
            } else {
                result.broke = min(result.broke ?? sparsity, sparsity)
                high = next
            }
            next = (low + high) / 2
        }
        return result
    }
}
