import Foundation
import NeuralNetwork
import TensorCore

/// A structured cut over dependency groups: whole neurons, filters or channels, each
/// removed from every layer of its group at once.
public struct StructuredPlan {
    /// Scores the entries of producer weights. A unit's score is the sum, over the group's
    /// producers, of the mean score of the unit's row or filter (so `Magnitude` ranks by
    /// mean |w| — the L1 norm over fan-in — and `SquaredMagnitude` by mean w²).
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
    /// these patterns (`*` wildcard) and none of `excluding`.
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
        group.isPrunable && group.producers.contains { p in
            let path = "\(p.layer).weight"
            let module = model.module(named: p.layer)
            let kindFits = switch unit {
            case .neuron?: module is Dense
            case .filter?: module is Conv2D
            default: true
            }
            return kindFits && parameters.contains { matches(path, pattern: $0) } && !excluding.contains { matches(path, pattern: $0) }
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
        guard (0...1).contains(plan.sparsity) else { throw PruningError("structured sparsity must be in [0, 1], got \(plan.sparsity)") }
        guard plan.multiple >= 1 else { throw PruningError("the kept-count multiple must be at least 1, got \(plan.multiple)") }
        guard (0...1).contains(plan.minimumKeptFraction) else {
            throw PruningError("the minimum kept fraction must be in [0, 1], got \(plan.minimumKeptFraction)")
        }
        let all = Dependencies.groups(model)
        let groups = all.filter { plan.selects($0, in: model) }
        guard !groups.isEmpty else {
            throw PruningError("no prunable group of \(plan.unit.map { "\($0)s" } ?? "units") matches \(plan.parameters)"
                               + "\(plan.excluding.isEmpty ? "" : " excluding \(plan.excluding)"); the model's groups: "
                               + all.map(\.description).joined(separator: " | "))
        }
        let scores = groups.map { unitScores($0, model: model, plan: plan) }
        for (g, s) in zip(groups, scores) where s.contains(where: { !$0.isFinite }) {
            throw PruningError("scores of group '\(g.name)' contain NaN or infinity")
        }
        let floors = groups.map { max(1, Int((plan.minimumKeptFraction * Double($0.units)).rounded(.up))) }
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
        // Round kept counts up to the multiple by restoring the best-scored cut units.
        if plan.multiple > 1 {
            for i in groups.indices {
                let kept = cut[i].filter { !$0 }.count
                let target = min(groups[i].units, (kept + plan.multiple - 1) / plan.multiple * plan.multiple)
                let restore = cut[i].indices.filter { cut[i][$0] }.sorted { scores[i][$0] > scores[i][$1] }.prefix(target - kept)
                for j in restore { cut[i][j] = false }
            }
        }
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

    /// Each unit's score in `group`.
    static func unitScores(_ group: DependencyGroup, model: Graph, plan: StructuredPlan) -> [Float] {
        var scores = [Float](repeating: 0, count: group.units)
        let norms = group.members.filter { $0.role == .normalization }
        if plan.batchNormScale, !norms.isEmpty {
            for m in norms {
                guard let bn = model.module(named: m.layer) as? BatchNorm else { continue }
                for j in 0..<group.units { scores[j] += abs(bn.scale.value[flat: j]) }
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
                    scores[j] += sum / Float(max(size, 1))
                }
            }
        }
        return scores
    }

    /// Masks unit j of every producer (weight slice and bias) and BatchNorm (scale, shift) where `cut[j]`.
    static func mask(_ group: DependencyGroup, cut: [Bool], in model: Graph) throws {
        guard cut.contains(true) else { return }
        for m in group.members where m.role != .consumer {
            let names = m.role == .producer ? ["weight", "bias"] : ["weight", "bias"]
            for name in names {
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
