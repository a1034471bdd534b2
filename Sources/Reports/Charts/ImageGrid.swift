/// A small image of values (a class's mean input, a saliency map, a filter), coloured by a map.
public struct Raster: Sendable {
    /// How values become colours.
    public enum Colormap: Sendable {
        /// Black (low) to white (high): inputs.
        case grayscale
        /// A sequential, colour-blind-safe map, light (low) to dark (high): counts, saliency.
        case sequential
        /// Blue (negative) through white (zero) to orange (positive), symmetric about zero: weights.
        case diverging
    }
    /// The size in pixels.
    public var width: Int, height: Int
    /// `height × width` values, row by row.
    public var values: [Float]
    public var colormap: Colormap
    /// The values mapped to the ends of the colormap; nil: the values' own range (for
    /// `.diverging`, ±the largest magnitude).
    public var range: ClosedRange<Float>?
    /// The caption under the image.
    public var caption: String

    /// Creates a raster.
    public init(width: Int, height: Int, values: [Float], colormap: Colormap, range: ClosedRange<Float>? = nil, caption: String) {
        precondition(values.count == width * height, "a \(width)×\(height) raster needs \(width * height) values, got \(values.count)")
        self.width = width; self.height = height; self.values = values; self.colormap = colormap
        self.range = range; self.caption = caption
    }
}

/// Rasters in rows under one title (each an embedded PNG drawn with sharp pixels, with its
/// caption), with a colour scale when the rasters share one.
public struct ImageGrid: Chart {
    public var id: String
    public var title: String
    public var tiles: [Raster]
    /// Tiles per row.
    public var columns: Int
    /// The side of one tile in CSS pixels.
    public var tileSize: Int
    /// A colour-scale legend (the colormap, its range and what the values are), when set.
    public var scale: (colormap: Raster.Colormap, range: ClosedRange<Float>, label: String)?

    /// Creates a grid.
    public init(id: String, title: String, tiles: [Raster], columns: Int, tileSize: Int = 84,
                scale: (colormap: Raster.Colormap, range: ClosedRange<Float>, label: String)? = nil) {
        self.id = id; self.title = title; self.tiles = tiles; self.columns = max(1, columns); self.tileSize = tileSize; self.scale = scale
    }

    public func svg() -> String { "" }   // TODO(charts helper)
}
