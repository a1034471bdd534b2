import NeuralNetwork
import TensorCore

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
    /// The part of `seconds` spent computing the criterion's scores (0 for neuron and
    /// filter cuts, whose scoring is not timed apart from their group selection).
    public var scoringSeconds = 0.0
    /// The score below which entries were cut (ties at it cut in model order), when one value
    /// held for every parameter: value thresholds and global sparsity targets.
    public var cutoff: Float?
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
    /// - Throws: `PruningError.noParameterMatches` when nothing matches.
    public static func selectParameters(_ plan: PruningPlan, in model: Graph) throws -> [(path: String, parameter: Parameter)] {
        let modules = Dictionary(model.nodes.map { ($0.module.name, $0.module) }, uniquingKeysWith: { a, _ in a })
        let selected = model.trainableParameters.filter { path, _ in
            guard plan.parameters.contains(where: { matches(path, pattern: $0) }),
                  !plan.excluding.contains(where: { matches(path, pattern: $0) }) else { return false }
            let module = modules[String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)])]
            if module is BatchNorm || module is LayerNorm { return plan.includeNormalization }
            // A table's rows are tokens or positions, not connections: wildcards pass them by
            // (as torch's and HF's pruning recipes leave embeddings dense); naming one prunes it.
            if module is EmbeddingTable { return plan.parameters.contains(path) }
            return true
        }
        guard !selected.isEmpty else {
            throw PruningError.noParameterMatches(patterns: plan.parameters, excluding: plan.excluding,
                                                  available: model.trainableParameters.map(\.path))
        }
        return selected
    }

    /// The sparsity of `parameters` together: their zero entries over all their entries
    /// (0 for none). This is the sparsity every figure of a run is placed at.
    public static func sparsity(of parameters: [(path: String, parameter: Parameter)]) -> Double {
        let total = parameters.reduce(0) { $0 + $1.parameter.count }
        return total == 0 ? 0 : 1 - Double(parameters.reduce(0) { $0 + $1.parameter.value.nonZeroCount() }) / Double(total)
    }

    /// How much of the plan's objective the model's current zeros already remove: the weight
    /// sparsity for parameters, otherwise each tensor's cost curve read at its own sparsity,
    /// over their total. Iterative rounds start from it, so their targets and their start
    /// are shares of the same cost.
    /// - Throws: `PruningError` when nothing matches, or latency has no profile.
    public static func objectiveShare(of plan: PruningPlan, in model: Graph) throws -> Double {
        let selected = try selectParameters(plan, in: model)
        guard plan.objective != .parameters else { return sparsity(of: selected) }
        let costs = try plan.objective.costCurves(of: selected, in: model, latency: plan.latency)
        let total = selected.reduce(0) { $0 + (costs[$1.path]?.total ?? 0) }
        guard total > 0 else { return sparsity(of: selected) }
        return selected.reduce(0) { sum, entry in
            sum + (costs[entry.path]?.removed(atSparsity: sparsity(of: [entry])) ?? 0)
        } / total
    }

    /// The sparsity of the parameters `plan` selects in `model`, or nil when it selects none.
    public static func sparsity(of plan: PruningPlan, in model: Graph) -> Double? {
        (try? selectParameters(plan, in: model)).map { sparsity(of: $0) }
    }

    /// Structured cuts go through the model's dependency groups (`Structured.prune`), with
    /// any threshold: a neuron or filter is removed from every layer of its group, and a
    /// group reaching the model's outputs is never cut.
    static func pruneGroups(_ model: Graph, _ plan: PruningPlan, start: ContinuousClock.Instant) throws -> PruningResult {
        var structured = StructuredPlan(criterion: plan.criterion, threshold: plan.threshold, scope: plan.scope,
                                        parameters: plan.parameters, excluding: plan.excluding, unit: plan.granularity)
        let groups = Dependencies.groups(model)
        if case let .sparsity(target) = plan.threshold, plan.objective != .parameters {
            structured.threshold = .sparsity(try unitShareOfObjective(target, plan: plan, structured: structured, groups: groups, in: model))
        }
        let producers = groups.filter { structured.selects($0, in: model) }.flatMap { $0.producers.map { "\($0.layer).weight" } }
        let before = producers.map { model.parameter(at: $0)?.value.nonZeroCount() ?? 0 }
        _ = try Structured.prune(model, with: structured, groups: groups)
        let parameters = zip(producers, before).compactMap { path, nonZeros -> PrunedParameter? in
            guard let p = model.parameter(at: path) else { return nil }
            return PrunedParameter(path: path, count: p.count, nonZerosBefore: nonZeros, nonZerosAfter: p.value.nonZeroCount())
        }
        return PruningResult(parameters: parameters, seconds: (ContinuousClock.now - start).seconds)
    }

    /// Prunes `model` once with `plan`. Neuron and filter cuts go through the model's
    /// dependency groups, whatever the threshold.
    /// - Returns: per-parameter counts and the time the step took.
    /// - Throws: `PruningError` for an impossible plan (sparsity outside [0, 1], a per-layer
    ///   path that is not selected, a granularity that does not fit a parameter's shape).
    /// - Complexity: O(parameters) time; the global threshold comes from a two-pass radix
    ///   selection over the scores, without sorting.
    @discardableResult
    public static func prune(_ model: Graph, with plan: PruningPlan) throws -> PruningResult {
        var plan = plan
        if let calibrated = plan.criterion as? CalibratedCut {
            if let result = try pruneLayerwise(model, with: plan, calibrated) { return result }
            plan.criterion = try calibrated.method.oneShot(for: model, on: calibrated.data)
        }
        let clock = ContinuousClock()
        let start = clock.now
        if plan.scope == .row && plan.allocation == nil && plan.granularity != .weight {
            throw PruningError.field("prune.scope", "row compares the weights within each output row; it needs granularity weight, got \(plan.granularity)")
        }
        if plan.granularity.isStructured { return try pruneGroups(model, plan, start: start) }
        let selected = try selectParameters(plan, in: model)
        try validate(plan, selected)
        let before = selected.map { $0.parameter.value.nonZeroCount() }

        // Scores per parameter; entries already cut score −∞ so they are cut first.
        var units: [Tensor] = []
        for (path, p) in selected {
            var scores = plan.criterion.scores(for: p, path: path)
            guard scores.shape == p.value.shape else {
                throw PruningError.criterion(name: plan.criterion.name, problem: "gave scores of shape \(scores.shape) for '\(path)' of shape \(p.value.shape)")
            }
            guard !scores.scalars.contains(where: \.isNaN) else {
                throw PruningError.criterion(name: plan.criterion.name, problem: "gave NaN scores for '\(path)'; check the weights and gradients for NaN")
            }
            if let mask = p.mask { scores.fill(-.infinity, whereZeroIn: mask) }
            units.append(scores)
        }

        let scored = clock.now
        var cutoff: Float?
        if case let .nOfM(n, m) = plan.granularity {
            // N:M fixes the pattern itself; no threshold applies.
            for (i, (_, p)) in selected.enumerated() {
                var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
                mask.zeroSlices(where: cutNOfM(units[i].scalars, n: n, m: m))
                p.mask = mask
            }
        } else {
            // Each parameter's rule: cut the entries scoring below `below`, and the first
            // `ties` entries scoring exactly `below` (an exact count at the k-th value).
            var rules = [LowestSelection](repeating: .none, count: units.count)
            var sharedTies: Int?
            var threshold = plan.threshold
            if case let .sparsity(s) = threshold, plan.objective != .parameters, plan.allocation != .sensitivity,
               case .weight = plan.granularity {
                threshold = .perLayer(try sharesOfObjective(s, plan: plan, selected: selected, scores: units, in: model))
            }
            if case let .sparsity(s) = threshold,
               let map = try plan.allocation?.sparsities(of: selected, target: s, curves: plan.sensitivity,
                                                          costs: try plan.objective.costCurves(of: selected, in: model, latency: plan.latency)) {
                threshold = .perLayer(map)
            }
            let global = plan.allocation.map { $0 == .global } ?? (plan.scope == .global)
            switch threshold {
            case let .value(t):
                rules = rules.map { _ in LowestSelection(below: t, ties: 0) }
                cutoff = t
            case let .sparsity(s):
                if global {
                    let total = units.reduce(0) { $0 + $1.count }
                    let rule = LowestSelection(lowest: Int((s * Double(total)).rounded()), of: units)
                    rules = rules.map { _ in rule }
                    cutoff = rule.below
                    sharedTies = rule.ties   // handed out in model order while masking
                } else if plan.scope == .row && plan.allocation == nil {
                    // Each row on its own: the masks are set here, the rules left cutting nothing more.
                    for (i, (_, p)) in selected.enumerated() {
                        var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
                        TensorCore.cutLowestInEachRow(units[i], fraction: s, mask: &mask)
                        p.mask = mask
                    }
                    rules = rules.map { _ in LowestSelection(below: -.infinity, ties: 0) }
                } else {
                    for i in units.indices { rules[i] = LowestSelection(lowest: Int((s * Double(units[i].count)).rounded()), of: [units[i]]) }
                }
            case let .perLayer(map):
                for (i, (path, _)) in selected.enumerated() {
                    if let s = map[path] { rules[i] = LowestSelection(lowest: Int((s * Double(units[i].count)).rounded()), of: [units[i]]) }
                }
            }
            for (i, (_, p)) in selected.enumerated() {
                var mask = p.mask ?? Tensor(shape: p.value.shape, repeating: 1)
                let left = maskBelow(rules[i].below, ties: sharedTies ?? rules[i].ties, scores: units[i], mask: &mask)
                if sharedTies != nil { sharedTies = left }
                p.mask = mask
            }
        }
        let report = zip(selected, before).map { entry, nonZeros in
            PrunedParameter(path: entry.path, count: entry.parameter.count, nonZerosBefore: nonZeros,
                            nonZerosAfter: entry.parameter.value.nonZeroCount())
        }
        return PruningResult(parameters: report, seconds: (clock.now - start).seconds, scoringSeconds: (scored - start).seconds,
                             cutoff: cutoff.flatMap { $0.isFinite ? $0 : nil })
    }

    /// Each tensor's sparsity, as the plan's allocation (or scope) shares a weight sparsity,
    /// at the least weight sparsity that removes `target` of the objective's cost, or, when
    /// even sparsity 1 removes less (latency: CSR is never free), the least that removes as
    /// much as sparsity 1 does. A global ranking is read from `scores`.
    /// - Complexity: 48 bisection steps, each an allocation at one weight sparsity.
    static func sharesOfObjective(_ target: Double, plan: PruningPlan, selected: [(path: String, parameter: Parameter)],
                                  scores: [Tensor], in model: Graph) throws -> [String: Double] {
        let costs = try plan.objective.costCurves(of: selected, in: model, latency: plan.latency)
        let curves = selected.map { costs[$0.path] ?? .linear(total: 0) }
        let total = curves.reduce(0) { $0 + $1.total }
        let global = plan.allocation.map { $0 == .global } ?? (plan.scope == .global)
        func shares(_ weights: Double) throws -> [Double] {
            if global {
                let k = Int((weights * Double(scores.reduce(0) { $0 + $1.count })).rounded())
                let rule = LowestSelection(lowest: k, of: scores)
                var ties = rule.ties
                return scores.map { unit in
                    let below = countBelow(rule.below, in: unit)
                    let tied = min(ties, unit.scalars.reduce(0) { $0 + ($1 == rule.below ? 1 : 0) })
                    ties -= tied
                    return Double(below + tied) / Double(max(unit.count, 1))
                }
            }
            // As the cut will realise them: whole entries.
            let map = try plan.allocation?.sparsities(of: selected, target: weights) ?? [:]
            return selected.map { entry in
                let n = Double(max(entry.parameter.count, 1))
                return ((map[entry.path] ?? weights) * n).rounded() / n
            }
        }
        func removed(_ s: [Double]) -> Double { zip(curves, s).reduce(0) { $0 + $1.0.removed(atSparsity: $1.1) } / total }
        guard total > 0 else { return Dictionary(zip(selected.map(\.path), try shares(target)), uniquingKeysWith: { a, _ in a }) }
        // Latency: CSR is never free, so a share past what the fastest forms save cannot be had.
        let reachable = try removed(shares(1))
        if plan.objective == .latency, target > reachable + 1e-9 {
            throw PruningError.field("prune.threshold.sparsity", String(format: "asks for %.2f%% of the latency, but cutting weights saves at most %.2f%% on this machine (the CSR forms at their best); ask for less, or cut neurons or filters", 100 * target, 100 * reachable))
        }
        let goal = min(target, reachable)
        var (low, high) = (0.0, 1.0)
        if goal > 0 {
            for _ in 0..<48 {
                let middle = (low + high) / 2
                if try removed(shares(middle)) >= goal { high = middle } else { low = middle }
            }
        } else {
            high = 0
        }
        return Dictionary(zip(selected.map(\.path), try shares(high)), uniquingKeysWith: { a, _ in a })
    }

    /// The least fraction of units whose structured cut, once compacted, removes `target` of
    /// the objective's cost over the weight tensors the plan's patterns select (or, when
    /// cutting all but the last unit of every group removes less, the least that removes as
    /// much). A compacted layer is taken to cost its dense cost times the share of its weights
    /// left (exact for FLOPs; for latency, the dense time of a smaller product, which at
    /// batch 1 is bound by the weights' bytes). The model is left as it was.
    /// - Complexity: 40 bisection steps, each a structured cut and a compaction.
    static func unitShareOfObjective(_ target: Double, plan: PruningPlan, structured: StructuredPlan, groups: [DependencyGroup],
                                     in model: Graph) throws -> Double {
        let weights = try selectParameters(PruningPlan(threshold: .sparsity(0), parameters: plan.parameters, excluding: plan.excluding), in: model)
        let costs = try plan.objective.costCurves(of: weights, in: model, latency: plan.latency)
        let total = weights.reduce(0) { $0 + (costs[$1.path]?.total ?? 0) }
        guard total > 0, target > 0 else { return total > 0 ? 0 : target }
        let saved = model.parameters.map { ($0.parameter.value, $0.parameter.mask) }
        func removed(_ fraction: Double) throws -> Double {
            defer { for ((_, p), (value, mask)) in zip(model.parameters, saved) { p.restore(value: value, mask: mask) } }
            var cut = structured
            cut.threshold = .sparsity(fraction)
            _ = try Structured.prune(model, with: cut, groups: groups)
            let compacted = try Structured.compact(model, foldBatchNorm: false).model
            return weights.reduce(0) { sum, w in
                let left = Double(compacted.parameter(at: w.path)?.count ?? w.parameter.count) / Double(max(w.parameter.count, 1))
                return sum + (costs[w.path]?.total ?? 0) * (1 - left)
            } / total
        }
        let goal = min(target, try removed(1))
        var (low, high) = (0.0, 1.0)
        for _ in 0..<40 {
            let middle = (low + high) / 2
            if try removed(middle) >= goal { high = middle } else { low = middle }
        }
        return high
    }

    /// The most of the plan's objective a weight cut can remove, as a share of its cost
    /// (1 for parameters and FLOPs; under latency, what the CSR forms save at their best).
    /// - Throws: `PruningError` when nothing matches, or latency has no profile.
    public static func reachableShare(of plan: PruningPlan, in model: Graph) throws -> Double {
        let curves = try plan.objective.costCurves(of: try selectParameters(plan, in: model), in: model, latency: plan.latency).values
        let total = curves.reduce(0) { $0 + $1.total }
        return total > 0 ? curves.reduce(0) { $0 + $1.reachable } / total : 0
    }

    static func validate(_ plan: PruningPlan, _ selected: [(path: String, parameter: Parameter)]) throws {
        try plan.threshold.check()
        if case let .perLayer(map) = plan.threshold {
            let paths = Set(selected.map(\.path))
            if let path = map.keys.sorted().first(where: { !paths.contains($0) }) {
                throw PruningError.field("threshold.per_layer.\(path)", "names a parameter that is not selected; the selected ones: \(selected.map(\.path))")
            }
        }
        guard case let .nOfM(n, m) = plan.granularity else { return }
        guard m >= 1, (0...m).contains(n) else {
            throw PruningError.field("granularity", "N:M needs 0 ≤ N ≤ M and M ≥ 1, got \(n):\(m)")
        }
        for (path, p) in selected {
            let row = p.count / max(p.value.shape.first ?? 1, 1)
            guard p.value.rank >= 2, row % m == 0 else {
                throw PruningError.parameter(path: path, problem: "N:M granularity needs input rows divisible by \(m); it has rows of \(row) (shape \(p.value.shape))")
            }
        }
    }

    /// In each group of `m` consecutive scores, marks all but the `n` highest.
    static func cutNOfM(_ scores: [Float], n: Int, m: Int) -> [Bool] {
        var cut = [Bool](repeating: false, count: scores.count)
        var group = [Int](repeating: 0, count: m)
        for start in stride(from: 0, to: scores.count, by: m) {
            for j in 0..<m { group[j] = start + j }
            // Highest first; ties keep the earlier position.
            group.sort { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            for j in n..<m { cut[group[j]] = true }
        }
        return cut
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
