import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

extension Architecture: ExpressibleByArgument {}
extension Initializer: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

/// `--model`/`--arch`: a built-in architecture's name, or the path of an architecture file
/// (JSON, ending in `.json`).
struct ModelChoice: ExpressibleByArgument, CustomStringConvertible {
    /// The name or the path, as a recipe's `model:` takes it.
    var value: String

    /// A built-in architecture.
    init(_ architecture: Architecture) { value = architecture.rawValue }

    init?(argument: String) {
        guard Architecture(rawValue: argument) != nil || argument.lowercased().hasSuffix(".json") else { return nil }
        value = argument
    }

    /// The built-in architecture, or nil for a file.
    var architecture: Architecture? { Architecture(rawValue: value) }

    var description: String { value }

    static var allValueStrings: [String] { Architecture.allCases.map(\.rawValue) + ["SPEC.json"] }
}

/// Where the data lives (any layout `DataSource` reads; docs/DATA.md).
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Data: an IDX folder, an .npz or .csv file, a folder of .npz/.npy/.csv files or of class subfolders of PNG/JPEG images (docs/DATA.md).",
        valueName: "path"))
    var data: String = DatasetFolder.defaultPath

    @Option(help: "Number of classes, when the labels do not show it (default: the class folders, or 1 + the largest label).")
    var classes: Int?

    func validate() throws {
        if let classes { try requireAtLeast(1, classes, for: "--classes") }
    }

    /// Both splits, labels checked (see `DataSource.load(classes:)`).
    func load() throws -> LabeledData { try DataSource(data).load(classes: classes) }
    func training() throws -> Dataset { try load().training }
    /// The test split; for an IDX folder only the test files are read.
    func test() throws -> Dataset {
        let source = try DataSource(data)
        return source.kind == .idx && classes == nil ? try DatasetFolder(data).test() : try source.load(classes: classes).test
    }

    /// The test split for `model`: every label checked against the model's outputs (the file
    /// and row of a label outside are named).
    func test(for model: Graph) throws -> Dataset {
        let source = try DataSource(data)
        guard source.kind != .idx || classes != nil else { return try DatasetFolder(data).test() }
        let loaded = try source.load(classes: classes ?? model.outputShape.product)
        return loaded.test
    }
}

/// The model file a command reads.
struct ModelFileArgument: ParsableArguments {
    @Argument(help: "A model file: safetensors written by prune, ONNX (.onnx), or a Hugging Face model folder (BERT or GPT-2).")
    var modelPath: String
}

/// How many threads compute.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads: training splits each batch across this many data-parallel workers; BLAS runs one thread per worker.")
    var threads: Int = 1

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256, got \(threads)") }
    }

    /// Sets BLAS to one thread per worker (the workers are the parallelism).
    func apply() { BLAS.setThreadCount(1) }
}

/// Output format.
/// `--no-report`: the commands that prune write an HTML report beside their output unless told not to.
struct ReportFlag: ParsableArguments {
    @Flag(help: "Do not write the HTML report beside the output (NAME.report.html).")
    var noReport = false
}

struct OutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object on stdout instead of text.")
    var json = false
}

extension OptimizerKind: ExpressibleByArgument {}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Encodes a value as one line of JSON (sorted keys) on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Checks that the folder of an output path exists, before any long work.
func validateOutputPath(_ path: String?, option: String) throws {
    guard let path else { return }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw ValidationError("\(option) \(path): folder \(folder) does not exist")
    }
}

/// Throws a usage error unless `value >= minimum`.
func requireAtLeast(_ minimum: Int, _ value: Int, for option: String) throws {
    guard value >= minimum else { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
}

/// "saved PATH (N bytes; …)": the file's size next to what the model's parameters take
/// as dense Float32.
func savedLine(_ path: String, model: Graph) -> String {
    let size = fileSize(path)
    let dense = 4 * model.parameters.reduce(0) { $0 + $1.parameter.count }
    guard let size else { return "saved \(path)" }
    return String(format: "saved %@ (%@ bytes, %.1f%% of the %@ bytes of dense Float32 parameters)",
                  path, grouped(size), 100 * Double(size) / Double(max(dense, 1)), grouped(dense))
}

/// `1234567` as `1,234,567`.
func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, d) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(d)
    }
    return out
}

/// The size of the file at `path` in bytes, or nil when it cannot be read.
func fileSize(_ path: String) -> Int? {
    guard ModelFolder.isFolder(path) else { return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil }
    // A model folder: its files together.
    let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
    return files.reduce(0) { total, file in
        let attributes = try? FileManager.default.attributesOfItem(atPath: "\(path)/\(file)")
        return total + (attributes?[.type] as? FileAttributeType == .typeRegular ? attributes?[.size] as? Int ?? 0 : 0)
    }
}
