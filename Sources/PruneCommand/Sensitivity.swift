import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports

/// `prune sensitivity`: each weight tensor pruned alone over a list of sparsities.
struct Sensitivity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune each weight tensor alone over a list of sparsities and measure the model on a held-out split.",
        discussion: """
            The figures come from a validation split of the training set (never the test set), drawn with \
            --seed. The result is cached beside the model (NAME.sensitivity.json) and reused while the model \
            file, the criterion, the levels and the split are the same; `prune report MODEL` draws it.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: "How entries are ranked within a tensor: magnitude, squared-magnitude, largest, random, taylor or snip.")
    var criterion: CriterionName = Recipe.Defaults.criterion

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Sparsities in [0, 1] (default: 0.1 … 0.9, 0.95, 0.98, 0.99, 0.995).", valueName: "s"))
    var levels: [Double] = ReportFiles.sensitivityLevels

    @Option(help: "Measure on at most this many validation samples (default: all of them).")
    var samples: Int?

    @Option(help: "Fraction of the training set held out to measure on.")
    var validationSplit: Double = Recipe.Defaults.validationSplit

    @Option(help: "Seed of the held-out split (and of the random criterion).")
    var seed: UInt64 = Recipe.Defaults.seed

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let bad = levels.first(where: { !(0...1).contains($0) }) { throw ValidationError("--levels must lie in [0, 1], got \(bad)") }
        if let samples { try requireAtLeast(1, samples, for: "--samples") }
        guard validationSplit > 0, validationSplit < 1 else { throw ValidationError("--validation-split must be in (0, 1), got \(validationSplit)") }
        guard !criterion.isStructuredOnly, criterion != .movement else {
            throw ValidationError("--criterion \(criterion.rawValue) does not rank single weights without training; use magnitude, squared-magnitude, largest, random, taylor or snip")
        }
    }

    /// What the cache records: the analysis and what it was computed from.
    struct Cached: Codable {
        var modelBytes: Int, modelHash: String
        var criterion: String, levels: [Double], samples: Int?, validationSplit: Double, seed: UInt64
        /// Nil only in the key a cache is compared with.
        var analysis: SensitivityAnalysis?
    }

    func run() throws {
        let path = source.modelPath
        let key = try cacheKey(path)
        let cachePath = Self.cachePath(for: path)
        if let cached = Self.readCache(cachePath), cached.matches(key), let analysis = cached.analysis {
            try show(analysis, note: "cached in \(cachePath)")
            return
        }
        let model = try ModelFile.load(path).model
        let clock = ContinuousClock(), start = clock.now
        let analysis = try Self.measure(model, criterion: criterion, levels: levels, training: try dataOptions.load().training,
                                        validationSplit: validationSplit, seed: seed, samples: samples)
        let seconds = (clock.now - start).seconds
        var entry = key
        entry.analysis = analysis
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(entry), to: cachePath)
        try show(analysis, note: String(format: "%.1f s; cached in %@", seconds, cachePath))
    }

    /// The sensitivity of `model` (densified) on `validationSplit` of `training` held out
    /// with `seed` (its first `samples`), ranked by `criterion` (prepared on `training` when
    /// it needs data). `prune report --sensitivity` measures the same way.
    static func measure(_ model: Graph, criterion: CriterionName, levels: [Double], training: Dataset,
                        validationSplit: Double, seed: UInt64, samples: Int? = nil) throws -> SensitivityAnalysis {
        let model = try model.densified()
        guard var held = try training.splittingValidation(fraction: validationSplit, seed: seed).validation else {
            throw ValidationError("--validation-split \(validationSplit) holds out no sample of \(training.count)")
        }
        if let samples, samples < held.count { held = held.subset(Array(0..<samples)) }
        var rank = criterion.criterion(seed: seed)
        if let sample = rank as? SampleCriterion { rank = try sample.prepared(for: model, on: training) }
        return try SensitivityAnalysis(model, criterion: rank, levels: levels, on: held, split: .validation)
    }

    /// The table (or JSON) of the curves.
    func show(_ analysis: SensitivityAnalysis, note: String) throws {
        if output.json { return try printJSON(analysis) }
        let header = ["layer", "weights"] + levels.map { String(format: "%g%%", 100 * $0) }
        let rows = analysis.layers.map { layer in
            [layer.path, String(layer.count)] + layer.levels.map { String(format: "%.2f", 100 * $0.accuracy) }
        }
        print(TextTable(header: header, rows: rows, rightAligned: Set(1..<header.count)).render())
        print(String(format: "accuracy (%%) on %d %@ samples, each tensor pruned alone to each level (%@); unpruned %.2f%% (%@)",
                     analysis.samples, analysis.split.rawValue, analysis.criterion,
                     100 * analysis.baseline.accuracy, note))
    }

    /// What a cached analysis must match: the model file's bytes and the settings.
    func cacheKey(_ path: String) throws -> Cached {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, "cannot be read") }
        return Cached(modelBytes: data.count, modelHash: Self.fnv1a(data), criterion: criterion.rawValue, levels: levels,
                      samples: samples, validationSplit: validationSplit, seed: seed,
                      analysis: nil)
    }

    /// The cached curves of the model file at `path` and the cache's path, when they were
    /// measured the way a run measures them for `allocation: sensitivity` (magnitude, the
    /// default levels, the whole held-out split of `validationSplit` drawn with `seed`).
    static func cachedForRun(model path: String, validationSplit: Double, seed: UInt64) -> (SensitivityAnalysis, String)? {
        let cachePath = Self.cachePath(for: path)
        guard let cached = readCache(cachePath), let data = FileManager.default.contents(atPath: path), cached.isOf(file: data),
              cached.criterion == CriterionName.magnitude.rawValue, cached.levels == SensitivityAnalysis.defaultLevels,
              cached.samples == nil, cached.validationSplit == validationSplit, cached.seed == seed,
              let analysis = cached.analysis else { return nil }
        return (analysis, cachePath)
    }

    /// `NAME.sensitivity.json` beside the model.
    static func cachePath(for model: String) -> String { (model as NSString).deletingPathExtension + ".sensitivity.json" }

    /// The cache at `path`, or nil when there is none or it does not read.
    static func readCache(_ path: String) -> Cached? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Cached.self, from: $0) }
    }

    /// FNV-1a, 64 bits, in hex: enough to tell a changed model file from the cached one.
    static func fnv1a(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in data { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return String(h, radix: 16)
    }
}

extension Sensitivity.Cached {
    /// Whether this cache was computed from a model file with these bytes.
    func isOf(file data: Data) -> Bool { modelBytes == data.count && modelHash == Sensitivity.fnv1a(data) }

    /// Whether this cache was computed from the same file and settings as `key`.
    func matches(_ key: Self) -> Bool {
        key.modelBytes == modelBytes && key.modelHash == modelHash && criterion == key.criterion && levels == key.levels
            && samples == key.samples && validationSplit == key.validationSplit && seed == key.seed
    }
}
