import NeuralNetwork

/// What a pruning decision tries to shrink: the count of weights, the arithmetic they cost,
/// or the time the sparse runtime takes (`prune.objective`). A weight cut's sparsity target
/// is a share of this cost: sensitivity allocation spends its cuts where they buy the most of
/// it for the least predicted loss; the other allocations take the least weight sparsity
/// whose cut removes the share.
public enum Objective: String, NamedChoice, Sendable {
    /// Weights: every entry costs 1.
    case parameters
    /// Floating-point operations per sample: a dense weight costs 2, a convolution weight
    /// 2 × the positions of its output map.
    case flops
    /// Forward time on this machine (`LatencyProfile`): each layer costs its dense time, and
    /// a cut saves only once the CSR form at that sparsity runs faster than dense, so a
    /// tensor saves nothing until past its crossover.
    case latency

    /// The cost of one entry of each of `parameters` (paths as `Pruner.selectParameters`
    /// gives them) in `model`; for `latency`, its dense time shared evenly over its entries.
    public func entryCosts(of parameters: [(path: String, parameter: Parameter)], in model: Graph,
                           latency: LatencyProfile? = nil) -> [String: Double] {
        Dictionary(parameters.map { path, p in
            let curve = (try? costCurves(of: [(path, p)], in: model, latency: latency))?[path]
            return (path, (curve?.total ?? Double(p.count)) / Double(max(p.count, 1)))
        }, uniquingKeysWith: { a, _ in a })
    }

    /// What cutting each of `parameters` saves, by its sparsity: linear in the entries cut for
    /// `parameters` and `flops`; for `latency`, the layer's dense time less its time on the
    /// faster path at that sparsity (`LatencyProfile.seconds`), read between the profile's
    /// levels. Parameters of no layer in the profile cost nothing under `latency`.
    /// - Throws: `PruningError.field` for `latency` without a profile.
    public func costCurves(of parameters: [(path: String, parameter: Parameter)], in model: Graph,
                           latency: LatencyProfile? = nil) throws -> [String: CostCurve] {
        switch self {
        case .parameters:
            return Dictionary(parameters.map { ($0.path, .linear(total: Double($0.parameter.count))) }, uniquingKeysWith: { a, _ in a })
        case .flops:
            let layers = Dictionary(ModelComplexity(model).layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            return Dictionary(parameters.map { path, p -> (String, CostCurve) in
                (path, .linear(total: layers[Self.layer(of: path)].map { Double($0.flops) } ?? Double(2 * p.count)))
            }, uniquingKeysWith: { a, _ in a })
        case .latency:
            guard let latency else {
                throw PruningError.field("prune.objective", "is latency, but no latency profile was given (PruningRun measures one on this machine)")
            }
            return Dictionary(parameters.map { path, _ -> (String, CostCurve) in
                let name = Self.layer(of: path)
                guard let layer = latency.layers.first(where: { $0.name == name }) else { return (path, .linear(total: 0)) }
                // The levels, and where the CSR time crosses the dense time between two of them
                // (so that straight lines between the points are exact).
                var at = layer.sparse.map(\.sparsity)
                for (a, b) in zip(layer.sparse, layer.sparse.dropFirst()) where (a.seconds - layer.dense) * (b.seconds - layer.dense) < 0 {
                    at.append(a.sparsity + (b.sparsity - a.sparsity) * (a.seconds - layer.dense) / (a.seconds - b.seconds))
                }
                var points = [CostCurve.Point(sparsity: 0, removed: 0)]
                for s in at.sorted() where s > points.last!.sparsity {
                    let saved = layer.dense - (latency.seconds(of: name, atSparsity: s) ?? layer.dense)
                    points.append(CostCurve.Point(sparsity: s, removed: max(saved, points.last!.removed)))
                }
                return (path, CostCurve(total: layer.dense, points: points))
            }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// The node of a parameter path: `"fc1.weight"` → `"fc1"`.
    static func layer(of path: String) -> String { String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)]) }
}

/// What cutting one tensor saves of an objective, by its sparsity: the cost removed at
/// measured sparsities, read between them by straight lines and held flat past the last.
public struct CostCurve: Equatable, Sendable {
    /// The cost removed at a sparsity.
    public struct Point: Equatable, Sendable {
        public var sparsity: Double, removed: Double
        /// Creates a point.
        public init(sparsity: Double, removed: Double) { self.sparsity = sparsity; self.removed = removed }
    }
    /// The tensor's whole cost, dense.
    public var total: Double
    /// From (0, 0), in increasing sparsity, with the cost removed never decreasing.
    public var points: [Point]

    /// Creates a curve.
    /// - Precondition: `points` start at sparsity 0, increase in sparsity and never decrease in cost removed.
    public init(total: Double, points: [Point]) {
        precondition(points.first?.sparsity == 0 && zip(points, points.dropFirst()).allSatisfy { $0.sparsity < $1.sparsity && $0.removed <= $1.removed },
                     "a cost curve starts at sparsity 0, rises in sparsity and never falls in cost removed")
        self.total = total; self.points = points
    }

    /// A cost proportional to the entries cut: `total` at sparsity 1.
    public static func linear(total: Double) -> CostCurve {
        CostCurve(total: total, points: [Point(sparsity: 0, removed: 0), Point(sparsity: 1, removed: total)])
    }

    /// The cost removed at `sparsity`.
    public func removed(atSparsity sparsity: Double) -> Double {
        guard let upper = points.firstIndex(where: { $0.sparsity >= sparsity }) else { return points.last!.removed }
        guard upper > 0 else { return points[0].removed }
        let (a, b) = (points[upper - 1], points[upper])
        return a.removed + (b.removed - a.removed) * (sparsity - a.sparsity) / (b.sparsity - a.sparsity)
    }

    /// The least sparsity that removes `cost` (the last point's, when none does).
    public func sparsity(removing cost: Double) -> Double {
        guard cost > 0 else { return 0 }
        guard let upper = points.firstIndex(where: { $0.removed >= cost }) else { return points.last!.sparsity }
        let (a, b) = (points[upper - 1], points[upper])
        return a.sparsity + (b.sparsity - a.sparsity) * (cost - a.removed) / (b.removed - a.removed)
    }

    /// The most cutting can remove.
    public var reachable: Double { points.last!.removed }
}
