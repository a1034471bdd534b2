/// The pieces every chart shares: the palette, axes, series, reference lines.

/// A chart that draws itself as one self-contained `<svg>` element: a `<title>` (for screen
/// readers and hover), a visible title, labelled axes with units, and a legend when there
/// are several series. Values show on hover through `<title>` children, with no script.
public protocol Chart: Sendable {
    /// The element's id, unique within a page (letters, digits and `-`).
    var id: String { get }
    /// The visible title.
    var title: String { get }
    /// The chart as an `<svg>` element (well-formed XML).
    func svg() -> String
}

/// Colours distinguishable by colour-blind readers (Okabe & Ito 2008), in the order series use them.
public enum Palette {
    /// Blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black.
    public static let okabeIto = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

    /// The `index`-th colour, wrapping around.
    public static func color(_ index: Int) -> String { okabeIto[((index % okabeIto.count) + okabeIto.count) % okabeIto.count] }
}

/// One axis: its label (with the unit), scale, how ticks read, and optionally a fixed range.
public struct Axis: Sendable {
    /// Linear or logarithmic (base 10; values ≤ 0 are left out).
    public enum Scale: Sendable { case linear, log }
    /// How tick labels read.
    public enum Format: Sendable {
        /// Plain numbers with as many digits as the tick step needs (`0.25`, `1200`, `1.5e-05`).
        case number
        /// Fractions shown as percentages (`0.9` → `90%`).
        case percent
        /// Counts with thousands shortened (`1.2k`, `3.4M`).
        case count
        /// Bytes (`512 B`, `1.0 kB`, `2.3 MB`).
        case bytes
        /// Seconds (`850 µs`, `12 ms`, `1.5 s`).
        case seconds
    }
    /// The label, unit included: `"sparsity (%)"`, `"latency (ms)"`.
    public var label: String
    /// Linear or logarithmic.
    public var scale: Scale
    /// How tick labels and hover values read.
    public var format: Format
    /// A fixed range; nil: the data's range widened to round ticks.
    public var range: ClosedRange<Double>?

    /// Creates an axis.
    public init(_ label: String, scale: Scale = .linear, format: Format = .number, range: ClosedRange<Double>? = nil) {
        self.label = label; self.scale = scale; self.format = format; self.range = range
    }
}

/// A point of a line chart, with an optional hover text (else the values).
public struct ChartPoint: Sendable, Equatable {
    /// The coordinates, in the axes' units.
    public var x: Double, y: Double
    /// The hover text after the series' name; nil: the point's values.
    public var label: String?
    /// Creates a point.
    public init(x: Double, y: Double, label: String? = nil) { self.x = x; self.y = y; self.label = label }
}

/// A named series of points.
public struct Series: Sendable {
    /// How the series is drawn.
    public enum Style: Sendable {
        /// A solid line.
        case line
        /// A dashed line (baselines, other runs).
        case dashed
        /// Markers only.
        case markers
        /// A solid line with a marker on every point.
        case lineAndMarkers
        /// A step line (a value that holds until the next point).
        case step
    }
    /// The name in the legend and hover texts.
    public var name: String
    /// The points, joined in this order.
    public var points: [ChartPoint]
    /// How the series is drawn.
    public var style: Style
    /// A palette index; nil: the series' position.
    public var color: Int?
    /// Drawn against the chart's secondary (right) axis.
    public var secondaryAxis: Bool

    /// Creates a series.
    public init(_ name: String, points: [ChartPoint], style: Style = .lineAndMarkers, color: Int? = nil, secondaryAxis: Bool = false) {
        self.name = name; self.points = points; self.style = style; self.color = color; self.secondaryAxis = secondaryAxis
    }
}

/// A labelled line across the plot at a value: the dense model's accuracy, a threshold.
public struct ReferenceLine: Sendable {
    /// Across the plot at a y value, or up the plot at an x value.
    public enum Orientation: Sendable { case horizontal, vertical }
    /// Where the line stands, in the units of the axis it crosses.
    public var value: Double
    /// The label drawn beside the line and in the legend.
    public var label: String
    /// Across (at a y value) or up (at an x value).
    public var orientation: Orientation
    /// A palette index; nil: black.
    public var color: Int?

    /// Creates a reference line.
    public init(_ label: String, at value: Double, _ orientation: Orientation = .horizontal, color: Int? = nil) {
        self.label = label; self.value = value; self.orientation = orientation; self.color = color
    }
}
