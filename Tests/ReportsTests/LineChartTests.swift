import Reports
import Testing

@Suite("Line charts")
struct LineChartTests {
    let accuracy = LineChart(
        id: "accuracy", title: "Accuracy against sparsity",
        x: Axis("sparsity (%)", format: .percent), y: Axis("accuracy (%)", format: .percent),
        series: [
            Series("after", points: [ChartPoint(x: 0, y: 0), ChartPoint(x: 0.5, y: 0.93), ChartPoint(x: 0.9, y: 0.8812)], style: .line),
            Series("baseline", points: [ChartPoint(x: 0.5, y: 0.4, label: "magnitude, one shot")], style: .markers),
        ],
        references: [ReferenceLine("dense", at: 0.9, color: 2)])

    @Test("a line chart is well-formed, titled, labels both axes and keys every series and reference line")
    func frame() throws {
        let root = try parsedChart(accuracy)
        #expect(root.elements(class: "axis-label").map(\.text) == ["sparsity (%)", "accuracy (%)"])
        let legend = try #require(root.elements(class: "legend").first)
        #expect(legend.elements("text").map(\.text) == ["after", "baseline", "dense"])
        #expect(root.elements(class: "reference-label").map(\.text) == ["dense"])
        // y runs 0...0.93 → ticks every 20% to 100%; x 0...0.9 → the same.
        let yTicks = try #require(root.elements(class: "y-axis").first).elements(class: "tick-label").map(\.text)
        #expect(yTicks == ["0%", "20%", "40%", "60%", "80%", "100%"])
    }

    @Test("a point's pixel is the plot's corner plus its share of the axes' domains, and its hover tells its values")
    func pointPositions() throws {
        let root = try parsedChart(accuracy)
        let plot = try plotArea(root)
        let targets = root.elements(class: "hover-target")
        #expect(targets.count == 3)
        // Domains 0...1 on both axes; y grows upwards from the plot's bottom.
        for (target, (x, y)) in zip(targets, [(0.0, 0.0), (0.5, 0.93), (0.9, 0.8812)]) {
            let cx = try #require(target.number("cx")), cy = try #require(target.number("cy"))
            #expect(abs(cx - (plot.x + x * plot.width)) <= 0.01)
            #expect(abs(cy - (plot.y + plot.height - y * plot.height)) <= 0.01)
        }
        #expect(targets[2].hover == "after: sparsity 90%, accuracy 88.12%")
        #expect(root.elements(class: "marker").compactMap(\.hover) == ["baseline: magnitude, one shot"])
        let dense = try #require(root.elements(class: "reference").first?.elements("path").first)
        #expect(dense.hover == "dense: 90%")
        #expect(samePixels(numbers(in: dense.attributes["d"] ?? ""), [plot.x, plot.y + plot.height * 0.1, plot.x + plot.width]))
    }

    @Test("points that cannot be drawn are left out: NaN and infinities, and values ≤ 0 on a log axis")
    func skipsUndrawablePoints() throws {
        let chart = LineChart(id: "loss", title: "Loss", x: Axis("step"), y: Axis("loss", scale: .log),
                              series: [Series("train", points: [ChartPoint(x: 0, y: 10), ChartPoint(x: 1, y: .nan), ChartPoint(x: 2, y: 0),
                                                                ChartPoint(x: 3, y: 1), ChartPoint(x: .infinity, y: 1), ChartPoint(x: 4, y: -1),
                                                                ChartPoint(x: 5, y: 0.1)], style: .lineAndMarkers)])
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        #expect(root.elements(class: "marker").compactMap(\.hover) == ["train: step 0, loss 10", "train: step 3, loss 1", "train: step 5, loss 0.1"])
        // The line breaks at every left-out point: three separate pieces.
        let line = try #require(root.elements(class: "line").first?.attributes["d"])
        #expect(line.filter { $0 == "M" }.count == 3 && !line.contains("L"))
        // log 0.1...10 spans two decades: 1 sits in the middle.
        let middle = pathArguments(line, after: "M")
        #expect(middle.count == 3 && abs(middle[1] - (plot.x + 0.6 * plot.width)) <= 0.01)
        #expect(root.elements(class: "legend").isEmpty)   // one series, no legend
    }

    @Test("an empty series or a single point still gives a chart with a padded, non-degenerate range")
    func degenerateSeries() throws {
        for points in [[], [ChartPoint(x: 3, y: 0.5)]] {
            let chart = LineChart(id: "one", title: "One point", x: Axis("step"), y: Axis("value"), series: [Series("s", points: points)])
            let root = try parsedChart(chart)
            #expect(root.elements(class: "marker").count == points.count)
            #expect(root.elements(class: "tick-label").count >= 4)
        }
    }

    @Test("series on the secondary axis map onto its own ticks on the right, which carry its label")
    func secondaryAxis() throws {
        let chart = LineChart(id: "schedule", title: "Schedule", x: Axis("step"), y: Axis("sparsity (%)", format: .percent),
                              y2: Axis("learning rate"),
                              series: [Series("sparsity", points: [ChartPoint(x: 0, y: 0), ChartPoint(x: 100, y: 0.9)], style: .step),
                                       Series("learning rate", points: [ChartPoint(x: 0, y: 0.1), ChartPoint(x: 100, y: 0.001)],
                                              style: .dashed, secondaryAxis: true)])
        let root = try parsedChart(chart)
        let plot = try plotArea(root)
        #expect(root.elements(class: "axis-label").map(\.text) == ["step", "sparsity (%)", "learning rate"])
        let right = try #require(root.elements(class: "y2-axis").first).elements(class: "tick-label").map(\.text)
        // 0.001...0.1: span/5 = 0.0198 → 0.02, from 0 to 0.1.
        #expect(right == ["0", "0.02", "0.04", "0.06", "0.08", "0.10"])
        let targets = root.elements(class: "hover-target")
        #expect(abs(try #require(targets[2].number("cy")) - plot.y) <= 0.01)   // 0.1 is the top of the right axis
        #expect(abs(try #require(targets[1].number("cy")) - (plot.y + plot.height * 0.1)) <= 0.01)   // 90% of 0...100%
        // The step holds 0% until step 100, then rises.
        let step = try #require(root.elements(class: "line").first?.attributes["d"])
        #expect(step.filter(\.isLetter) == "MHV")
        #expect(samePixels(numbers(in: step), [plot.x, plot.y + plot.height, plot.x + plot.width, plot.y + plot.height * 0.1]))
        let legend = try #require(root.elements(class: "legend").first).elements("text").map(\.text)
        #expect(legend == ["sparsity", "learning rate (right axis)"])
        // The dashed series is dashed; the first line is solid.
        let dashes = root.elements(class: "line").map { $0.attributes["stroke-dasharray"] }
        #expect(dashes.first == "none" && dashes.last != "none")
    }

    @Test("hostile text in titles, names and labels is escaped and the chart stays well-formed")
    func hostileText() throws {
        let hostile = "<script>&\"'"
        let chart = LineChart(id: "h", title: hostile, x: Axis(hostile), y: Axis("y"),
                              series: [Series(hostile, points: [ChartPoint(x: 1, y: 1, label: hostile)]), Series("b", points: [])],
                              references: [ReferenceLine(hostile, at: 1)])
        let text = chart.svg()
        #expect(!text.contains("<script") && text.contains("&lt;script&gt;&amp;&quot;&#39;"))
        let root = try parsedChart(chart)
        #expect(root.elements(class: "axis-label").first?.text == hostile)
        #expect(root.elements(class: "marker").compactMap(\.hover) == ["\(hostile): \(hostile)"])
    }
}

/// Pixel lists that agree to the charts' rounding (two decimals).
func samePixels(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 0.011 }
}
