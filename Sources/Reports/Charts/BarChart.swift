/// Grouped bars: one group per category (a layer), one bar per series (before, after).
public struct BarChart: Chart {
    /// One bar per category.
    public struct BarSeries: Sendable {
        public var name: String
        public var values: [Double]
        /// A palette index; nil: the series' position.
        public var color: Int?
        /// Creates a series of bars.
        public init(_ name: String, values: [Double], color: Int? = nil) { self.name = name; self.values = values; self.color = color }
    }
    public var id: String
    public var title: String
    /// The group labels, along the x axis.
    public var categories: [String]
    /// The x axis' label (what a category is: `"layer"`).
    public var categoryLabel: String
    public var series: [BarSeries]
    /// The value axis (log for parameter or FLOP counts that span decades).
    public var y: Axis
    public var width: Int, height: Int

    /// Creates a bar chart.
    public init(id: String, title: String, categories: [String], categoryLabel: String, series: [BarSeries], y: Axis,
                width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.categories = categories; self.categoryLabel = categoryLabel
        self.series = series; self.y = y; self.width = width; self.height = height
    }

    public func svg() -> String { "" }   // TODO(charts helper)
}
