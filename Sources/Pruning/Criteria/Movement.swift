import NeuralNetwork
import TensorCore

/// Movement scores (Sanh et al. 2020, https://arxiv.org/abs/2005.07683): the sum over
/// training steps of `−w·∂L/∂w`. A weight moving away from zero scores high; one that
/// training pulls toward zero scores low and is cut first. `PruningRun` adds it to every
/// trainer's callbacks, so cuts during training use the sums so far; outside the engine,
/// add it to a trainer yourself, or take a fixed copy with `criterion`.
public final class MovementScores: TrainingCriterion {
    private var sums: [String: Tensor] = [:]
    /// Path patterns of the parameters to track (`*` wildcard).
    public let parameters: [String]

    /// Tracks the parameters matching `parameters` (default: every weight).
    public init(parameters: [String] = Recipe.Defaults.parameters) { self.parameters = parameters }

    public func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
        // The gradient is the one the optimizer just used; the value is after the update.
        for (path, p) in trainer.model.trainableParameters where parameters.contains(where: { matches(path, pattern: $0) }) {
            let step = p.value.zipMap(p.gradient) { -$0 * $1 }
            if sums[path] == nil { sums[path] = step } else { sums[path]!.add(step) }
        }
    }

    /// The sums so far by parameter path.
    public var accumulated: [String: Tensor] { sums }

    public func restore(accumulated saved: [String: Tensor]) throws {
        sums = saved
    }

    /// The accumulated scores as a fixed criterion (parameters never seen score by magnitude).
    public var criterion: PrecomputedScores { PrecomputedScores(name: "movement", scores: sums) }

    public var name: String { "movement" }

    /// The sums so far for `path` (magnitude for a parameter never seen).
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        sums[path] ?? Magnitude().scores(for: parameter, path: path)
    }
}
