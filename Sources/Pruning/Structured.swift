import NeuralNetwork
import TensorCore

/// A structured cut over dependency groups: whole neurons, filters or channels, each
/// removed from every layer of its group at once.
public struct StructuredPlan {
    /// Scores the entries of producer weights. A unit's score is the mean, over the group's
    /// producers, of the mean score of the unit's row or filter (so `Magnitude` ranks by
    /// mean |w| — the L1 norm over fan-in — and `SquaredMagnitude` by mean w²). Means keep
    /// groups with several producers (residual) and layers of different fan-in comparable
    /// in global scope.
    public var criterion: Criterion
    /// Score units by |γ| of the group's BatchNorm layers instead (network slimming,
    /// Liu et al. 2017, https://arxiv.org/abs/1708.06519); groups without BatchNorm fall back
    /// to `criterion`.
    public var batchNormScale: Bool
    /// The fraction of units to remove: in each group (layer scope) or over all groups (global).
    public var sparsity: Double
    /// Where units compete.
    public var scope: Scope
    /// Each group keeps at least this fraction of its units (and always at least one).
    public var minimumKeptFraction: Double
    /// Kept counts are rounded up to a multiple of this (8 suits vector kernels), capped at the group's size.
    public var multiple: Int
    /// A group may be cut when one of its producers' weights (`fc1.weight`) matches one of
    /// these patterns (`*` wildcard) and none of them matches `excluding`. Cutting a group
    /// cuts all its producers: selecting one layer of a residual group selects the group.
    public var parameters: [String]
    /// Patterns of producer weights whose groups are left alone.
    public var excluding: [String]
    /// `.neuron`: only groups produced by dense layers; `.filter`: only by convolutions;
    /// nil: both.
    public var unit: Granularity?

    /// Creates a plan.
    public init(criterion: Criterion = SquaredMagnitude(), batchNormScale: Bool = false, sparsity: Double,
                scope: Scope = .layer, minimumKeptFraction: Double = 0, multiple: Int = 1,
                parameters: [String] = ["*.weight"], excluding: [String] = [], unit: Granularity? = nil) {
        self.criterion = criterion; self.batchNormScale = batchNormScale; self.sparsity = sparsity
        self.scope = scope; self.minimumKeptFraction = minimumKeptFraction; self.multiple = multiple
        self.parameters = parameters; self.excluding = excluding; self.unit = unit
    }

    /// Whether `group` is selected by the patterns and the unit kind.
    func selects(_ group: DependencyGroup, in model: Graph) -> Bool {
        let paths = group.producers.map { "\($0.layer).weight" }
        guard group.isPrunable, !paths.contains(where: { p in excluding.contains { matches(p, pattern: $0) } }) else { return false }
        return group.producers.contains { p in
            let module = model.module(named: p.layer)
            let kindFits = switch unit {
            case .neuron?: module is Dense
            case .filter?: module is Conv2D
            default: true
            }
            return kindFits && parameters.contains { matches("\(p.layer).weight", pattern: $0) }
        }
    }
}

/// What a structured cut did to one group.
public struct GroupCut: Codable, Equatable, Sendable {
    /// The group's name (its producers).
    public var group: String
    /// Units before and after.
    public var units: Int, kept: Int
    /// Creates a record.
    public init(group: String, units: Int, kept: Int) { self.group = group; self.units = units; self.kept = kept }
}

/// Structured pruning and compaction.
public enum Structured {
    /// Masks whole units of the prunable dependency groups of `model`: the producers'
    /// rows or filters and their biases, and the scale and shift of the group's BatchNorm
    /// layers, so a cut channel is exactly zero wherever it is read. Earlier masks stay.
    /// - Throws: `PruningError` for a sparsity outside [0, 1], a bad multiple or floor, or
    ///   when no prunable group matches.
    @discardableResult
    public static func prune(_ model: Graph, with plan: StructuredPlan) throws -> [GroupCut] {
        try prune(model, with: plan, groups: Dependencies.groups(model))
    }

    /// `prune(_:with:)` over groups the caller has already found for `model`.
    static func prune(_ model: Graph, with plan: StructuredPlan, groups all: [DependencyGroup]) throws -> [GroupCut] {
        guard (0...1).contains(plan.sparsity) else { throw PruningError("structured sparsity must be in [0, 1], got \(plan.sparsity)") }
        guard plan.multiple >= 1 else { throw PruningError("the kept-count multiple must be at least 1, got \(plan.multiple)") }
        guard (0...1).contains(plan.minimumKeptFraction) else {
            throw PruningError("the minimum kept fraction must be in [0, 1], got \(plan.minimumKeptFraction)")
        }
        let groups = all.filter { plan.selects($0, in: model) }
        guard !groups.isEmpty else {
            throw PruningError("no prunable group of \(plan.unit.map { "\($0)s" } ?? "units") matches \(plan.parameters)"
                               + "\(plan.excluding.isEmpty ? "" : " excluding \(plan.excluding)"); the model's groups: "
                               + all.map(\.description).joined(separator: " | "))
        }
        var scores = groups.map { unitScores($0, model: model, plan: plan) }
        for (g, s) in zip(groups, scores) where s.contains(where: { !$0.isFinite }) {
            throw PruningError("scores of group '\(g.name)' contain NaN or infinity")
        }
        // Units cut before (every producer row masked) rank first and stay cut.
        let earlier = groups.map { alreadyCut($0, in: model) }
        for i in groups.indices { for j in earlier[i].indices where earlier[i][j] { scores[i][j] = -.infinity } }
        let floors = groups.map { max(1, Int((plan.minimumKeptFraction * Double($0.units) - 1e-9).rounded(.up))) }
        var cut = groups.map { [Bool](repeating: false, count: $0.units) }
        switch plan.scope {
        case .layer:
            for (i, g) in groups.enumerated() {
                let n = min(Int((plan.sparsity * Double(g.units)).rounded()), g.units - floors[i])
                for j in lowest(scores[i], count: n) { cut[i][j] = true }
            }
        case .global:
            let total = groups.reduce(0) { $0 + $1.units }
            var remaining = Int((plan.sparsity * Double(total)).rounded())
            var kept = groups.map(\.units)
            let order = groups.indices.flatMap { i in scores[i].indices.map { (i, $0) } }
                .sorted { (scores[$0.0][$0.1], $0.0, $0.1) < (scores[$1.0][$1.1], $1.0, $1.1) }
            for (i, j) in order where remaining > 0 && kept[i] > floors[i] {
                cut[i][j] = true; kept[i] -= 1; remaining -= 1
            }
        }
        // Round kept counts up to the multiple by restoring the best-scored units cut now.
        if plan.multiple > 1 {
            for i in groups.indices {
                let kept = cut[i].filter { !$0 }.count
                let target = min(groups[i].units, (kept + plan.multiple - 1) / plan.multiple * plan.multiple)
                let restore = cut[i].indices.filter { cut[i][$0] && !earlier[i][$0] }
                    .sorted { scores[i][$0] > scores[i][$1] }.prefix(max(target - kept, 0))
                for j in restore { cut[i][j] = false }
            }
        }
        for i in groups.indices { for j in earlier[i].indices where earlier[i][j] { cut[i][j] = true } }
        var result: [GroupCut] = []
        for (i, g) in groups.enumerated() {
            try mask(g, cut: cut[i], in: model)
            result.append(GroupCut(group: g.name, units: g.units, kept: cut[i].filter { !$0 }.count))
        }
        return result
    }

    /// The indices of the `count` smallest scores (ties: lower index first).
    static func lowest(_ scores: [Float], count: Int) -> [Int] {
        Array(scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }.prefix(max(count, 0)))
    }

    /// Whether each unit of `group` is already cut: every producer's row or filter fully masked.
    static func alreadyCut(_ group: DependencyGroup, in model: Graph) -> [Bool] {
        var cut = [Bool](repeating: true, count: group.units)
        for m in group.producers {
            guard let p = model.parameter(at: "\(m.layer).weight") else { continue }
            guard let mask = p.mask else { return [Bool](repeating: false, count: group.units) }
            let size = p.count / group.units
            mask.withUnsafeBufferPointer { b in
                for j in 0..<group.units where cut[j] {
                    for k in j * size..<(j + 1) * size where b[k] != 0 { cut[j] = false; break }
                }
            }
        }
        return cut
    }

    /// Each unit's score in `group`.
    static func unitScores(_ group: DependencyGroup, model: Graph, plan: StructuredPlan) -> [Float] {
        var scores = [Float](repeating: 0, count: group.units)
        if let zeros = (plan.criterion as? AveragePercentageOfZeros)?.zeros,
           case let fractions = group.activations.compactMap({ zeros[$0] }).filter({ $0.count == group.units }), !fractions.isEmpty {
            // Mostly-zero activations mean an unused unit: score = 1 − mean zero fraction.
            for f in fractions { for j in 0..<group.units { scores[j] += (1 - f[j]) / Float(fractions.count) } }
            return scores
        }
        let norms = group.members.filter { $0.role == .normalization }
        if plan.batchNormScale, !norms.isEmpty {
            for m in norms {
                guard let bn = model.module(named: m.layer) as? BatchNorm else { continue }
                for j in 0..<group.units {
                    var sum: Float = 0
                    for k in j * m.block..<(j + 1) * m.block { sum += abs(bn.scale.value[flat: k]) }
                    scores[j] += sum / Float(m.block * norms.count)
                }
            }
            return scores
        }
        for m in group.producers {
            guard let weight = model.parameter(at: "\(m.layer).weight") else { continue }
            let s = plan.criterion.scores(for: weight, path: "\(m.layer).weight")
            let size = s.count / group.units
            s.withUnsafeBufferPointer { p in
                for j in 0..<group.units {
                    var sum: Float = 0
                    for k in j * size..<(j + 1) * size { sum += p[k] }
                    scores[j] += sum / Float(max(size, 1) * group.producers.count)
                }
            }
        }
        return scores
    }

    /// Masks unit j of every producer (weight slice and bias) and BatchNorm (scale, shift) where `cut[j]`.
    static func mask(_ group: DependencyGroup, cut: [Bool], in model: Graph) throws {
        guard cut.contains(true) else { return }
        for m in group.members where m.role != .consumer {
            for name in ["weight", "bias"] {   // a producer's weight and bias; a BatchNorm's scale and shift
                guard let p = model.parameter(at: "\(m.layer).\(name)") else { continue }
                let size = p.count / group.units
                var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
                mask.withUnsafeMutableBufferPointer { b in
                    for j in cut.indices where cut[j] { for k in j * size..<(j + 1) * size { b[k] = 0 } }
                }
                p.mask = mask
            }
        }
    }
}

/// APoZ, the average percentage of zeros of a unit's ReLU output over a data sample (Hu et
/// al. 2016, https://arxiv.org/abs/1607.03250): a unit that is almost always zero does
/// little. Structured cuts score a unit as 1 − its zero fraction (averaged over the ReLU
/// layers of its group); groups without a ReLU fall back to magnitude. On a single
/// parameter it scores `|w|`.
public struct AveragePercentageOfZeros: Criterion {
    public var name: String { "apoz" }
    /// Per ReLU layer name, the fraction of zero outputs of each channel.
    public var zeros: [String: [Float]]

    /// Creates the criterion from measured fractions.
    public init(zeros: [String: [Float]]) { self.zeros = zeros }

    /// Measures the fractions on `batches` batches of `data` (evaluation mode).
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   fewer than one batch or sample.
    public init(measuring model: Graph, on data: Dataset, batches: Int = 10, batchSize: Int = 128) throws {
        try Trainer.check(data, fits: model)
        guard batches >= 1, batchSize >= 1 else { throw PruningError("APoZ needs at least one batch of one sample") }
        let relus = Set(model.nodes.indices.filter { model.nodes[$0].module is ReLU })
        var zeroCounts: [Int: [Int]] = [:], totals: [Int: Int] = [:]
        for b in 0..<batches {
            let lo = (b * batchSize) % max(data.count, 1)
            let indices = (lo..<(lo + batchSize)).map { $0 % data.count }
            _ = model.forward(data.batch(indices[...]).inputs, training: false) { i, output in
                guard relus.contains(i), output.rank >= 2 else { return }
                let n = output.shape[0], c = output.shape[1], inner = output.count / max(n * c, 1)
                var counts = zeroCounts[i] ?? [Int](repeating: 0, count: c)
                output.withUnsafeBufferPointer { p in
                    for s in 0..<n { for ch in 0..<c { for k in 0..<inner where p[(s * c + ch) * inner + k] == 0 { counts[ch] += 1 } } }
                }
                zeroCounts[i] = counts
                totals[i, default: 0] += n * inner
            }
        }
        var result: [String: [Float]] = [:]
        for (i, counts) in zeroCounts {
            result[model.nodes[i].module.name] = counts.map { Float($0) / Float(max(totals[i] ?? 1, 1)) }
        }
        zeros = result
    }

    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }
}
