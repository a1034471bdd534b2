import Foundation
import TestSupport
import Testing

/// The package root: the nearest folder above this file that holds Package.swift.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        url = url.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}()

/// Where the built `prune` may be, best first: next to the test bundle (the same build
/// configuration as the tests), then `.build/release/prune`, then `.build/debug/prune`.
let pruneCandidates: [String] = {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("prune").path
    return [beside, packageRoot.appendingPathComponent(".build/release/prune").path,
            packageRoot.appendingPathComponent(".build/debug/prune").path]
}()

/// The `prune` executable, or nil when it has not been built.
let pruneExecutable: String? = pruneCandidates.first { FileManager.default.isExecutableFile(atPath: $0) }

/// What one run of `prune` did.
struct PruneResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    /// The non-empty lines of stderr.
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Runs the built `prune` with `arguments`; fails the test when the binary is missing.
func prune(_ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> PruneResult {
    try prune(arguments, sourceLocation: sourceLocation)
}

/// Runs the built `prune` with `arguments`, a fixed terminal width and any extra `environment`.
func prune(_ arguments: [String], environment: [String: String] = [:],
           sourceLocation: SourceLocation = #_sourceLocation) throws -> PruneResult {
    let binary = try #require(pruneExecutable, """
        the prune executable was not found at any of \(pruneCandidates); build it first with \
        `swift build -c release -Xswiftc -target-cpu -Xswiftc native --product prune`
        """, sourceLocation: sourceLocation)
    // Help text wraps at the terminal width. Products run on Prune's packed kernel with its 6×16
    // tile unless a test says otherwise (`"PRUNE_GEMM": ""` for the calibrated choice): runs
    // compared bit for bit across processes must not depend on a timing, which load on the
    // machine can tip (the calibration's backend and its tile both can).
    let defaults = ["COLUMNS": "80", "PRUNE_GEMM": "packed-6x16"]
    let r = try runProgram(binary, arguments, environment: defaults.merging(environment) { $1 })
    return PruneResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
}

/// A fresh temporary folder.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("prune-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
    return url
}

/// Parses `text` as exactly one JSON object on one line.
func singleJSONObject(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let lines = text.split(separator: "\n")
    try #require(lines.count == 1, "expected one line of JSON, got \(lines.count): \(text)", sourceLocation: sourceLocation)
    let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8))
    return try #require(object as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
}

/// The JSON header of the safetensors file at `path` (read directly: an 8-byte little-endian
/// length, then that many bytes of JSON), so a test sees what the file records.
func safetensorsHeader(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let data = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)", sourceLocation: sourceLocation)
    try #require(data.count >= 8, "\(path) is too short", sourceLocation: sourceLocation)
    let length = data.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
    try #require(length <= data.count - 8, "\(path): header length \(length)", sourceLocation: sourceLocation)
    let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length)))
    return try #require(header as? [String: Any], "\(path): header is not an object", sourceLocation: sourceLocation)
}

/// The F32 tensor `name` of the safetensors file at `path`, read directly from its bytes.
func safetensorsFloats(_ path: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [Float] {
    let header = try safetensorsHeader(path, sourceLocation: sourceLocation)
    let entry = try #require(header[name] as? [String: Any], "\(path) has no tensor \(name)", sourceLocation: sourceLocation)
    try #require(entry["dtype"] as? String == "F32", "\(name) is not F32: \(entry)", sourceLocation: sourceLocation)
    let offsets = try #require(entry["data_offsets"] as? [Int], sourceLocation: sourceLocation)
    let data = try #require(FileManager.default.contents(atPath: path), sourceLocation: sourceLocation)
    let start = 8 + data.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
    let bytes = [UInt8](data.subdata(in: (start + offsets[0])..<(start + offsets[1])))
    return stride(from: 0, to: bytes.count, by: 4).map { i in
        Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[i + $1]) << (8 * $1) })
    }
}

/// The `__metadata__` of a safetensors file, read from its JSON header.
func safetensorsMetadata(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: String] {
    try safetensorsHeader(path, sourceLocation: sourceLocation)["__metadata__"] as? [String: String] ?? [:]
}
