import FileFormats
import Foundation
import TestSupport
import Testing

/// A fresh empty folder under the system temporary directory, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("prune-fileformats-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    /// The path of `name` inside the folder.
    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
        return file(name)
    }

    /// The names in the folder, sorted (hidden files included).
    func contents() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` and returns the `FormatError` it throws; records an issue when it
/// returns normally or throws something else.
func formatError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> FormatError? {
    do {
        try body()
        Issue.record("expected a FormatError, but no error was thrown", sourceLocation: sourceLocation)
    } catch let error as FormatError {
        return error
    } catch {
        Issue.record("expected a FormatError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Checks that `error` names `path` and contains every one of `words` (case-insensitive).
func expectError(_ error: FormatError?, path: String, mentions words: [String],
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error else { return }   // formatError already recorded the issue
    let text = error.description
    #expect(error.path == path, "error path \(error.path) should be \(path)", sourceLocation: sourceLocation)
    #expect(text.contains(path), "'\(text)' does not name \(path)", sourceLocation: sourceLocation)
    for word in words {
        #expect(text.lowercased().contains(word.lowercased()), "'\(text)' does not mention '\(word)'",
                sourceLocation: sourceLocation)
    }
}

/// The path of an executable among `candidates`, or nil.
func executable(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Runs a program and returns its exit status and output.
@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let r = try runProgram(program, arguments)
    return (r.status, r.stdout, r.stderr)
}

/// gzip-compresses `bytes` with the system gzip (`-n`: no name or time stamp, so the
/// output is a plain 10-byte header followed by the deflate stream).
func gzipped(_ bytes: [UInt8], in folder: TemporaryFolder) throws -> [UInt8] {
    let gzip = try #require(executable(["/bin/gzip", "/usr/bin/gzip"]), "gzip is not installed")
    let name = "gzip-input-\(UUID().uuidString)"
    let path = try folder.write(bytes, to: name)
    let result = try run(gzip, ["-n", "-f", path])
    try #require(result.status == 0, "gzip failed: \(result.error)")
    let data = try #require(FileManager.default.contents(atPath: path + ".gz"))
    try FileManager.default.removeItem(atPath: path + ".gz")
    return [UInt8](data)
}

/// The bit patterns of a tensor's scalars, for exact comparisons that also hold for NaN.
func bits(_ scalars: [Float]) -> [UInt32] { scalars.map(\.bitPattern) }
