import NeuralNetwork

/// What a pruning decision tries to shrink: the count of weights, or the arithmetic they
/// cost (`prune.objective`). Sensitivity allocation spends its cuts where they buy the most
/// of it for the least predicted loss; its target is then a share of this cost.
public enum Objective: String, NamedChoice, Sendable {
    /// Weights: every entry costs 1.
    case parameters
    /// Floating-point operations per sample: a dense weight costs 2, a convolution weight
    /// 2 × the positions of its output map.
    case flops

    /// The cost of one entry of each of `parameters` (paths as `Pruner.selectParameters`
    /// gives them) in `model`.
    public func entryCosts(of parameters: [(path: String, parameter: Parameter)], in model: Graph) -> [String: Double] {
        switch self {
        case .parameters:
            return Dictionary(parameters.map { ($0.path, 1) }, uniquingKeysWith: { a, _ in a })
        case .flops:
            let layers = Dictionary(ModelComplexity(model).layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            return Dictionary(parameters.map { path, p -> (String, Double) in
                let layer = String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)])
                let flops = layers[layer].map { Double($0.flops) } ?? Double(2 * p.count)
                return (path, flops / Double(max(p.count, 1)))
            }, uniquingKeysWith: { a, _ in a })
        }
    }
}
