import Crypto
import Foundation

/// A folder of files and folders named by the SHA-256 of their content, so that a sweep's
/// jobs name their models and data the same way on a laptop and on a cluster:
///
/// ```
/// STORE/sha256/HEX/NAME       a file, or a folder with its files, under its own name
/// ```
///
/// `add` returns an entry's place in the store, `sha256/HEX/NAME`; a sweep's recipes name it
/// as `${store}/sha256/HEX/NAME` (`SweepPlan`), resolved once the store's place on the machine
/// that runs the job is known. The text of the recipe, and so the job's id, does not depend on
/// where the store is.
public struct ContentStore: Sendable {
    /// The store's folder.
    public let url: URL

    public init(_ path: String) { url = URL(fileURLWithPath: path).standardizedFileURL }

    public var path: String { url.path }

    /// Whether the store holds `entry` (`sha256/HEX/NAME`).
    public func contains(_ entry: String) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent(entry).path)
    }

    /// Adds the file or folder at `path`, when there is one, and returns its entry; nil when
    /// nothing is at `path` (a built-in model's name, say).
    /// - Throws: `FormatError` when it cannot be read or copied.
    public func addIfPresent(_ path: String) throws -> String? {
        FileManager.default.fileExists(atPath: path) ? try add(path) : nil
    }

    /// Adds the file or folder at `path` (when not there already) and returns its entry,
    /// `sha256/HEX/NAME`.
    ///
    /// The content is copied beside the store first (symbolic links copied as the files they
    /// name), hashed there, and moved into `sha256/HEX/NAME`: no reader sees half an entry, a
    /// file that changes meanwhile is stored under the digest of what was copied, and an entry
    /// is never replaced or removed (two planners adding the same content both succeed).
    /// - Throws: `FormatError` when it cannot be read or copied.
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
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(path: path, .cannotWrite(step: "copying it into the store \(self.path)", reason: error.localizedDescription))
        }
        return "sha256/\(digest)/\(name)"
    }

    /// Copies a file, or a folder with its files, following symbolic links.
    static func copyResolvingLinks(_ source: URL, to target: URL) throws {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: source.path, isDirectory: &isFolder) else {
            throw FormatError(path: source.path, .missingFile)
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

    /// The SHA-256 of a file's bytes; for a folder, of its files' relative paths and digests, in
    /// order of path (so that a copy of the folder anywhere has the same digest).
    /// - Throws: `FormatError` when something cannot be read.
    public static func digest(of url: URL) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw FormatError(path: url.path, .missingFile)
        }
        guard isFolder.boolValue else { return try fileDigest(url) }
        guard let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw FormatError(path: url.path, .unreadable)
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
            throw FormatError(path: url.path, .unreadable)
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
