import ArgumentParser
import Foundation
import Pruning
import Reports

/// `prune sweep merge DIR [--json]`.
struct SweepMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Gather a sweep's results in plan order: a table, or JSON.",
        discussion: """
            One row per job in plan order: its grid values, test figure, sparsity and count of \
            non-zero parameters. Jobs without a result are listed as missing, failed jobs with the last lines of \
            their logs. --json prints {"version", "axes", "results": [...]}, each result with its \
            index, id, values (by path), status and figures (the run's summary without times and \
            paths), so that the same sweep merges to the same bytes however its jobs were run. A \
            result of another version of the plan is refused. Exit 1 while jobs are missing or failed.
            """)

    @Argument(help: "The sweep's folder.")
    var folder: String

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Also write a page with the test figure against sparsity, one curve per combination of the other values, means over seeds.", valueName: "FILE.html"))
    var report: String?

    /// Summary fields that depend on the machine or the moment, not on the plan.
    static let unstable: Set<String> = ["trainingSeconds", "pruningSeconds", "seconds", "samplesPerSecond", "output", "reportPath"]

    func run() throws {
        let folder = SweepFolder(folder)
        let manifest = try folder.manifest()
        var entries: [JSONValue] = []
        var rows: [[String]] = []
        var problems: [String] = []
        var reportJobs: [SweepReport.Job] = []
        var metric: SweepReport.Metric?
        for job in manifest.jobs {
            let values = JSONValue.object(Dictionary(uniqueKeysWithValues: zip(manifest.axes.map(\.path), job.values.map(JSONValue.string))))
            var entry: [String: JSONValue] = ["index": .number(Double(job.index)), "id": .string(job.id), "values": values]
            let state = folder.state(job.id)
            let name = "job \(job.index) (\(SweepRunCommand.describe(job, manifest.axes)))"
            switch state {
            case .done:
                let file = folder.result(job.id)
                let result: SweepFolder.Result
                do {
                    result = try JSONDecoder().decode(SweepFolder.Result.self, from: Data(contentsOf: file))
                } catch {
                    throw PruningError.invalidField(field: "result", problem: "cannot be read: \(error)", location: file.path)
                }
                guard result.version == manifest.version, result.id == job.id else {
                    throw PruningError.invalidField(field: "result", problem: "belongs to another version of the plan (\(result.version), this one is \(manifest.version)); run the job again: remove the file", location: file.path)
                }
                entry["status"] = .string("done")
                entry["figures"] = result.summary.removing(Self.unstable)
                rows.append([String(job.index)] + job.values + Self.figures(result.summary))
                let (kind, test) = Self.metric(result.summary)
                metric = metric ?? kind
                reportJobs.append(.init(values: job.values, test: test, sparsity: result.summary["sparsity"]?.number))
            case let .failed(attempts):
                entry["status"] = .string("failed")
                entry["log"] = .array(folder.logTail(job.id).map(JSONValue.string))
                problems.append("\(name) failed \(attempts) times; its log ends:")
                problems += folder.logTail(job.id).map { "  " + $0 }
                rows.append([String(job.index)] + job.values + ["failed", "", ""])
                reportJobs.append(.init(values: job.values, test: nil, sparsity: nil))
            case .running, .waiting:
                entry["status"] = .string("missing")
                problems.append("\(name) has no result yet\(state == .waiting(failures: 0) ? "" : ", \(Self.describe(state))")")
                rows.append([String(job.index)] + job.values + ["missing", "", ""])
                reportJobs.append(.init(values: job.values, test: nil, sparsity: nil))
            }
            entries.append(.object(entry))
        }
        if output.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let axes = JSONValue.array(manifest.axes.map { .object(["path": .string($0.path), "values": .array($0.values.map(JSONValue.string))]) })
            let merged = JSONValue.object(["version": .string(manifest.version), "axes": axes, "results": .array(entries)])
            print(String(decoding: try encoder.encode(merged), as: UTF8.self))
        } else {
            let header = ["job"] + manifest.axes.map(\.path) + ["test", "sparsity", "non-zeros"]
            print(Self.table([header] + rows))
            problems.forEach { print($0) }
        }
        if let report {
            let page = SweepReport(title: "Sweep \(folder.url.lastPathComponent) (\(manifest.version))", axes: manifest.axes.map(\.path),
                                   metric: metric ?? .accuracy, jobs: reportJobs)
            try SweepFolder.write(Data(page.html().utf8), to: URL(fileURLWithPath: report))
            if !output.json { print("report: \(report)") }
        }
        if !problems.isEmpty { throw ExitCode.failure }
    }

    /// What a run's test figure measures, and its value.
    static func metric(_ summary: JSONValue) -> (SweepReport.Metric?, Double?) {
        if let bits = summary["bitsPerToken"]?.number { return (.bitsPerToken, bits) }
        guard let accuracy = summary["accuracy"]?.number else { return (nil, nil) }
        return (summary["cosine"] == .bool(true) ? .cosine : .accuracy, accuracy)
    }

    static func describe(_ state: SweepFolder.JobState) -> String {
        switch state {
        case let .running(owner): "running (\(owner))"
        case let .waiting(failures): "\(failures) failed attempt\(failures == 1 ? "" : "s")"
        default: ""
        }
    }

    /// The test figure and the sparsity of a run's summary, in words (`accuracy 84.21%`,
    /// `mean cosine 0.9312`, `1.8123 bits per token`; `51.0%`).
    static func testAndSparsity(_ summary: JSONValue) -> (test: String?, sparsity: String?) {
        let test: String? = switch metric(summary) {
        case let (.bitsPerToken?, value?): String(format: "%.4f bits per token", value)
        case let (.cosine?, value?): String(format: "mean cosine %.4f", value)
        case let (.accuracy?, value?): String(format: "accuracy %.2f%%", 100 * value)
        default: nil
        }
        return (test, summary["sparsity"]?.number.map { String(format: "%.1f%%", 100 * $0) })
    }

    /// The test figure, the sparsity and the count of non-zero parameters of a run's summary.
    static func figures(_ summary: JSONValue) -> [String] {
        let (test, sparsity) = testAndSparsity(summary)
        let nonZeros = summary["report"]?["totals"]?["nonZeros"]?.number.map { String(Int($0)) } ?? ""
        return [test ?? "", sparsity ?? "-", nonZeros]
    }

    /// Columns padded to their widest cell, the job's index right-aligned.
    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c == 0 ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }
}
