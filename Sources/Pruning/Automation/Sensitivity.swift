import NeuralNetwork
import TensorCore

/// How much each layer can lose on its own: every selected parameter pruned alone to each
/// of a list of sparsities, the rest of the model untouched, and the model measured on a
/// held-out split after each cut (Han et al. 2015's per-layer sensitivity). The model is
/// restored after every measurement.
///
/// ```swift
/// let curves = try SensitivityAnalysis(model, levels: [0.5, 0.9, 0.99], on: validation)
/// curves.layers[0].levels.last!.accuracy   // fc1 alone at 99%
/// ```
public struct SensitivityAnalysis: Codable, Equatable, Sendable {
    /// One measurement: the parameter at a sparsity, the model's accuracy and loss.
    public struct Level: Codable, Equatable, Sendable {
        public var sparsity: Double
        public var accuracy: Float, loss: Float
        /// Creates a measurement.
        public init(sparsity: Double, accuracy: Float, loss: Float) {
            self.sparsity = sparsity; self.accuracy = accuracy; self.loss = loss
        }
    }
    /// One parameter's curve.
    public struct Layer: Codable, Equatable, Sendable {
        /// The parameter's path (`"fc1.weight"`).
        public var path: String
        /// Its entries.
        public var count: Int
        /// One measurement per level, in the order given.
        public var levels: [Level]
        /// Creates a curve.
        public init(path: String, count: Int, levels: [Level]) { self.path = path; self.count = count; self.levels = levels }
    }
    /// The levels measured when none are given: 10% steps, then the high sparsities where
    /// tensors part ways (an allocation cannot take a tensor past the highest).
    public static let defaultLevels = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995]
    /// The criterion that ranked the entries.
    public var criterion: String
    /// The split the figures come from, and its size.
    public var split: DataSplit, samples: Int
    /// The model as given, on the same split.
    public var baseline: Level
    /// One curve per selected parameter, in model order.
    public var layers: [Layer]

    /// Curves measured elsewhere (or made up, for tests and what-ifs).
    public init(criterion: String, split: DataSplit, samples: Int, baseline: Level, layers: [Layer]) {
        self.criterion = criterion; self.split = split; self.samples = samples; self.baseline = baseline; self.layers = layers
    }

    /// Measures `model` (left as given) on `data`.
    /// - Parameters:
    ///   - criterion: how entries are ranked within a parameter (not a data-driven one).
    ///   - levels: sparsities in [0, 1], each reached within the parameter alone.
    ///   - parameters: path patterns of the parameters to analyse.
    ///   - split: which split `data` is, recorded with the figures (validation by default:
    ///     decisions are never taken on the test split).
    /// - Throws: `PruningError` for a level outside [0, 1] or patterns that match nothing;
    ///   `TrainingError` when `data` does not fit the model.
    public init(_ model: Graph, criterion: Criterion = Magnitude(), levels: [Double], parameters: [String] = ["*.weight"],
                on data: Dataset, split: DataSplit = .validation) throws {
        if let bad = levels.first(where: { !(0...1).contains($0) }) {
            throw PruningError.field("levels", "must lie in [0, 1], got \(bad)")
        }
        try Trainer.check(data, fits: model)
        self.criterion = criterion.name
        self.split = split
        samples = data.count
        func measure(_ sparsity: Double) -> Level {
            let e = Trainer.evaluate(model, on: data)
            return Level(sparsity: sparsity, accuracy: e.accuracy, loss: e.loss)
        }
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0), parameters: parameters), in: model)
        baseline = measure(0)
        var layers: [Layer] = []
        for (path, p) in selected {
            let (value, mask) = (p.value, p.mask)
            defer { p.restore(value: value, mask: mask) }
            var curve = Layer(path: path, count: p.count, levels: [])
            for level in levels {
                p.restore(value: value, mask: mask)
                let plan = PruningPlan(criterion: criterion, scope: .layer, threshold: .sparsity(level), parameters: [path])
                let result = try Pruner.prune(model, with: plan)
                curve.levels.append(measure(result.sparsity))
            }
            layers.append(curve)
        }
        self.layers = layers
    }
}
