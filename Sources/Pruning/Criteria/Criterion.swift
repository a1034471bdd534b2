import NeuralNetwork
import TensorCore

/// How importance is computed: one score per entry of a parameter, low = cut first.
///
/// Criteria come in three kinds, by what they need:
/// - per weight (this protocol alone): the weights, and whatever gradient they hold;
/// - per unit (`UnitCriterion`): whole neurons or filters, from their dependency group;
/// - data-driven: `SampleCriterion` measures on a data sample before each cut,
///   `TrainingCriterion` accumulates during training.
/// `PruningRun` supplies what a criterion needs before it scores. Structured cuts score
/// a unit by the mean of its entries' scores unless the criterion is a `UnitCriterion`.
/// Conform to add your own criterion.
public protocol Criterion {
    /// A short name for reports (`"magnitude"`).
    var name: String { get }
    /// Scores for every entry of `parameter` (same shape as its value).
    func scores(for parameter: Parameter, path: String) -> Tensor
}

/// A criterion that ranks whole units of a dependency group at once (BatchNorm scales,
/// activation statistics). Used by structured cuts; entry scores serve unstructured ones.
public protocol UnitCriterion: Criterion {
    /// One score per unit of `group`, or nil to rank this group by its producers'
    /// entry scores instead (the group has no BatchNorm, no ReLU, …).
    /// - Throws: `PruningError.criterion` when the criterion cannot score (not measured yet).
    func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]?
}

/// A criterion measured on a sample of training data before each cut (averaged Taylor,
/// SNIP, APoZ). `PruningRun` calls `prepared` and prunes with the result.
public protocol SampleCriterion: Criterion {
    /// The criterion ready to score `model`, measured on `sample`. The model's weights,
    /// masks and running statistics are left as they were.
    /// - Throws: `TrainingError` when the sample does not fit the model.
    func prepared(for model: Graph, on sample: Dataset) throws -> Criterion
}

/// A criterion that accumulates during training (movement). `PruningRun` adds it to the
/// callbacks of every trainer it runs, before any pruning callback, so cuts during
/// training read the sums so far. Its state travels in checkpoints as named tensors.
public protocol TrainingCriterion: Criterion, TrainingCallback {
    /// What it has accumulated so far, as named tensors (a checkpoint stores them).
    var accumulated: [String: Tensor] { get }
    /// Replaces what it has accumulated with `saved` (from `accumulated`).
    /// - Throws: `PruningError.criterion` when `saved` cannot be its state.
    func restore(accumulated saved: [String: Tensor]) throws
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

/// The built-in criteria by name, for the command line and recipes.
public enum CriterionName: String, NamedChoice, Sendable {
    case magnitude
    case squaredMagnitude = "squared-magnitude"
    case largest
    case random
    /// `|w·∂L/∂w|` averaged over `Recipe.Defaults.sampleBatches` training batches before each cut.
    case taylor
    /// The L1 norm of a structure: `magnitude` averaged over the unit.
    case l1Norm = "l1-norm"
    /// The L2 norm of a structure (ranked by its mean square): `squared-magnitude` averaged.
    case l2Norm = "l2-norm"
    /// Movement `Σ −w·∂L/∂w` over training steps (`MovementScores`): needs training.
    case movement
    /// SNIP `|w·∂L/∂w|` on one batch at the moment of the cut: before training, this is
    /// pruning at initialization.
    case snip
    /// |γ| of the BatchNorm layers of a channel's group (network slimming):
    /// structured granularities only.
    case bnScale = "bn-scale"
    /// 1 − the average percentage of zeros of a unit's ReLU output on training data
    /// (APoZ), measured before each cut: structured granularities only.
    case apoz
    /// The Shannon entropy of a unit's ReLU output on training data (`ActivationEntropy`),
    /// measured before each cut: structured granularities only.
    case entropy
    /// A binned estimate of the mutual information between a unit's ReLU output and the
    /// label on training data (`MutualInformation`), measured before each cut: structured
    /// granularities only.
    case mutualInformation = "mutual-information"
    /// Wanda's `|w|·‖x‖₂` (`Wanda`): input norms measured on calibration data (the run's
    /// training split) before each cut, compared within each output row by default.
    case wanda
    /// SparseGPT's layer-wise reconstruction (`SparseGPT`): each layer cut and its kept
    /// weights updated from the Hessian of its inputs on calibration data (the run's training
    /// split), layer by layer; per-layer sparsities or N:M only.
    case sparsegpt
    /// Chosen by the run (`StrategySelection`): each candidate criterion and allocation is
    /// tried on a copy at the target, briefly fine-tuned and measured on the validation
    /// split, and the best is used. One-shot weight plans only; ranks as magnitude elsewhere.
    case auto

    /// Whether scores come from data or training, not from the weights alone.
    public var needsData: Bool {
        self == .taylor || self == .movement || self == .snip || self == .apoz || self == .entropy || self == .mutualInformation
            || self == .wanda || self == .sparsegpt
    }
    /// Whether the criterion ranks whole units only (neurons, filters).
    public var isStructuredOnly: Bool { self == .bnScale || self == .apoz || self == .entropy || self == .mutualInformation }

    /// The criterion this name stands for, exactly as named: data-driven ones come
    /// unmeasured (`SampleCriterion`, `TrainingCriterion`) for `PruningRun` to prepare.
    /// - Parameters:
    ///   - seed: feeds `random`.
    ///   - parameters: the path patterns `movement` tracks.
    ///   - sampleBatches: batches averaged by `taylor` and `apoz`, measured by `entropy` and `mutual-information`.
    public func criterion(seed: UInt64 = Recipe.Defaults.seed, parameters: [String] = Recipe.Defaults.parameters,
                          sampleBatches: Int = Recipe.Defaults.sampleBatches) -> Criterion {
        switch self {
        case .magnitude, .l1Norm, .auto: return Magnitude()
        case .squaredMagnitude, .l2Norm: return SquaredMagnitude()
        case .largest: return Largest()
        case .random: return RandomScores(seed: seed)
        case .taylor: return Taylor(batches: sampleBatches)
        case .movement: return MovementScores(parameters: parameters)
        case .snip: return SNIP()
        case .bnScale: return BatchNormScale()
        case .apoz: return AveragePercentageOfZeros(batches: sampleBatches)
        case .entropy: return ActivationEntropy(batches: sampleBatches)
        case .mutualInformation: return MutualInformation(batches: sampleBatches)
        case .wanda: return Wanda()
        case .sparsegpt: return SparseGPT()
        }
    }
}
