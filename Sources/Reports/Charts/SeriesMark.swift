/// How one series looks apart from its colour, so that series still differ in a grayscale print:
/// a dash pattern for its line and a shape for its markers.
struct SeriesMark {
    /// The stroke and fill colour.
    var color: String
    /// A `stroke-dasharray`, or nil for a solid line.
    var dash: String?
    /// The marker drawn at each point, or nil for none.
    var marker: MarkerShape?
    /// Whether points are joined by a line.
    var line: Bool

    /// Dash patterns, in the order series take them.
    static let dashes = ["7 4", "2 3", "9 3 2 3", "4 2"]

    /// The look of the `index`-th series (its position among the chart's series) in `style`:
    /// the first plain line is solid and later ones dashed; a `.dashed` series is always dashed;
    /// markers take a shape by position.
    init(style: Series.Style, index: Int, color: Int?) {
        self.color = Palette.color(color ?? index)
        switch style {
        case .line, .step:
            dash = index == 0 ? nil : Self.dashes[(index - 1) % Self.dashes.count]; marker = nil; line = true
        case .dashed:
            dash = Self.dashes[index % Self.dashes.count]; marker = nil; line = true
        case .markers:
            dash = nil; marker = MarkerShape(index: index); line = false
        case .lineAndMarkers:
            dash = nil; marker = MarkerShape(index: index); line = true
        }
    }

    /// A reference line's look: dotted, in its colour (black when nil).
    init(reference color: Int?) {
        self.color = color.map(Palette.color) ?? "#000000"; dash = "3 3"; marker = nil; line = true
    }
}

/// A marker's shape; the first five are filled, the next five the same shapes hollow.
struct MarkerShape {
    /// The outline of the shape.
    enum Outline: CaseIterable { case circle, square, triangle, diamond, triangleDown }
    var outline: Outline
    var hollow: Bool

    /// The `index`-th shape, wrapping around after ten.
    init(index: Int) {
        let all = Outline.allCases
        let i = ((index % (2 * all.count)) + 2 * all.count) % (2 * all.count)
        outline = all[i % all.count]; hollow = i >= all.count
    }

    /// The shape's path centred on (`x`, `y`), about `2 × r` pixels across.
    func path(x: Double, y: Double, r: Double = 4) -> String {
        let n = svgNumber
        switch outline {
        case .circle:
            return "M\(n(x - r)) \(n(y))a\(n(r)) \(n(r)) 0 1 0 \(n(2 * r)) 0a\(n(r)) \(n(r)) 0 1 0 \(n(-2 * r)) 0Z"
        case .square:
            let s = r * 0.9
            return "M\(n(x - s)) \(n(y - s))h\(n(2 * s))v\(n(2 * s))h\(n(-2 * s))Z"
        case .triangle:
            return "M\(n(x)) \(n(y - 1.2 * r))L\(n(x + 1.1 * r)) \(n(y + 0.8 * r))H\(n(x - 1.1 * r))Z"
        case .triangleDown:
            return "M\(n(x)) \(n(y + 1.2 * r))L\(n(x + 1.1 * r)) \(n(y - 0.8 * r))H\(n(x - 1.1 * r))Z"
        case .diamond:
            let s = r * 1.25
            return "M\(n(x)) \(n(y - s))L\(n(x + s)) \(n(y))L\(n(x)) \(n(y + s))L\(n(x - s)) \(n(y))Z"
        }
    }

    /// Writes the marker at (`x`, `y`) in `color`, with `hover` as its `<title>`.
    func draw(into svg: inout SVGWriter, x: Double, y: Double, color: String, hover: String? = nil) {
        svg.element("path", ["class": "marker", "d": path(x: x, y: y), "fill": hollow ? ChartMetrics.paper : color,
                             "stroke": hollow ? color : ChartMetrics.paper, "stroke-width": hollow ? "1.5" : "0.8"], hover: hover)
    }
}

extension SVGWriter {
    /// Writes a `<pattern>` of stripes in `color` over a pale tint of it, for filling the
    /// `variant`-th hatched series (stripes turn 45°, −45°, 0° or 90° by variant).
    mutating func hatch(id: String, color: String, variant: Int) {
        let angles = [45, -45, 0, 90]
        open("pattern", ["id": id, "patternUnits": "userSpaceOnUse", "width": "6", "height": "6",
                         "patternTransform": "rotate(\(angles[((variant % angles.count) + angles.count) % angles.count]))"])
        element("rect", ["width": "6", "height": "6", "fill": color, "fill-opacity": "0.3"])
        element("path", ["d": "M1.5 0V6", "stroke": color, "stroke-width": "2.5"])
        close()
    }
}
