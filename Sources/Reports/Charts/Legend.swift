/// The key under a chart's title: one entry per series (and reference line), laid out in rows
/// that wrap at the chart's width.
struct Legend {
    /// What an entry shows before its name.
    enum Swatch {
        /// A short line in the series' look (dash and marker).
        case line(SeriesMark)
        /// A small box filled with `fill` (a colour or a pattern) and outlined in `stroke`.
        case box(fill: String, stroke: String, dash: String?)
    }
    /// One entry: a swatch and a name.
    struct Entry {
        var name: String
        var swatch: Swatch
    }

    private static let swatchWidth = 28.0, gap = 6.0, spacing = 18.0, rowHeight = 18.0

    let entries: [Entry]
    /// The left end and baseline of each entry.
    private var places: [(x: Double, y: Double)] = []
    /// The height the rows take (0 without a legend).
    private(set) var height = 0.0

    /// Lays out `entries` in a chart `width` wide; fewer than `minimum` entries make no legend.
    init(_ entries: [Entry], width: Int, minimum: Int = 2) {
        self.entries = entries.count >= minimum ? entries : []
        var x = ChartMetrics.edge, row = 0
        for entry in self.entries {
            let entryWidth = Self.swatchWidth + Self.gap + estimatedWidth(entry.name, fontSize: ChartMetrics.labelSize)
            if x > ChartMetrics.edge && x + entryWidth > Double(width) - ChartMetrics.edge { x = ChartMetrics.edge; row += 1 }
            places.append((x, ChartMetrics.legendTop + ChartMetrics.labelSize + Double(row) * Self.rowHeight))
            x += entryWidth + Self.spacing
        }
        height = self.entries.isEmpty ? 0 : Double(row + 1) * Self.rowHeight
    }

    /// Writes the legend (class `legend`), if it has entries.
    func draw(into svg: inout SVGWriter) {
        guard !entries.isEmpty else { return }
        svg.open("g", ["class": "legend"])
        for (entry, place) in zip(entries, places) {
            svg.open("g", ["class": "legend-entry"])
            let middle = place.y - ChartMetrics.labelSize * 0.35
            switch entry.swatch {
            case .line(let mark):
                svg.element("path", ["d": "M\(svgNumber(place.x)) \(svgNumber(middle))h\(svgNumber(Self.swatchWidth))", "fill": "none",
                                     "stroke": mark.color, "stroke-width": "2", "stroke-dasharray": mark.dash ?? "none"])
                mark.marker?.draw(into: &svg, x: place.x + Self.swatchWidth / 2, y: middle, color: mark.color)
            case .box(let fill, let stroke, let dash):
                svg.element("rect", ["x": svgNumber(place.x + 4), "y": svgNumber(middle - 6), "width": svgNumber(Self.swatchWidth - 8),
                                     "height": "12", "fill": fill, "stroke": stroke, "stroke-width": "1.5",
                                     "stroke-dasharray": dash ?? "none"])
            }
            svg.element("text", ["x": svgNumber(place.x + Self.swatchWidth + Self.gap), "y": svgNumber(place.y)], text: entry.name)
            svg.close()
        }
        svg.close()
    }
}
