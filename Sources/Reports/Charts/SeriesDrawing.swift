extension SVGWriter {
    /// Draws `series` in `plot` as its `mark` says: the line (clipped to the plot through
    /// `clipID`) broken where a point cannot be drawn, then a marker (or, for plain lines, an
    /// invisible target) with a hover text on every point inside the plot.
    mutating func drawSeries(_ series: Series, mark: SeriesMark, x: PlotAxis, y: PlotAxis, plot: PlotArea, clipID: String) {
        let pixels = series.points.map { point -> (x: Double, y: Double)? in
            guard let px = x.position(point.x), let py = y.position(point.y) else { return nil }
            return (px, py)
        }
        open("g", ["class": "series", "data-name": series.name])
        if mark.line {
            var d = "", previous: (x: Double, y: Double)?
            for pixel in pixels {
                guard let p = pixel else { previous = nil; continue }
                if previous == nil {
                    d += "M\(svgNumber(p.x)) \(svgNumber(p.y))"
                } else if series.style == .step {
                    d += "H\(svgNumber(p.x))V\(svgNumber(p.y))"
                } else {
                    d += "L\(svgNumber(p.x)) \(svgNumber(p.y))"
                }
                previous = p
            }
            element("path", ["class": "line", "d": d, "fill": "none", "stroke": mark.color, "stroke-width": "2",
                             "stroke-linejoin": "round", "stroke-dasharray": mark.dash ?? "none", "clip-path": "url(#\(clipID))"])
        }
        for (point, pixel) in zip(series.points, pixels) {
            guard let p = pixel, p.x >= plot.left - 0.5, p.x <= plot.right + 0.5, p.y >= plot.top - 0.5, p.y <= plot.bottom + 0.5 else { continue }
            let hover = "\(series.name): " + (point.label ?? "\(shortName(x.axis)) \(x.axis.format.valueLabel(point.x)), "
                + "\(shortName(y.axis)) \(y.axis.format.valueLabel(point.y))")
            if let marker = mark.marker {
                marker.draw(into: &self, x: p.x, y: p.y, color: mark.color, hover: hover)
            } else {
                element("circle", ["class": "hover-target", "cx": svgNumber(p.x), "cy": svgNumber(p.y), "r": "5",
                                   "fill": mark.color, "fill-opacity": "0"], hover: hover)
            }
        }
        close()
    }

    /// Draws a labelled reference line across `plot` (horizontal: at a value of the y axis
    /// `along`) or up it (vertical: at a value of the x axis `along`); nothing when the value
    /// falls outside the plot or cannot be drawn.
    /// `row` staggers the labels of vertical lines that may sit close together.
    mutating func drawReference(_ reference: ReferenceLine, along axis: PlotAxis, plot: PlotArea, row: Int = 0) {
        let mark = SeriesMark(reference: reference.color)
        guard let at = axis.position(reference.value), at >= min(axis.start, axis.end) - 0.5, at <= max(axis.start, axis.end) + 0.5 else { return }
        let hover = "\(reference.label): \(axis.axis.format.valueLabel(reference.value))"
        let labelAttributes: KeyValuePairs<String, String>
        let d: String
        switch reference.orientation {
        case .horizontal:
            d = "M\(svgNumber(plot.left)) \(svgNumber(at))H\(svgNumber(plot.right))"
            let above = at - plot.top > ChartMetrics.tickSize + 4
            labelAttributes = ["class": "reference-label", "x": svgNumber(plot.right - 4),
                               "y": svgNumber(above ? at - 4 : at + ChartMetrics.tickSize + 2), "text-anchor": "end",
                               "font-size": svgNumber(ChartMetrics.tickSize), "fill": mark.color, "stroke": ChartMetrics.paper,
                               "stroke-width": "3", "paint-order": "stroke"]
        case .vertical:
            d = "M\(svgNumber(at)) \(svgNumber(plot.top))V\(svgNumber(plot.bottom))"
            let leftOfLine = at > plot.left + plot.width * 0.7
            labelAttributes = ["class": "reference-label", "x": svgNumber(leftOfLine ? at - 4 : at + 4),
                               "y": svgNumber(plot.top + Double(row + 1) * (ChartMetrics.tickSize + 3)), "text-anchor": leftOfLine ? "end" : "start",
                               "font-size": svgNumber(ChartMetrics.tickSize), "fill": mark.color, "stroke": ChartMetrics.paper,
                               "stroke-width": "3", "paint-order": "stroke"]
        }
        open("g", ["class": "reference"])
        element("path", ["d": d, "fill": "none", "stroke": mark.color, "stroke-width": "1.5", "stroke-dasharray": mark.dash ?? "none"],
                hover: hover)
        element("text", labelAttributes, text: reference.label)
        close()
    }
}
