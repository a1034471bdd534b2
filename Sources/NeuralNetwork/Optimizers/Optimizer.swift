import RealModule
import TensorCore

/// The per-parameter math of an optimizer: how one parameter's value and state slots
/// change given its gradient. Bookkeeping (state storage, masks, threads) lives in
/// `Optimizer`, which may call `apply` on disjoint ranges of one parameter at once.
public protocol UpdateRule {
    /// How many state arrays (each the size of the parameter) the rule keeps.
    var slotCount: Int { get }
    /// Updates one range of a parameter's entries in place from their gradient, through
    /// `entries.update { value, gradient, slots… in … }`.
    /// - Parameters:
    ///   - step: 1 for the first update of this parameter, then 2, 3, …
    ///   - entries: the value, gradient and state slots (zero at first) of the range.
    func apply(step: Int, learningRate: Float, to entries: ParameterEntries)
    /// The same rule with no weight decay (for parameters exempt from it).
    var withoutWeightDecay: UpdateRule { get }
}

/// Applies an `UpdateRule` to a model's trainable parameters, keeps per-parameter
/// state, and enforces masks: after every update, masked entries of the value and of
/// every state slot are exactly zero, so a cut weight never comes back.
public final class Optimizer {
    /// The update math.
    public let rule: UpdateRule
    private var state: [ObjectIdentifier: State] = [:]
    /// Parameters updated without weight decay (LayerNorms, biases and embeddings, when
    /// `TrainingOptions.weightDecayScope` is `.layerWeights`); empty: every parameter decays.
    public var exemptFromDecay: Set<ObjectIdentifier> = []
    private lazy var undecayedRule = rule.withoutWeightDecay

    /// One parameter's slots (`[slotCount, count]`) and its step count.
    private final class State {
        var slots: Tensor
        let count: Int
        var steps = 0
        init(slotCount: Int, count: Int) {
            self.count = count
            slots = Tensor.zeros([slotCount, count])
        }
    }

    /// Creates an optimizer with the given rule.
    public init(_ rule: UpdateRule) { self.rule = rule }

    /// Updates every trainable parameter once with `learningRate`; with a pool, large
    /// parameters are split into ranges updated at once.
    public func step(_ parameters: [(path: String, parameter: Parameter)], learningRate: Float,
                     pool: WorkerPool? = nil) {
        for (_, p) in parameters where p.isTrainable {
            let key = ObjectIdentifier(p)
            // A parameter that changed size (e.g. after compaction) starts with fresh state.
            let entry = state[key].flatMap { $0.count == p.count ? $0 : nil } ?? State(slotCount: rule.slotCount, count: p.count)
            state[key] = entry
            entry.steps += 1
            let rule = exemptFromDecay.contains(key) ? undecayedRule : self.rule, step = entry.steps
            p.value.update(gradient: p.gradient, slots: &entry.slots, mask: p.mask, pool: pool) { entries in
                rule.apply(step: step, learningRate: learningRate, to: entries)
            }
        }
    }

    /// The state slots kept for `parameter` (empty before its first update), for tests and inspection.
    public func slots(for parameter: Parameter) -> [Float] {
        state[ObjectIdentifier(parameter)]?.slots.scalars ?? []
    }

    /// Forgets all state (momentum, moments).
    public func reset() { state.removeAll() }

    /// One parameter's optimizer state, as a checkpoint stores it.
    public struct ParameterState: Equatable, Sendable {
        /// Updates applied so far (Adam's bias correction and SGD's first step depend on it).
        public var steps: Int
        /// The rule's state slots, `[slotCount, count]` (momentum; Adam's moments).
        public var slots: Tensor
        /// Creates a state.
        public init(steps: Int, slots: Tensor) { self.steps = steps; self.slots = slots }
    }

    /// The state of every parameter of `parameters` updated so far, by path: what a
    /// checkpoint needs to continue the same updates.
    public func state(of parameters: [(path: String, parameter: Parameter)]) -> [String: ParameterState] {
        var result: [String: ParameterState] = [:]
        for (path, p) in parameters {
            guard let entry = state[ObjectIdentifier(p)], entry.count == p.count else { continue }
            result[path] = ParameterState(steps: entry.steps, slots: entry.slots)
        }
        return result
    }

    /// Replaces all state with `saved` (from `state(of:)`), matched to `parameters` by path.
    /// - Throws: `TrainingError.resumeMismatch` when a saved path is not among `parameters`,
    ///   or its slots do not fit the parameter and this rule.
    public func restore(_ saved: [String: ParameterState], for parameters: [(path: String, parameter: Parameter)]) throws {
        let byPath = Dictionary(parameters.map { ($0.path, $0.parameter) }, uniquingKeysWith: { a, _ in a })
        var restored: [ObjectIdentifier: State] = [:]
        for (path, entry) in saved.sorted(by: { $0.key < $1.key }) {
            guard let p = byPath[path] else {
                throw TrainingError.resumeMismatch("optimizer state for '\(path)', which the model does not have")
            }
            guard entry.slots.shape == [rule.slotCount, p.count], entry.steps >= 1 else {
                throw TrainingError.resumeMismatch("optimizer state of '\(path)' is \(entry.slots.shape) after \(entry.steps) steps; the parameter needs \(rule.slotCount) slots of \(p.count) entries")
            }
            let s = State(slotCount: 0, count: p.count)
            s.slots = entry.slots
            s.steps = entry.steps
            restored[ObjectIdentifier(p)] = s
        }
        state = restored
    }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay,
/// as PyTorch defines it: `g ← g + λw; v ← μv + g; w ← w − η(g + μv)` (Nesterov) or `w ← w − ηv`.
/// https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
public struct SGD: UpdateRule, Equatable, Sendable {
    /// Momentum μ (0 for plain SGD).
    public var momentum: Float
    /// Use Nesterov's look-ahead form.
    public var nesterov: Bool
    /// L2 weight decay λ, added to the gradient.
    public var weightDecay: Float
    /// Creates the rule.
    public init(momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
    }
    public var slotCount: Int { momentum == 0 ? 0 : 1 }
    public var withoutWeightDecay: UpdateRule { var rule = self; rule.weightDecay = 0; return rule }
    public func apply(step: Int, learningRate lr: Float, to entries: ParameterEntries) {
        let wd = weightDecay, mu = momentum
        if mu == 0 {
            entries.update { w, g in w -= lr * (g + wd * w) }
            return
        }
        // PyTorch starts the buffer at the first gradient (the slot is still zero then).
        let carry = step == 1 ? 0 : mu
        if nesterov {
            entries.update { w, g, v in
                let d = g + wd * w
                v = carry * v + d
                w -= lr * (d + mu * v)
            }
        } else {
            entries.update { w, g, v in
                v = carry * v + (g + wd * w)
                w -= lr * v
            }
        }
    }
}

/// Adam with bias correction; `weightDecay` adds `λw` to the gradient (L2), or, when
/// `decoupled` is true, shrinks the weights directly (AdamW).
/// https://arxiv.org/abs/1412.6980, https://arxiv.org/abs/1711.05101
public struct Adam: UpdateRule, Equatable, Sendable {
    /// Decay of the first-moment estimate.
    public var beta1: Float
    /// Decay of the second-moment estimate.
    public var beta2: Float
    /// Added to the denominator for stability.
    public var epsilon: Float
    /// Weight decay λ.
    public var weightDecay: Float
    /// Apply the decay directly to the weights (AdamW) rather than through the gradient.
    public var decoupled: Bool
    /// Creates the rule (Adam's defaults: β₁ 0.9, β₂ 0.999, ε 1e-8).
    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupled = decoupled
    }
    /// AdamW: Adam with decoupled weight decay (default λ 0.01).
    public static func adamW(weightDecay: Float = 0.01) -> Adam { Adam(weightDecay: weightDecay, decoupled: true) }
    public var slotCount: Int { 2 }
    public var withoutWeightDecay: UpdateRule { var rule = self; rule.weightDecay = 0; return rule }
    public func apply(step: Int, learningRate lr: Float, to entries: ParameterEntries) {
        let b1 = beta1, b2 = beta2, eps = epsilon
        let c1 = 1 - Float(Double.pow(Double(b1), step))
        let c2 = 1 - Float(Double.pow(Double(b2), step))
        let stepSize = lr / c1
        let c2Root = c2.squareRoot()
        let l2 = decoupled ? 0 : weightDecay
        let shrink = decoupled ? 1 - lr * weightDecay : 1
        entries.update { w, g, m, v in
            let gi = g + l2 * w
            m = b1 * m + (1 - b1) * gi
            v = b2 * v + (1 - b2) * gi * gi
            w = w * shrink - stepSize * m / (v.squareRoot() / c2Root + eps)
        }
    }
}
