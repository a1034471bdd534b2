import Foundation
import TestSupport
import Testing

@Suite("prune sweep: plan, run in shards, merge, faults")
struct SweepCommandTests {
    /// 2 sparsities × 2 criteria × 2 seeds of LeNet-300-100, a second of training each.
    static func sweep(data: URL, extra: String = "") -> String {
        """
        base:
          model: lenet300
          data: \(data.path)
          train: {epochs: 1, batch_size: 100}
          prune: {threshold: {sparsity: 0.5}}
          output: model.safetensors
        grid:
          prune.threshold.sparsity: [0.5, 0.9]
          prune.criterion: [magnitude, random]
          seed: [1, 2]\(extra)
        """
    }

    /// Starts `prune` with `arguments` without waiting.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(pruneExecutable))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["PRUNE_GEMM": "packed-6x16"].merging(environment) { $1 }) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    @Test("8 jobs planned, run as two shards at once and as one sequential run: the same merged JSON, byte for byte; every job's figures fit its values")
    func shardsMergeLikeOneRun() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 600, test: 200)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let sweepFile = folder.appendingPathComponent("sweep.yaml").path
        try Self.sweep(data: data).write(toFile: sweepFile, atomically: true, encoding: .utf8)
        let sharded = folder.appendingPathComponent("sharded").path, sequential = folder.appendingPathComponent("sequential").path
        let plan = try prune("sweep", "plan", sweepFile, "--out", sharded)
        #expect(plan.status == 0 && plan.stdout.hasPrefix("8 jobs (2 prune.threshold.sparsity × 2 prune.criterion × 2 seed) in \(sharded)"), "\(plan)")
        #expect(try prune("sweep", "plan", sweepFile, "--out", sequential).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sharded + "/jobs").count == 8)
        // Planning it again changes nothing; another sweep in the same folder is refused.
        #expect(try prune("sweep", "plan", sweepFile, "--out", sharded).status == 0)
        let other = folder.appendingPathComponent("other.yaml").path
        try Self.sweep(data: data).replacingOccurrences(of: "[1, 2]", with: "[1, 3]").write(toFile: other, atomically: true, encoding: .utf8)
        let refused = try prune("sweep", "plan", other, "--out", sharded)
        #expect(refused.status == 2 && refused.stderr.contains("\(sharded) holds another sweep"), "\(refused)")

        let shards = try (0..<2).map { try Self.start(["sweep", "run", sharded, "--shard", "\($0)/2", "--quiet"]) }
        for s in shards { s.waitUntilExit(); #expect(s.terminationStatus == 0) }
        let whole = try prune("sweep", "run", sequential)
        #expect(whole.status == 0 && whole.stderrLines.count == 8, "\(whole)")
        #expect(whole.stderrLines.first?.hasPrefix("[1/8] job 0 (prune.threshold.sparsity=0.5, prune.criterion=magnitude, seed=1): test accuracy ") == true, "\(whole)")

        let a = try prune("sweep", "merge", sharded, "--json"), b = try prune("sweep", "merge", sequential, "--json")
        #expect(a.status == 0 && b.status == 0, "\(a)\n\(b)")
        #expect(a.stdout == b.stdout)
        let merged = try singleJSONObject(a.stdout)
        let results = try #require(merged["results"] as? [[String: Any]])
        #expect(results.map { $0["index"] as? Int } == Array(0..<8))
        for r in results {
            let values = try #require(r["values"] as? [String: String]), figures = try #require(r["figures"] as? [String: Any])
            #expect(r["status"] as? String == "done")
            #expect(figures["sparsity"] as? Double == Double(values["prune.threshold.sparsity"]!), "\(r)")
            #expect(figures["cuts"].flatMap { ($0 as? [[String: Any]])?.first?["criterion"] as? String } == values["prune.criterion"], "\(r)")
            #expect(figures["trainingSeconds"] == nil && figures["output"] == nil, "times and paths are left out")
            #expect(FileManager.default.fileExists(atPath: "\(sharded)/models/\(r["id"] as! String).safetensors"))
        }
        // Magnitude keeps more accuracy than random at 90%, seed by seed: real runs, not copies.
        let accuracy = { (i: Int) in (results[i]["figures"] as? [String: Any])?["accuracy"] as? Double ?? 0 }
        #expect(accuracy(4) > accuracy(6) && accuracy(5) > accuracy(7), "\(results.map { accuracy($0["index"] as! Int) })")
        let table = try prune("sweep", "merge", sharded)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first == "job  prune.threshold.sparsity  prune.criterion  seed  test             sparsity  non-zeros", "\(table)")
        #expect(lines.dropFirst().first?.hasPrefix("  0  0.5                       magnitude        1     ") == true, "the index right-aligned: \(table)")
        let page = folder.appendingPathComponent("curves.html").path
        let reported = try prune("sweep", "merge", sharded, "--report", page)
        #expect(reported.status == 0 && reported.stdout.hasSuffix("report: \(page)\n"), "\(reported)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("id=\"sweep-curves\"") && html.contains("prune.criterion=random (mean of 2)"), "the curves: one per criterion")
        let status = try prune("sweep", "status", sharded)
        #expect(status.stdout == "8 jobs: 8 done, 0 running, 0 failed, 0 waiting\n", "\(status)")
        // Run again: nothing left to do.
        let again = try prune("sweep", "run", sharded, "--index", "3")
        #expect(again.status == 0 && again.stderr.contains("job 3 (prune.threshold.sparsity=0.5, prune.criterion=random, seed=2): done before"), "\(again)")
    }

    @Test("a job killed with its runner leaves no result and runs again; a failing job is tried 3 times, then reported; another plan's result is refused")
    func faults() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 2000, test: 200)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let sweepFile = folder.appendingPathComponent("sweep.yaml").path, dir = folder.appendingPathComponent("s").path
        // Job 1 of `data` reads a folder that does not exist: it fails every time.
        try """
            base:
              model: lenet300
              train: {epochs: 2, batch_size: 50}
              prune: {threshold: {sparsity: 0.5}}
            grid:
              data: [\(data.path), \(folder.path)/missing]
            """.write(toFile: sweepFile, atomically: true, encoding: .utf8)
        #expect(try prune("sweep", "plan", sweepFile, "--out", dir).status == 0)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sweep.json"))) as? [String: Any]
        let ids = try #require((manifest?["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String })

        // Kill the runner while job 0 trains: no result, and it is not counted as running.
        let runner = try Self.start(["sweep", "run", dir, "--index", "0"])
        let marker = "\(dir)/running/\(ids[0])"
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker), runner.isRunning, Date() < deadline { usleep(2_000) }
        kill(runner.processIdentifier, SIGKILL)
        runner.waitUntilExit()
        #expect(runner.terminationReason == .uncaughtSignal, "the job finished before it was killed")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/results/\(ids[0]).json"))
        #expect(try prune("sweep", "status", dir).stdout == "2 jobs: 0 done, 0 running, 0 failed, 2 waiting\n")

        for attempt in 1...3 {
            let run = try prune("sweep", "run", dir)
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("job 1 (data=\(folder.path)/missing): failed (attempt \(attempt) of 3): error: "), "\(run)")
        }
        let fourth = try prune("sweep", "run", dir)
        #expect(fourth.status == 1 && fourth.stderr.contains("job 1 (data=\(folder.path)/missing): failed 3 times, not retried"), "\(fourth)")
        #expect(try prune("sweep", "status", dir).stdout.hasPrefix("2 jobs: 1 done, 0 running, 1 failed, 0 waiting\njob 1 (\(ids[1])) failed 3 times: error: "))
        let merge = try prune("sweep", "merge", dir)
        #expect(merge.status == 1 && merge.stdout.contains("job 1 (data=\(folder.path)/missing) failed 3 times; its log ends:\n  error: "), "\(merge)")

        // A result written under another version of the plan is refused, naming the file.
        let file = "\(dir)/results/\(ids[0]).json"
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let version = try #require(manifest?["version"] as? String)
        try text.replacingOccurrences(of: version, with: "0123456789abcdef").write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try prune("sweep", "merge", dir, "--json")
        #expect(refused.status != 0 && refused.stdout.isEmpty && refused.stderr.contains("\(file): result belongs to another version of the plan"), "\(refused)")
    }

    @Test("the task index comes from --index, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; bad shards and indices are usage errors")
    func indices() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 300, test: 100)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let sweepFile = folder.appendingPathComponent("sweep.yaml").path, dir = folder.appendingPathComponent("s").path
        try Self.sweep(data: data).write(toFile: sweepFile, atomically: true, encoding: .utf8)
        #expect(try prune("sweep", "plan", sweepFile, "--out", dir).status == 0)
        let slurm = try prune(["sweep", "run", dir], environment: ["SLURM_ARRAY_TASK_ID": "5"])
        #expect(slurm.status == 0 && slurm.stderrLines.count == 1 && slurm.stderr.hasPrefix("[1/1] job 5 "), "\(slurm)")
        let k8s = try prune(["sweep", "run", dir], environment: ["JOB_COMPLETION_INDEX": "2"])
        #expect(k8s.status == 0 && k8s.stderr.hasPrefix("[1/1] job 2 "), "\(k8s)")
        #expect(try prune("sweep", "status", dir).stdout == "8 jobs: 2 done, 0 running, 0 failed, 6 waiting\n")
        // A running mark from another host (a task its scheduler cancelled there): taken at its
        // word by a plain run, ignored under a scheduler, which runs each index once at a time.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/sweep.json"))) as? [String: Any]
        let id3 = try #require((manifest?["jobs"] as? [[String: Any]])?[3]["id"] as? String)
        try FileManager.default.createDirectory(atPath: dir + "/running", withIntermediateDirectories: true)
        try "node-17 4242".write(toFile: "\(dir)/running/\(id3)", atomically: true, encoding: .utf8)
        #expect(try prune("sweep", "status", dir).stdout == "8 jobs: 2 done, 1 running, 0 failed, 5 waiting\n")
        let plain = try prune("sweep", "run", dir, "--shard", "3/8")
        #expect(plain.status == 0 && plain.stderr.contains("job 3 (") && plain.stderr.contains("): running (node-17 4242)"), "\(plain)")
        let cancelled = try prune(["sweep", "run", dir], environment: ["SLURM_ARRAY_TASK_ID": "3"])
        #expect(cancelled.status == 0 && cancelled.stderr.contains("its running mark (node-17 4242) is a cancelled task's; running it"), "\(cancelled)")
        #expect(try prune("sweep", "status", dir).stdout == "8 jobs: 3 done, 0 running, 0 failed, 5 waiting\n")
        for (arguments, message) in [(["--shard", "2/2"], "--shard must be I/N with 0 ≤ I < N, got '2/2'"),
                                     (["--shard", "0/2", "--index", "1"], "--shard and --index cannot be combined"),
                                     (["--index", "8"], "index 8 is outside the plan's 8 jobs (0 to 7)")] {
            let r = try prune(["sweep", "run", dir] + arguments)
            #expect(r.status == 2 && r.stderr.contains(message), "\(r)")
        }
        let none = try prune("sweep", "run", folder.path)
        #expect(none.status == 2 && none.stderr.contains("holds no sweep (no sweep.json)"), "\(none)")
    }
}
