import Crypto
import Foundation

/// A folder of files and folders named by the SHA-256 of their content, so that a sweep's
/// jobs name their models and data the same way on a laptop and on a cluster:
///
/// ```
/// STORE/sha256/HEX/NAME       a file, or a folder with its files, under its own name
/// ```
///
/// A job's recipe names an entry as `${store}/sha256/HEX/NAME`, which `resolve` turns into a
/// path once the store's place on the machine that runs the job is known. The text of the
/// recipe, and so the job's id, does not depend on where the store is.
public struct ContentStore: Sendable {
    /// What a recipe writes for the store's folder.
    public static let placeholder = "${store}"

    /// The store's folder.
    public let url: URL

    public init(_ path: String) { url = URL(fileURLWithPath: path).standardizedFileURL }

    public var path: String { url.path }

    /// The recipe fields that name files or folders, as dotted paths.
    public static let fileFields: [[String]] = [
        ["model"], ["data"], ["prune", "calibration", "file"], ["train", "distill", "teacher"], ["fine_tune", "distill", "teacher"],
    ]

    /// Adds the file or folder at `path` (when not there already) and returns how a recipe names it.
    ///
    /// The content is copied beside the store first (symbolic links copied as the files they
    /// name), hashed there, and moved into `sha256/HEX/NAME`: no reader sees half an entry, a
    /// file that changes meanwhile is stored under the digest of what was copied, and an entry
    /// is never replaced or removed (two planners adding the same content both succeed).
    /// - Throws: `PruningError.invalidField` when it cannot be read or copied.
    public func add(_ path: String) throws -> String {
        let source = URL(fileURLWithPath: path).standardizedFileURL
        let name = source.lastPathComponent
        let manager = FileManager.default
        let staging = url.appendingPathComponent("staging-\(UUID().uuidString)")
        defer { try? manager.removeItem(at: staging) }
        let digest: String
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: true)
            try Self.copyResolvingLinks(source, to: staging.appendingPathComponent(name))
            digest = try Self.digest(of: staging.appendingPathComponent(name))
            let entry = url.appendingPathComponent("sha256").appendingPathComponent(digest)
            try manager.createDirectory(at: entry, withIntermediateDirectories: true)
            let target = entry.appendingPathComponent(name)
            if !manager.fileExists(atPath: target.path) {
                do {
                    try manager.moveItem(at: staging.appendingPathComponent(name), to: target)
                } catch where manager.fileExists(atPath: target.path) {
                    // Another planner put the same content there first.
                }
            }
        } catch let error as PruningError {
            throw error
        } catch {
            throw PruningError.invalidField(field: "store", problem: "cannot take \(path): \(error.localizedDescription)", location: self.path)
        }
        return "\(Self.placeholder)/sha256/\(digest)/\(name)"
    }

    /// Copies a file, or a folder with its files, following symbolic links.
    static func copyResolvingLinks(_ source: URL, to target: URL) throws {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: source.path, isDirectory: &isFolder) else {
            throw PruningError.invalidField(field: "store", problem: "no such file or folder", location: source.path)
        }
        guard isFolder.boolValue else {
            try manager.copyItem(at: source.resolvingSymlinksInPath(), to: target)
            return
        }
        try manager.createDirectory(at: target, withIntermediateDirectories: true)
        for name in try manager.contentsOfDirectory(atPath: source.path) {
            try copyResolvingLinks(source.appendingPathComponent(name), to: target.appendingPathComponent(name))
        }
    }

    /// `text` (a recipe) with every `${store}` in its values replaced by this store's folder.
    public func resolve(_ text: String) -> String {
        SweepPlan.replacing(Self.placeholder, with: path, inValuesOf: text)
    }

    /// The store entries a recipe names (`sha256/HEX/NAME`) that this store lacks.
    public func missing(in text: String) -> [String] {
        SweepPlan.values(of: text).compactMap { value in
            guard value.hasPrefix(Self.placeholder + "/") else { return nil }
            let entry = String(value.dropFirst(Self.placeholder.count + 1))
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(entry).path) ? nil : entry
        }
    }

    /// The SHA-256 of a file's bytes; for a folder, of its files' relative paths and digests, in
    /// order of path (so that a copy of the folder anywhere has the same digest).
    /// - Throws: `PruningError.invalidField` when something cannot be read.
    public static func digest(of url: URL) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw PruningError.invalidField(field: "store", problem: "no such file or folder", location: url.path)
        }
        guard isFolder.boolValue else { return try fileDigest(url) }
        guard let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw PruningError.invalidField(field: "store", problem: "cannot list the folder", location: url.path)
        }
        var files: [(String, URL)] = []
        let base = url.resolvingSymlinksInPath().path
        for case let file as URL in enumerator {
            let resolved = file.resolvingSymlinksInPath()
            guard (try? resolved.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let relative = String(file.path.dropFirst(file.path.hasPrefix(base) ? base.count + 1 : url.path.count + 1))
            files.append((relative, resolved))
        }
        var listing = ""
        for (relative, file) in files.sorted(by: { $0.0 < $1.0 }) {
            listing += "\(try fileDigest(file))  \(relative)\n"
        }
        return hex(SHA256.hash(data: Data(listing.utf8)))
    }

    static func fileDigest(_ url: URL) throws -> String {
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw PruningError.invalidField(field: "store", problem: "cannot be read", location: url.path)
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
