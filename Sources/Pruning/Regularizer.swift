import NeuralNetwork
import TensorCore

/// A penalty added to the training loss to push unimportant weights (or whole neurons and
/// filters) toward zero; followed by a cut below a small value threshold, it is the
/// regularization-based pruning strategy.
///
/// - `l1(λ)`: `λ·Σ|w|`. With the proximal method (the default) each step ends with the
///   soft threshold `w ← sign(w)·max(|w| − η·λ, 0)` (η the step's learning rate), which
///   sets weights to exactly zero; the subgradient method adds `λ·sign(w)` to the
///   gradient instead, and weights then only hover near zero.
/// - `l2(λ)`: `(λ/2)·Σw²`; the gradient gains `λ·w` (both methods). It shrinks weights
///   but makes none exactly zero.
/// - `groupLasso(λ)`: `λ·Σ_g ‖w_g‖₂` over the groups along the first axis (the rows of a
///   dense weight = neurons, the output channels of a convolution = filters; each entry of
///   a 1-D tensor). Proximal: `w_g ← w_g·max(0, 1 − η·λ/‖w_g‖)`, which zeroes whole groups;
///   subgradient: `λ·w_g/‖w_g‖` is added to the gradient. It zeroes rows but not biases:
///   follow it with a structured cut (`granularity: neuron`, `l2-norm`) to a sparsity,
///   which masks the biases too, before compacting. Leave the output layer out
///   (`exclude`): its rows are the classes.
///
/// The proximal step runs after the optimizer's update (proximal SGD; with momentum the
/// optimizer's state is left as it is). With Adam the threshold η·λ is a heuristic, not an
/// exact proximal step.
public struct Regularizer: Equatable, Sendable {
    /// The penalty and its strength λ.
    public enum Penalty: Equatable, Sendable {
        case l1(Float)
        case l2(Float)
        case groupLasso(Float)
    }

    /// How the penalty acts on the weights.
    public enum Method: String, NamedChoice, Sendable {
        /// A soft-threshold step after each update (exact zeros).
        case proximal
        /// The penalty's (sub)gradient added to the loss gradient.
        case subgradient
    }

    /// The penalty.
    public var penalty: Penalty
    /// How it is applied.
    public var method: Method
    /// Path patterns of the parameters it applies to (`*` wildcard).
    public var parameters: [String]
    /// Path patterns to leave alone.
    public var excluding: [String]

    /// Creates a regularizer.
    /// - Throws: `PruningError` when λ is negative or not finite, or no pattern is given.
    public init(_ penalty: Penalty, method: Method = .proximal, parameters: [String] = ["*.weight"],
                excluding: [String] = []) throws {
        let strength: Float = switch penalty { case let .l1(l), let .l2(l), let .groupLasso(l): l }
        guard strength >= 0, strength.isFinite else { throw PruningError.field("regularizer.strength", "must be ≥ 0 and finite, got \(strength)") }
        guard !parameters.isEmpty else { throw PruningError.field("regularizer.parameters", "must list at least one pattern") }
        self.penalty = penalty; self.method = method; self.parameters = parameters; self.excluding = excluding
    }

    /// The parameters of `model` it applies to (trainable ones matching the patterns).
    public func selected(in model: Graph) -> [(path: String, parameter: Parameter)] {
        model.trainableParameters.filter { path, _ in
            parameters.contains { matches(path, pattern: $0) } && !excluding.contains { matches(path, pattern: $0) }
        }
    }

    /// The penalty's value on `model`'s current weights.
    public func value(on model: Graph) -> Double {
        var total = 0.0
        for (_, p) in selected(in: model) {
            switch penalty {
            case let .l1(l): total += Double(l) * Double(p.value.magnitudes().sum())
            case let .l2(l): total += 0.5 * Double(l) * Double(p.value.zipMap(p.value, *).sum())
            case let .groupLasso(l):
                total += Double(l) * Self.groupNorms(p.value).reduce(0) { $0 + Double($1) }
            }
        }
        return total
    }

    /// Adds the penalty's gradient to `parameter`'s gradient (the subgradient method; L2 always).
    public func addGradient(to parameter: Parameter) {
        let value = parameter.value
        switch penalty {
        case let .l1(l):
            guard method == .subgradient else { return }
            parameter.gradient.add(value.map { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }, scaledBy: l)
        case let .l2(l):
            parameter.gradient.add(value, scaledBy: l)
        case let .groupLasso(l):
            guard method == .subgradient else { return }
            let norms = Self.groupNorms(value)
            var scaled = value
            scaled.scaleSlices(by: norms.map { $0 > 0 ? l / $0 : 0 })
            parameter.gradient.add(scaled)
        }
    }

    /// The proximal step after an update of learning rate `rate` (does nothing for L2 or
    /// the subgradient method).
    public func proximalStep(_ parameter: Parameter, rate: Float) {
        guard method == .proximal else { return }
        switch penalty {
        case let .l1(l):
            parameter.value.softThreshold(rate * l)
        case .l2:
            return
        case let .groupLasso(l):
            let norms = Self.groupNorms(parameter.value)
            parameter.value.scaleSlices(by: norms.map { $0 > 0 ? max(0, 1 - rate * l / $0) : 0 })
        }
    }

    /// The L2 norm of each slice along the first axis (each entry of a 1-D tensor, such as a
    /// BatchNorm scale, is its own group: group lasso is L1 there).
    static func groupNorms(_ value: Tensor) -> [Float] {
        value.sliceNorms(count: value.shape.count >= 2 ? value.shape[0] : value.count)
    }
}

/// Applies regularizers during training: add it to a trainer's callbacks.
public final class Regularization: TrainingCallback {
    /// The regularizers, applied in order.
    public let regularizers: [Regularizer]
    private var rate: Float = 0
    /// Each regularizer's parameters, matched once per model rather than on every step.
    private var selection: (model: ObjectIdentifier, parameters: [[Parameter]])?

    /// Creates the callback.
    public init(_ regularizers: [Regularizer]) { self.regularizers = regularizers }

    private func parameters(of model: Graph) -> [[Parameter]] {
        if let selection, selection.model == ObjectIdentifier(model) { return selection.parameters }
        let parameters = regularizers.map { $0.selected(in: model).map(\.parameter) }
        selection = (ObjectIdentifier(model), parameters)
        return parameters
    }

    public func trainer(_ trainer: Trainer, willUpdateWithLearningRate learningRate: Float) throws {
        rate = learningRate
        for (r, selected) in zip(regularizers, parameters(of: trainer.model)) {
            for p in selected { r.addGradient(to: p) }
        }
    }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        for (r, selected) in zip(regularizers, parameters(of: trainer.model)) {
            for p in selected {
                r.proximalStep(p, rate: rate)
                p.applyMask()
            }
        }
    }
}
