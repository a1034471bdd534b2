import NeuralNetwork

/// Saliency maps (Simonyan et al. 2014): for a few test images, the magnitude of the gradient
/// of each model's predicted class score with respect to the input pixels (largest over the
/// channels), for several models side by side (dense and pruned).
public struct SaliencyMaps: Codable, Equatable, Sendable {
    /// One image with each model's prediction and map.
    public struct Sample: Codable, Equatable, Sendable {
        /// The sample's index in the dataset, and its label.
        public var index: Int, label: Int
        /// The image averaged over its channels (`height × width`).
        public var image: [Float]
        /// Per model, the predicted class.
        public var predictions: [Int]
        /// Per model, `height × width` gradient magnitudes.
        public var maps: [[Float]]
    }
    /// The models' names, in the order of `predictions` and `maps`.
    public var models: [String]
    /// The image size.
    public var height: Int, width: Int
    /// The images.
    public var samples: [Sample]

    /// Computes the maps of `models` for the samples of `data` at `indices`.
    /// - Throws: `ModelError` when a model does not take `data`'s samples.
    public init(models: [(name: String, model: Graph)], data: Dataset, indices: [Int]) throws {
        self.models = models.map(\.name); height = 0; width = 0; samples = []   // TODO(insight helper)
    }

    /// `count` sample indices of `data`: the first sample of each of the first `count`
    /// labels (in label order), so the figure shows different classes.
    public static func indices(in data: Dataset, count: Int) -> [Int] { [] }   // TODO(insight helper)
}
