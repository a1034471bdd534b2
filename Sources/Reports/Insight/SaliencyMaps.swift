import NeuralNetwork
import TensorCore

/// Saliency maps (Simonyan et al. 2014): for a few test images, the magnitude of the gradient
/// of each model's predicted class score with respect to the input pixels (largest over the
/// channels), for several models side by side (dense and pruned).
/// https://arxiv.org/abs/1312.6034
public struct SaliencyMaps: Codable, Equatable, Sendable {
    /// One image with each model's prediction and map.
    public struct Sample: Codable, Equatable, Sendable {
        /// The sample's index in the dataset, and its label (-1 for data without labels).
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
    /// The image size (`1 × values` for samples that are not `[C, H, W]` or `[H, W]` images).
    public var height: Int, width: Int
    /// The images.
    public var samples: [Sample]

    /// Computes the maps of `models` for the samples of `data` at `indices`.
    ///
    /// The score differentiated is the model's output at its predicted class: the logit, or
    /// the probability when the model ends in `Softmax` (its output is then probabilities). Gradients are
    /// those of the inference function: each model's layers run in a twin graph where batch
    /// normalization keeps its running statistics (not updated) and dropout is off, so all
    /// samples go through as one batch. The models' parameter gradients are restored
    /// afterwards; only the layers' caches for backward change.
    /// - Precondition: every index is a sample of `data`.
    /// - Throws: `ModelError` when a model does not take `data`'s samples.
    /// - Complexity: one forward and one backward pass of each model over the samples.
    public init(models: [(name: String, model: Graph)], data: Dataset, indices: [Int]) throws {
        self.models = models.map(\.name)
        let image = ImageShape(data.sampleShape) ?? ImageShape([1, data.sampleShape.product])!
        (height, width) = (image.height, image.width)
        samples = []
        guard !indices.isEmpty else { return }
        for i in indices { precondition(i >= 0 && i < data.count, "sample \(i) is not one of the dataset's \(data.count)") }
        let batch = data.batch(indices)
        var predictions = [[Int]](repeating: [], count: indices.count)
        var maps = [[[Float]]](repeating: [], count: indices.count)
        for (_, model) in models {
            let (classes, gradient) = try Self.inputGradients(of: model, at: batch.inputs)
            for s in indices.indices {
                predictions[s].append(classes[s])
                maps[s].append(image.largestMagnitude(of: gradient, at: s * image.count))
            }
        }
        let values = batch.inputs.scalars
        samples = indices.indices.map { s in
            Sample(index: indices[s], label: batch.labels.isEmpty ? -1 : Int(batch.labels[s]),
                   image: image.channelMean(of: values, at: s * image.count),
                   predictions: predictions[s], maps: maps[s])
        }
    }

    /// Each sample's predicted class under `model`, and the gradient of that class's score
    /// with respect to the inputs (flattened `[N] + sampleShape`).
    static func inputGradients(of model: Graph, at inputs: Tensor) throws -> (classes: [Int], gradient: [Float]) {
        let n = inputs.shape[0]
        guard Array(inputs.shape.dropFirst()).product == model.inputShape.product else {
            throw ModelError.predictionInput(shape: inputs.shape, inputShape: model.inputShape)
        }
        let saved = model.trainableParameters.map { ($0.parameter, $0.parameter.gradient) }
        defer { for (parameter, gradient) in saved { parameter.gradient = gradient } }
        let twin = try inferenceTwin(of: model)
        let output = twin.forward(inputs.reshaped([n] + model.inputShape), training: true)
        let k = output.count / n
        let classes = argmaxRows(output.reshaped([n, k]))
        var seed = Tensor.zeros([n, k])   // d(Σ score of the predicted class)/d output
        for (s, c) in classes.enumerated() { seed[flat: s * k + c] = 1 }
        let gradient = twin.backward(seed.reshaped(output.shape), inputGradient: true)
        return (classes, gradient?.scalars ?? [])
    }

    /// `count` sample indices of `data`: the first sample of each of the first `count`
    /// labels (in label order), so the figure shows different classes.
    ///
    /// Labels that do not occur are skipped, so fewer indices come back when `data` has fewer
    /// than `count` classes; data without labels gives its first `count` samples.
    /// - Complexity: O(samples).
    public static func indices(in data: Dataset, count: Int) -> [Int] {
        guard count > 0 else { return [] }
        guard !data.labels.isEmpty else { return Array(0..<min(count, data.count)) }
        var first = [Int?](repeating: nil, count: data.classCount)
        for (i, label) in data.labels.enumerated() where first[Int(label)] == nil { first[Int(label)] = i }
        return Array(first.compactMap { $0 }.prefix(count))
    }
}
