import NeuralNetwork

/// The average input image of each class (over the channels), to set beside the pixel map.
public struct ClassMeans: Codable, Equatable, Sendable {
    /// The image size.
    public var height: Int, width: Int
    /// The labels in order, each with its sample count and its mean image (`height × width`).
    public var classes: [Int], counts: [Int], images: [[Float]]

    /// Averages `data` per label, or nil when its samples are not images (`[C, H, W]` or
    /// `[H, W]`) or it has no labels (regression data, or no samples).
    ///
    /// Only labels that occur are listed, in increasing order. Each image is the mean of the
    /// class's samples, averaged over the channels; sums are kept in Double.
    /// - Complexity: O(samples · sample size), reading `data` a chunk of samples at a time.
    public init?(_ data: Dataset) {
        guard let image = ImageShape(data.sampleShape), !data.labels.isEmpty else { return nil }
        var sums = [Double](repeating: 0, count: data.classCount * image.count)   // [labels, C·H·W]
        var counts = [Int](repeating: 0, count: data.classCount)
        let chunk = 1024
        for start in stride(from: 0, to: data.count, by: chunk) {
            let batch = data.batch(start..<min(start + chunk, data.count))
            let values = batch.inputs.scalars
            for (i, label) in batch.labels.enumerated() {
                let l = Int(label), offset = i * image.count, base = l * image.count
                for j in 0..<image.count { sums[base + j] += Double(values[offset + j]) }
                counts[l] += 1
            }
        }
        let present = counts.indices.filter { counts[$0] > 0 }
        (height, width) = (image.height, image.width)
        classes = present
        self.counts = present.map { counts[$0] }
        images = present.map { l in
            let mean = sums[(l * image.count)..<((l + 1) * image.count)].map { Float($0 / Double(counts[l])) }
            return image.channelMean(of: mean, at: 0)
        }
    }
}
