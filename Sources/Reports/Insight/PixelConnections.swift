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
    ///
    /// The layer's input columns are the image flattened row-major, so column
    /// `c·H·W + y·W + x` is pixel `(y, x)` of channel `c`. The path from the input may pass
    /// `Flatten` and `Dropout` layers (neither mixes pixels), and each node on it must be the
    /// only reader of the one before; an inference-only `SparseDense` counts as dense.
    /// - Complexity: O(weights of the layer) plus O(nodes²) to follow the path.
    public init?(_ model: Graph) {
        guard let image = ImageShape(model.inputShape), let found = Self.firstDense(of: model) else { return nil }
        let weight = found.weight.value   // [out, C·H·W]
        guard weight.shape == [found.outFeatures, image.count] else { return nil }
        var counts = [Int](repeating: 0, count: image.pixels)
        let values = weight.scalars
        for o in 0..<found.outFeatures {
            for c in 0..<image.channels {
                let row = o * image.count + c * image.pixels
                for p in 0..<image.pixels where values[row + p] != 0 { counts[p] += 1 }
            }
        }
        layer = found.name
        (channels, height, width) = (image.channels, image.height, image.width)
        surviving = counts
        possible = found.outFeatures * image.channels
        deadPixels = counts.filter { $0 == 0 }.count
    }

    /// The dense layer reached from the graph input through a chain of `Flatten` and
    /// `Dropout` nodes, each the only reader of what it reads.
    private static func firstDense(of model: Graph) -> Dense? {
        var current = -1   // the graph input
        while true {
            let readers = model.nodes.indices.filter { model.nodes[$0].inputs.contains { $0.index == current } }
            guard readers.count == 1, model.nodes[readers[0]].inputs.count == 1 else { return nil }
            let module = model.nodes[readers[0]].module
            if let dense = denseLayer(module) { return dense }
            guard module is Flatten || module is Dropout else { return nil }
            current = readers[0]
        }
    }
}
