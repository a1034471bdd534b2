/// Counts over bins (weight magnitudes before and after pruning), usually with a log count
/// axis, drawn as outlined steps so overlaid series stay visible, with marker lines (the threshold).
public struct HistogramChart: Chart {
    /// One count per bin.
    public struct HistogramSeries: Sendable {
        public var name: String
        public var counts: [Int]
        /// A palette index; nil: the series' position.
        public var color: Int?
        /// Creates a series of counts.
        public init(_ name: String, counts: [Int], color: Int? = nil) { self.name = name; self.counts = counts; self.color = color }
    }
    public var id: String
    public var title: String
    /// `bins + 1` increasing bin edges, shared by every series.
    public var edges: [Double]
    public var series: [HistogramSeries]
    /// The value axis (may be log: bins of magnitudes spanning decades).
    public var x: Axis
    /// The count axis (log by default: a pruned histogram's tail is tiny beside its peak).
    public var y: Axis
    /// Vertical lines at values (the threshold).
    public var markers: [ReferenceLine]
    public var width: Int, height: Int

    /// Creates a histogram.
    public init(id: String, title: String, edges: [Double], series: [HistogramSeries], x: Axis,
                y: Axis = Axis("weights", scale: .log, format: .count), markers: [ReferenceLine] = [],
                width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.edges = edges; self.series = series; self.x = x; self.y = y
        self.markers = markers; self.width = width; self.height = height
    }

    public func svg() -> String { "" }   // TODO(charts helper)
}
