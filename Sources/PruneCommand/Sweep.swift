import ArgumentParser
import FileFormats
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
        subcommands: [SweepPlanCommand.self, SweepRunCommand.self, SweepMerge.self, SweepStatus.self, SweepLauncherCommand.self])
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

    @Option(help: ArgumentHelp("A content store: the models, data and calibration files the recipes name are copied into it, named by their SHA-256, and the jobs name them so (docs/SCALING.md).", valueName: "DIR"))
    var store: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let text = try? String(contentsOfFile: sweepPath, encoding: .utf8) else {
            throw PruningError.invalidField(field: "sweep", problem: "cannot be read", location: sweepPath)
        }
        let folder = SweepFolder(out)
        let store = self.store.map(ContentStore.init)
        let plan = try SweepPlan(yaml: text, source: sweepPath, store: store.map { store in { try store.addIfPresent($0) } },
                                 output: { "\(SweepPlan.folderPlaceholder)/models/\($0).safetensors" })
        let manifest = SweepFolder.Manifest(version: plan.version, axes: plan.axes, jobs: plan.jobs, store: store?.path)
        if FileManager.default.fileExists(atPath: folder.file("sweep.json").path) {
            let existing = try folder.manifest()
            guard existing.version == manifest.version else {
                throw ValidationError("\(folder.path) holds another sweep (version \(existing.version), this one is \(manifest.version)): plan into another folder")
            }
        }
        for job in plan.jobs { try SweepFolder.write(Data(job.recipe.utf8), to: folder.job(job.id)) }
        for sub in ["models", "logs"] {   // Slurm writes its task logs into logs/ and makes no folders
            try FileManager.default.createDirectory(at: folder.file(sub), withIntermediateDirectories: true)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SweepFolder.write(try encoder.encode(manifest), to: folder.file("sweep.json"))
        if output.json {
            print(String(decoding: try encoder.encode(manifest), as: UTF8.self))
        } else {
            let sizes = plan.axes.map { "\($0.values.count) \($0.path)" }.joined(separator: " × ")
            print("\(plan.jobs.count) jobs (\(sizes)) in \(folder.path), version \(plan.version)")
            if let store { print("models and data by content in \(store.path)") }
            print("run them: prune sweep run \(folder.path) [--shard I/N | --index I]; then: prune sweep merge \(folder.path)")
            print("on a cluster: prune sweep launcher \(folder.path) slurm|kubernetes")
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

/// `prune sweep launcher DIR slurm|kubernetes`.
struct SweepLauncherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launcher",
        abstract: "Print a Slurm array script or a Kubernetes Indexed Job that runs a sweep's jobs.",
        discussion: """
            slurm: `prune sweep launcher DIR slurm > sweep.sbatch && sbatch sweep.sbatch`, one array task \
            per job. kubernetes: `prune sweep launcher DIR kubernetes --image IMAGE --claim PVC | kubectl \
            apply -f -`, one completion per job, the claim mounted at --mount-path. Each task runs `prune \
            sweep run DIR`, which takes its index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX and \
            skips finished jobs: submitting again completes a cancelled sweep.
            """)

    enum Scheduler: String, ExpressibleByArgument, CaseIterable { case slurm, kubernetes }

    @Argument(help: "The sweep's folder.")
    var folder: String

    @Argument(help: "slurm or kubernetes.")
    var scheduler: Scheduler

    @Option(help: ArgumentHelp("The prune executable on the workers (default: this one).", valueName: "PATH"))
    var prune: String?

    @Option(help: ArgumentHelp("The sweep's folder on the workers (default: DIR; kubernetes: MOUNT/NAME of DIR).", valueName: "PATH"))
    var workerFolder: String?

    @Option(help: ArgumentHelp("The content store on the workers (default: the plan's; kubernetes: MOUNT/NAME of it).", valueName: "PATH"))
    var workerStore: String?

    @Option(help: "Threads (and CPUs) per job.")
    var threads = 1

    @Option(help: "Jobs at once (Slurm: the array's %limit, none by default; Kubernetes: parallelism, default 8).")
    var parallel: Int?

    @Option(help: "Slurm: the partition.")
    var partition: String?

    @Option(help: "Slurm: the time limit per job (e.g. 1:00:00).")
    var time: String?

    @Option(help: "Kubernetes: the container image, with prune on its PATH.")
    var image = "prune:latest"

    @Option(help: "Kubernetes: the PersistentVolumeClaim that holds the sweep's folder and store.")
    var claim = "prune-shared"

    @Option(help: "Kubernetes: where the claim is mounted in each pod.")
    var mountPath = "/shared"

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be 1 or more, got \(threads)") }
        if let parallel, parallel < 1 { throw ValidationError("--parallel must be 1 or more, got \(parallel)") }
    }

    func run() throws {
        let folder = SweepFolder(folder)
        let manifest = try folder.manifest()
        let inPod = { (path: String) in self.mountPath + "/" + URL(fileURLWithPath: path).lastPathComponent }
        switch scheduler {
        case .slurm:
            let command = SweepLauncher.Command(executable: prune ?? CommandLine.executablePath, folder: workerFolder ?? folder.path,
                                                threads: threads, store: workerStore ?? manifest.store)
            print(SweepLauncher.slurm(command, jobs: manifest.jobs.count, version: manifest.version, parallel: parallel,
                                      partition: partition, time: time), terminator: "")
        case .kubernetes:
            let command = SweepLauncher.Command(executable: prune ?? "prune", folder: workerFolder ?? inPod(folder.path),
                                                threads: threads, store: workerStore ?? manifest.store.map(inPod))
            print(SweepLauncher.kubernetes(command, jobs: manifest.jobs.count, version: manifest.version, image: image,
                                           claim: claim, mountPath: mountPath, parallel: parallel ?? 8), terminator: "")
        }
    }
}
