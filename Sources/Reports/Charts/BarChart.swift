/// Grouped bars: one group per category (a layer), one bar per series (before, after).
public struct BarChart: Chart {
    /// One bar per category.
    public struct BarSeries: Sendable {
        /// The series' name, in the legend and hover texts.
        public var name: String
        /// One value per category, in the categories' order.
        public var values: [Double]
        /// A palette index; nil: the series' position.
        public var color: Int?
        /// Creates a series of bars.
        public init(_ name: String, values: [Double], color: Int? = nil) { self.name = name; self.values = values; self.color = color }
    }
    /// The element's id, unique within a page.
    public var id: String
    /// The visible title.
    public var title: String
    /// The group labels, along the x axis.
    public var categories: [String]
    /// The x axis' label (what a category is: `"layer"`).
    public var categoryLabel: String
    /// The bars of each category, one series after another.
    public var series: [BarSeries]
    /// The value axis (log for parameter or FLOP counts that span decades).
    public var y: Axis
    /// The size in CSS pixels.
    public var width: Int, height: Int

    /// Creates a bar chart.
    public init(id: String, title: String, categories: [String], categoryLabel: String, series: [BarSeries], y: Axis,
                width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.categories = categories; self.categoryLabel = categoryLabel
        self.series = series; self.y = y; self.width = width; self.height = height
    }

    /// The chart as a self-contained `<svg>` element: one group of bars per category, one bar
    /// per series (the second and later hatched, so series differ in grayscale too), category
    /// names under the axis (turned when they do not fit side by side), the value of each bar
    /// on hover. On a log axis bars grow from the axis' floor and values ≤ 0 draw no bar.
    public func svg() -> String {
        var yAxis = PlotAxis(y, data: series.flatMap(\.values).filter(\.isFinite) + (y.scale == .linear ? [0] : []),
                             logFloorBelowData: true)
        let fills = series.indices.map { j in j == 0 ? Palette.color(series[j].color ?? j) : "url(#\(id)-hatch-\(j))" }
        let legend = Legend(series.indices.map { j in
            Legend.Entry(name: series[j].name, swatch: .box(fill: fills[j], stroke: Palette.color(series[j].color ?? j), dash: nil))
        }, width: width)
        var plot = PlotArea(width: width, height: height, legendHeight: legend.height, leftLabels: yAxis.labels, rightLabels: nil)
        let names = CategoryLabels(categories, plot: plot)
        plot = PlotArea(width: width, height: height, legendHeight: legend.height, leftLabels: yAxis.labels, rightLabels: nil,
                        belowTicks: names.extraHeight)
        (yAxis.start, yAxis.end) = (plot.bottom, plot.top)

        var svg = beginChart(id: id, title: title, width: width, height: height)
        svg.open("defs")
        for j in series.indices.dropFirst() { svg.hatch(id: "\(id)-hatch-\(j)", color: Palette.color(series[j].color ?? j), variant: j - 1) }
        svg.close()
        legend.draw(into: &svg)
        plot.draw(into: &svg, clipID: "\(id)-clip")
        svg.drawYAxis(yAxis, plot: plot, side: .left, chartWidth: width, grid: true)
        names.draw(into: &svg, plot: plot)
        svg.drawXAxisLabel(categoryLabel, plot: plot, chartHeight: height)

        let slot = plot.width / Double(max(1, categories.count))
        let barWidth = slot * 0.8 / Double(max(1, series.count))
        let base = yAxis.baseline
        svg.open("g", ["class": "bars", "clip-path": "url(#\(id)-clip)"])
        for (j, one) in series.enumerated() {
            svg.open("g", ["class": "series", "data-name": one.name])
            for (i, value) in one.values.prefix(categories.count).enumerated() {
                guard value.isFinite, y.scale == .linear || value > 0 else { continue }
                let top = yAxis.clampedPosition(value)
                svg.element("rect", ["class": "bar", "x": svgNumber(plot.left + slot * (Double(i) + 0.1) + barWidth * Double(j)),
                                     "y": svgNumber(min(top, base)), "width": svgNumber(barWidth), "height": svgNumber(abs(base - top)),
                                     "fill": fills[j], "stroke": Palette.color(one.color ?? j), "stroke-width": "1"],
                            hover: "\(one.name), \(categories[i]): \(y.format.valueLabel(value))")
            }
            svg.close()
        }
        svg.close()
        svg.element("path", ["class": "baseline", "d": "M\(svgNumber(plot.left)) \(svgNumber(base))H\(svgNumber(plot.right))",
                             "stroke": ChartMetrics.ink, "fill": "none"])
        svg.close()
        return svg.finished
    }
}
