import Reports
import Testing

@Suite("Charts without data")
struct EmptyChartTests {
    @Test("charts with nothing to draw are still well-formed, titled and labelled, with finite coordinates")
    func nothingToDraw() throws {
        let line = try parsedChart(LineChart(id: "l", title: "No rounds yet", x: Axis("step"), y: Axis("loss", scale: .log), series: []))
        #expect(line.elements(class: "axis-label").map(\.text) == ["step", "loss"])
        let bars = try parsedChart(BarChart(id: "b", title: "No layers", categories: [], categoryLabel: "layer", series: [],
                                            y: Axis("parameters", scale: .log, format: .count)))
        #expect(bars.elements(class: "bar").isEmpty && bars.elements(class: "axis-label").map(\.text) == ["parameters", "layer"])
        for edges in [[], [0.5]] {
            let histogram = try parsedChart(HistogramChart(id: "h", title: "No bins", edges: edges, series: [.init("w", counts: [])],
                                                           x: Axis("|w|")))
            #expect(histogram.elements(class: "bin").isEmpty)
        }
        let grid = try parsedChart(ImageGrid(id: "g", title: "No images", tiles: [], columns: 3))
        #expect(grid.elements("image").isEmpty)
        let blank = try parsedChart(ImageGrid(id: "e", title: "An empty raster",
                                              tiles: [Raster(width: 0, height: 0, values: [], colormap: .grayscale, caption: "empty")], columns: 1))
        #expect(blank.elements("image").isEmpty && blank.elements(class: "caption").map(\.text) == ["empty"])
    }

    @Test("a chart of one constant value pads its range and puts the value inside the plot")
    func constantValues() throws {
        let chart = BarChart(id: "c", title: "Constant", categories: ["a", "b"], categoryLabel: "layer",
                             series: [.init("v", values: [5, 5])], y: Axis("value", scale: .log))
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        // 5 halved is 2.5: the floor is 1, the top 10; a bar of 5 reaches log10(5) of the way up.
        for bar in root.elements(class: "bar") {
            #expect(abs(try #require(bar.number("height")) - 0.69897 * plot.height) <= 0.02)
        }
    }
}
