/// Scripts that hand a sweep's jobs to a scheduler people already run: a Slurm array (one
/// task per job, the task's index from `SLURM_ARRAY_TASK_ID`) and a Kubernetes Indexed Job
/// (one completion per job, the index from `JOB_COMPLETION_INDEX`). Each task runs
/// `prune sweep run FOLDER`, which finds its index in the environment and skips finished jobs,
/// so a re-submitted array completes what a cancelled one left.
public enum SweepLauncher {
    /// What every task runs.
    public struct Command: Sendable {
        /// The `prune` executable, as the workers see it.
        public var executable: String
        /// The sweep's folder, as the workers see it.
        public var folder: String
        /// Threads per job.
        public var threads: Int
        /// The content store, as the workers see it, when the plan used one.
        public var store: String?

        public init(executable: String, folder: String, threads: Int = 1, store: String? = nil) {
            self.executable = executable; self.folder = folder; self.threads = threads; self.store = store
        }

        /// The command's words.
        public var arguments: [String] {
            [executable, "sweep", "run", folder, "--threads", String(threads)] + (store.map { ["--store", $0] } ?? [])
        }
    }

    /// Array tasks per script at most: Slurm's default `MaxArraySize` is 1001 (indices 0-1000).
    public static let slurmArrayLimit = 1000

    /// A `sbatch` script running `jobs` jobs as the array `0-(A-1)`, A = min(jobs, 1000), task I
    /// running the shard `I/A` (one job each up to 1,000 jobs), at most `parallel` at once (nil:
    /// as many as Slurm places), each task's output in the sweep's `logs` folder.
    public static func slurm(_ command: Command, jobs: Int, version: String, parallel: Int? = nil,
                             partition: String? = nil, time: String? = nil) -> String {
        let tasks = min(jobs, slurmArrayLimit)
        // Slurm reads % in --output as a pattern; a path with blanks is quoted.
        var log = "\(command.folder)/logs/".replacing("%", with: "%%") + "slurm-%A_%a.out"
        if log.contains(where: \.isWhitespace) { log = "\"\(log)\"" }
        var lines = [
            "#!/bin/bash",
            "# A Slurm array for the sweep in \(command.folder) (version \(version)): \(jobs) jobs in \(tasks) tasks.",
            "# Submit: sbatch THIS_FILE. After scancel or node failures, submit it again: finished jobs are skipped.",
            "#SBATCH --job-name=prune-sweep-\(version.prefix(8))",
            "#SBATCH --array=0-\(tasks - 1)\(parallel.map { "%\($0)" } ?? "")",
            "#SBATCH --ntasks=1",
            "#SBATCH --cpus-per-task=\(command.threads)",
            "#SBATCH --output=\(log)",
        ]
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        lines += ["", "exec " + command.arguments.map(shellQuoted).joined(separator: " ") + " --shard \"${SLURM_ARRAY_TASK_ID}/\(tasks)\"", ""]
        return lines.joined(separator: "\n")
    }

    /// A Kubernetes Indexed Job manifest (batch/v1) running `jobs` jobs, `parallel` pods at once,
    /// the claim `claim` mounted at `mountPath` in every pod (the sweep's folder and store live on
    /// it). Each index gets 2 retries of its pod (`backoffLimitPerIndex`, Kubernetes ≥ 1.29), so a
    /// job that keeps failing fails its index, not the others; the sweep's own 3 attempts per job
    /// still hold.
    public static func kubernetes(_ command: Command, jobs: Int, version: String, image: String, claim: String,
                                  mountPath: String = "/shared", parallel: Int = 8) -> String {
        let words = command.arguments.map(jsonQuoted).joined(separator: ", ")
        return """
            # A Kubernetes Indexed Job for the sweep in \(command.folder) (version \(version)): one completion per job.
            # Apply: kubectl apply -f THIS_FILE. To finish a sweep cut short, delete the Job and apply
            # this file again: finished jobs are skipped.
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: prune-sweep-\(version.prefix(8))
              labels: {app: prune-sweep}
            spec:
              completions: \(jobs)
              parallelism: \(min(parallel, jobs))
              completionMode: Indexed
              backoffLimitPerIndex: 2
              template:
                metadata:
                  labels: {app: prune-sweep}
                spec:
                  restartPolicy: Never
                  containers:
                    - name: prune
                      image: \(jsonQuoted(image))
                      command: [\(words)]
                      resources:
                        requests: {cpu: "\(command.threads)"}
                        limits: {cpu: "\(command.threads)"}
                      volumeMounts:
                        - {name: shared, mountPath: \(jsonQuoted(mountPath))}
                  volumes:
                    - name: shared
                      persistentVolumeClaim: {claimName: \(jsonQuoted(claim))}

            """
    }

    /// `word` quoted for a POSIX shell (left bare when it needs no quoting).
    public static func shellQuoted(_ word: String) -> String {
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:@%+,".contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacing("'", with: "'\\''") + "'"
    }

    /// `word` as a JSON (and so YAML flow) string.
    static func jsonQuoted(_ word: String) -> String {
        var out = "\""
        for scalar in word.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
