import NeuralNetwork
import TensorCore

/// How importance is computed: one score per entry of a parameter, low = cut first.
///
/// Structured granularities (neurons, filters) score a unit by the mean of its entries'
/// scores, so `Magnitude` ranks units by their L1 norm and `SquaredMagnitude` by their
/// L2 norm within a layer; the mean (rather than the sum) keeps units of layers with
/// different fan-in comparable in global scope. Conform to add your own criterion.
public protocol Criterion {
    /// A short name for reports (`"magnitude"`).
    var name: String { get }
    /// Scores for every entry of `parameter` (same shape as its value).
    func scores(for parameter: Parameter, path: String) -> Tensor
}

/// `|w|`: min-value pruning, the classic magnitude criterion (Han et al. 2015,
/// https://arxiv.org/abs/1506.02626).
public struct Magnitude: Criterion {
    public var name: String { "magnitude" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }
}

/// `w·|w|` taken as `|w|² = w²`.
///
/// The signed product `w·|w|` is negative for every negative weight, so ranking by it
/// (or comparing it with a positive threshold) would cut all negative weights first,
/// however large. Its magnitude `w²` keeps the intended meaning: large weights matter.
/// Summed over a structure it is the squared L2 norm.
public struct SquaredMagnitude: Criterion {
    public var name: String { "squared-magnitude" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.squares() }
}

/// `−|w|`: max-value pruning, cutting the largest weights first. A control that should
/// destroy accuracy; it shows how much the ranking matters.
public struct Largest: Criterion {
    public var name: String { "largest" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() * -1 }
}

/// Uniform random scores from a seeded generator: the random-pruning control.
/// The same seed and parameter path give the same scores.
public struct RandomScores: Criterion {
    public var name: String { "random" }
    /// The seed; each parameter's stream also depends on its path.
    public var seed: UInt64
    /// Creates the criterion.
    public init(seed: UInt64) { self.seed = seed }
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var rng = SeededGenerator(seed: seed ^ hash)
        return Tensor.uniform(parameter.value.shape, low: 0, high: 1, using: &rng)
    }
}

/// First-order Taylor `|w·∂L/∂w|`: the estimated change of the loss when the weight is
/// removed (Molchanov et al. 2017, https://arxiv.org/abs/1611.06440). Uses the gradient
/// the parameter holds (from the last backward pass, or an average the caller stored).
public struct Taylor: Criterion {
    public var name: String { "taylor" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor {
        parameter.value.zipMap(parameter.gradient) { abs($0 * $1) }
    }
}

/// The built-in criteria by name, for the command line and recipes.
public enum CriterionName: String, CaseIterable, Codable, Sendable {
    case magnitude
    case squaredMagnitude = "squared-magnitude"
    case largest
    case random
    case taylor
    /// The L1 norm of a structure: `magnitude` averaged over the unit.
    case l1Norm = "l1-norm"
    /// The L2 norm of a structure (ranked by its mean square): `squared-magnitude` averaged.
    case l2Norm = "l2-norm"
    /// Movement `Σ −w·∂L/∂w` over training steps (`MovementScores`): needs training.
    case movement
    /// SNIP `|w·∂L/∂w|` on one batch at the moment of the cut (`snipScores`): before
    /// training, this is pruning at initialization.
    case snip
    /// |γ| of the BatchNorm layers of a channel's group (network slimming): structured
    /// granularities only.
    case bnScale = "bn-scale"
    /// 1 − the average percentage of zeros of a unit's ReLU output on training data (APoZ):
    /// structured granularities only; measured on 10 batches before the cut.
    case apoz

    /// Whether scores come from data (gradients), not from the weights alone.
    public var needsData: Bool { self == .taylor || self == .movement || self == .snip || self == .apoz }
    /// Whether the criterion ranks whole units only (neurons, filters).
    public var isStructuredOnly: Bool { self == .bnScale || self == .apoz }

    /// The criterion this name stands for; `seed` feeds `random`. `movement` and `snip`
    /// need data: this returns their stand-ins from the current gradients (Taylor);
    /// use `MovementScores` and `snipScores` for the real thing.
    public func criterion(seed: UInt64 = 1) -> Criterion {
        switch self {
        case .magnitude, .l1Norm: return Magnitude()
        case .squaredMagnitude, .l2Norm: return SquaredMagnitude()
        case .largest: return Largest()
        case .random: return RandomScores(seed: seed)
        case .taylor, .movement, .snip: return Taylor()
        case .bnScale: return BatchNormScale()
        case .apoz: return AveragePercentageOfZeros(zeros: [:])
        }
    }
}

/// Network slimming's criterion (Liu et al. 2017, https://arxiv.org/abs/1708.06519): a
/// channel is as important as |γ| of the BatchNorm layers in its dependency group. Used by
/// structured cuts (neurons, filters); on a single parameter it scores `|w|`.
public struct BatchNormScale: Criterion {
    public var name: String { "bn-scale" }
    /// Creates the criterion.
    public init() {}
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }
}
