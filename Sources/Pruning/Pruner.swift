import NeuralNetwork
import TensorCore

/// A one-shot pruning plan: Criterion × Granularity × Scope × Threshold, over the
/// parameters whose paths match `parameters` and not `excluding`.
public struct PruningPlan {
    /// How importance is computed.
    public var criterion: Criterion
    /// What one unit is.
    public var granularity: Granularity
    /// Where units compete.
    public var scope: Scope
    /// How many units to cut (ignored by N:M granularity, whose pattern fixes it).
    public var threshold: Threshold
    /// Path patterns of the parameters to prune; `*` matches any run of characters.
    public var parameters: [String]
    /// Path patterns to leave alone.
    public var excluding: [String]
    /// Also prune BatchNorm scales matched by a pattern (off: normalization is kept).
    public var includeNormalization: Bool

    /// Creates a plan; by default every dense and convolution weight competes globally.
    public init(criterion: Criterion = Magnitude(), granularity: Granularity = .weight, scope: Scope = .global,
                threshold: Threshold, parameters: [String] = ["*.weight"], excluding: [String] = [],
                includeNormalization: Bool = false) {
        self.criterion = criterion; self.granularity = granularity; self.scope = scope
        self.threshold = threshold; self.parameters = parameters; self.excluding = excluding
        self.includeNormalization = includeNormalization
    }
}

/// A plan that cannot be applied to a model: names the field and the problem.
public struct PruningError: Error, CustomStringConvertible, Equatable {
    /// What is wrong and where.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// What one pruning step did to one parameter.
public struct PrunedParameter: Codable, Equatable, Sendable {
    /// The parameter's path.
    public var path: String
    /// Its number of entries.
    public var count: Int
    /// Non-zero entries before and after the step.
    public var nonZerosBefore: Int, nonZerosAfter: Int
    /// `1 − nonZerosAfter/count`.
    public var sparsity: Double { count == 0 ? 0 : 1 - Double(nonZerosAfter) / Double(count) }
}

/// The outcome of one pruning step.
public struct PruningResult: Sendable {
    /// One entry per pruned parameter, in model order.
    public var parameters: [PrunedParameter]
    /// Seconds spent scoring, selecting and masking.
    public var seconds: Double
    /// The sparsity over all pruned parameters together.
    public var sparsity: Double {
        let total = parameters.reduce(0) { $0 + $1.count }
        return total == 0 ? 0 : 1 - Double(parameters.reduce(0) { $0 + $1.nonZerosAfter }) / Double(total)
    }
}

/// Applies pruning plans to models by setting parameter masks.
///
/// Entries already masked stay cut and count toward a sparsity target. Cutting a neuron
/// or filter also masks its bias entry, so the unit's own output is exactly zero (a
/// following BatchNorm may still add a constant; compaction handles that).
public enum Pruner {
    /// The parameters a plan selects, in model order.
    /// - Throws: `PruningError` when nothing matches.
    public static func selectParameters(_ plan: PruningPlan, in model: Graph) throws -> [(path: String, parameter: Parameter)] {
        let modules = Dictionary(model.nodes.map { ($0.module.name, $0.module) }, uniquingKeysWith: { a, _ in a })
        let selected = model.trainableParameters.filter { path, _ in
            guard plan.parameters.contains(where: { matches(path, pattern: $0) }),
                  !plan.excluding.contains(where: { matches(path, pattern: $0) }) else { return false }
            let layer = String(path.split(separator: ".").first ?? "")
            return plan.includeNormalization || !(modules[layer] is BatchNorm)
        }
        guard !selected.isEmpty else {
            throw PruningError("parameters \(plan.parameters) (excluding \(plan.excluding)) match no prunable parameter; the model has \(model.trainableParameters.map(\.path))")
        }
        return selected
    }

    /// Structured cuts to a sparsity go through the model's dependency groups
    /// (`Structured.prune`): a neuron or filter is removed from every layer of its group, a
    /// group reaching the model's outputs is never cut, and `sparsity` is the fraction of
    /// units removed per group (layer scope) or overall (global scope).
    static func pruneGroups(_ model: Graph, _ plan: PruningPlan, sparsity: Double,
                            start: ContinuousClock.Instant) throws -> PruningResult {
        let structured = StructuredPlan(criterion: plan.criterion, batchNormScale: plan.criterion is BatchNormScale,
                                        sparsity: sparsity, scope: plan.scope,
                                        parameters: plan.parameters, excluding: plan.excluding, unit: plan.granularity)
        let groups = Dependencies.groups(model)
        let producers = groups.filter { structured.selects($0, in: model) }.flatMap { $0.producers.map { "\($0.layer).weight" } }
        let before = producers.map { model.parameter(at: $0)?.value.nonZeroCount() ?? 0 }
        try Structured.prune(model, with: structured, groups: groups)
        let parameters = zip(producers, before).compactMap { path, nonZeros -> PrunedParameter? in
            guard let p = model.parameter(at: path) else { return nil }
            return PrunedParameter(path: path, count: p.count, nonZerosBefore: nonZeros, nonZerosAfter: p.value.nonZeroCount())
        }
        return PruningResult(parameters: parameters, seconds: (ContinuousClock.now - start).seconds)
    }

    /// Prunes `model` once with `plan`.
    /// - Returns: per-parameter counts and the time the step took.
    /// - Throws: `PruningError` for an impossible plan (sparsity outside [0, 1], a per-layer
    ///   path that is not selected, a granularity that does not fit a parameter's shape).
    /// - Complexity: O(parameters) time; the global threshold comes from a two-pass radix
    ///   selection over the scores, without sorting.
    @discardableResult
    public static func prune(_ model: Graph, with plan: PruningPlan) throws -> PruningResult {
        let clock = ContinuousClock()
        let start = clock.now
        if plan.granularity.isStructured, case let .sparsity(s) = plan.threshold {
            return try pruneGroups(model, plan, sparsity: s, start: start)
        }
        let selected = try selectParameters(plan, in: model)
        try validate(plan, selected)
        let before = selected.map { $0.parameter.value.nonZeroCount() }

        // Unit scores per parameter; entries already cut score −∞ so they are cut first.
        var units: [[Float]] = []
        var unitSize: [Int] = []
        for (path, p) in selected {
            var scores = plan.criterion.scores(for: p, path: path)
            guard scores.shape == p.value.shape else {
                throw PruningError("criterion \(plan.criterion.name) gave scores of shape \(scores.shape) for '\(path)' of shape \(p.value.shape)")
            }
            guard !scores.scalars.contains(where: \.isNaN) else {
                throw PruningError("criterion \(plan.criterion.name) gave NaN scores for '\(path)'; check the weights and gradients for NaN")
            }
            if let mask = p.mask {
                for i in 0..<scores.count where mask.scalars[i] == 0 { scores[flat: i] = -.infinity }
            }
            if plan.granularity.isStructured {
                let rows = p.value.shape[0], size = p.count / max(rows, 1)
                units.append((0..<rows).map { r in
                    var sum: Float = 0, live = false
                    for j in 0..<size where scores.scalars[r * size + j] != -.infinity {
                        sum += scores.scalars[r * size + j]; live = true
                    }
                    // The mean over the unit, so units of layers with different fan-in
                    // compete fairly in global scope (in layer scope it ranks as the sum).
                    return live ? sum / Float(size) : -.infinity
                })
                unitSize.append(size)
            } else {
                units.append(scores.scalars)
                unitSize.append(1)
            }
        }

        // Each parameter's rule: cut units scoring below `below`, and the first `ties`
        // units scoring exactly `below` (an exact count at the k-th value).
        var rules = [(below: Float, ties: Int)](repeating: (-.infinity, 0), count: units.count)
        var sharedTies: Int?
        if case .nOfM = plan.granularity {
            // N:M fixes the pattern itself; no threshold applies.
        } else {
            switch plan.threshold {
            case let .value(t):
                rules = rules.map { _ in (t, 0) }
            case let .sparsity(s):
                if plan.scope == .global {
                    let total = units.reduce(0) { $0 + $1.count }
                    let k = Int((s * Double(total)).rounded())
                    let rule = lowestRule(k, units)
                    rules = rules.map { _ in (rule.below, 0) }
                    sharedTies = rule.ties   // handed out in model order while masking
                } else {
                    for i in units.indices { rules[i] = lowestRule(Int((s * Double(units[i].count)).rounded()), [units[i]]) }
                }
            case let .perLayer(map):
                for (i, (path, _)) in selected.enumerated() {
                    if let s = map[path] { rules[i] = lowestRule(Int((s * Double(units[i].count)).rounded()), [units[i]]) }
                }
            }
        }

        // Masks: cut units become zeros; structured cuts also zero the unit's bias.
        for (i, (path, p)) in selected.enumerated() {
            var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
            if plan.granularity == .weight {
                // Units are entries: write the mask straight from the scores.
                let left = units[i].withUnsafeBufferPointer { u in
                    mask.withUnsafeMutableBufferPointer { m in
                        maskBelow(rules[i].below, ties: sharedTies ?? rules[i].ties, scores: u, mask: m)
                    }
                }
                if sharedTies != nil { sharedTies = left }
                p.mask = mask
                continue
            }
            var cutUnits = [Bool](repeating: false, count: units[i].count)
            if case let .nOfM(n, m) = plan.granularity {
                cutNOfM(units[i], n: n, m: m, into: &cutUnits)
            } else {
                var ties = sharedTies ?? rules[i].ties
                let below = rules[i].below
                units[i].withUnsafeBufferPointer { u in
                    cutUnits.withUnsafeMutableBufferPointer { c in
                        for j in 0..<u.count {
                            if u[j] < below { c[j] = true } else if u[j] == below && ties > 0 { c[j] = true; ties -= 1 }
                        }
                    }
                }
                if sharedTies != nil { sharedTies = ties }
            }
            let size = unitSize[i]
            mask.withUnsafeMutableBufferPointer { m in
                for (u, isCut) in cutUnits.enumerated() where isCut {
                    for j in 0..<size { m[u * size + j] = 0 }
                }
            }
            p.mask = mask
            if plan.granularity.isStructured, let bias = model.parameter(at: siblingPath(path, "bias")),
               bias.count == cutUnits.count {
                var biasMask = bias.mask ?? Tensor(shape: bias.value.shape, repeating: 1)
                biasMask.withUnsafeMutableBufferPointer { m in
                    for (u, isCut) in cutUnits.enumerated() where isCut { m[u] = 0 }
                }
                bias.mask = biasMask
            }
        }
        let report = zip(selected, before).map { entry, nonZeros in
            PrunedParameter(path: entry.path, count: entry.parameter.count, nonZerosBefore: nonZeros,
                            nonZerosAfter: entry.parameter.value.nonZeroCount())
        }
        return PruningResult(parameters: report, seconds: (clock.now - start).seconds)
    }

    private static func validate(_ plan: PruningPlan, _ selected: [(path: String, parameter: Parameter)]) throws {
        switch plan.threshold {
        case let .sparsity(s):
            guard s.isFinite, (0...1).contains(s) else { throw PruningError("threshold.sparsity must be in [0, 1], got \(s)") }
        case let .value(t):
            guard !t.isNaN else { throw PruningError("threshold.value must be a number, got NaN") }
        case let .perLayer(map):
            let paths = Set(selected.map(\.path))
            for (path, s) in map {
                guard paths.contains(path) else {
                    throw PruningError("threshold.per_layer names '\(path)', which is not among the selected parameters \(selected.map(\.path))")
                }
                guard s.isFinite, (0...1).contains(s) else { throw PruningError("threshold.per_layer['\(path)'] must be in [0, 1], got \(s)") }
            }
        }
        for (path, p) in selected {
            switch plan.granularity {
            case .weight: break
            case .neuron, .filter:
                guard p.value.rank >= 2 else {
                    throw PruningError("granularity \(plan.granularity) needs a weight of rank ≥ 2; '\(path)' has shape \(p.value.shape)")
                }
            case let .nOfM(n, m):
                guard m >= 1, (0...m).contains(n) else {
                    throw PruningError("granularity N:M needs 0 ≤ N ≤ M and M ≥ 1, got \(n):\(m)")
                }
                let row = p.count / max(p.value.shape.first ?? 1, 1)
                guard p.value.rank >= 2, row % m == 0 else {
                    throw PruningError("granularity N:M needs input rows divisible by \(m); '\(path)' has rows of \(row) (shape \(p.value.shape))")
                }
            }
        }
    }

    /// The rule that cuts exactly the `k` lowest of all `units` (ties broken by
    /// position): everything below the k-th smallest value, plus `ties` units equal to it.
    /// One exact k-th value from radix selection; no sort.
    private static func lowestRule(_ k: Int, _ units: [[Float]]) -> (below: Float, ties: Int) {
        guard k > 0 else { return (-.infinity, 0) }
        let total = units.reduce(0) { $0 + $1.count }
        let k = min(k, total)
        let pivot = withUnsafeBuffers(units) { kthSmallest(k - 1, in: $0) }
        var below = 0
        for u in units { below += u.withUnsafeBufferPointer { countBelow(pivot, in: $0) } }
        return (pivot, k - below)
    }

    /// In each group of `m` consecutive scores, marks all but the `n` highest.
    private static func cutNOfM(_ scores: [Float], n: Int, m: Int, into cut: inout [Bool]) {
        var group = [Int](repeating: 0, count: m)
        for start in stride(from: 0, to: scores.count, by: m) {
            for j in 0..<m { group[j] = start + j }
            // Highest first; ties keep the earlier position.
            group.sort { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            for j in n..<m { cut[group[j]] = true }
        }
    }

    private static func siblingPath(_ path: String, _ name: String) -> String {
        (path.split(separator: ".").dropLast() + [Substring(name)]).joined(separator: ".")
    }
}

/// Whether `path` matches `pattern`, where `*` matches any run of characters.
public func matches(_ path: String, pattern: String) -> Bool {
    let p = Array(pattern), s = Array(path)
    var pi = 0, si = 0, star = -1, mark = 0
    while si < s.count {
        if pi < p.count && p[pi] != "*" && p[pi] == s[si] { pi += 1; si += 1 }
        else if pi < p.count && p[pi] == "*" { star = pi; mark = si; pi += 1 }
        else if star >= 0 { pi = star + 1; mark += 1; si = mark }
        else { return false }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}
