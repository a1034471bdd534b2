import NeuralNetwork
import TensorCore

/// The Shannon entropy, in bits, of each unit's ReLU output over a data sample: a unit
/// whose activation hardly varies from sample to sample (always zero, or nearly constant)
/// carries little information and is cut first.
///
/// Each unit's per-sample value (a feature map's spatial mean, see `ActivationSample`) is
/// binned into `bins` equal-width bins between its smallest and largest value on the
/// sample (`BinnedInformation`); a constant unit scores 0. Structured cuts score a unit by
/// its entropy averaged over the ReLU layers of its group; groups without a ReLU rank by
/// their producers' `|w|`, and on a single parameter it scores `|w|`. Measured by
/// `prepared` (or `init(measuring:on:)`). Entropy-based channel pruning: Luo & Wu 2017,
/// https://arxiv.org/abs/1706.05791.
public struct ActivationEntropy: UnitCriterion, SampleCriterion {
    public var name: String { "entropy" }
    /// Per ReLU layer name, each unit's entropy in bits (nil: not measured).
    public var entropies: [String: [Float]]?
    /// Batches measured by `prepared`.
    public var batches: Int
    /// Samples per batch.
    public var batchSize: Int
    /// Equal-width bins of each unit's histogram.
    public var bins: Int

    /// An unmeasured criterion; `PruningRun` measures it before each cut.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) {
        self.entropies = nil; self.batches = batches; self.batchSize = batchSize; self.bins = bins
    }

    /// Creates the criterion from measured entropies.
    public init(entropies: [String: [Float]]) {
        self.init()
        self.entropies = entropies
    }

    /// Measures the entropies on the first `batches · batchSize` samples of `data`
    /// (evaluation mode).
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   fewer than one batch, sample or two bins, or a non-finite activation.
    public init(measuring model: Graph, on data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) throws {
        self.init(batches: batches, batchSize: batchSize, bins: bins)
        try checkBins(bins, criterion: name)
        let sample = try ActivationSample(measuring: model, on: data, batches: batches, batchSize: batchSize, criterion: name)
        entropies = sample.perUnit { BinnedInformation.entropy(of: $0, bins: bins) }
    }

    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        try ActivationEntropy(measuring: model, on: sample, batches: batches, batchSize: batchSize, bins: bins)
    }

    public func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]? {
        try meanActivationScores(entropies, for: group, criterion: name)
    }
}

/// A binned estimate of the mutual information `I(A_j; Y)`, in bits, between each unit's
/// ReLU output and the class label over a data sample: a unit whose activation says little
/// about the class is cut first.
///
/// Units are binned as for `ActivationEntropy` (the same per-sample values and bins) and
/// the plug-in estimator `Σ p(a,y)·log2 p(a,y) / (p(a)·p(y))` is taken over the sample's
/// labels (`BinnedInformation.mutualInformation`). Structured cuts score a unit by its
/// estimate averaged over the ReLU layers of its group; groups without a ReLU rank by their
/// producers' `|w|`, and on a single parameter it scores `|w|`. Needs class labels.
/// Measured by `prepared` (or `init(measuring:on:)`).
public struct MutualInformation: UnitCriterion, SampleCriterion {
    public var name: String { "mutual-information" }
    /// Per ReLU layer name, each unit's mutual information with the label in bits (nil: not measured).
    public var information: [String: [Float]]?
    /// Batches measured by `prepared`.
    public var batches: Int
    /// Samples per batch.
    public var batchSize: Int
    /// Equal-width bins of each unit's histogram.
    public var bins: Int

    /// An unmeasured criterion; `PruningRun` measures it before each cut.
    public init(batches: Int = Recipe.Defaults.sampleBatches, batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) {
        self.information = nil; self.batches = batches; self.batchSize = batchSize; self.bins = bins
    }

    /// Creates the criterion from measured estimates.
    public init(information: [String: [Float]]) {
        self.init()
        self.information = information
    }

    /// Measures the estimates on the first `batches · batchSize` samples of `data` and
    /// their labels (evaluation mode).
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for
    ///   data without class labels, fewer than one batch, sample or two bins, or a
    ///   non-finite activation.
    public init(measuring model: Graph, on data: Dataset, batches: Int = Recipe.Defaults.sampleBatches,
                batchSize: Int = 128, bins: Int = BinnedInformation.defaultBins) throws {
        self.init(batches: batches, batchSize: batchSize, bins: bins)
        try checkBins(bins, criterion: name)
        guard data.classCount > 0 else {
            throw PruningError.criterion(name: name, problem: "needs class labels, but the data has regression targets: use entropy or apoz")
        }
        let sample = try ActivationSample(measuring: model, on: data, batches: batches, batchSize: batchSize, criterion: name)
        information = sample.perUnit { BinnedInformation.mutualInformation(between: $0, and: sample.labels, bins: bins) }
    }

    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        try MutualInformation(measuring: model, on: sample, batches: batches, batchSize: batchSize, bins: bins)
    }

    public func unitScores(for group: DependencyGroup, in model: Graph) throws -> [Float]? {
        try meanActivationScores(information, for: group, criterion: name)
    }
}

/// Throws unless a histogram of `bins` bins can tell values apart.
private func checkBins(_ bins: Int, criterion: String) throws {
    guard bins >= 2 else {
        throw PruningError.criterion(name: criterion, problem: "needs at least 2 histogram bins, got \(bins)")
    }
}
