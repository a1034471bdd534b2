import TensorCore

/// The per-parameter math of an optimizer: how one parameter's value and state slots
/// change given its gradient. Bookkeeping (state storage, masks) lives in `Optimizer`.
public protocol UpdateRule {
    /// How many state tensors (each the size of the parameter) the rule keeps.
    var slotCount: Int { get }
    /// Updates `value` in place from `gradient`.
    /// - Parameters:
    ///   - step: 1 for the first update of this parameter, then 2, 3, …
    ///   - slots: `slotCount` consecutive state arrays of `value.count` scalars, zero at first.
    func apply(step: Int, learningRate: Float, value: UnsafeMutableBufferPointer<Float>,
               gradient: UnsafeBufferPointer<Float>, slots: UnsafeMutableBufferPointer<Float>)
}

/// Applies an `UpdateRule` to a model's trainable parameters, keeps per-parameter
/// state, and enforces masks: after every update, masked entries of the value and of
/// every state slot are exactly zero, so a cut weight never comes back.
public final class Optimizer {
    /// The update math.
    public let rule: UpdateRule
    private var state: [ObjectIdentifier: (slots: [Float], steps: Int)] = [:]

    /// Creates an optimizer with the given rule.
    public init(_ rule: UpdateRule) { self.rule = rule }

    /// Updates every trainable parameter once with `learningRate`.
    public func step(_ parameters: [(path: String, parameter: Parameter)], learningRate: Float) {
        for (_, p) in parameters where p.isTrainable {
            precondition(p.gradient.shape == p.value.shape,
                         "gradient \(p.gradient.shape) does not match parameter \(p.value.shape)")
            let key = ObjectIdentifier(p)
            var entry = state[key] ?? (slots: [Float](repeating: 0, count: rule.slotCount * p.count), steps: 0)
            state[key] = nil   // keep the slots uniquely referenced while mutating them
            entry.steps += 1
            let gradient = p.gradient
            p.value.withUnsafeMutableBufferPointer { v in
                gradient.withUnsafeBufferPointer { g in
                    entry.slots.withUnsafeMutableBufferPointer { s in
                        rule.apply(step: entry.steps, learningRate: learningRate, value: v, gradient: g, slots: s)
                    }
                }
            }
            if let mask = p.mask {
                p.value.multiply(by: mask)
                let n = p.count
                mask.withUnsafeBufferPointer { m in
                    entry.slots.withUnsafeMutableBufferPointer { s in
                        for slot in 0..<rule.slotCount {
                            let base = s.baseAddress! + slot * n
                            for i in 0..<n { base[i] *= m[i] }
                        }
                    }
                }
            }
            state[key] = entry
        }
    }

    /// The state slots kept for `parameter` (empty before its first update), for tests and inspection.
    public func slots(for parameter: Parameter) -> [Float] { state[ObjectIdentifier(parameter)]?.slots ?? [] }

    /// Forgets all state (momentum, moments).
    public func reset() { state.removeAll() }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay,
/// as PyTorch defines it: `g ← g + λw; v ← μv + g; w ← w − η(g + μv)` (Nesterov) or `w ← w − ηv`.
/// https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
public struct SGD: UpdateRule {
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    /// Creates the rule.
    public init(momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
    }
    public var slotCount: Int { momentum == 0 ? 0 : 1 }
    public func apply(step: Int, learningRate lr: Float, value w: UnsafeMutableBufferPointer<Float>,
                      gradient g: UnsafeBufferPointer<Float>, slots: UnsafeMutableBufferPointer<Float>) {
        let wd = weightDecay, mu = momentum
        if mu == 0 {
            for i in 0..<w.count { w[i] -= lr * (g[i] + wd * w[i]) }
            return
        }
        let v = slots.baseAddress!
        if step == 1 {
            // PyTorch starts the buffer at the first gradient.
            for i in 0..<w.count { v[i] = g[i] + wd * w[i] }
        } else {
            for i in 0..<w.count { v[i] = mu * v[i] + (g[i] + wd * w[i]) }
        }
        if nesterov {
            for i in 0..<w.count { w[i] -= lr * ((g[i] + wd * w[i]) + mu * v[i]) }
        } else {
            for i in 0..<w.count { w[i] -= lr * v[i] }
        }
    }
}

/// Adam with bias correction; `weightDecay` adds `λw` to the gradient (L2), or, when
/// `decoupled` is true, shrinks the weights directly (AdamW).
/// https://arxiv.org/abs/1412.6980, https://arxiv.org/abs/1711.05101
public struct Adam: UpdateRule {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
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
    public func apply(step: Int, learningRate lr: Float, value w: UnsafeMutableBufferPointer<Float>,
                      gradient g: UnsafeBufferPointer<Float>, slots: UnsafeMutableBufferPointer<Float>) {
        let n = w.count
        let m = slots.baseAddress!, v = slots.baseAddress! + n
        let b1 = beta1, b2 = beta2, eps = epsilon
        let c1 = 1 - Float(pow(Double(b1), Double(step)))
        let c2 = 1 - Float(pow(Double(b2), Double(step)))
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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif
