/// Which side of the plot a y axis stands on.
enum AxisSide { case left, right }

extension SVGWriter {
    /// Draws an x axis under `plot`: grid lines up the plot, tick marks, tick labels and the
    /// axis label (class `axis-label`) at the bottom of a chart `chartHeight` tall.
    mutating func drawXAxis(_ axis: PlotAxis, plot: PlotArea, chartHeight: Int) {
        let xs = axis.ticks.values.compactMap(axis.position)
        let labelY = plot.bottom + ChartMetrics.tickLength + ChartMetrics.tickGap + ChartMetrics.tickSize
        open("g", ["class": "axis x-axis"])
        element("path", ["class": "grid", "stroke": ChartMetrics.grid, "fill": "none",
                         "d": xs.map { "M\(svgNumber($0)) \(svgNumber(plot.top))V\(svgNumber(plot.bottom))" }.joined()])
        element("path", ["class": "tick", "stroke": ChartMetrics.ink, "fill": "none",
                         "d": xs.map { "M\(svgNumber($0)) \(svgNumber(plot.bottom))v\(svgNumber(ChartMetrics.tickLength))" }.joined()])
        for (x, label) in zip(xs, axis.labels) {
            element("text", ["class": "tick-label", "x": svgNumber(x), "y": svgNumber(labelY), "text-anchor": "middle",
                             "font-size": svgNumber(ChartMetrics.tickSize)], text: label)
        }
        close()
        drawXAxisLabel(axis.axis.label, plot: plot, chartHeight: chartHeight)
    }

    /// Writes the x axis label centred under `plot`, at the bottom of a chart `chartHeight` tall.
    mutating func drawXAxisLabel(_ label: String, plot: PlotArea, chartHeight: Int) {
        let y = Double(chartHeight) - ChartMetrics.edge
        element("text", ["class": "axis-label", "x": svgNumber((plot.left + plot.right) / 2), "y": svgNumber(y),
                         "text-anchor": "middle"], text: label)
    }

    /// Draws a y axis at the `side` of `plot` in a chart `chartWidth` wide: tick marks, tick
    /// labels, the axis label turned along the axis, and (with `grid`) grid lines across the plot.
    mutating func drawYAxis(_ axis: PlotAxis, plot: PlotArea, side: AxisSide, chartWidth: Int, grid: Bool) {
        let ys = axis.ticks.values.compactMap(axis.position)
        let edgeX = side == .left ? plot.left : plot.right
        let outward = side == .left ? -1.0 : 1.0
        open("g", ["class": side == .left ? "axis y-axis" : "axis y2-axis"])
        if grid {
            element("path", ["class": "grid", "stroke": ChartMetrics.grid, "fill": "none",
                             "d": ys.map { "M\(svgNumber(plot.left)) \(svgNumber($0))H\(svgNumber(plot.right))" }.joined()])
        }
        element("path", ["class": "tick", "stroke": ChartMetrics.ink, "fill": "none",
                         "d": ys.map { "M\(svgNumber(edgeX)) \(svgNumber($0))h\(svgNumber(outward * ChartMetrics.tickLength))" }.joined()])
        let labelX = edgeX + outward * (ChartMetrics.tickLength + ChartMetrics.tickGap)
        for (y, label) in zip(ys, axis.labels) {
            element("text", ["class": "tick-label", "x": svgNumber(labelX), "y": svgNumber(y + ChartMetrics.tickSize * 0.35),
                             "text-anchor": side == .left ? "end" : "start", "font-size": svgNumber(ChartMetrics.tickSize)],
                    text: label)
        }
        close()
        let x = side == .left ? ChartMetrics.edge + ChartMetrics.labelSize : Double(chartWidth) - ChartMetrics.edge - ChartMetrics.labelSize
        let middle = (plot.top + plot.bottom) / 2
        element("text", ["class": "axis-label", "x": svgNumber(x), "y": svgNumber(middle), "text-anchor": "middle",
                         "transform": "rotate(\(side == .left ? -90 : 90) \(svgNumber(x)) \(svgNumber(middle)))"],
                text: axis.axis.label)
    }
}
