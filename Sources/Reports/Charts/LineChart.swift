/// Series of points against two axes (accuracy against sparsity, sparsity over steps),
/// with an optional secondary y axis on the right and reference lines.
public struct LineChart: Chart {
    /// The element's id, unique within a page.
    public var id: String
    /// The visible title.
    public var title: String
    /// The horizontal axis.
    public var x: Axis
    /// The left-hand vertical axis.
    public var y: Axis
    /// The right-hand axis for series with `secondaryAxis`.
    public var y2: Axis?
    /// The series, drawn in order (later ones on top).
    public var series: [Series]
    /// Labelled lines across or up the plot.
    public var references: [ReferenceLine]
    /// The size in CSS pixels (the SVG scales with its container).
    public var width: Int, height: Int

    /// Creates a line chart.
    public init(id: String, title: String, x: Axis, y: Axis, y2: Axis? = nil, series: [Series],
                references: [ReferenceLine] = [], width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.x = x; self.y = y; self.y2 = y2; self.series = series
        self.references = references; self.width = width; self.height = height
    }

    /// The chart as a self-contained `<svg>` element: series as lines, steps or markers (each
    /// with its own dash or marker shape), a second y axis on the right when a series uses it,
    /// labelled reference lines, and a hover text on every point. Points that cannot be drawn
    /// (not finite, or ≤ 0 on a log axis) are left out and break the line.
    public func svg() -> String {
        let onRight = series.map { $0.secondaryAxis && y2 != nil }
        let finite = { (values: [Double]) in values.filter(\.isFinite) }
        let horizontal = references.filter { $0.orientation == .horizontal }.map(\.value)
        let vertical = references.filter { $0.orientation == .vertical }.map(\.value)
        var xAxis = PlotAxis(x, data: finite(series.flatMap { $0.points.map(\.x) } + vertical))
        var yAxis = PlotAxis(y, data: finite(zip(series, onRight).filter { !$1 }.flatMap { $0.0.points.map(\.y) } + horizontal))
        var y2Axis = y2.map { PlotAxis($0, data: finite(zip(series, onRight).filter { $1 }.flatMap { $0.0.points.map(\.y) })) }

        let marks = series.indices.map { SeriesMark(style: series[$0].style, index: $0, color: series[$0].color) }
        let legend = Legend(zip(series, onRight).enumerated().map { i, pair in
            Legend.Entry(name: pair.0.name + (pair.1 ? " (right axis)" : ""), swatch: .line(marks[i]))
        } + references.map { Legend.Entry(name: $0.label, swatch: .line(SeriesMark(reference: $0.color))) }, width: width)
        let plot = PlotArea(width: width, height: height, legendHeight: legend.height, leftLabels: yAxis.labels,
                            rightLabels: y2Axis?.labels)
        (xAxis.start, xAxis.end) = (plot.left, plot.right)
        (yAxis.start, yAxis.end) = (plot.bottom, plot.top)
        y2Axis?.start = plot.bottom; y2Axis?.end = plot.top

        var svg = beginChart(id: id, title: title, width: width, height: height)
        legend.draw(into: &svg)
        plot.draw(into: &svg, clipID: "\(id)-clip")
        svg.drawXAxis(xAxis, plot: plot, chartHeight: height)
        svg.drawYAxis(yAxis, plot: plot, side: .left, chartWidth: width, grid: true)
        if let y2Axis { svg.drawYAxis(y2Axis, plot: plot, side: .right, chartWidth: width, grid: false) }
        for (row, reference) in references.filter({ $0.orientation == .vertical }).enumerated() {
            svg.drawReference(reference, along: xAxis, plot: plot, row: row % 3)
        }
        for reference in references where reference.orientation == .horizontal { svg.drawReference(reference, along: yAxis, plot: plot) }
        for (i, one) in series.enumerated() {
            let along = onRight[i] ? y2Axis ?? yAxis : yAxis
            svg.drawSeries(one, mark: marks[i], x: xAxis, y: along, plot: plot, clipID: "\(id)-clip")
        }
        svg.close()
        return svg.finished
    }
}
