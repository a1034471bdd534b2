import Foundation

/// The names under a bar chart's groups: side by side when they fit their slots, else turned
/// 40° and shortened (with the full name on hover), with the height they take below the ticks.
struct CategoryLabels {
    private static let angle = 40.0 * Double.pi / 180
    private static let longest = 18
    let categories: [String]
    /// Whether the names are turned.
    let turned: Bool
    /// The names as drawn, shortened where needed.
    let shown: [String]
    /// The height turned names need beyond one line of tick labels.
    let extraHeight: Double

    /// Lays out `categories` under `plot` (its width is all that matters).
    init(_ categories: [String], plot: PlotArea) {
        self.categories = categories
        let slot = plot.width / Double(max(1, categories.count))
        let widest = categories.map { estimatedWidth($0, fontSize: ChartMetrics.tickSize) }.max() ?? 0
        turned = widest > slot - 4
        guard turned else { shown = categories; extraHeight = 0; return }
        let charWidth = estimatedWidth("x", fontSize: ChartMetrics.tickSize)
        // A turned name runs down to the left of its group; the first ones must not leave the chart.
        shown = categories.enumerated().map { i, name in
            let room = (plot.left + slot * (Double(i) + 0.5) - ChartMetrics.edge) / (charWidth * cos(Self.angle))
            return truncated(name, to: max(3, min(Self.longest, Int(room))))
        }
        let drawnWidest = shown.map { estimatedWidth($0, fontSize: ChartMetrics.tickSize) }.max() ?? 0
        extraHeight = drawnWidest * sin(Self.angle)
    }

    /// Writes the names (class `category-label`) under `plot`'s groups.
    func draw(into svg: inout SVGWriter, plot: PlotArea) {
        let slot = plot.width / Double(max(1, categories.count))
        let y = plot.bottom + ChartMetrics.tickLength + ChartMetrics.tickGap + ChartMetrics.tickSize * (turned ? 0.5 : 1)
        svg.open("g", ["class": "axis x-axis"])
        for (i, name) in categories.enumerated() {
            let x = plot.left + slot * (Double(i) + 0.5)
            let full = shown[i] == name ? nil : name
            if turned {
                svg.element("text", ["class": "tick-label category-label", "x": svgNumber(x), "y": svgNumber(y), "text-anchor": "end",
                                     "font-size": svgNumber(ChartMetrics.tickSize),
                                     "transform": "rotate(-40 \(svgNumber(x)) \(svgNumber(y)))"], text: shown[i], hover: full)
            } else {
                svg.element("text", ["class": "tick-label category-label", "x": svgNumber(x), "y": svgNumber(y), "text-anchor": "middle",
                                     "font-size": svgNumber(ChartMetrics.tickSize)], text: shown[i], hover: full)
            }
        }
        svg.close()
    }
}
