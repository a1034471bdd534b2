import ArgumentParser
import FileFormats
import Foundation
import Pruning

/// `prune sweep run DIR [--shard I/N | --index I]`.
struct SweepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a shard of a sweep's jobs, skipping finished ones.",
        discussion: """
            Each job runs as `prune run JOB.yaml` in a process of its own; its result is written \
            atomically when it finishes, so a killed job leaves none and runs again next time. A job \
            that failed \(SweepFolder.attempts) times is reported, not retried. Without --shard or \
            --index the index comes from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set (a \
            Slurm array task, a Kubernetes Indexed Job), else every job runs. Under a scheduler (an \
            index given, or one of those variables set) a job's running mark is a cancelled task's \
            and is ignored. Exit 1 when a job of the shard failed.
            """)

    @Argument(help: "The sweep's folder.")
    var folder: String

    @Option(help: ArgumentHelp("Run every N-th job from the I-th (0-based).", valueName: "I/N"))
    var shard: String?

    @Option(help: "Run the job at this place in the plan (0-based).")
    var index: Int?

    @OptionGroup var threadOptions: ThreadOptions

    @Option(help: ArgumentHelp("The content store's folder on this machine (default: where the plan put it).", valueName: "DIR"))
    var store: String?

    @Flag(help: "No line per job.")
    var quiet = false

    /// The shard's `(I, N)`, checked.
    func parsedShard() throws -> (Int, Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (0..<n).contains(i) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N, got '\(shard)'")
        }
        return (i, n)
    }

    func validate() throws {
        _ = try parsedShard()
        if shard != nil, index != nil { throw ValidationError("--shard and --index cannot be combined") }
        if let index, index < 0 { throw ValidationError("--index must be 0 or more, got \(index)") }
    }

    func run() throws {
        let folder = SweepFolder(folder)
        let manifest = try folder.manifest()
        var chosen = manifest.jobs
        if let (i, n) = try parsedShard() {
            chosen = manifest.jobs.filter { $0.index % n == i }
        } else if let position = try index ?? Self.indexFromEnvironment() {
            guard manifest.jobs.indices.contains(position) else {
                throw ValidationError("index \(position) is outside the plan's \(manifest.jobs.count) jobs (0 to \(manifest.jobs.count - 1))")
            }
            chosen = [manifest.jobs[position]]
        }
        let store = (store ?? manifest.store).map(ContentStore.init)
        try checkStore(for: chosen, in: folder, store: store)
        // A scheduler runs each index (or shard) once at a time: a `running` mark left by a task
        // it cancelled, on whatever host, is stale.
        let scheduled = index != nil || Self.schedulerVariables.contains { ProcessInfo.processInfo.environment[$0] != nil }
        var failedHere = 0
        for (k, job) in chosen.enumerated() {
            let name = "[\(k + 1)/\(chosen.count)] job \(job.index) (\(Self.describe(job, manifest.axes)))"
            switch folder.state(job.id) {
            case .done: if !quiet { printError("\(name): done before") }; continue
            case let .running(owner) where !scheduled: if !quiet { printError("\(name): running (\(owner))") }; continue
            case .running: if !quiet { printError("\(name): its running mark (\(folder.ownerOfRunning(job.id))) is a cancelled task's; running it") }
            case let .failed(attempts):
                failedHere += 1
                printError("\(name): failed \(attempts) times, not retried; its log ends: \(folder.logTail(job.id, count: 1).first ?? "")")
                continue
            case .waiting: break
            }
            let start = Date()
            let outcome = try attempt(job, in: folder, version: manifest.version, store: store)
            let seconds = Date().timeIntervalSince(start)
            if let figure = outcome {
                if !quiet { printError(String(format: "%@: %@ (%.1f s)", name, figure, seconds)) }
            } else {
                failedHere += 1
                let failures = folder.failureCount(job.id)
                printError("\(name): failed (attempt \(failures) of \(SweepFolder.attempts)): \(folder.logTail(job.id, count: 1).first ?? "")")
            }
        }
        if failedHere > 0 { throw ExitCode.failure }
    }

    /// Runs one attempt at `job`; returns its headline figure, or nil when it failed.
    func attempt(_ job: SweepPlan.Job, in folder: SweepFolder, version: String, store: ContentStore?) throws -> String? {
        let recipe = try recipeFile(job, in: folder, store: store)
        try SweepFolder.write(Data(SweepFolder.owner.utf8), to: folder.running(job.id))
        defer {
            try? FileManager.default.removeItem(at: folder.running(job.id))
            if recipe != folder.job(job.id) { try? FileManager.default.removeItem(at: recipe) }
        }
        var arguments = ["run", recipe.path, "--json", "--quiet", "--no-report", "--threads", String(threadOptions.threads)]
        if job.resumes { arguments.append("--resume") }   // a killed attempt's checkpoint, when there is one
        try SweepFolder.append("# attempt at \(ISO8601DateFormatter().string(from: Date())) on \(SweepFolder.owner)", to: folder.log(job.id))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.executablePath)
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        let log = try FileHandle(forWritingTo: folder.log(job.id))
        try log.seekToEnd()
        process.standardError = log
        try process.run()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try? log.close()
        let status = process.terminationReason == .exit ? "exit \(process.terminationStatus)" : "signal \(process.terminationStatus)"
        guard process.terminationReason == .exit, process.terminationStatus == 0,
              let summary = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            try SweepFolder.append(status, to: folder.failures(job.id))
            return nil
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try SweepFolder.write(try encoder.encode(SweepFolder.Result(version: version, id: job.id, summary: summary)), to: folder.result(job.id))
        return Self.headline(summary)
    }

    /// The recipe to run: the job's file, or, when it names the sweep's folder or files by
    /// content, a copy with their places on this machine in place of `${sweep}` and `${store}`.
    /// - Throws: a `ValidationError` naming the entries the store lacks.
    func recipeFile(_ job: SweepPlan.Job, in folder: SweepFolder, store: ContentStore?) throws -> URL {
        let file = folder.job(job.id)
        let text = try String(contentsOf: file, encoding: .utf8)
        guard text.contains(SweepPlan.folderPlaceholder) || text.contains(SweepPlan.storePlaceholder) else { return file }
        let resolved = folder.file("running", "\(job.id).yaml")
        guard text.contains(SweepPlan.storePlaceholder) else {
            try SweepFolder.write(Data(SweepPlan.resolve(text, folder: folder.path, store: nil).utf8), to: resolved)
            return resolved
        }
        try SweepFolder.write(Data(SweepPlan.resolve(text, folder: folder.path, store: store?.path).utf8), to: resolved)
        return resolved
    }

    /// Checks, before any job runs, that the store holds every entry the jobs name.
    /// - Throws: a `ValidationError` naming the first job whose entries are missing, and them.
    func checkStore(for jobs: [SweepPlan.Job], in folder: SweepFolder, store: ContentStore?) throws {
        for job in jobs {
            let text = (try? String(contentsOf: folder.job(job.id), encoding: .utf8)) ?? ""
            guard text.contains(SweepPlan.storePlaceholder) else { continue }
            guard let store else {
                throw ValidationError("job \(job.index) names its files by content (\(SweepPlan.storePlaceholder)) but the sweep has no store: give --store DIR")
            }
            let missing = SweepPlan.storeEntries(in: text).filter { !store.contains($0) }
            guard missing.isEmpty else {
                throw ValidationError("the store \(store.path) lacks \(missing.joined(separator: ", ")) (job \(job.index)): give the store the plan used with --store, or copy its sha256 folder")
            }
        }
    }

    /// `prune.threshold.sparsity=0.5, seed=1`.
    static func describe(_ job: SweepPlan.Job, _ axes: [SweepPlan.Axis]) -> String {
        zip(axes, job.values).map { "\($0.path)=\($1)" }.joined(separator: ", ")
    }

    /// The variables a Slurm array task and a Kubernetes Indexed Job's pod find their index in.
    static let schedulerVariables = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]

    /// The index a scheduler gives this task: SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    static func indexFromEnvironment() throws -> Int? {
        let environment = ProcessInfo.processInfo.environment
        for name in schedulerVariables {
            guard let value = environment[name], !value.isEmpty else { continue }
            guard let index = Int(value), index >= 0 else { throw ValidationError("\(name) must be an index (0 or more), got '\(value)'") }
            return index
        }
        return nil
    }

    /// A result's test figure and sparsity in words.
    static func headline(_ summary: JSONValue) -> String {
        let (test, sparsity) = SweepMerge.testAndSparsity(summary)
        return [test.map { "test " + $0 }, sparsity.map { "sparsity " + $0 }].compactMap { $0 }.joined(separator: ", ")
    }
}

extension CommandLine {
    /// This executable's path (for running jobs with the same binary).
    static var executablePath: String { Bundle.main.executablePath ?? arguments[0] }
}
