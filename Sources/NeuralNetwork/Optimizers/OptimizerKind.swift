/// The optimizer families that plans, recipes and the command line offer by name.
public enum OptimizerKind: String, NamedChoice, Sendable {
    /// Stochastic gradient descent with (optionally Nesterov) momentum; weight decay is L2.
    case sgd
    /// Adam; weight decay is L2 added to the gradient.
    case adam
    /// AdamW: Adam with decoupled weight decay.
    case adamw

    /// The optimizer of this family. `momentum` and `nesterov` apply to SGD; `weightDecay`
    /// to all (decoupled for AdamW).
    /// `beta2` sets Adam's second-moment decay (default 0.999; GPT recipes use 0.95).
    public func optimizer(momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0,
                          beta2: Float = 0.999) -> Optimizer {
        switch self {
        case .sgd: return Optimizer(SGD(momentum: momentum, nesterov: nesterov, weightDecay: weightDecay))
        case .adam: return Optimizer(Adam(beta2: beta2, weightDecay: weightDecay))
        case .adamw: return Optimizer(Adam(beta2: beta2, weightDecay: weightDecay, decoupled: true))
        }
    }
}
