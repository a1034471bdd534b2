import NeuralNetwork

/// The first convolution's filters as images: each filter's weights averaged over its input
/// channels (pruned entries are zeros), with how many weights survive and whether the
/// whole filter was removed.
public struct FirstLayerFilters: Codable, Equatable, Sendable {
    /// The convolution's name.
    public var layer: String
    /// The kernel's size and input channels.
    public var kernelHeight: Int, kernelWidth: Int, inputChannels: Int
    /// Per filter, `kernelHeight × kernelWidth` values.
    public var filters: [[Float]]
    /// Per filter, the non-zero weights.
    public var surviving: [Int]
    /// Per filter, whether every weight (and so the filter) is cut.
    public var removed: [Bool]

    /// Reads `model`'s first `Conv2D` (in node order), or nil when it has none.
    public init?(_ model: Graph) { return nil }   // TODO(insight helper)
}
