import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore

/// The one path from a plan to files and output, shared by `prune prune`,
/// `prune train` and `prune run`: check the plan, load the data and the model, run the
/// engine, save, render. The commands differ only in how they build the `Recipe`.
struct PlanExecution {
    var recipe: Recipe
    /// Recipe fields the command sets from its options (`prune.threshold.sparsity` →
    /// `--sparsity`), so a problem is reported as a usage error naming the option.
    var options: [String: String] = [:]
    var threads: Int
    var quiet: Bool
    var json: Bool
    /// Lines the command prints before the run's summary (e.g. `prune train`'s layer table).
    var render: (RunReport, Graph) -> [String] = { _, _ in [] }
    /// Continue from the plan's checkpoint when there is one (`prune run --resume`).
    var resume = false
    /// Write the HTML report beside the output when the plan prunes.
    var report = true

    /// Reports the plan's problems: as usage errors (exit 2) naming the option when the
    /// command set the field, else as the field's own message.
    func checkPlan() throws {
        guard let first = recipe.problems().first else { return }
        guard case let .invalidField(field, problem, _) = first else { throw first }
        let option = options.filter { field == $0.key || field.hasPrefix($0.key + ".") }.max { $0.key.count < $1.key.count }?.value
        throw ValidationError(option.map { "\($0): \(field) \(problem)" } ?? "\(first)")
    }

    /// Runs the plan; returns the run's report.
    @discardableResult
    func execute() throws -> RunReport {
        try checkPlan()
        var recipe = recipe
        recipe.data = recipe.data ?? DatasetFolder.defaultPath   // recorded as used
        BLAS.setThreadCount(1)
        let data = try loadData(recipe.data ?? DatasetFolder.defaultPath)
        let training = data.training, test = data.test
        var metadata: [String: String] = [:]
        var model: Graph
        switch recipe.modelSource {
        case .architecture:
            do {
                model = try recipe.buildModel(sampleShape: training.sampleShape, classes: data.classes)!
            } catch let error as ModelError where options["layers"] != nil {
                throw ValidationError("\(options["layers"]!): \(error)")   // a bad --model/--layers combination: a usage error
            }
            metadata["model"] = recipe.model
        case let .architectureFile(path):
            model = try recipe.buildModel(spec: try ArchitectureFile.read(path))
            metadata["model"] = path
            try data.checkLabels(below: model.outputShape.product)   // before any training
        case let .modelFile(path):
            let loaded = try ModelFile.load(path)
            model = loaded.model
            metadata = loaded.metadata.filter { !$0.key.hasPrefix("prune.") }
            try data.checkLabels(below: model.outputShape.product)   // before any training
        }
        let restored = resume ? try restoredCheckpoint() : nil
        let teacher = try self.teacher(startingModel: model, resumed: restored != nil)
        if let restored { (model, metadata) = (restored.model, restored.metadata) }
        let engine = try PruningRun(recipe, criterion: try recipe.prune?.calibration.map { try calibrated($0, model: model) })
        engine.workers = threads
        engine.teacher = teacher
        let languageModel = test.labelsPerSample > 1
        engine.observers = [ProgressReporter(quiet: quiet || json, bits: languageModel)]
        // Sensitivity curves `prune sensitivity` cached for this file, measured as the run would.
        if case let .modelFile(path) = recipe.modelSource, let p = recipe.prune,
           p.allocation == .sensitivity ? (p.criterion ?? Recipe.Defaults.criterion) == .magnitude : p.criterion == .auto,
           let cached = Sensitivity.cachedForRun(model: path, validationSplit: recipe.validationSplit ?? Recipe.Defaults.validationSplit,
                                                 seed: recipe.resolvedSeed) {
            engine.sensitivity = cached.0
            if !(quiet || json) { printError("sensitivity curves: \(cached.1)") }
        }
        // The latency objective's layer timings, cached beside a model file for this machine.
        if case let .modelFile(path) = recipe.modelSource, recipe.prune?.objective == .latency, let plan = recipe.pruningPlan() {
            let (profile, note) = try LatencyCache.profile(model: model, file: path, plan: plan)
            engine.latency = profile
            if !(quiet || json) { printError(note) }
        }
        if recipe.checkpoint != nil, let path = recipe.checkpointPath {
            for file in [path, recipe.output].compactMap({ $0 }) { AtomicFile.removeStaleTemporaries(of: file) }   // left by kills
            engine.observers.append(CheckpointWriter(path: path, architecture: model.spec, metadata: metadata))
        }
        let recorder = report && recipe.output != nil && recipe.prune != nil ? RunRecorder(model, plan: recipe.pruningPlan()) : nil
        if let recorder { engine.observers.append(recorder) }
        let report: RunReport
        do {
            report = try engine.run(model, data: try recipe.splits(training: training, test: test), resumingFrom: restored?.checkpoint)
        } catch let RunError.diverged(phase, cause, history) {
            throw try stopped(model, phase: phase, cause: cause, history: history, metadata: metadata)
        }
        if let out = recipe.output {
            try save(model, history: report.history, accuracy: report.final.accuracy, to: out, metadata: metadata)
        }
        if recipe.checkpoint != nil, let path = recipe.checkpointPath { try? FileManager.default.removeItem(atPath: path) }
        var summary = RunSummary(report, model: model, output: recipe.output, languageModel: languageModel)
        summary.cosine = test.targetWidth > 0
        var reportSeconds = 0.0
        if let recorder, let out = recipe.output {
            let start = ContinuousClock.now
            do {
                // A resumed run's recorder saw only the steps after the checkpoint: its report keeps to the history.
                summary.reportPath = try writeReport(model, run: report, recorder: restored == nil ? recorder : nil, images: test, output: out)
            } catch {
                printError("warning: the report was not written (the model was saved): \(error)")
            }
            reportSeconds = (ContinuousClock.now - start).seconds
        }
        if json {
            try printJSON(summary)
        } else {
            for line in render(report, model) + summary.lines() { print(line) }
            if let out = recipe.output { print(savedLine(out, model: model)) }
            if let path = summary.reportPath { print(String(format: "report: %@ (written in %.2f s)", path, reportSeconds)) }
        }
        return report
    }

    /// The plan's layer-wise criterion (Wanda, SparseGPT) measured on the samples of a
    /// calibration file, in file order: a text file of
    /// sentences with a sentence-encoder folder (its lines as token ids), or any data file
    /// (its training part).
    func calibrated(_ calibration: Recipe.Calibration, model: Graph) throws -> Criterion {
        let source = (path: calibration.file, samples: calibration.samples ?? Recipe.Defaults.calibrationSamples)
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw FormatError(path: source.path, .missingFile)
        }
        let data: Dataset
        if case let .modelFile(folder) = recipe.modelSource, ModelFolder.isFolder(folder), source.path.lowercased().hasSuffix(".txt") {
            let lines = Array(try SentenceEmbedder.readLines(source.path).prefix(source.samples))
            data = try SentenceEmbedder(folder: folder).distillationData(lines)
        } else {
            data = try DataSource(source.path).load(classes: recipe.classes).training
        }
        try Trainer.check(data, fits: model)
        if !(quiet || json) { printError("calibration: \(min(source.samples, data.count)) samples of \(source.path)") }
        let sequential = (calibration.inputs ?? .sequential) == .sequential
        if recipe.prune?.criterion == .sparsegpt { return SparseGPT(samples: source.samples, calibration: data, sequential: sequential) }
        return Wanda(samples: source.samples, calibration: data, sequential: sequential)
    }

    /// The plan's data. A text file of sentences with a sentence-encoder folder as the model
    /// is distillation data: the encoder's own embeddings become the targets.
    func loadData(_ path: String) throws -> LabeledData {
        if case let .modelFile(model) = recipe.modelSource, ModelFolder.isFolder(model), path.lowercased().hasSuffix(".txt") {
            if !(quiet || json) { printError("embedding the sentences of \(path) with \(model): the targets the pruned encoder keeps") }
            return try LabeledData(sentencesAt: path, for: SentenceEmbedder(folder: model))
        }
        return try DataSource(path).load(classes: recipe.classes)
    }

    /// Writes the run's report beside `output` and returns its path.
    func writeReport(_ model: Graph, run: RunReport, recorder: RunRecorder?, images: Dataset, output: String) throws -> String {
        var inputs = ReportInputs(title: URL(fileURLWithPath: output).lastPathComponent, model: model, run: run, recorder: recorder,
                                  images: images)
        if recorder == nil { inputs.recorderNote = "the run was resumed from a checkpoint: its steps and the model before its first cut are not in this report" }
        inputs.fileBytes = fileSize(output)
        let path = ReportFiles.reportPath(besides: output)
        try AtomicFile.write(Data(try PruningReport(inputs).html().utf8), to: path)
        return path
    }

    /// Writes the model with the run appended to the file's `pruning.history` (a JSON list
    /// of runs, oldest first) and the final test accuracy.
    func save(_ model: Graph, history: RunHistory, accuracy: Float?, to path: String, metadata base: [String: String]) throws {
        var metadata = base
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let entry = String(decoding: try encoder.encode(history.compacted()), as: UTF8.self)
        if let earlier = base[historyKey] {
            guard let list = try? JSONSerialization.jsonObject(with: Data(earlier.utf8)) as? [Any] else {
                throw FormatError(path: recipe.model, "the '\(historyKey)' metadata is not a JSON list of runs; remove it or re-save the model")
            }
            metadata[historyKey] = list.isEmpty ? "[\(entry)]" : String(earlier.dropLast()) + ",\(entry)]"
        } else {
            metadata[historyKey] = "[\(entry)]"
        }
        metadata["accuracy"] = accuracy.map { String($0) }
        try ModelFile.save(model, to: path, metadata: metadata)
    }
}

/// The metadata key of a model file's run history.
let historyKey = "pruning.history"

/// A run's result as the commands print it (JSON with `--json`, else text lines).
struct RunSummary: Encodable {
    struct Stage: Encodable {
        var name: String, split: DataSplit, accuracy: Float, loss: Float
        /// A language model's loss in bits per token (per character, for bytes): loss / ln 2.
        var bitsPerToken: Float?
    }
    struct Epoch: Encodable {
        var epoch: Int, loss: Float, trainingAccuracy: Float, seconds: Double, samplesPerSecond: Double
        var validationAccuracy: Float?
    }
    /// Final test figures.
    var accuracy: Float, loss: Float, samples: Int
    /// The sparsity the last cut reached over the pruned parameters (nil: no cut).
    var sparsity: Double?
    var parameters: Int
    var stages: [Stage]
    var cuts: [CutRecord]
    var rounds: [RoundReport]
    var stop: StopReason?
    var epochs: [Epoch]
    var trainingSeconds: Double, pruningSeconds: Double
    var regularizedZeros: ZeroCount?
    var report: ModelReport
    var output: String?
    /// The HTML report written beside the output.
    var reportPath: String?
    /// What the plan's search tried and chose.
    var search: SearchReport?

    /// A language model's final test loss in bits per token (nil for classifiers).
    var bitsPerToken: Float?
    /// Whether the accuracies are mean cosines to regression targets (a sentence encoder).
    var cosine = false

    init(_ run: RunReport, model: Graph, output: String?, languageModel: Bool = false) {
        accuracy = run.final.accuracy; loss = run.final.loss; samples = run.final.samples
        let bits = { (loss: Float) in languageModel ? loss / Float(M_LN2) : nil }
        bitsPerToken = bits(loss)
        sparsity = run.history.cuts.last?.sparsity
        parameters = model.parameters.reduce(0) { $0 + $1.parameter.count }
        stages = run.history.measurements.map {
            Stage(name: $0.stage, split: $0.split, accuracy: $0.accuracy, loss: $0.loss, bitsPerToken: bits($0.loss))
        }
        cuts = run.history.cuts
        rounds = run.history.rounds
        stop = run.history.stop
        epochs = run.epochs.map {
            Epoch(epoch: $0.epoch, loss: $0.loss, trainingAccuracy: $0.trainingAccuracy, seconds: $0.seconds,
                  samplesPerSecond: $0.samplesPerSecond, validationAccuracy: $0.validation?.accuracy)
        }
        trainingSeconds = run.timing.training; pruningSeconds = run.timing.pruning
        regularizedZeros = run.regularizedZeros
        report = ModelReport(model)
        search = run.history.search
        self.output = output
    }

    /// The text form: the per-layer table, rounds, every stage with its split, timing.
    func lines() -> [String] {
        var lines = cuts.isEmpty ? [] : [report.render()]
        if let search { lines += SearchSummary(search).lines() }
        if let z = regularizedZeros {
            lines.append(String(format: "after training, %d of %d regularized entries are exactly zero (%.1f%%)",
                                z.zeros, z.total, 100 * Double(z.zeros) / Double(max(z.total, 1))))
        }
        if rounds.count > 1 || rounds.first.map({ $0.accuracyAfterRecovery != $0.accuracyAfterCut }) == true {
            for r in rounds {
                lines.append(String(format: "round %d: sparsity %.1f%%, %@ accuracy %.2f%% after the cut, %.2f%% after recovery%@",
                                    r.round, 100 * r.sparsity, r.split.rawValue, 100 * r.accuracyAfterCut,
                                    100 * r.accuracyAfterRecovery, r.rolledBack ? " (rolled back)" : ""))
            }
        }
        for s in stages {
            if let bits = s.bitsPerToken {
                lines.append(String(format: "%@ %.4f bits per token (loss %.4f, next-token accuracy %.2f%%) %@",
                                    s.split.rawValue, bits, s.loss, 100 * s.accuracy, s.name))
            } else if cosine {
                lines.append(String(format: "%@ mean cosine %.4f to the targets (mse %.3g) %@", s.split.rawValue, s.accuracy, s.loss, s.name))
            } else {
                lines.append(String(format: "%@ accuracy %.2f%% %@", s.split.rawValue, 100 * s.accuracy, s.name))
            }
        }
        let training = cuts.filter { $0.phase == .training }
        if let last = training.last {
            lines.append(String(format: "pruning during training: %d cuts to %.1f%% sparsity", training.count, 100 * last.sparsity))
        }
        if let stop, rounds.count > 1 || stop == .accuracyBudget { lines.append("rounds stopped: \(stop.rawValue)") }
        lines.append(cuts.isEmpty ? String(format: "time: %.1f s training", trainingSeconds)
                     : String(format: "time: %.1f s training, %.1f ms pruning (scoring, selecting, masking)",
                              trainingSeconds, 1000 * pruningSeconds))
        return lines
    }
}
