import RealModule
import TensorCore

/// The per-parameter math of an optimizer: how one parameter's value and state slots
/// change given its gradient. Bookkeeping (state storage, masks, threads) lives in
/// `Optimizer`, which may call `apply` on disjoint ranges of one parameter at once.
public protocol UpdateRule {
    /// How many state arrays (each the size of the parameter) the rule keeps.
    var slotCount: Int { get }
    /// Updates `count` entries of a value in place from their gradient.
    /// - Parameters:
    ///   - step: 1 for the first update of this parameter, then 2, 3, …
    ///   - slots: the rule's state for the same entries, zero at first.
    func apply(step: Int, learningRate: Float, value: UnsafeMutablePointer<Float>,
               gradient: UnsafePointer<Float>, slots: SlotPointers, count: Int)
}

/// The state arrays of one parameter range: slot `i` starts at `base + i·stride`.
public struct SlotPointers {
    let base: UnsafeMutablePointer<Float>?
    let stride: Int
    /// The start of slot `i`.
    public subscript(i: Int) -> UnsafeMutablePointer<Float> { base! + i * stride }
    /// These slots advanced by `offset` entries.
    func advanced(by offset: Int) -> SlotPointers { SlotPointers(base: base.map { $0 + offset }, stride: stride) }
}

/// Applies an `UpdateRule` to a model's trainable parameters, keeps per-parameter
/// state, and enforces masks: after every update, masked entries of the value and of
/// every state slot are exactly zero, so a cut weight never comes back.
public final class Optimizer {
    /// The update math.
    public let rule: UpdateRule
    private var state: [ObjectIdentifier: State] = [:]

    /// One parameter's slots (`slotCount × count` floats) and its step count.
    private final class State {
        let slots: UnsafeMutablePointer<Float>
        let count: Int
        var steps = 0
        init(slotCount: Int, count: Int) {
            self.count = count
            slots = .allocate(capacity: max(slotCount * count, 1))
            slots.initialize(repeating: 0, count: max(slotCount * count, 1))
        }
        deinit { slots.deallocate() }
    }

    /// Creates an optimizer with the given rule.
    public init(_ rule: UpdateRule) { self.rule = rule }

    /// Updates every trainable parameter once with `learningRate`; with a pool, large
    /// parameters are split into ranges updated at once.
    public func step(_ parameters: [(path: String, parameter: Parameter)], learningRate: Float,
                     pool: WorkerPool? = nil) {
        for (_, p) in parameters where p.isTrainable {
            precondition(p.gradient.shape == p.value.shape,
                         "gradient \(p.gradient.shape) does not match parameter \(p.value.shape)")
            let key = ObjectIdentifier(p)
            // A parameter that changed size (e.g. after compaction) starts with fresh state.
            let entry = state[key].flatMap { $0.count == p.count ? $0 : nil } ?? State(slotCount: rule.slotCount, count: p.count)
            state[key] = entry
            entry.steps += 1
            let n = p.count
            let slots = SlotPointers(base: entry.slots, stride: n)
            let mask = p.mask
            let gradient = p.gradient
            let rule = self.rule, step = entry.steps, slotCount = rule.slotCount
            p.value.withUnsafeMutableBufferPointer { buffer in
                let v = buffer
                gradient.withUnsafeBufferPointer { g in
                    let work = { (lo: Int, hi: Int) in
                        rule.apply(step: step, learningRate: learningRate, value: v.baseAddress! + lo,
                                   gradient: g.baseAddress! + lo, slots: slots.advanced(by: lo), count: hi - lo)
                        guard let mask else { return }
                        mask.withUnsafeBufferPointer { m in
                            for i in lo..<hi { v[i] *= m[i] }
                            for slot in 0..<slotCount {
                                let s = slots[slot]
                                for i in lo..<hi { s[i] *= m[i] }
                            }
                        }
                    }
                    if let pool { pool.forEachRange(n, work) } else { work(0, n) }
                }
            }
        }
    }

    /// The state slots kept for `parameter` (empty before its first update), for tests and inspection.
    public func slots(for parameter: Parameter) -> [Float] {
        guard let entry = state[ObjectIdentifier(parameter)] else { return [] }
        return Array(UnsafeBufferPointer(start: entry.slots, count: rule.slotCount * entry.count))
    }

    /// Forgets all state (momentum, moments).
    public func reset() { state.removeAll() }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay,
/// as PyTorch defines it: `g ← g + λw; v ← μv + g; w ← w − η(g + μv)` (Nesterov) or `w ← w − ηv`.
/// https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
public struct SGD: UpdateRule {
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
    public func apply(step: Int, learningRate lr: Float, value w: UnsafeMutablePointer<Float>,
                      gradient g: UnsafePointer<Float>, slots: SlotPointers, count: Int) {
        let wd = weightDecay, mu = momentum
        if mu == 0 {
            for i in 0..<count { w[i] -= lr * (g[i] + wd * w[i]) }
            return
        }
        let v = slots[0]
        if step == 1 {
            // PyTorch starts the buffer at the first gradient.
            for i in 0..<count { v[i] = g[i] + wd * w[i] }
        } else {
            for i in 0..<count { v[i] = mu * v[i] + (g[i] + wd * w[i]) }
        }
        if nesterov {
            for i in 0..<count { w[i] -= lr * ((g[i] + wd * w[i]) + mu * v[i]) }
        } else {
            for i in 0..<count { w[i] -= lr * v[i] }
        }
    }
}

/// Adam with bias correction; `weightDecay` adds `λw` to the gradient (L2), or, when
/// `decoupled` is true, shrinks the weights directly (AdamW).
/// https://arxiv.org/abs/1412.6980, https://arxiv.org/abs/1711.05101
public struct Adam: UpdateRule {
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
    public func apply(step: Int, learningRate lr: Float, value w: UnsafeMutablePointer<Float>,
                      gradient g: UnsafePointer<Float>, slots: SlotPointers, count n: Int) {
        let m = slots[0], v = slots[1]
        let b1 = beta1, b2 = beta2, eps = epsilon
        let c1 = 1 - Float(Double.pow(Double(b1), step))
        let c2 = 1 - Float(Double.pow(Double(b2), step))
        let stepSize = lr / c1
        let c2Root = c2.squareRoot()
        let l2 = decoupled ? 0 : weightDecay
        let shrink = decoupled ? 1 - lr * weightDecay : 1
        for i in 0..<n {
            let gi = g[i] + l2 * w[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            w[i] = w[i] * shrink - stepSize * m[i] / (v[i].squareRoot() / c2Root + eps)
        }
    }
}

