import NeuralNetwork

/// A one-shot pruning plan: Criterion × Granularity × Scope × Threshold, over the
/// parameters whose paths match `parameters` and not `excluding`.
public struct PruningPlan {
    /// How importance is computed.
    public var criterion: Criterion
    /// What one unit is.
    public var granularity: Granularity
    /// Where units compete.
    public var scope: Scope
    /// How a sparsity target is shared among the tensors (weights only); when set, it
    /// replaces `scope` (`global` and `uniform` are the two scopes).
    public var allocation: Allocation?
    /// The curves `allocation: sensitivity` reads (`PruningRun` measures them when absent).
    public var sensitivity: SensitivityAnalysis?
    /// What a sparsity target of a weight cut is a share of (weights by default). Under FLOPs
    /// or latency, a sensitivity allocation spends its cuts by this cost; the other
    /// allocations (and scopes) share the least weight sparsity that removes the target's
    /// share of it (`Pruner.sharesOfObjective`).
    public var objective: Objective = .parameters
    /// The layer timings the `latency` objective reads (`PruningRun` measures them when absent).
    public var latency: LatencyProfile?
    /// How many units to cut (ignored by N:M granularity, whose pattern fixes it).
    public var threshold: Threshold
    /// Path patterns of the parameters to prune; `*` matches any run of characters.
    /// Embedding tables (token, position, token type) are selected only by their exact path.
    public var parameters: [String]
    /// Path patterns to leave alone.
    public var excluding: [String]
    /// Also prune BatchNorm and LayerNorm scales matched by a pattern (off: normalization is kept).
    public var includeNormalization: Bool

    /// Creates a plan; by default every dense and convolution weight competes globally.
    public init(criterion: Criterion = Magnitude(), granularity: Granularity = .weight, scope: Scope = .global,
                allocation: Allocation? = nil, threshold: Threshold, parameters: [String] = ["*.weight"], excluding: [String] = [],
                includeNormalization: Bool = false, objective: Objective = .parameters) {
        self.objective = objective
        self.criterion = criterion; self.granularity = granularity; self.scope = scope; self.allocation = allocation
        self.threshold = threshold; self.parameters = parameters; self.excluding = excluding
        self.includeNormalization = includeNormalization
    }
}
