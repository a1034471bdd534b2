import NeuralNetwork

/// The average input image of each class (over the channels), to set beside the pixel map.
public struct ClassMeans: Codable, Equatable, Sendable {
    /// The image size.
    public var height: Int, width: Int
    /// The labels in order, each with its sample count and its mean image (`height × width`).
    public var classes: [Int], counts: [Int], images: [[Float]]

    /// Averages `data` per label, or nil when its samples are not images (`[C, H, W]` or `[H, W]`).
    public init?(_ data: Dataset) { return nil }   // TODO(insight helper)
}
