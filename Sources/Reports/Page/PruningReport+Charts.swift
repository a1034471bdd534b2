import Foundation
import NeuralNetwork
import Pruning

/// The report's charts, each built from the report's data alone (nil when the data is missing).
extension PruningReport {
    /// Accuracy (or loss) against sparsity: one series per split, the dense model's figures as
    /// reference lines, and the compared runs dashed.
    func figureChart(loss: Bool) -> LineChart? {
        guard !accuracy.isEmpty || !compared.isEmpty else { return nil }
        func value(_ p: AccuracyPoint) -> Double { loss ? Double(p.loss) : Double(p.accuracy) }
        func point(_ p: AccuracyPoint, run: String? = nil) -> ChartPoint {
            ChartPoint(x: p.sparsity, y: value(p), label: String(format: "%@%@ (%@): sparsity %.1f%%, %@", run.map { "\($0): " } ?? "",
                                                                p.stage, p.split.rawValue, 100 * p.sparsity,
                                                                loss ? String(format: "loss %.4f", p.loss) : String(format: "accuracy %.2f%%", 100 * p.accuracy)))
        }
        let splits: [(DataSplit, String, Int)] = [(.training, "training (epoch mean)", 2), (.validation, "validation", 0), (.test, "test", 3)]
        var series: [Series] = splits.compactMap { split, name, color in
            let points = Self.bySparsity(accuracy.filter { $0.split == split }).map { point($0) }
            return points.isEmpty ? nil : Series(name, points: points, style: split == .training ? .markers : .lineAndMarkers, color: color)
        }
        for (i, run) in compared.enumerated() {
            for (split, name, _) in splits {
                let points = Self.bySparsity(run.points.filter { $0.split == split }).map { point($0, run: run.name) }
                if !points.isEmpty { series.append(Series("\(run.name): \(name)", points: points, style: .dashed, color: 4 + i)) }
            }
        }
        let references = dense.map { p in
            ReferenceLine(String(format: "dense, %@ %@", p.split.rawValue, loss ? String(format: "%.3f", p.loss) : String(format: "%.2f%%", 100 * p.accuracy)),
                          at: value(p), color: 7)
        }
        let what = loss ? "Loss" : "Accuracy"
        return LineChart(id: loss ? "loss-sparsity" : "accuracy-sparsity", title: "\(what) against sparsity",
                         x: Axis("sparsity of the pruned weights (%)", format: .percent),
                         y: Axis(loss ? "mean cross-entropy loss" : "accuracy (%)", format: loss ? .number : .percent),
                         series: series, references: references)
    }

    /// The schedule: sparsity and learning rate over the run's optimizer steps.
    func scheduleChart() -> LineChart? {
        guard !steps.isEmpty else { return nil }
        let sparsity = Series("sparsity", points: steps.map {
            ChartPoint(x: Double($0.step), y: $0.sparsity, label: String(format: "step %d: sparsity %.1f%%", $0.step, 100 * $0.sparsity))
        }, style: .step, color: 0)
        let rate = Series("learning rate", points: steps.map {
            ChartPoint(x: Double($0.step), y: Double($0.learningRate), label: String(format: "step %d: learning rate %g", $0.step, $0.learningRate))
        }, style: .dashed, color: 1, secondaryAxis: true)
        let starts = phases.dropFirst().map { ReferenceLine($0.phase, at: Double($0.step), .vertical, color: 7) }
        return LineChart(id: "schedule", title: "Schedule: sparsity and learning rate over training",
                         x: Axis("optimizer step (all phases)"), y: Axis("sparsity (%)", format: .percent, range: 0...1),
                         y2: Axis("learning rate"), series: [sparsity, rate], references: starts)
    }

    /// Per-tensor sparsity of the pruned weights, before and after.
    func layerSparsityChart() -> BarChart? {
        guard !weights.isEmpty else { return nil }
        var series = [BarChart.BarSeries("after", values: weights.map(\.after), color: 3)]
        if weights.contains(where: { ($0.before ?? 0) > 0 }) {
            series.insert(BarChart.BarSeries("before", values: weights.map { $0.before ?? 0 }, color: 0), at: 0)
        }
        return BarChart(id: "layer-sparsity", title: "Sparsity per layer", categories: weights.map { Self.layerName($0.path) },
                        categoryLabel: "layer (its weight tensor)", series: series, y: Axis("zero weights (%)", format: .percent, range: 0...1))
    }

    /// The costs as a share of the dense model's: non-zeros, FLOPs, bytes, latency.
    func costChart() -> BarChart {
        let rows = costRows().filter { $0.before.isFinite }
        return BarChart(id: "costs", title: "What the model costs, relative to the model before pruning",
                        categories: rows.map(\.name), categoryLabel: "measure",
                        series: [BarChart.BarSeries("before", values: rows.map { _ in 1 }, color: 0),
                                 BarChart.BarSeries("after", values: rows.map { $0.after / max($0.before, 1e-12) }, color: 3)],
                        y: Axis("share of before (%)", format: .percent))
    }

    /// The rows of the cost table: measure, unit, before and after.
    func costRows() -> [(name: String, format: Axis.Format, before: Double, after: Double)] {
        let b = before?.totals
        var rows: [(name: String, format: Axis.Format, before: Double, after: Double)] = [
            ("parameters", .count, Double(b?.parameters ?? after.totals.parameters), Double(after.totals.parameters)),
            ("non-zeros", .count, Double(b?.nonZeros ?? after.totals.parameters), Double(after.totals.nonZeros)),
            ("FLOPs", .count, Double(b?.sparseFlops ?? after.totals.flops), Double(after.totals.sparseFlops)),
            ("dense bytes", .bytes, Double(b?.bytes ?? after.totals.bytes), Double(after.totals.bytes)),
            ("CSR bytes", .bytes, Double(b?.sparseBytes ?? after.totals.bytes), Double(after.totals.sparseBytes)),
        ]
        if let l = latency {
            rows.append(("latency", .seconds, (l.beforeMilliseconds ?? .nan) / 1000, l.afterMilliseconds / 1000))
        }
        return rows
    }

    /// Where the time went.
    func timeChart() -> BarChart? {
        guard let t = time else { return nil }
        var parts = [("training", t.training), ("scoring", t.scoring), ("cutting", t.cutting), ("evaluation", t.evaluation)]
        if let r = t.report { parts.append(("this report", r)) }
        parts = parts.filter { $0.1 > 0 }   // neuron and filter cuts are not timed apart from their scoring
        guard !parts.isEmpty else { return nil }
        return BarChart(id: "time", title: "Time spent", categories: parts.map(\.0), categoryLabel: "activity",
                        series: [BarChart.BarSeries("seconds", values: parts.map(\.1), color: 0)],
                        y: Axis("time (s, log scale)", scale: .log, format: .seconds))
    }

    /// Weight magnitudes before and after, with where the kept weights begin.
    func histogramChart() -> HistogramChart? {
        guard let h = histogram else { return nil }
        var series = [HistogramChart.HistogramSeries("after (\(Self.count(h.zerosAfter)) zeros not shown)", counts: h.after, color: 3)]
        if let b = h.before { series.insert(.init("before (\(Self.count(h.zerosBefore ?? 0)) zeros not shown)", counts: b, color: 0), at: 0) }
        var markers = h.smallestKept.map { [ReferenceLine(String(format: "smallest kept |w| = %.3g", $0), at: $0, .vertical, color: 7)] } ?? []
        if let cut = h.lastCut, cut > 0 { markers.append(ReferenceLine(String(format: "last cut: |w| < %.3g", cut), at: cut, .vertical, color: 3)) }
        return HistogramChart(id: "weights", title: "Weight magnitudes of the pruned layers", edges: h.edges, series: series,
                              x: Axis("|weight| (log scale)", scale: .log), markers: markers)
    }

    /// Sensitivity: each layer pruned alone.
    func sensitivityChart() -> LineChart? {
        guard let s = sensitivity else { return nil }
        let series = s.layers.enumerated().map { i, layer in
            Series(layer.path, points: layer.levels.map {
                ChartPoint(x: $0.sparsity, y: Double($0.accuracy),
                           label: String(format: "%@ alone at %.1f%%: accuracy %.2f%%", layer.path, 100 * $0.sparsity, 100 * $0.accuracy))
            }, color: i)
        }
        return LineChart(id: "sensitivity", title: "Sensitivity: each layer pruned alone (\(s.criterion), \(s.split.rawValue) split)",
                         x: Axis("sparsity of the one layer (%)", format: .percent), y: Axis("accuracy (%)", format: .percent),
                         series: series, references: [ReferenceLine(String(format: "unpruned %.2f%%", 100 * s.baseline.accuracy),
                                                                    at: Double(s.baseline.accuracy), color: 7)])
    }

    /// Figures in order of sparsity (measurement order among equals), so a line runs left to right.
    static func bySparsity(_ points: [AccuracyPoint]) -> [AccuracyPoint] {
        points.enumerated().sorted { ($0.element.sparsity, $0.offset) < ($1.element.sparsity, $1.offset) }.map(\.element)
    }

    /// `"fc1"` for `"fc1.weight"`.
    static func layerName(_ path: String) -> String {
        path.hasSuffix(".weight") ? String(path.dropLast(7)) : path
    }

    /// A count shortened for labels.
    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : n >= 10_000 ? String(format: "%.1fk", Double(n) / 1e3) : String(n)
    }
}
