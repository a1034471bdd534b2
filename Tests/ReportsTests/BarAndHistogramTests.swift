import Foundation
import Reports
import Testing

@Suite("Bar charts and histograms")
struct BarAndHistogramTests {
    @Test("grouped bars on a log axis grow from the axis' floor, one per drawable value, with the value on hover")
    func logBars() throws {
        let chart = BarChart(id: "params", title: "Parameters per layer", categories: ["fc1", "fc2", "fc3"], categoryLabel: "layer",
                             series: [.init("before", values: [235_200, 30_000, 1000]), .init("after", values: [23_520, 0, 100])],
                             y: Axis("parameters", scale: .log, format: .count))
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        let bars = root.elements(class: "bar")
        #expect(bars.count == 5)   // the zero has no bar on a log axis
        // The smallest value is 100: the floor goes half of it lower, to the power of ten 10; the top is 1e6.
        let ticks = try #require(root.elements(class: "y-axis").first).elements(class: "tick-label").map(\.text)
        #expect(ticks == ["10", "100", "1k", "10k", "100k", "1M"])
        for bar in bars {
            let y = try #require(bar.number("y")), height = try #require(bar.number("height"))
            #expect(abs(y + height - (plot.y + plot.height)) <= 0.02 && height > 0)
        }
        // 235,200 sits log10(235200/10)/5 of the way up.
        let first = bars[0]
        let top = plot.y + plot.height - log10(235_200.0 / 10) / 5 * plot.height
        #expect(abs(try #require(first.number("y")) - top) <= 0.01)
        #expect(first.hover == "before, fc1: 235.2k")
        #expect(bars.map { $0.hover ?? "" }.contains("after, fc3: 100"))
        #expect(root.elements(class: "legend").first?.elements("text").map(\.text) == ["before", "after"])
        #expect(root.elements(class: "category-label").map(\.text) == ["fc1", "fc2", "fc3"])
        #expect(root.elements(class: "axis-label").map(\.text) == ["parameters", "layer"])
    }

    @Test("a linear bar axis starts at zero, and long layer names are turned and shortened with the full name on hover")
    func longCategories() throws {
        let names = (1...12).map { "features.block\($0).convolution.weight" }
        let chart = BarChart(id: "sparsity", title: "Sparsity per layer", categories: names, categoryLabel: "layer",
                             series: [.init("sparsity", values: names.indices.map { 0.5 + 0.04 * Double($0) })],
                             y: Axis("sparsity (%)", format: .percent))
        let root = try parsedChart(chart)
        let labels = root.elements(class: "category-label")
        #expect(labels.count == 12)
        for (label, name) in zip(labels, names) {
            #expect(label.attributes["transform"]?.hasPrefix("rotate(-40") == true)
            #expect(label.text.hasSuffix("…") && label.text.count <= 18 && name.hasPrefix(label.text.dropLast()))
            #expect(label.hover == name)
        }
        let ticks = try #require(root.elements(class: "y-axis").first).elements(class: "tick-label").map(\.text)
        #expect(ticks.first == "0%" && ticks.last == "100%")
        #expect(root.elements(class: "legend").isEmpty)
    }

    @Test("a log-count histogram draws empty bins on the floor, never at NaN or infinity, with every count on hover")
    func histogram() throws {
        let chart = HistogramChart(id: "magnitudes", title: "Weight magnitudes", edges: [0, 0.01, 0.02, 0.03, 0.04],
                                   series: [.init("before", counts: [100, 0, 50, 3]), .init("after", counts: [0, 0, 50, 3])],
                                   x: Axis("|w|"), markers: [ReferenceLine("threshold", at: 0.015)])
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        let floor = plot.y + plot.height
        let outlines = root.elements(class: "histogram")
        #expect(outlines.count == 2)
        // Counts 3...100: the floor is a power of ten at or below 1.5, 1; the top 100.
        func height(_ count: Double) -> Double { floor - log10(count) / 2 * plot.height }
        let after = try #require(outlines.last?.attributes["d"])
        #expect(samePixels(pathArguments(after, after: "V"), [floor, floor, height(50), height(3), floor]))
        let before = try #require(outlines.first?.attributes["d"])
        #expect(samePixels(pathArguments(before, after: "V"), [height(100), floor, height(50), height(3), floor]))
        #expect(samePixels(pathArguments(after, after: "H"), [0.25, 0.5, 0.75, 1].map { plot.x + $0 * plot.width }))
        let bins = root.elements(class: "bin")
        #expect(bins.map { $0.hover ?? "" } == ["0–0.01: before 100, after 0", "0.01–0.02: before 0, after 0",
                                                "0.02–0.03: before 50, after 50", "0.03–0.04: before 3, after 3"])
        #expect(root.elements(class: "reference-label").map(\.text) == ["threshold"])
        let threshold = try #require(root.elements(class: "reference").first?.elements("path").first?.attributes["d"])
        #expect(samePixels(pathArguments(threshold, after: "M"), [plot.x + 0.375 * plot.width]))
        #expect(root.elements(class: "legend").first?.elements("text").map(\.text) == ["before", "after", "threshold"])
        #expect(root.elements(class: "axis-label").map(\.text) == ["|w|", "weights"])
    }

    @Test("a histogram on a log value axis puts an edge ≤ 0 at the axis' left end and ticks at powers of ten")
    func logValueAxis() throws {
        let chart = HistogramChart(id: "m", title: "Magnitudes", edges: [0, 1e-3, 1e-2, 1e-1], series: [.init("w", counts: [0, 0, 0])],
                                   x: Axis("|w|", scale: .log))
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        let ticks = try #require(root.elements(class: "x-axis").first).elements(class: "tick-label").map(\.text)
        #expect(ticks == ["0.001", "0.01", "0.1"])
        let outline = try #require(root.elements(class: "histogram").first?.attributes["d"])
        #expect(samePixels(pathArguments(outline, after: "M"), [plot.x]))
        #expect(root.elements(class: "legend").isEmpty)
    }

    @Test("hostile category and series names are escaped and the bar chart stays well-formed")
    func hostileBars() throws {
        let hostile = "<script>&\"'"
        let chart = BarChart(id: "b", title: hostile, categories: [hostile], categoryLabel: hostile,
                             series: [.init(hostile, values: [1]), .init("b", values: [2])], y: Axis(hostile))
        #expect(!chart.svg().contains("<script"))
        let root = try parsedChart(chart)
        #expect(root.elements(class: "bar").first?.hover == "\(hostile), \(hostile): 1")
        #expect(root.elements(class: "category-label").first?.text == hostile)
    }
}
