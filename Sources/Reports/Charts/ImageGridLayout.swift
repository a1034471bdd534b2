/// Where an image grid puts its tiles, captions and colour bar, and how large it is.
struct ImageGridLayout {
    /// Space between columns, between a tile and its caption, and between rows.
    static let columnGap = 12.0, captionGap = 4.0, rowGap = 10.0
    /// The top of the first row, under the title.
    let top = ChartMetrics.legendTop + 4
    let width: Int, height: Int
    /// The most characters a caption shows before it is shortened.
    let captionLength: Int
    /// The top left corner of the colour bar.
    let colorBarOrigin: (x: Double, y: Double)
    private let columns: Int, tileSize: Double, rowHeight: Double

    /// Lays out `grid`.
    init(_ grid: ImageGrid) {
        tileSize = Double(grid.tileSize)
        columns = min(grid.columns, max(1, grid.tiles.count))
        let rows = grid.tiles.isEmpty ? 1 : (grid.tiles.count + columns - 1) / columns
        let cell = tileSize + Self.columnGap
        let gridWidth = Double(columns) * cell - Self.columnGap
        captionLength = max(3, Int((cell - 2) / estimatedWidth("x", fontSize: ChartMetrics.tickSize)))
        rowHeight = tileSize + Self.captionGap + ChartMetrics.tickSize + 4 + Self.rowGap
        let titleWidth = estimatedWidth(grid.title, fontSize: ChartMetrics.titleSize)
        let barWidth = grid.scale.map { ColorBar.width + 10 + estimatedWidth($0.label, fontSize: ChartMetrics.labelSize) } ?? 0
        width = Int((2 * ChartMetrics.edge + max(gridWidth, titleWidth, barWidth)).rounded(.up))
        let gridBottom = top + Double(rows) * rowHeight
        colorBarOrigin = (ChartMetrics.edge, gridBottom)
        height = Int((gridBottom + (grid.scale == nil ? 0 : ColorBar.height) + ChartMetrics.edge).rounded(.up))
    }

    /// The top left corner of the `k`-th tile.
    func origin(ofTile k: Int) -> (x: Double, y: Double) {
        return (ChartMetrics.edge + Double(k % columns) * (tileSize + Self.columnGap), top + Double(k / columns) * rowHeight)
    }
}
