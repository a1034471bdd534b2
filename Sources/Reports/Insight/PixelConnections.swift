import NeuralNetwork

/// What a network with a dense first layer still looks at: per input pixel, how many of the
/// first dense layer's connections survive pruning (non-zero weights), summed over the
/// input channels and the layer's outputs.
public struct PixelConnections: Codable, Equatable, Sendable {
    /// The dense layer's name.
    public var layer: String
    /// The input image's shape.
    public var channels: Int, height: Int, width: Int
    /// Surviving connections per pixel, row by row (`height × width` counts).
    public var surviving: [Int]
    /// Connections per pixel in the dense model: outputs × channels.
    public var possible: Int
    /// Pixels with no surviving connection: the pruned network ignores them.
    public var deadPixels: Int

    /// Reads `model`'s first dense layer, or nil when the model does not start with one on an
    /// image (input `[C, H, W]` or `[H, W]`, reaching the layer through flattening only).
    public init?(_ model: Graph) { return nil }   // TODO(insight helper)
}
