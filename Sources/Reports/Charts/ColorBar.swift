import Foundation

/// The key to an image grid's colours: a strip of the colormap over its range, with the
/// range's ends (and, for a diverging map, its middle) labelled under it and the label beside it.
enum ColorBar {
    /// The strip's size, and the height the whole bar takes with its labels.
    static let width = 160.0, stripHeight = 12.0, height = 40.0
}

extension SVGWriter {
    /// Writes the colour bar (class `color-bar`) of `scale` with its top left corner at `origin`.
    mutating func drawColorBar(_ scale: (colormap: Raster.Colormap, range: ClosedRange<Float>, label: String),
                               at origin: (x: Double, y: Double)) {
        let (low, high) = (Double(scale.range.lowerBound), Double(scale.range.upperBound))
        let steps = 128
        let ramp = Raster(width: steps, height: 1, values: (0..<steps).map { Float(low + (high - low) * Double($0) / Double(steps - 1)) },
                          colormap: scale.colormap, range: scale.range, caption: scale.label)
        open("g", ["class": "color-bar"])
        element("image", ["x": svgNumber(origin.x), "y": svgNumber(origin.y), "width": svgNumber(ColorBar.width),
                          "height": svgNumber(ColorBar.stripHeight), "preserveAspectRatio": "none", "href": dataURL(ramp.png())])
        element("rect", ["x": svgNumber(origin.x), "y": svgNumber(origin.y), "width": svgNumber(ColorBar.width),
                         "height": svgNumber(ColorBar.stripHeight), "fill": "none", "stroke": "#888888"])
        let labelY = origin.y + ColorBar.stripHeight + 4 + ChartMetrics.tickSize
        var ticks = [(low, origin.x, "start"), (high, origin.x + ColorBar.width, "end")]
        if scale.colormap == .diverging { ticks.insert(((low + high) / 2, origin.x + ColorBar.width / 2, "middle"), at: 1) }
        for (value, x, anchor) in ticks {
            element("text", ["class": "tick-label", "x": svgNumber(x), "y": svgNumber(labelY), "text-anchor": anchor,
                             "font-size": svgNumber(ChartMetrics.tickSize)], text: Axis.Format.number.valueLabel(value))
        }
        element("text", ["class": "axis-label", "x": svgNumber(origin.x + ColorBar.width + 10),
                         "y": svgNumber(origin.y + ColorBar.stripHeight - 1)], text: scale.label)
        close()
    }
}

/// `png` as a `data:` URL for an `<image>`'s `href`.
func dataURL(_ png: [UInt8]) -> String {
    "data:image/png;base64," + Data(png).base64EncodedString()
}
