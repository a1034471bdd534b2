/// Counts over bins (weight magnitudes before and after pruning), usually with a log count
/// axis, drawn as outlined steps so overlaid series stay visible, with marker lines (the threshold).
public struct HistogramChart: Chart {
    /// One count per bin.
    public struct HistogramSeries: Sendable {
        /// The series' name, in the legend and hover texts.
        public var name: String
        /// One count per bin.
        public var counts: [Int]
        /// A palette index; nil: the series' position.
        public var color: Int?
        /// Creates a series of counts.
        public init(_ name: String, counts: [Int], color: Int? = nil) { self.name = name; self.counts = counts; self.color = color }
    }
    /// The element's id, unique within a page.
    public var id: String
    /// The visible title.
    public var title: String
    /// `bins + 1` increasing bin edges, shared by every series.
    public var edges: [Double]
    /// The overlaid histograms.
    public var series: [HistogramSeries]
    /// The value axis (may be log: bins of magnitudes spanning decades).
    public var x: Axis
    /// The count axis (log by default: a pruned histogram's tail is tiny beside its peak).
    public var y: Axis
    /// Vertical lines at values (the threshold).
    public var markers: [ReferenceLine]
    /// The size in CSS pixels.
    public var width: Int, height: Int

    /// Creates a histogram.
    public init(id: String, title: String, edges: [Double], series: [HistogramSeries], x: Axis,
                y: Axis = Axis("weights", scale: .log, format: .count), markers: [ReferenceLine] = [],
                width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.edges = edges; self.series = series; self.x = x; self.y = y
        self.markers = markers; self.width = width; self.height = height
    }

    /// The chart as a self-contained `<svg>` element: each series an outlined step over the bins
    /// (its own dash, a faint fill), markers as labelled vertical lines, and on hover every
    /// series' count in a bin. On a log count axis empty bins sit on the floor; on a log value
    /// axis an edge ≤ 0 sits at the axis' left end.
    public func svg() -> String {
        let bins = max(0, edges.count - 1)
        let counts = series.map { Array($0.counts.prefix(bins)) }
        var xAxis = PlotAxis(x, data: edges + markers.map(\.value))
        var yAxis = PlotAxis(y, data: counts.flatMap { $0.map(Double.init) } + (y.scale == .linear ? [0] : []), logFloorBelowData: true)
        let marks = series.indices.map { SeriesMark(style: .line, index: $0, color: series[$0].color) }
        let legend = Legend(series.indices.map {
            Legend.Entry(name: series[$0].name, swatch: .box(fill: "none", stroke: marks[$0].color, dash: marks[$0].dash))
        } + markers.map { Legend.Entry(name: $0.label, swatch: .line(SeriesMark(reference: $0.color))) }, width: width)
        let plot = PlotArea(width: width, height: height, legendHeight: legend.height, leftLabels: yAxis.labels, rightLabels: nil)
        (xAxis.start, xAxis.end) = (plot.left, plot.right)
        (yAxis.start, yAxis.end) = (plot.bottom, plot.top)
        let left = edges.map(xAxis.clampedPosition), base = yAxis.baseline

        var svg = beginChart(id: id, title: title, width: width, height: height)
        legend.draw(into: &svg)
        plot.draw(into: &svg, clipID: "\(id)-clip")
        svg.drawXAxis(xAxis, plot: plot, chartHeight: height)
        svg.drawYAxis(yAxis, plot: plot, side: .left, chartWidth: width, grid: true)
        svg.open("g", ["class": "bins", "clip-path": "url(#\(id)-clip)"])
        for (j, binCounts) in counts.enumerated() where !binCounts.isEmpty {
            var d = "M\(svgNumber(left[0])) \(svgNumber(base))"
            for (i, count) in binCounts.enumerated() {
                d += "V\(svgNumber(yAxis.clampedPosition(Double(count))))H\(svgNumber(left[i + 1]))"
            }
            d += "V\(svgNumber(base))Z"
            svg.element("path", ["class": "histogram", "data-name": series[j].name, "d": d, "fill": marks[j].color,
                                 "fill-opacity": "0.12", "stroke": marks[j].color, "stroke-width": "1.8",
                                 "stroke-dasharray": marks[j].dash ?? "none"])
        }
        // One transparent target per bin, on top, tells every series' count there.
        for i in 0..<bins where left[i + 1] > left[i] {
            let range = "\(x.format.valueLabel(edges[i]))–\(x.format.valueLabel(edges[i + 1]))"
            let values = series.indices.map { "\(series[$0].name) \(i < counts[$0].count ? String(counts[$0][i]) : "–")" }
            svg.element("rect", ["class": "bin", "x": svgNumber(left[i]), "y": svgNumber(plot.top), "width": svgNumber(left[i + 1] - left[i]),
                                 "height": svgNumber(plot.height), "fill": ChartMetrics.paper, "fill-opacity": "0"],
                        hover: "\(range): " + values.joined(separator: ", "))
        }
        svg.close()
        for (row, marker) in markers.enumerated() {
            svg.drawReference(ReferenceLine(marker.label, at: marker.value, .vertical, color: marker.color), along: xAxis, plot: plot, row: row)
        }
        svg.close()
        return svg.finished
    }
}
