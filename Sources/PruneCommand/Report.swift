import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports

/// `prune report`: one self-contained HTML page on a pruned model or an earlier report.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report: costs, accuracy against sparsity, schedule, weights, and what the pruned network still looks at.",
        discussion: """
            SOURCE is a model file (its run history is read from the file; the images come from --data) or an \
            earlier report (.html or .json), whose data is drawn again. The page is one file: inline SVG and CSS, \
            no network, no script. Its data is embedded as JSON and printed with --json. `prune run`, `prune prune` \
            and `prune train --prune-to` write a report beside their output (NAME.report.html) unless given --no-report; \
            those reports also hold the schedule, the timing and the model before the first cut, which a model file does not.
            """)

    @Argument(help: ArgumentHelp("A model file, or a report (.html or .json) written earlier.", valueName: "source"))
    var source: String

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Other runs to draw over this one: reports or model files.", valueName: "other"))
    var compare: [String] = []

    @Option(help: ArgumentHelp("The model before pruning, for the before/after comparisons (model files only).", valueName: "model"))
    var baseline: String?

    @Flag(help: "Also run a sensitivity analysis of the baseline (or, without one, of the model): each weight tensor pruned alone at 12 levels from 10% to 99%, measured on 10% of the training set drawn with the run's seed.")
    var sensitivity = false

    @Option(help: ArgumentHelp("Where to write the page (default: beside SOURCE, as NAME.report.html).", valueName: "path"))
    var out: String?

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        var report = try loadSource()
        report.compared += try compare.map(ReportFiles.comparedRun)
        let path = out ?? ReportFiles.reportPath(besides: source)
        try AtomicFile.write(Data(report.html().utf8), to: path)
        if output.json { print(report.json()) } else { print("report: \(path)") }
    }

    /// The report on SOURCE: an earlier one read back, or one built from a model file.
    func loadSource() throws -> PruningReport {
        if ReportFiles.isReport(source) {
            if baseline != nil || sensitivity { throw ValidationError("--baseline and --sensitivity need a model file, not a report") }
            return try ReportFiles.read(source)
        }
        let loaded = try ModelFile.load(source)
        let history = try ReportFiles.history(loaded.metadata, path: source)
        var inputs = ReportInputs(title: URL(fileURLWithPath: source).lastPathComponent, model: loaded.model, history: history)
        if let baseline {
            inputs.baseline = try ModelFile.load(baseline).model
            inputs.baselineSource = baseline
        }
        inputs.fileBytes = fileSize(source)
        var notes: [String: String] = [:]
        // A cached `prune sensitivity` of this very file is drawn without measuring again.
        if !sensitivity, let cached = Sensitivity.readCache(Sensitivity.cachePath(for: source)),
           let data = FileManager.default.contents(atPath: source), cached.isOf(file: data) {
            inputs.sensitivity = cached.analysis
        }
        do {
            let data = try dataOptions.load()
            try Trainer.check(data.test, fits: loaded.model)
            inputs.images = data.test
            if sensitivity {
                inputs.sensitivity = try Sensitivity.measure(inputs.baseline ?? loaded.model, criterion: .magnitude,
                                                             levels: ReportFiles.sensitivityLevels, training: data.training,
                                                             validationSplit: Recipe.Defaults.validationSplit,
                                                             seed: history?.plan.seed ?? Recipe.Defaults.seed)
            }
        } catch where !sensitivity {
            notes["saliency"] = "the data at \(dataOptions.data) could not be used: \(error)"
        }
        var report: PruningReport
        do {
            report = try PruningReport(inputs)
        } catch let error as ReportError {
            throw ValidationError("--baseline \(baseline ?? ""): \(error)")
        }
        report.notes.merge(notes) { _, new in new }
        return report
    }
}

/// Reading and naming report files, shared by `prune report` and the commands that write one.
enum ReportFiles {
    /// The sensitivity levels `--sensitivity` measures.
    static let sensitivityLevels = SensitivityAnalysis.defaultLevels

    /// `NAME.report.html` beside `path` (`out/model.safetensors` → `out/model.report.html`).
    static func reportPath(besides path: String) -> String {
        var stem = (path as NSString).deletingPathExtension
        if stem.hasSuffix(".report") { stem = String(stem.dropLast(7)) }
        return stem + ".report.html"
    }

    /// Whether `path` names a report rather than a model.
    static func isReport(_ path: String) -> Bool {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        return ext == "html" || ext == "htm" || ext == "json"
    }

    /// A report read back from its page (the embedded JSON) or its JSON.
    static func read(_ path: String) throws -> PruningReport {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError(path: path, "does not exist") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw FormatError(path: path, "cannot be read as UTF-8 text")
        }
        var json = text
        if !path.lowercased().hasSuffix(".json") {
            let open = "<script type=\"application/json\" id=\"report-data\">"
            guard let start = text.range(of: open), let end = text.range(of: "</script>", range: start.upperBound..<text.endIndex) else {
                throw FormatError(path: path, "is not a Prune report: it has no report-data element")
            }
            json = String(text[start.upperBound..<end.lowerBound])
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            let report = try decoder.decode(PruningReport.self, from: Data(json.utf8))
            try report.check()
            return report
        } catch {
            throw FormatError(path: path, "its report data does not read back: \(error)")
        }
    }

    /// The last run of a model file's `pruning.history`, or nil when it has none.
    static func history(_ metadata: [String: String], path: String) throws -> RunHistory? {
        guard let text = metadata[historyKey] else { return nil }
        do {
            return try JSONDecoder().decode([RunHistory].self, from: Data(text.utf8)).last
        } catch {
            throw FormatError(path: path, "the '\(historyKey)' metadata is not a list of runs Prune can read: \(error)")
        }
    }

    /// Another run's figures, from a report or a model file's history.
    static func comparedRun(_ path: String) throws -> PruningReport.ComparedRun {
        let name = URL(fileURLWithPath: path).lastPathComponent
        if isReport(path) {
            let report = try read(path)
            return .init(name: name, points: report.accuracy + report.dense)
        }
        let loaded = try ModelFile.load(path)
        let points: [PruningReport.AccuracyPoint] = try history(loaded.metadata, path: path).map { h in
            let figures = PruningReport.figures(of: h, model: loaded.model)
            return figures.run + figures.dense
        } ?? []
        guard !points.isEmpty else { throw FormatError(path: path, "has no recorded figures to compare (it was not written by a Prune run)") }
        return .init(name: name, points: points)
    }
}
