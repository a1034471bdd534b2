import NeuralNetwork
import TensorCore

/// How a sparsity target is shared among the pruned weight tensors. The criterion then
/// ranks entries within each tensor.
public enum Allocation: String, NamedChoice, Sendable {
    /// One ranking of the criterion's scores over every tensor (the `global` scope).
    case global
    /// Every tensor to the target (the `layer` scope).
    case uniform
    /// Layer-adaptive magnitude pruning (Lee et al. 2021): each weight's score is
    /// `w_u² / Σ_{v ≥ u} w_v²` over its tensor sorted by magnitude, the lowest scores over
    /// all tensors are cut, and each tensor's share of them is its sparsity.
    case lamp
    /// Erdős–Rényi-kernel (Evci et al. 2020): each tensor keeps a density proportional to
    /// `(Σ of its dimensions) / (Π of its dimensions)`, scaled to meet the target, with tensors
    /// that would exceed density 1 kept dense and the rest scaled up to make the difference.
    case erk
    /// From sensitivity curves (`SensitivityAllocation`): the sparsities that remove the
    /// target share of the objective's cost with the least predicted loss.
    case sensitivity

    /// Each tensor's sparsity for `target` over all of them (for `global`, nil: one ranking
    /// decides). Entries already zero count toward a tensor's sparsity under `lamp`.
    /// - Parameters:
    ///   - curves: the sensitivity curves `sensitivity` reads (ignored by the others).
    ///   - costs: what cutting each path saves, for `sensitivity` (`Objective.costCurves`;
    ///     empty: every entry costs 1, the target is a share of the weights).
    /// - Throws: `PruningError` when `sensitivity` has no curves, or none for a tensor.
    /// - Complexity: O(n log n) in the entries for `lamp`; O(tensors²) for `erk`.
    public func sparsities(of parameters: [(path: String, parameter: Parameter)], target: Double,
                           curves: SensitivityAnalysis? = nil, costs: [String: CostCurve] = [:]) throws -> [String: Double]? {
        switch self {
        case .sensitivity:
            guard let curves else {
                throw PruningError.field("prune.allocation", "is sensitivity, but no sensitivity curves were given (PruningRun measures them on the validation split)")
            }
            return try SensitivityAllocation(curves: curves, costs: costs, paths: parameters.map(\.path)).sparsities(target: target)
        case .global: return nil
        case .uniform: return Dictionary(parameters.map { ($0.path, target) }, uniquingKeysWith: { a, _ in a })
        case .lamp:
            let cut = Self.lampCuts(parameters.map { $0.parameter.value.scalars },
                                    count: Int((target * Double(parameters.reduce(0) { $0 + $1.parameter.count })).rounded()))
            return Dictionary(zip(parameters, cut).map { ($0.0.path, Double($0.1) / Double(max($0.0.parameter.count, 1))) },
                              uniquingKeysWith: { a, _ in a })
        case .erk:
            let densities = Self.erkDensities(shapes: parameters.map { $0.parameter.value.shape }, density: 1 - target)
            return Dictionary(zip(parameters, densities).map { ($0.0.path, 1 - $0.1) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// LAMP scores of one tensor's weights, in their own order.
    public static func lampScores(_ weights: [Float]) -> [Double] {
        let order = weights.indices.sorted { (abs(weights[$0]), $0) < (abs(weights[$1]), $1) }
        var scores = [Double](repeating: 0, count: weights.count)
        var suffix = 0.0
        for i in order.reversed() {
            let square = Double(weights[i]) * Double(weights[i])
            suffix += square
            scores[i] = suffix > 0 ? square / suffix : 0
        }
        return scores
    }

    /// How many entries of each tensor fall among the `count` lowest LAMP scores of all of
    /// them (ties broken by tensor, then position).
    static func lampCuts(_ tensors: [[Float]], count: Int) -> [Int] {
        var all: [(score: Double, tensor: Int, index: Int)] = []
        for (t, weights) in tensors.enumerated() {
            for (i, s) in lampScores(weights).enumerated() { all.append((s, t, i)) }
        }
        all.sort { ($0.score, $0.tensor, $0.index) < ($1.score, $1.tensor, $1.index) }
        var cuts = [Int](repeating: 0, count: tensors.count)
        for entry in all.prefix(max(0, min(count, all.count))) { cuts[entry.tensor] += 1 }
        return cuts
    }

    /// ERK densities for tensors of `shapes` whose entries together keep `density`.
    public static func erkDensities(shapes: [[Int]], density: Double) -> [Double] {
        let sizes = shapes.map { Double($0.reduce(1, *)) }
        let raw = shapes.map { shape in Double(shape.reduce(0, +)) / Double(max(shape.reduce(1, *), 1)) }
        let keep = density * sizes.reduce(0, +)
        var dense = Set<Int>()
        while true {
            let free = sizes.indices.filter { !dense.contains($0) }
            let budget = keep - dense.reduce(0) { $0 + sizes[$1] }
            let weight = free.reduce(0) { $0 + raw[$1] * sizes[$1] }
            guard weight > 0 else { break }
            let epsilon = max(budget, 0) / weight
            guard let worst = free.max(by: { raw[$0] < raw[$1] }), epsilon * raw[worst] > 1 else {
                return sizes.indices.map { dense.contains($0) ? 1 : epsilon * raw[$0] }
            }
            dense.insert(worst)   // it would need more than all its entries: keep it dense
        }
        return sizes.indices.map { dense.contains($0) ? 1 : 0 }
    }
}
