import Foundation

/// A sweep's results as a page: the test figure against the sparsity reached, one curve per
/// combination of the grid's other values (criteria, schedules), each point the mean over the
/// seeds with every seed's own result as a marker beside it, and the table of every job.
/// `prune sweep merge DIR --report FILE.html` writes it.
public struct SweepReport: Sendable {
    /// What a job's test figure is.
    public enum Metric: String, Sendable {
        /// Top-1 accuracy (a fraction).
        case accuracy
        /// Mean cosine to the reference embeddings.
        case cosine
        /// Bits per token (lower is better).
        case bitsPerToken = "bits per token"
    }

    /// One job.
    public struct Job: Sendable {
        /// The grid's values, in the axes' order.
        public var values: [String]
        /// The test figure, nil when the job has no result.
        public var test: Double?
        /// The fraction of prunable weights that are zero, nil when the job has no result.
        public var sparsity: Double?

        public init(values: [String], test: Double?, sparsity: Double?) {
            self.values = values; self.test = test; self.sparsity = sparsity
        }
    }

    public var title: String
    /// The grid's dotted paths.
    public var axes: [String]
    public var metric: Metric
    /// Every job, in plan order.
    public var jobs: [Job]

    public init(title: String, axes: [String], metric: Metric, jobs: [Job]) {
        self.title = title; self.axes = axes; self.metric = metric; self.jobs = jobs
    }

    /// Whether an axis repeats runs (a seed) rather than changing the plan.
    static func isRepeat(_ path: String) -> Bool { path == "seed" || path.hasSuffix(".seed") }

    /// Whether an axis sets how much is pruned (the target, a threshold, an N:M pattern).
    static func isSparsity(_ path: String) -> Bool {
        ["prune.threshold", "prune.threshold.sparsity", "prune.threshold.value", "prune.granularity"].contains(path)
            || path.hasPrefix("prune.threshold.per_layer")
    }

    /// One curve: its name and, per sparsity setting in plan order, the seeds' results.
    public struct Curve: Sendable {
        public var name: String
        /// Per point: the mean sparsity reached, the mean test figure and each seed's (sparsity, test).
        public var points: [(sparsity: Double, test: Double, runs: [(Double, Double)])]
    }

    /// The curves: jobs grouped by the values of the axes that neither set the sparsity nor
    /// repeat a run; within a curve, by the sparsity axes' values; means over the rest (seeds).
    public func curves() -> [Curve] {
        let seriesAxes = axes.indices.filter { !Self.isRepeat(axes[$0]) && !Self.isSparsity(axes[$0]) }
        let pointAxes = axes.indices.filter { Self.isSparsity(axes[$0]) }
        var order: [String] = [], groups: [String: [(key: String, job: Job)]] = [:]
        for job in jobs {
            guard job.test != nil, job.sparsity != nil else { continue }
            let name = seriesAxes.map { "\(axes[$0])=\(job.values[$0])" }.joined(separator: ", ")
            if groups[name] == nil { order.append(name) }
            groups[name, default: []].append((pointAxes.map { job.values[$0] }.joined(separator: ","), job))
        }
        return order.map { name in
            var keys: [String] = [], byKey: [String: [Job]] = [:]
            for (key, job) in groups[name]! {
                if byKey[key] == nil { keys.append(key) }
                byKey[key, default: []].append(job)
            }
            let points = keys.map { key -> (sparsity: Double, test: Double, runs: [(Double, Double)]) in
                let runs = byKey[key]!.map { ($0.sparsity!, $0.test!) }
                let n = Double(runs.count)
                return (runs.map(\.0).reduce(0, +) / n, runs.map(\.1).reduce(0, +) / n, runs)
            }.sorted { $0.sparsity < $1.sparsity }
            return Curve(name: name.isEmpty ? "all jobs" : name, points: points)
        }
    }

    /// The test figure against sparsity, a line of means and markers of runs per curve.
    public func chart() -> LineChart {
        let y: Axis = switch metric {
        case .accuracy: Axis("test accuracy (%)", format: .percent)
        case .cosine: Axis("test mean cosine")
        case .bitsPerToken: Axis("test bits per token (lower is better)")
        }
        var series: [Series] = []
        for (i, curve) in curves().enumerated() {
            let seeds = curve.points.map(\.runs.count).max() ?? 1
            series.append(Series(seeds > 1 ? "\(curve.name) (mean of \(seeds))" : curve.name,
                                 points: curve.points.map { ChartPoint(x: $0.sparsity, y: $0.test) }, style: .lineAndMarkers, color: i))
            if seeds > 1 {
                series.append(Series("\(curve.name), each run", points: curve.points.flatMap { $0.runs.map { ChartPoint(x: $0.0, y: $0.1) } },
                                     style: .markers, color: i))
            }
        }
        return LineChart(id: "sweep-curves", title: "\(y.label.prefix(1).uppercased() + y.label.dropFirst()) against sparsity",
                         x: Axis("sparsity reached (%)", format: .percent), y: y, series: series, width: 760, height: 420)
    }

    /// The page: the curves and the table of jobs, self-contained (XHTML, no script).
    public func html() -> String {
        let format = { (x: Double?) -> String in
            guard let x else { return "missing" }
            return metric == .accuracy ? String(format: "%.2f%%", 100 * x) : String(format: "%.4f", x)
        }
        let header = "<tr><th>job</th>" + axes.map { "<th>\(escapeXML($0))</th>" }.joined() + "<th>test \(metric.rawValue)</th><th>sparsity</th></tr>"
        let rows = jobs.enumerated().map { i, job in
            "<tr><td>\(i)</td>" + job.values.map { "<td>\(escapeXML($0))</td>" }.joined()
                + "<td>\(format(job.test))</td><td>\(job.sparsity.map { String(format: "%.1f%%", 100 * $0) } ?? "")</td></tr>"
        }
        let done = jobs.filter { $0.test != nil }.count
        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <title>\(escapeXML(title)) — Prune sweep</title>
            <style>body{font-family:system-ui,sans-serif;margin:24px;color:#111;max-width:1100px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style>
            </head>
            <body>
            <h1>\(escapeXML(title))</h1>
            <p>\(jobs.count) jobs, \(done) with results. Each curve is one combination of the grid's values; its points are the means over repeated runs (seeds), with every run as a marker.</p>
            <figure>\(chart().svg())</figure>
            <table>\(header)\(rows.joined())</table>
            </body>
            </html>

            """
    }
}
