import Foundation
import Reports
import Testing

@Suite("Sweep reports: the test figure against sparsity, one curve per plan, means over seeds")
struct SweepReportTests {
    /// 2 sparsities × 2 criteria × 2 seeds, as a sweep of LeNet-300-100 gave them, one job missing.
    static let report = SweepReport(
        title: "Sweep <s>", axes: ["prune.threshold.sparsity", "prune.criterion", "seed"], metric: .accuracy,
        jobs: [
            .init(values: ["0.5", "magnitude", "1"], test: 0.8524, sparsity: 0.5),
            .init(values: ["0.5", "magnitude", "2"], test: 0.8541, sparsity: 0.5),
            .init(values: ["0.5", "random", "1"], test: 0.8318, sparsity: 0.5),
            .init(values: ["0.5", "random", "2"], test: 0.8298, sparsity: 0.5),
            .init(values: ["0.9", "magnitude", "1"], test: 0.8440, sparsity: 0.9),
            .init(values: ["0.9", "magnitude", "2"], test: 0.8462, sparsity: 0.9),
            .init(values: ["0.9", "random", "1"], test: 0.7262, sparsity: 0.9),
            .init(values: ["0.9", "random", "2"], test: nil, sparsity: nil),
        ])

    @Test("curves group by the criterion, points by the sparsity, means over the seeds; a missing job drops out of its mean")
    func curves() throws {
        let curves = Self.report.curves()
        #expect(curves.map(\.name) == ["prune.criterion=magnitude", "prune.criterion=random"])
        #expect(curves[0].points.map(\.sparsity) == [0.5, 0.9])
        #expect(abs(curves[0].points[0].test - (0.8524 + 0.8541) / 2) < 1e-12)
        #expect(abs(curves[0].points[1].test - (0.8440 + 0.8462) / 2) < 1e-12)
        #expect(curves[1].points.map(\.runs.count) == [2, 1])
        #expect(curves[1].points[1].test == 0.7262)
    }

    @Test("the page: well-formed, the chart with a mean line and run markers per curve, every job in the table, the title escaped")
    func page() throws {
        let html = Self.report.html()
        let root = try SVGNode.parse(html)
        #expect(root.name == "html")
        #expect(root.elements("title").first?.text == "Sweep <s> — Prune sweep")
        let chart = try parsedChart(Self.report.chart())
        let legend = chart.all.filter { $0.name == "text" }.map(\.text)
        #expect(legend.contains("prune.criterion=magnitude (mean of 2)") && legend.contains("prune.criterion=random, each run"), "\(legend)")
        let rows = root.elements("tr")
        #expect(rows.count == 9)
        #expect(rows.last?.children.map(\.text) == ["7", "0.9", "random", "2", "missing", ""])
        #expect(rows[1].children.map(\.text) == ["0", "0.5", "magnitude", "1", "85.24%", "50.0%"])
    }
}
