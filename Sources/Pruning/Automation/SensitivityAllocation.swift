/// Per-tensor sparsities from sensitivity curves: the cuts that hit a target with the least
/// predicted loss, where each tensor's loss is read from its own curve (pruned alone) and
/// the tensors' losses are taken to add up.
///
/// Each curve becomes its lower convex hull in (cost removed, loss added), so that along
/// it every further cut costs more loss per unit removed. Taking the hull's segments over
/// all tensors in order of that price, cheapest first, the last one in part, is the exact
/// optimum of the convexified problem (a fractional knapsack). Curves are read between
/// measured levels by straight lines; past the highest measured levels, see `sparsities`.
public struct SensitivityAllocation: Sendable {
    /// One point of a tensor's hull: cost removed, loss added.
    struct Point: Equatable { var removed: Double, loss: Double }

    /// Per path: the tensor's cost curve and its hull from (0, 0).
    let hulls: [(path: String, cost: CostCurve, hull: [Point])]

    /// Prepares the allocation.
    /// - Parameters:
    ///   - curves: the sensitivity analysis (`SensitivityAnalysis.layers` with their levels).
    ///   - costs: what cutting each path saves (`Objective.costCurves`); one per entry when missing.
    ///   - paths: the tensors to allocate among, in order; each needs a curve.
    /// - Throws: `PruningError.field` naming a path with no curve.
    public init(curves: SensitivityAnalysis, costs: [String: CostCurve], paths: [String]) throws {
        let byPath = Dictionary(curves.layers.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        hulls = try paths.map { path in
            guard let layer = byPath[path] else {
                throw PruningError.field("prune.allocation", "is sensitivity, but the sensitivity curves have no '\(path)' (they cover \(curves.layers.map(\.path)))")
            }
            let cost = costs[path] ?? .linear(total: Double(layer.count))
            let points = [Point(removed: 0, loss: 0)] + layer.levels.map {
                Point(removed: cost.removed(atSparsity: $0.sparsity), loss: Double($0.loss - curves.baseline.loss))
            }
            return (path, cost, Self.lowerHull(points))
        }
    }

    /// Prepares the allocation with a cost per entry (`Objective.entryCosts`; 1 when missing).
    public init(curves: SensitivityAnalysis, entryCosts: [String: Double], paths: [String]) throws {
        let counts = Dictionary(curves.layers.map { ($0.path, $0.count) }, uniquingKeysWith: { a, _ in a })
        try self.init(curves: curves, costs: Dictionary(paths.map { path in
            (path, CostCurve.linear(total: Double(counts[path] ?? 0) * (entryCosts[path] ?? 1)))
        }, uniquingKeysWith: { a, _ in a }), paths: paths)
    }

    /// The lower convex hull from the first point, over points sorted by cost removed (a
    /// later point with less loss than an earlier one hides the earlier one).
    static func lowerHull(_ points: [Point]) -> [Point] {
        let sorted = points.sorted { ($0.removed, $0.loss) < ($1.removed, $1.loss) }
        var hull: [Point] = []
        for p in sorted {
            if let last = hull.last, last.removed == p.removed { continue }   // same cost: keep the lower (first)
            while hull.count >= 2 {
                let a = hull[hull.count - 2], b = hull[hull.count - 1]
                // Drop b when it lies on or above the line from a to p.
                if (b.loss - a.loss) * (p.removed - a.removed) >= (p.loss - a.loss) * (b.removed - a.removed) { hull.removeLast() } else { break }
            }
            hull.append(p)
        }
        return hull
    }

    /// The most of the total cost the curves can remove (each tensor at its highest level).
    public var reachable: Double {
        let total = hulls.reduce(0) { $0 + $1.cost.total }
        return total == 0 ? 0 : hulls.reduce(0) { $0 + ($1.hull.last?.removed ?? 0) } / total
    }

    /// Each tensor's sparsity so that `target` of the total cost is removed (each tensor at the
    /// least sparsity that removes its share, by its cost curve). Past what the curves reach
    /// (`reachable`), the rest is cut from the tensors in the order of their last measured
    /// price, cheapest first: beyond the levels there is no measurement to go by. A target
    /// past what cutting everything removes leaves every tensor at its cost curve's end.
    public func sparsities(target: Double) -> [String: Double] {
        let total = hulls.reduce(0) { $0 + $1.cost.total }
        var measured: [(price: Double, tensor: Int, length: Double)] = [], beyond = measured
        for (t, h) in hulls.enumerated() {
            var last = 0.0
            for (a, b) in zip(h.hull, h.hull.dropFirst()) {
                last = (b.loss - a.loss) / (b.removed - a.removed)
                measured.append((last, t, b.removed - a.removed))
            }
            if let end = h.hull.last?.removed, end < h.cost.reachable { beyond.append((last, t, h.cost.reachable - end)) }
        }
        var removed = [Double](repeating: 0, count: hulls.count)
        var left = max(0, target) * total
        for s in measured.sorted(by: { ($0.price, $0.tensor) < ($1.price, $1.tensor) }) + beyond.sorted(by: { ($0.price, $0.tensor) < ($1.price, $1.tensor) })
        where left > 0 {
            let take = min(s.length, left)
            removed[s.tensor] += take
            left -= take
        }
        return Dictionary(hulls.enumerated().map { t, h in (h.path, min(1, h.cost.sparsity(removing: removed[t]))) },
                          uniquingKeysWith: { a, _ in a })
    }
}
