import NeuralNetwork
import TensorCore

/// A structured cut over dependency groups: whole neurons, filters or channels, each
/// removed from every layer of its group at once.
public struct StructuredPlan {
    /// Scores units. A `UnitCriterion` scores a group's units itself (BatchNorm scales,
    /// APoZ); otherwise a unit's score is the mean, over the group's producers, of the mean
    /// score of the unit's row or filter (so `Magnitude` ranks by mean |w| — the L1 norm
    /// over fan-in — and `SquaredMagnitude` by mean w²); an attention head also averages in
    /// its columns of the output projection. Means keep groups with several
    /// producers (residual) and layers of different fan-in comparable in global scope.
    public var criterion: Criterion
    /// How many units to cut: a fraction of units (in each group with layer scope, over
    /// all groups with global scope), units scoring below a value, or a fraction per group
    /// keyed by a producer's weight path (`fc1.weight`; unlisted groups are left alone).
    public var threshold: Threshold
    /// Where units compete (for a sparsity threshold).
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
    /// `.neuron`: only groups of neurons produced by dense layers; `.filter`: only by
    /// convolutions; `.head`: only attention heads; nil: all of them.
    public var unit: Granularity?

    /// Creates a plan.
    public init(criterion: Criterion = SquaredMagnitude(), threshold: Threshold, scope: Scope = .layer,
                minimumKeptFraction: Double = 0, multiple: Int = 1,
                parameters: [String] = ["*.weight"], excluding: [String] = [], unit: Granularity? = nil) {
        self.criterion = criterion; self.threshold = threshold
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
            case .neuron?: module is Dense && !group.isHeads
            case .filter?: module is Conv2D
            case .head?: group.isHeads
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
        try validate(plan)
        var groups = all.filter { plan.selects($0, in: model) }
        if case let .perLayer(map) = plan.threshold {
            groups = groups.filter { g in g.producers.contains { map["\($0.layer).weight"] != nil } }
        }
        guard !groups.isEmpty else {
            throw PruningError.noGroupMatches(unit: plan.unit.map { "\($0)s" } ?? "units", patterns: plan.parameters,
                                              excluding: plan.excluding, groups: all.map(\.description))
        }
        var scores = try groups.map { try unitScores($0, model: model, plan: plan) }
        for (g, s) in zip(groups, scores) where s.contains(where: { !$0.isFinite }) {
            throw PruningError.group(name: g.name, problem: "the \(plan.criterion.name) scores contain NaN or infinity; check the weights and gradients")
        }
        // Units cut before (every producer row masked) rank first and stay cut.
        let earlier = groups.map { alreadyCut($0, in: model) }
        for i in groups.indices { for j in earlier[i].indices where earlier[i][j] { scores[i][j] = -.infinity } }
        let floors = groups.map { max(1, Int((plan.minimumKeptFraction * Double($0.units) - 1e-9).rounded(.up))) }
        var cut = groups.map { [Bool](repeating: false, count: $0.units) }
        func cutLowest(_ i: Int, fraction: Double) {
            let n = min(Int((fraction * Double(groups[i].units)).rounded()), groups[i].units - floors[i])
            for j in lowest(scores[i], count: n) { cut[i][j] = true }
        }
        switch (plan.threshold, plan.scope) {
        case let (.sparsity(s), .layer), let (.sparsity(s), .row):   // (row scope is refused for units earlier)
            for i in groups.indices { cutLowest(i, fraction: s) }
        case let (.sparsity(s), .global):
            let total = groups.reduce(0) { $0 + $1.units }
            var remaining = Int((s * Double(total)).rounded())
            var kept = groups.map(\.units)
            let order = groups.indices.flatMap { i in scores[i].indices.map { (i, $0) } }
                .sorted { (scores[$0.0][$0.1], $0.0, $0.1) < (scores[$1.0][$1.1], $1.0, $1.1) }
            for (i, j) in order where remaining > 0 && kept[i] > floors[i] {
                cut[i][j] = true; kept[i] -= 1; remaining -= 1
            }
        case let (.value(t), _):
            for i in groups.indices {
                let below = scores[i].indices.filter { scores[i][$0] < t }
                for j in lowest(scores[i], count: min(below.count, groups[i].units - floors[i])) { cut[i][j] = true }
            }
        case let (.perLayer(map), _):
            for (i, g) in groups.enumerated() {
                // A residual group listed under several producers takes the largest fraction asked.
                let fraction = g.producers.compactMap { map["\($0.layer).weight"] }.max() ?? 0
                cutLowest(i, fraction: fraction)
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
            mask(g, cut: cut[i], in: model)
            result.append(GroupCut(group: g.name, units: g.units, kept: cut[i].filter { !$0 }.count))
        }
        return result
    }

    private static func validate(_ plan: StructuredPlan) throws {
        try plan.threshold.check()
        guard plan.multiple >= 1 else { throw PruningError.field("multiple", "must be at least 1, got \(plan.multiple)") }
        guard (0...1).contains(plan.minimumKeptFraction) else {
            throw PruningError.field("minimum_kept_fraction", "must be in [0, 1], got \(plan.minimumKeptFraction)")
        }
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
            for (k, zero) in mask.zeroSlices(count: group.units * m.stripes).enumerated() where !zero { cut[k % group.units] = false }
        }
        return cut
    }

    /// Each unit's score in `group`.
    static func unitScores(_ group: DependencyGroup, model: Graph, plan: StructuredPlan) throws -> [Float] {
        if let criterion = plan.criterion as? UnitCriterion, let scores = try criterion.unitScores(for: group, in: model) {
            guard scores.count == group.units else {
                throw PruningError.group(name: group.name, problem: "criterion \(criterion.name) gave \(scores.count) scores for \(group.units) units")
            }
            return scores
        }
        var scores = [Float](repeating: 0, count: group.units)
        // A head also counts its columns of the output projection: the only weights through
        // which it reaches the model, and where Wanda's input norms (of each head's output)
        // tell heads apart.
        let members = group.producers + (group.isHeads ? group.members.filter { $0.role == .consumer } : [])
        let parts = members.reduce(0) { $0 + $1.stripes }   // a fused QKV weighs as Q, K and V apart
        for m in members {
            guard let weight = model.parameter(at: "\(m.layer).weight") else { continue }
            let scored = plan.criterion.scores(for: weight, path: "\(m.layer).weight")
            let means = m.role == .consumer ? scored.columnBlockMeans(count: group.units) : scored.sliceMeans(count: group.units * m.stripes)
            for (k, mean) in means.enumerated() { scores[k % group.units] += mean / Float(parts) }
        }
        return scores
    }

    /// Masks unit j of every producer (weight slice and bias) and BatchNorm (scale, shift) where `cut[j]`.
    static func mask(_ group: DependencyGroup, cut: [Bool], in model: Graph) {
        guard cut.contains(true) else { return }
        for m in group.members where m.role != .consumer {
            for name in ["weight", "bias"] {   // a producer's weight and bias; a BatchNorm's scale and shift
                guard let p = model.parameter(at: "\(m.layer).\(name)") else { continue }
                var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
                mask.zeroSlices(where: Array(repeating: cut, count: m.stripes).flatMap { $0 })   // each part of a fused projection
                p.mask = mask
            }
        }
    }
}
