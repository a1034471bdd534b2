/// Series of points against two axes (accuracy against sparsity, sparsity over steps),
/// with an optional secondary y axis on the right and reference lines.
public struct LineChart: Chart {
    public var id: String
    public var title: String
    public var x: Axis
    public var y: Axis
    /// The right-hand axis for series with `secondaryAxis`.
    public var y2: Axis?
    public var series: [Series]
    public var references: [ReferenceLine]
    /// The size in CSS pixels (the SVG scales with its container).
    public var width: Int, height: Int

    /// Creates a line chart.
    public init(id: String, title: String, x: Axis, y: Axis, y2: Axis? = nil, series: [Series],
                references: [ReferenceLine] = [], width: Int = 600, height: Int = 360) {
        self.id = id; self.title = title; self.x = x; self.y = y; self.y2 = y2; self.series = series
        self.references = references; self.width = width; self.height = height
    }

    public func svg() -> String { "" }   // TODO(charts helper)
}
