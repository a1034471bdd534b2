import ArgumentParser
import Foundation
import Pruning

/// `prune sweep`: a grid of recipes split into jobs that any scheduler can run.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plan a grid of recipes as independent jobs, run shards of them anywhere, merge the results.",
        discussion: """
            A sweep file has a `base:` recipe and a `grid:` of dotted recipe paths, each with a list \
            of values (docs/SCALING.md). `plan` writes one recipe per combination into a folder; \
            `run` runs a shard of the jobs (GNU parallel, a Slurm array, a Kubernetes Indexed Job), \
            skipping finished ones; `merge` gathers the results in plan order; `status` counts them.
            """,
        subcommands: [SweepPlanCommand.self, SweepRunCommand.self, SweepMerge.self, SweepStatus.self])
}

/// `prune sweep plan SWEEP.yaml --out DIR`.
struct SweepPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Expand a sweep's grid into one recipe per job, in a folder.",
        discussion: """
            Every combination of the grid's values is a job: the base recipe with those values set, \
            checked as `prune run` checks a recipe, named by a hash of its text. A base recipe with \
            an `output` gives each job its own, DIR/models/ID.safetensors. Planning the same sweep \
            into the same folder again changes nothing; another sweep into it is refused.
            """)

    @Argument(help: "The sweep file (YAML or JSON): base and grid.")
    var sweepPath: String

    @Option(help: "The sweep's folder (made when missing).")
    var out: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let text = try? String(contentsOfFile: sweepPath, encoding: .utf8) else {
            throw PruningError.invalidField(field: "sweep", problem: "cannot be read", location: sweepPath)
        }
        let folder = SweepFolder(out)
        let plan = try SweepPlan(yaml: text, source: sweepPath) { folder.file("models", "\($0).safetensors").path }
        let manifest = SweepFolder.Manifest(version: plan.version, axes: plan.axes,
                                            jobs: plan.jobs.map { .init(index: $0.index, id: $0.id, values: $0.values) })
        if FileManager.default.fileExists(atPath: folder.file("sweep.json").path) {
            let existing = try folder.manifest()
            guard existing.version == manifest.version else {
                throw ValidationError("\(folder.path) holds another sweep (version \(existing.version), this one is \(manifest.version)): plan into another folder")
            }
        }
        for job in plan.jobs { try SweepFolder.write(Data(job.recipe.utf8), to: folder.job(job.id)) }
        try FileManager.default.createDirectory(at: folder.file("models"), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SweepFolder.write(try encoder.encode(manifest), to: folder.file("sweep.json"))
        if output.json {
            print(String(decoding: try encoder.encode(manifest), as: UTF8.self))
        } else {
            let sizes = plan.axes.map { "\($0.values.count) \($0.path)" }.joined(separator: " × ")
            print("\(plan.jobs.count) jobs (\(sizes)) in \(folder.path), version \(plan.version)")
            print("run them: prune sweep run \(folder.path) [--shard I/N | --index I]; then: prune sweep merge \(folder.path)")
        }
    }
}

/// `prune sweep status DIR`.
struct SweepStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Count a sweep's jobs: done, running, failed, waiting.")

    @Argument(help: "The sweep's folder.")
    var folder: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let folder = SweepFolder(folder)
        let manifest = try folder.manifest()
        var counts = ["done": 0, "running": 0, "failed": 0, "waiting": 0]
        var failed: [String] = []
        for job in manifest.jobs {
            switch folder.state(job.id) {
            case .done: counts["done"]! += 1
            case .running: counts["running"]! += 1
            case .waiting: counts["waiting"]! += 1
            case let .failed(attempts):
                counts["failed"]! += 1
                failed.append("job \(job.index) (\(job.id)) failed \(attempts) times: \(folder.logTail(job.id, count: 1).first ?? "no log")")
            }
        }
        if output.json {
            let object: [String: Any] = ["jobs": manifest.jobs.count, "version": manifest.version].merging(counts) { $1 }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("\(manifest.jobs.count) jobs: \(counts["done"]!) done, \(counts["running"]!) running, \(counts["failed"]!) failed, \(counts["waiting"]!) waiting")
            failed.forEach { print($0) }
        }
    }
}
