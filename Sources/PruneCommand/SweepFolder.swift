import ArgumentParser
import Foundation
import Pruning

/// A sweep's folder, as `prune sweep plan` writes it and the other sweep commands read it:
///
/// ```
/// DIR/sweep.json            the plan: its version, the grid's axes, every job (index, id, values)
/// DIR/jobs/ID.yaml          each job's whole recipe
/// DIR/results/ID.json       a finished job's result (written atomically, last of all)
/// DIR/logs/ID.log           what each attempt at the job printed on stderr
/// DIR/failed/ID             one line per failed attempt (its exit status)
/// DIR/running/ID            while an attempt runs: its host and process id
/// DIR/running/ID.yaml       while it runs: the recipe with `${sweep}` and `${store}` resolved
/// DIR/models/ID.safetensors each job's model, when the base recipe saves one
/// ```
///
/// Every job is independent of the others and of the machine that runs it, so shards run
/// anywhere the folder is (a shared file system on a cluster).
struct SweepFolder {
    let url: URL

    /// A job's attempts at most: after this many failures it is reported, not retried.
    static let attempts = 3

    /// What `sweep.json` holds.
    struct Manifest: Codable, Equatable {
        /// The plan's version (a hash of every job's id).
        var version: String
        var axes: [SweepPlan.Axis]
        /// Every job, without its recipe (in `jobs/ID.yaml`).
        var jobs: [SweepPlan.Job]
        /// The content store the jobs' files were added to when planned, if any.
        var store: String?
    }

    /// A job's state, from the files in the folder.
    enum JobState: Equatable {
        case done, running(String), failed(attempts: Int), waiting(failures: Int)
    }

    /// A result file's content: the plan's version, the job and `prune run --json`'s summary.
    struct Result: Codable {
        var version: String, id: String
        var summary: JSONValue
    }

    init(_ path: String) { url = URL(fileURLWithPath: path).standardizedFileURL }

    var path: String { url.path }
    func file(_ parts: String...) -> URL { parts.reduce(url) { $0.appendingPathComponent($1) } }
    func job(_ id: String) -> URL { file("jobs", "\(id).yaml") }
    func result(_ id: String) -> URL { file("results", "\(id).json") }
    func log(_ id: String) -> URL { file("logs", "\(id).log") }
    func failures(_ id: String) -> URL { file("failed", id) }
    func running(_ id: String) -> URL { file("running", id) }

    /// Reads `sweep.json`.
    /// - Throws: a `ValidationError` when the folder holds no sweep (naming it).
    func manifest() throws -> Manifest {
        let file = file("sweep.json")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ValidationError("\(path) holds no sweep (no sweep.json): make one with `prune sweep plan SWEEP.yaml --out \(path)`")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw PruningError.invalidField(field: "sweep.json", problem: "cannot be read: \(error)", location: file.path)
        }
    }

    /// How many attempts at job `id` failed.
    func failureCount(_ id: String) -> Int {
        guard let text = try? String(contentsOf: failures(id), encoding: .utf8) else { return 0 }
        return text.split(separator: "\n").count
    }

    /// The state of job `id`.
    func state(_ id: String) -> JobState {
        if FileManager.default.fileExists(atPath: result(id).path) { return .done }
        if let owner = try? String(contentsOf: running(id), encoding: .utf8), Self.isAlive(owner) {
            return .running(owner.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let failures = failureCount(id)
        return failures >= Self.attempts ? .failed(attempts: failures) : .waiting(failures: failures)
    }

    /// What job `id`'s running mark says (`host pid`), or "no mark".
    func ownerOfRunning(_ id: String) -> String {
        ((try? String(contentsOf: running(id), encoding: .utf8)) ?? "no mark").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The last `count` lines of job `id`'s log.
    func logTail(_ id: String, count: Int = 3) -> [String] {
        guard let text = try? String(contentsOf: log(id), encoding: .utf8) else { return [] }
        return Array(text.split(separator: "\n").suffix(count).map(String.init))
    }

    /// This process as a `running/ID` file names it: `host pid`.
    static var owner: String { "\(ProcessInfo.processInfo.hostName) \(ProcessInfo.processInfo.processIdentifier)" }

    /// Whether the attempt `owner` names still runs: a process of this host that exists
    /// (another host's attempts are taken at their word).
    static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: " ")
        guard parts.count == 2, let pid = Int32(parts[1]) else { return false }
        guard parts[0] == ProcessInfo.processInfo.hostName else { return true }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Writes `data` to `url` atomically, making its folder when needed.
    static func write(_ data: Data, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url, options: .atomic)
    }

    /// Appends a line to `url`, making the file and its folder when needed.
    static func append(_ line: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((line + "\n").utf8))
    }
}
