import Foundation
import TestSupport
import Testing
import Yams

/// Sweeps through the schedulers people run: a real Slurm (Debian's slurm-wlm and munge, started
/// on loopback by tools/slurm/local-slurm.sh) and a Kubernetes Indexed Job (the manifest checked
/// against Kubernetes' schema by kubernetes-validate, its index logic run here, pod by pod).
@Suite("prune sweep on schedulers: a local Slurm array, a Kubernetes Indexed Job", .serialized)
struct SweepSchedulerTests {
    static let inCI = ProcessInfo.processInfo.environment["CI"] != nil

    /// The first of `names` on PATH, or nil.
    static func onPath(_ name: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin:/usr/sbin:/sbin").split(separator: ":")
            .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var slurmInstalled: Bool {
        ["slurmctld", "slurmd", "munged", "sbatch"].allSatisfy { onPath($0) != nil || FileManager.default.isExecutableFile(atPath: "/usr/sbin/\($0)") }
    }

    /// Runs `program` (looked up on PATH) with `arguments`.
    static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try runProgram("/usr/bin/env", [program] + arguments, environment: environment)
    }

    /// Plans the 8-job sweep of `SweepCommandTests` into `folder/name` with the store `folder/store`.
    static func plan(_ folder: URL, _ name: String, data: URL) throws -> String {
        let sweepFile = folder.appendingPathComponent("sweep.yaml").path
        try SweepCommandTests.sweep(data: data).write(toFile: sweepFile, atomically: true, encoding: .utf8)
        let dir = folder.appendingPathComponent(name).path
        let plan = try prune("sweep", "plan", sweepFile, "--out", dir, "--store", folder.appendingPathComponent("store").path)
        #expect(plan.status == 0, "\(plan)")
        return dir
    }

    /// Polls `condition` every 0.2 s for at most `seconds`.
    static func wait(seconds: Double, until condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(200_000)
        }
        return try condition()
    }

    @Test("a Slurm array of 8 jobs, half its tasks cancelled before they start: 4 missing; submitted again, the merged JSON equals a sequential run's byte for byte",
          .enabled(if: slurmInstalled || inCI, "needs Debian's slurm-wlm and munge (make test installs them)"))
    func slurmArray() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 600, test: 200)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let script = packageRoot.appendingPathComponent("tools/slurm/local-slurm.sh").path
        let slurmDir = folder.appendingPathComponent("slurm").path
        let started = try runProgram("/bin/bash", [script, "start", slurmDir])
        defer { _ = try? runProgram("/bin/bash", [script, "stop", slurmDir]) }
        try #require(started.status == 0, "local Slurm did not start: \(started.stderr)")
        let slurm = ["SLURM_CONF": slurmDir + "/slurm.conf", "PRUNE_GEMM": "packed-6x16"]

        let array = try Self.plan(folder, "array", data: data), sequential = try Self.plan(folder, "sequential", data: data)
        let launcher = try prune("sweep", "launcher", array, "slurm", "--time", "5")   // a task that hangs ends; sbatch --wait returns
        #expect(launcher.status == 0 && launcher.stdout.contains("#SBATCH --array=0-7\n")
                && launcher.stdout.hasSuffix(" --threads 1 --store \(folder.path)/store --shard \"${SLURM_ARRAY_TASK_ID}/8\"\n"), "\(launcher)")
        let sbatch = folder.appendingPathComponent("array.sbatch").path
        try launcher.stdout.write(toFile: sbatch, atomically: true, encoding: .utf8)

        // Submitted held, half the tasks cancelled, then released.
        let submitted = try Self.run("sbatch", ["--hold", "--parsable", sbatch], environment: slurm)
        let jobID = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(submitted.status == 0 && Int(jobID) != nil, "\(submitted.stdout)\(submitted.stderr)")
        #expect(try Self.run("scancel", ["\(jobID)_[4-7]"], environment: slurm).status == 0)
        #expect(try Self.run("scontrol", ["release", jobID], environment: slurm).status == 0)
        let drained = try Self.wait(seconds: 180) {
            try Self.run("squeue", ["-h", "-j", jobID], environment: slurm).stdout.isEmpty
        }
        try #require(drained, "the array did not finish in 180 s")
        let partial = try prune("sweep", "merge", array)
        #expect(partial.status == 1 && partial.stdout.components(separatedBy: "has no result yet").count == 5, "\(partial)")
        #expect(try prune("sweep", "status", array).stdout == "8 jobs: 4 done, 0 running, 0 failed, 4 waiting\n")
        let log = try String(contentsOfFile: "\(array)/logs/slurm-\(jobID)_0.out", encoding: .utf8)
        #expect(log.contains("job 0 (prune.threshold.sparsity=0.5, prune.criterion=magnitude, seed=1): test accuracy"), "\(log)")

        // The same script again: the finished half is skipped, the rest runs.
        let again = try Self.run("sbatch", ["--wait", sbatch], environment: slurm)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let whole = try prune("sweep", "run", sequential)
        #expect(whole.status == 0, "\(whole)")
        let a = try prune("sweep", "merge", array, "--json"), b = try prune("sweep", "merge", sequential, "--json")
        #expect(a.status == 0 && a.stdout == b.stdout, "\(a)\n\(b)")
        #expect(try singleJSONObject(a.stdout)["results"].map { ($0 as? [Any])?.count } == 8)
    }

    @Test("a Kubernetes Indexed Job: its pods, run here by index two at a time, complete the sweep like a sequential run; an index past the plan is refused")
    func kubernetesIndexedJob() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 600, test: 200)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let shared = folder.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        let indexed = try Self.plan(shared, "sweep", data: data), sequential = try Self.plan(shared, "sequential", data: data)
        let launcher = try prune("sweep", "launcher", indexed, "kubernetes", "--image", "registry.example/prune:1", "--claim", "sweeps", "--parallel", "2")
        #expect(launcher.status == 0, "\(launcher)")
        let manifestFile = folder.appendingPathComponent("job.yaml").path
        try launcher.stdout.write(toFile: manifestFile, atomically: true, encoding: .utf8)

        let manifest = try #require(try Yams.load(yaml: launcher.stdout) as? [String: Any])
        let spec = try #require(manifest["spec"] as? [String: Any])
        #expect(manifest["kind"] as? String == "Job" && manifest["apiVersion"] as? String == "batch/v1")
        #expect(spec["completionMode"] as? String == "Indexed" && spec["completions"] as? Int == 8 && spec["parallelism"] as? Int == 2)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let mount = try #require((container["volumeMounts"] as? [[String: Any]])?.first?["mountPath"] as? String)
        let claim = (pod["volumes"] as? [[String: Any]])?.first?["persistentVolumeClaim"] as? [String: Any]
        #expect(mount == "/shared" && claim?["claimName"] as? String == "sweeps" && container["image"] as? String == "registry.example/prune:1")
        let command = try #require(container["command"] as? [String])
        #expect(command == ["prune", "sweep", "run", "/shared/sweep", "--threads", "1", "--store", "/shared/store"])
        #expect(spec["backoffLimitPerIndex"] as? Int == 2, "a job that keeps failing fails its index, not the sweep")

        // Each pod as Kubernetes starts it: the command, the claim at /shared, JOB_COMPLETION_INDEX set.
        let local = command.dropFirst().map { $0.replacingOccurrences(of: mount, with: shared.path) }
        for pair in stride(from: 0, to: 8, by: 2) {
            let pods = try (pair..<pair + 2).map { try SweepCommandTests.start(Array(local), environment: ["JOB_COMPLETION_INDEX": "\($0)"]) }
            for p in pods { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        }
        let outside = try prune(Array(local), environment: ["JOB_COMPLETION_INDEX": "8"])
        #expect(outside.status != 0 && outside.stderr.contains("index 8 is outside the plan's 8 jobs (0 to 7)"), "\(outside)")
        #expect(try prune("sweep", "run", sequential).status == 0)
        let a = try prune("sweep", "merge", indexed, "--json"), b = try prune("sweep", "merge", sequential, "--json")
        #expect(a.status == 0 && a.stdout == b.stdout, "\(a)\n\(b)")
    }

    @Test("the Kubernetes manifest is valid against Kubernetes 1.30's batch/v1 schema (kubernetes-validate --strict), which refuses a field of the wrong type",
          .enabled(if: onPath("kubernetes-validate") != nil || inCI, "needs kubernetes-validate from PyPI (.ci/run installs it)"))
    func kubernetesSchema() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 100, test: 50)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let dir = try Self.plan(folder, "sweep", data: data)
        let launcher = try prune("sweep", "launcher", dir, "kubernetes", "--image", "registry.example/prune:1", "--claim", "sweeps", "--parallel", "2")
        let manifest = folder.appendingPathComponent("job.yaml").path, broken = folder.appendingPathComponent("broken.yaml").path
        try launcher.stdout.write(toFile: manifest, atomically: true, encoding: .utf8)
        try launcher.stdout.replacingOccurrences(of: "parallelism: 2", with: "parallelism: two").write(toFile: broken, atomically: true, encoding: .utf8)
        let valid = try Self.run("kubernetes-validate", ["-k", "1.30.0", "--strict", manifest])
        #expect(valid.status == 0 && valid.stdout.contains("passed"), "\(valid.stdout)\(valid.stderr)")
        let refused = try Self.run("kubernetes-validate", ["-k", "1.30.0", "--strict", broken])
        #expect(refused.status != 0 && refused.stdout.contains("spec.parallelism"), "\(refused.stdout)\(refused.stderr)")
    }
}
