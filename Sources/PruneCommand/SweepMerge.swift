import ArgumentParser
import Foundation
import Pruning

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

    /// Summary fields that depend on the machine or the moment, not on the plan.
    static let unstable: Set<String> = ["trainingSeconds", "pruningSeconds", "seconds", "samplesPerSecond", "output", "reportPath"]

    func run() throws {
        let folder = SweepFolder(folder)
        let manifest = try folder.manifest()
        var entries: [JSONValue] = []
        var rows: [[String]] = []
        var problems: [String] = []
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
            case let .failed(attempts):
                entry["status"] = .string("failed")
                entry["log"] = .array(folder.logTail(job.id).map(JSONValue.string))
                problems.append("\(name) failed \(attempts) times; its log ends:")
                problems += folder.logTail(job.id).map { "  " + $0 }
                rows.append([String(job.index)] + job.values + ["failed", "", ""])
            case .running, .waiting:
                entry["status"] = .string("missing")
                problems.append("\(name) has no result yet\(state == .waiting(failures: 0) ? "" : ", \(Self.describe(state))")")
                rows.append([String(job.index)] + job.values + ["missing", "", ""])
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
        if !problems.isEmpty { throw ExitCode.failure }
    }

    static func describe(_ state: SweepFolder.JobState) -> String {
        switch state {
        case let .running(owner): "running (\(owner))"
        case let .waiting(failures): "\(failures) failed attempt\(failures == 1 ? "" : "s")"
        default: ""
        }
    }

    /// The test figure, the sparsity and the count of non-zero parameters of a run's summary.
    static func figures(_ summary: JSONValue) -> [String] {
        var test = ""
        if let bits = summary["bitsPerToken"]?.number {
            test = String(format: "%.4f bits", bits)
        } else if let accuracy = summary["accuracy"]?.number {
            test = summary["cosine"] == .bool(true) ? String(format: "%.4f cos", accuracy) : String(format: "%.2f%%", 100 * accuracy)
        }
        let sparsity = summary["sparsity"]?.number.map { String(format: "%.1f%%", 100 * $0) } ?? "-"
        let nonZeros = summary["report"]?["totals"]?["nonZeros"]?.number.map { String(Int($0)) } ?? ""
        return [test, sparsity, nonZeros]
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
