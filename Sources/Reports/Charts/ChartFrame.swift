/// Sizes every chart shares, in CSS pixels.
enum ChartMetrics {
    /// The visible title's size (bold), and its baseline.
    static let titleSize = 15.0, titleBaseline = 21.0
    /// Axis labels and legend entries.
    static let labelSize = 12.0
    /// Tick labels and captions: the smallest text (readable at 600 × 360 in a 1280-wide page).
    static let tickSize = 11.0
    /// The top of the legend, under the title.
    static let legendTop = 32.0
    /// Padding at the chart's edges.
    static let edge = 10.0
    /// Tick marks' length, and the gap from a tick to its label.
    static let tickLength = 5.0, tickGap = 3.0
    /// Colours of the frame: text and axes, grid lines, the plot's background.
    static let ink = "#222222", grid = "#E3E3E3", paper = "#FFFFFF"
}

/// Opens a chart's `<svg>` root: the title for screen readers and hover (its first child), a
/// white background and the visible title. Close it with `SVGWriter.close()`.
func beginChart(id: String, title: String, width: Int, height: Int) -> SVGWriter {
    var svg = SVGWriter()
    svg.open("svg", [
        "xmlns": "http://www.w3.org/2000/svg", "id": id, "class": "chart", "role": "img", "aria-labelledby": "\(id)-title",
        "viewBox": "0 0 \(width) \(height)", "width": "\(width)", "height": "\(height)",
        "font-family": "system-ui,sans-serif", "font-size": svgNumber(ChartMetrics.labelSize), "fill": ChartMetrics.ink,
    ])
    svg.element("title", ["id": "\(id)-title"], text: title)
    svg.element("rect", ["class": "chart-background", "width": "\(width)", "height": "\(height)", "fill": ChartMetrics.paper])
    svg.element("text", ["class": "chart-title", "x": svgNumber(ChartMetrics.edge), "y": svgNumber(ChartMetrics.titleBaseline),
                         "font-size": svgNumber(ChartMetrics.titleSize), "font-weight": "600"], text: title)
    return svg
}

/// The rectangle data is drawn in, in pixels from the chart's top left corner.
struct PlotArea {
    var left: Double, top: Double, right: Double, bottom: Double
    var width: Double { right - left }
    var height: Double { bottom - top }

    /// The plot area of a `width × height` chart: room above for the title and a legend of
    /// `legendHeight`, at the left (and right, for a second y axis) for tick labels and a
    /// rotated axis label, and below for tick labels, the x axis label and `belowTicks` more
    /// (long category names).
    init(width: Int, height: Int, legendHeight: Double, leftLabels: [String], rightLabels: [String]?, belowTicks: Double = 0) {
        func side(_ labels: [String]) -> Double {
            let widest = labels.map { estimatedWidth($0, fontSize: ChartMetrics.tickSize) }.max() ?? 0
            return ChartMetrics.edge + ChartMetrics.labelSize + 8 + widest + ChartMetrics.tickLength + ChartMetrics.tickGap
        }
        left = side(leftLabels)
        right = Double(width) - (rightLabels.map(side) ?? 24)
        top = ChartMetrics.legendTop + legendHeight + (legendHeight > 0 ? 10 : 4)
        let below = ChartMetrics.tickLength + ChartMetrics.tickGap + ChartMetrics.tickSize + belowTicks + 10 + ChartMetrics.labelSize
        bottom = Double(height) - below - ChartMetrics.edge
        // A chart too small for its labels still gets a plot of at least 20 × 20 pixels.
        if right - left < 20 { right = left + 20 }
        if bottom - top < 20 { bottom = top + 20 }
    }

    /// Writes the plot's background with an outline, and a clip path (`clipID`) that keeps
    /// series inside it.
    func draw(into svg: inout SVGWriter, clipID: String) {
        svg.open("clipPath", ["id": clipID])
        svg.element("rect", ["x": svgNumber(left), "y": svgNumber(top), "width": svgNumber(width), "height": svgNumber(height)])
        svg.close()
        svg.element("rect", ["class": "plot-area", "x": svgNumber(left), "y": svgNumber(top), "width": svgNumber(width),
                             "height": svgNumber(height), "fill": ChartMetrics.paper, "stroke": "#BBBBBB"])
    }
}
