import NeuralNetwork

/// The first convolution's filters as images: each filter's weights averaged over its input
/// channels (pruned entries are zeros), with how many weights survive and whether the
/// whole filter was removed.
public struct FirstLayerFilters: Codable, Equatable, Sendable {
    /// The convolution's name.
    public var layer: String
    /// The kernel's size and input channels (per group: the weight's second dimension, as
    /// stored, `[out, in/groups, kh, kw]`).
    public var kernelHeight: Int, kernelWidth: Int, inputChannels: Int
    /// Per filter, `kernelHeight × kernelWidth` values.
    public var filters: [[Float]]
    /// Per filter, the non-zero weights.
    public var surviving: [Int]
    /// Per filter, whether every weight (and so the filter) is cut.
    public var removed: [Bool]

    /// Reads `model`'s first `Conv2D` (in node order; an inference-only `SparseConv2D` counts
    /// as the convolution it stores), or nil when it has none.
    /// - Complexity: O(weights of the layer).
    public init?(_ model: Graph) {
        guard let conv = model.nodes.lazy.compactMap({ convolutionLayer($0.module) }).first else { return nil }
        let weight = conv.weight.value   // [out, in/groups, kh, kw]
        guard weight.rank == 4, let kernel = ImageShape(Array(weight.shape.dropFirst())) else { return nil }
        let units = weight.shape[0]
        layer = conv.name
        (inputChannels, kernelHeight, kernelWidth) = (kernel.channels, kernel.height, kernel.width)
        filters = (0..<units).map { kernel.channelMean(of: weight.scalars, at: $0 * kernel.count) }
        surviving = nonZerosPerUnit(weight.scalars, units: units)
        removed = surviving.map { $0 == 0 }
    }
}
