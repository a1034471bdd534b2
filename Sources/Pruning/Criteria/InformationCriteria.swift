import NeuralNetwork
import TensorCore

/// A unit criterion that bins each unit's ReLU output over a data sample and scores the
/// unit by an information measure in bits (`ActivationEntropy`, `MutualInformation`).
///
/// Each unit's per-sample value (a feature map's spatial mean, see `ActivationSample`) is
/// binned into `bins` equal-width bins between its smallest and largest value on the
/// sample (`BinnedInformation`). Structured cuts score a unit by its measure averaged over
/// the ReLU layers of its group; groups without a ReLU rank by their producers' `|w|`, and
/// on a single parameter it scores `|w|`. `PruningRun` measures it before each cut through
/// `prepared`, on the first `batches · batchSize` samples of the training split.
public protocol InformationCriterion: UnitCriterion, SampleCriterion {
    /// Per ReLU layer name, each unit's measure in bits (nil: not measured).
    var bits: [String: [Float]]? { get }
    /// Batches measured by `prepared`.
    var batches: Int { get }
    /// Samples per batch.
    var batchSize: Int { get }
    /// Equal-width bins of each unit's histogram.
    var bins: Int { get }
    /// Measures every unit on the first `batches · batchSize` samples of `data` (evaluation mode).
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   fewer than one batch, sample or two bins, or a non-finite activation.
    init(measuring model: Graph, on data: Dataset, batches: Int, batchSize: Int, bins: Int) throws
}

extension InformationCriterion {
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        try Self(measuring: model, on: sample, batches: batches, batchSize: batchSize, bins: bins)
    }

    public func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]? {
        try meanActivationScores(bits, for: group, criterion: name)
    }
}

/// The Shannon entropy, in bits, of each unit's ReLU output over a data sample: a unit
/// whose activation hardly varies from sample to sample (always zero, or nearly constant)
/// carries little information and is cut first. A constant unit scores 0. Binning and
/// use: `InformationCriterion`. Entropy-based channel pruning: Luo & Wu 2017,
/// https://arxiv.org/abs/1706.05791.
public struct ActivationEntropy: InformationCriterion {
    public var name: String { "entropy" }
    /// Per ReLU layer name, each unit's entropy in bits (nil: not measured).
    public var bits: [String: [Float]]?
    public var batches: Int
    public var batchSize: Int
    public var bins: Int

    /// An unmeasured criterion; `PruningRun` measures it before each cut.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) {
        self.bits = nil; self.batches = batches; self.batchSize = batchSize; self.bins = bins
    }

    public init(measuring model: Graph, on data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) throws {
        self.init(batches: batches, batchSize: batchSize, bins: bins)
        let sample = try ActivationSample(measuring: model, on: data, batches: batches, batchSize: batchSize, bins: bins, criterion: name)
        bits = sample.perUnit { BinnedInformation.entropy(of: $0, bins: bins) }
    }
}

/// A binned estimate of the mutual information `I(A_j; Y)`, in bits, between each unit's
/// ReLU output and the class label over a data sample: a unit whose activation says little
/// about the class is cut first. The plug-in estimator `Σ p(a,y)·log2 p(a,y) / (p(a)·p(y))`
/// is taken over the sample's labels (`BinnedInformation.mutualInformation`); binning and
/// use: `InformationCriterion`. Needs class labels.
public struct MutualInformation: InformationCriterion {
    public var name: String { "mutual-information" }
    /// Per ReLU layer name, each unit's mutual information with the label in bits (nil: not measured).
    public var bits: [String: [Float]]?
    public var batches: Int
    public var batchSize: Int
    public var bins: Int

    /// An unmeasured criterion; `PruningRun` measures it before each cut.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) {
        self.bits = nil; self.batches = batches; self.batchSize = batchSize; self.bins = bins
    }

    /// Measures every unit and the labels of the same samples (see the protocol); also
    /// throws `PruningError` for data without class labels.
    public init(measuring model: Graph, on data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) throws {
        self.init(batches: batches, batchSize: batchSize, bins: bins)
        guard data.classCount > 0 else {
            throw PruningError.criterion(name: name, problem: "needs class labels, but the data has regression targets: use entropy or apoz")
        }
        let sample = try ActivationSample(measuring: model, on: data, batches: batches, batchSize: batchSize, bins: bins, criterion: name)
        bits = sample.perUnit { BinnedInformation.mutualInformation(between: $0, and: sample.labels, bins: bins) }
    }
}
