import NeuralNetwork

/// What one prunable unit is.
public enum Granularity: Equatable, Sendable, CustomStringConvertible {
    /// Single weights (unstructured pruning).
    case weight
    /// In every group of `m` consecutive weights along the input dimension, keep the `n`
    /// most important (2:4 keeps 2 of every 4).
    case nOfM(n: Int, m: Int)
    /// Whole neurons: rows of a dense weight `[out, in]`.
    case neuron
    /// Whole filters: output channels of a convolution weight `[Cout, C, K, K]`.
    case filter
    /// Whole attention heads: a head's rows of the Q, K and V projections (separate, as in
    /// BERT, or one fused projection, as in GPT-2) and its columns of the output projection.
    case head

    public var description: String {
        switch self {
        case .weight: return "weight"
        case let .nOfM(n, m): return "\(n):\(m)"
        case .neuron: return "neuron"
        case .filter: return "filter"
        case .head: return "head"
        }
    }

    /// Parses `weight`, `neuron`, `filter` or `N:M` (e.g. `2:4`).
    public init?(_ text: String) {
        switch text {
        case "weight": self = .weight
        case "neuron": self = .neuron
        case "filter", "channel": self = .filter
        case "head", "heads": self = .head
        default:
            let parts = text.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 0, parts[1] >= 1, parts[0] <= parts[1] else { return nil }
            self = .nOfM(n: parts[0], m: parts[1])
        }
    }

    /// Whether units are whole slices along the first axis (rows or filters).
    public var isStructured: Bool { self == .neuron || self == .filter || self == .head }
}

/// Where units compete.
public enum Scope: String, NamedChoice, Sendable {
    /// Each parameter is cut separately (to the same sparsity, or to its own).
    case layer
    /// All selected parameters compete on one ranking with one exact threshold.
    case global
    /// Each output row of each parameter (a neuron's incoming weights, a filter) is cut
    /// separately, to the same sparsity: the comparison group of Wanda (Sun et al. 2023,
    /// https://arxiv.org/abs/2306.11695). Weight granularity only.
    case row
}

/// How many units to cut.
public enum Threshold: Equatable, Sendable {
    /// Cut every unit whose importance is below this value.
    case value(Float)
    /// Cut this fraction of the units (in each layer, or overall with global scope).
    case sparsity(Double)
    /// Cut each listed parameter (by path) to its own sparsity; others are left alone.
    case perLayer([String: Double])
}

extension Threshold {
    /// Checks the numbers: a sparsity (each per-layer one too) in [0, 1], a value not NaN.
    /// - Throws: `PruningError.invalidField` naming the threshold field.
    public func check() throws {
        switch self {
        case let .sparsity(s):
            guard s.isFinite, (0...1).contains(s) else { throw PruningError.field("threshold.sparsity", "must be in [0, 1], got \(s)") }
        case let .value(t):
            guard !t.isNaN else { throw PruningError.field("threshold.value", "must be a number, got NaN") }
        case let .perLayer(map):
            for (path, s) in map.sorted(by: { $0.key < $1.key }) where !(s.isFinite && (0...1).contains(s)) {
                throw PruningError.field("threshold.per_layer.\(path)", "must be in [0, 1], got \(s)")
            }
        }
    }
}
