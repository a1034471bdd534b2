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
    /// How values become colours.
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
    /// The element's id, unique within a page.
    public var id: String
    /// The visible title.
    public var title: String
    /// The images, row by row.
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

    /// The grid as a self-contained `<svg>` element: each tile a PNG embedded as a data URL,
    /// drawn with sharp pixels (its longer side `tileSize`), its caption under it (shortened to
    /// the tile's width, in full on hover), and under the grid the colour bar with its range
    /// and label when `scale` is set. The element's size follows from the tiles.
    public func svg() -> String {
        let layout = ImageGridLayout(self)
        var svg = beginChart(id: id, title: title, width: layout.width, height: layout.height)
        for (k, tile) in tiles.enumerated() {
            let (x, y) = layout.origin(ofTile: k)
            let side = Double(tileSize) / Double(max(1, tile.width, tile.height))
            svg.open("g", ["class": "tile"])
            if tile.width > 0 && tile.height > 0 {
                svg.element("image", ["x": svgNumber(x), "y": svgNumber(y), "width": svgNumber(Double(tile.width) * side),
                                      "height": svgNumber(Double(tile.height) * side), "preserveAspectRatio": "none",
                                      "style": "image-rendering:pixelated", "href": dataURL(tile.png())], hover: tile.caption)
            }
            let caption = truncated(tile.caption, to: layout.captionLength)
            svg.element("text", ["class": "caption", "x": svgNumber(x + Double(tileSize) / 2),
                                 "y": svgNumber(y + Double(tileSize) + ImageGridLayout.captionGap + ChartMetrics.tickSize),
                                 "text-anchor": "middle", "font-size": svgNumber(ChartMetrics.tickSize)],
                        text: caption, hover: caption == tile.caption ? nil : tile.caption)
            svg.close()
        }
        if tiles.isEmpty {
            svg.element("text", ["class": "caption", "x": svgNumber(ChartMetrics.edge), "y": svgNumber(layout.top + ChartMetrics.labelSize)],
                        text: "(no images)")
        }
        if let scale { svg.drawColorBar(scale, at: layout.colorBarOrigin) }
        svg.close()
        return svg.finished
    }
}
