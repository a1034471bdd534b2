import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore

/// `prune compact`: physically remove the cut neurons, filters and channels.
struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a smaller dense model with the cut units removed (and BatchNorm folded).",
        discussion: """
            A unit (neuron, filter, channel, attention head) is removed when it is exactly zero in every layer of its \
            dependency group: its rows or filters, biases, and BatchNorm scale and shift, as a structured \
            cut (`prune prune --granularity neuron|filter|head`) leaves it. The outputs do not change. The new \
            file needs nothing from the old one.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: "Where to write the compacted model (safetensors).")
    var out: String

    @Flag(inversion: .prefixedNo, help: "Fold each BatchNorm into the convolution or dense layer before it.")
    var foldBatchNorm = true

    @Option(help: "Also compare the two models' outputs on this many test samples (0: skip): images, or sentences of a .txt --data for a sentence-encoder folder.")
    var check: Int = 256

    @Flag(help: "Also time both models' inference at batch 1 and 256, side by side.")
    var bench = false

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(0, check, for: "--check")
        try validateOutputPath(out, option: "--out")
    }

    /// The test split to compare and time on: for a sentence-encoder folder and a `.txt` file,
    /// its sentences (held out as `prune prune` holds them out), else `--data` as for any model.
    func checkData() throws -> Dataset {
        if ModelFolder.isFolder(source.modelPath), dataOptions.data.lowercased().hasSuffix(".txt") {
            return try LabeledData(sentencesAt: dataOptions.data, for: SentenceEmbedder(folder: source.modelPath)).test
        }
        return try dataOptions.test()
    }

    func run() throws {
        let loaded = try ModelFile.load(source.modelPath)
        let result = try Structured.compact(loaded.model, foldBatchNorm: foldBatchNorm)
        var difference: Float?
        if check > 0 {
            let test = try checkData()
            try Trainer.check(test, fits: loaded.model)
            let x = test.batch(Array(0..<min(check, test.count))[...]).inputs
            let a = loaded.model.forward(x, training: false), b = result.model.forward(x, training: false)
            difference = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        }
        var metadata = loaded.metadata.filter { !$0.key.hasPrefix("prune.") }
        metadata["compacted.from"] = URL(fileURLWithPath: source.modelPath).lastPathComponent
        try ModelFile.save(result.model, to: out, metadata: metadata)
        let before = ModelComplexity(loaded.model).totals, after = ModelComplexity(result.model).totals
        let bytes = { (path: String) in fileSize(path) ?? 0 }
        var latency: [LatencyPair] = []
        var layerMs: (before: [String: Double], after: [String: Double]) = ([:], [:])
        if bench {
            let test = try checkData()
            for batch in [1, 256] {
                let x = test.batch(Array((0..<batch).map { $0 % test.count })[...]).inputs
                let (a, b) = timeSideBySide(loaded.model, result.model, x)
                latency.append(LatencyPair(batch: batch, beforeMs: 1000 * a, afterMs: 1000 * b, speedup: a / b))
                if batch == 256 { layerMs = (layerTimes(loaded.model, x), layerTimes(result.model, x)) }
            }
        }
        let summary = CompactSummary(groups: result.groups, foldedBatchNorms: result.foldedBatchNorms,
                                     parametersBefore: before.parameters, parametersAfter: after.parameters,
                                     flopsBefore: before.flops, flopsAfter: after.flops,
                                     bytesBefore: bytes(source.modelPath), bytesAfter: bytes(out),
                                     maxAbsDifference: difference, latency: latency,
                                     layers: layerRows(ModelComplexity(loaded.model), ModelComplexity(result.model),
                                                       before: layerMs.before, after: layerMs.after),
                                     output: out)
        if output.json {
            try printJSON(summary)
            return
        }
        let table = TextTable(header: ["group", "units before", "units after"],
                              rows: result.groups.map { [$0.group, "\($0.units)", "\($0.kept)"] }, rightAligned: [1, 2])
        print(table.render())
        let perLayer = TextTable(header: ["layer", "shape before", "shape after", "parameters", "FLOPs"]
                                    + (bench ? ["µs at batch 256"] : []),
                                 rows: summary.layers.map { r in
                                     [r.name, r.shapeBefore.map(String.init).joined(separator: "×"),
                                      r.shapeAfter?.map(String.init).joined(separator: "×") ?? "folded",
                                      "\(grouped(r.parametersBefore)) → \(grouped(r.parametersAfter))",
                                      "\(grouped(r.flopsBefore)) → \(grouped(r.flopsAfter))"]
                                         + (bench ? [String(format: "%.1f → %.1f", 1000 * (r.msBefore ?? 0), 1000 * (r.msAfter ?? 0))] : [])
                                 }, rightAligned: [3, 4, 5])
        print(perLayer.render())
        print(String(format: "parameters %@ → %@ (%.1f%%), FLOPs %@ → %@ (%.1f%%), file %@ → %@ bytes",
                     grouped(before.parameters), grouped(after.parameters), 100 * Double(after.parameters) / Double(max(before.parameters, 1)),
                     grouped(before.flops), grouped(after.flops), 100 * Double(after.flops) / Double(max(before.flops, 1)),
                     grouped(summary.bytesBefore), grouped(summary.bytesAfter)))
        if !result.foldedBatchNorms.isEmpty { print("folded BatchNorm: \(result.foldedBatchNorms.joined(separator: ", "))") }
        if let difference { print(String(format: "largest output difference on %d test samples: %.2e", min(check, 10_000), difference)) }
        for l in latency {
            print(String(format: "batch %d: %.4f ms → %.4f ms (%.2f× faster; medians, timed in turns)", l.batch, l.beforeMs, l.afterMs, l.speedup))
        }
        print("saved \(out)")
    }
}

struct LatencyPair: Encodable {
    var batch: Int, beforeMs: Double, afterMs: Double, speedup: Double
}

struct LayerPair: Encodable {
    var name: String
    var shapeBefore: [Int], shapeAfter: [Int]?
    var parametersBefore: Int, parametersAfter: Int, flopsBefore: Int, flopsAfter: Int
    /// Median milliseconds of the layer's forward pass at batch 256 (with `--bench`).
    var msBefore: Double?, msAfter: Double?
}

/// One row per layer of the original model with weights, next to the same layer after
/// compaction (nil shape: folded away).
func layerRows(_ before: ModelComplexity, _ after: ModelComplexity,
               before msBefore: [String: Double] = [:], after msAfter: [String: Double] = [:]) -> [LayerPair] {
    let byName = Dictionary(uniqueKeysWithValues: after.layers.map { ($0.name, $0) })
    return before.layers.filter { $0.parameters > 0 }.map { b in
        let a = byName[b.name]
        return LayerPair(name: b.name, shapeBefore: b.shape, shapeAfter: a?.shape, parametersBefore: b.parameters,
                         parametersAfter: a?.parameters ?? 0, flopsBefore: b.flops, flopsAfter: a?.flops ?? 0,
                         msBefore: msBefore[b.name], msAfter: msAfter[b.name])
    }
}

/// Median milliseconds each node of `model` takes on `x` (the time between one node's
/// output and the next's), over 30 forward passes.
func layerTimes(_ model: Graph, _ x: Tensor) -> [String: Double] {
    let clock = ContinuousClock()
    var samples = [[Double]](repeating: [], count: model.nodes.count)
    for _ in 0..<30 {
        var last = clock.now
        _ = model.forward(x, training: false) { i, _ in
            let now = clock.now
            samples[i].append((now - last).seconds)
            last = now
        }
    }
    var result: [String: Double] = [:]
    for (i, node) in model.nodes.enumerated() { result[node.module.name] = 1000 * median(samples[i]) }
    return result
}

/// Median seconds of `a` and `b` on input `x`, timed in turns.
func timeSideBySide(_ a: Graph, _ b: Graph, _ x: Tensor) -> (Double, Double) {
    let samples = timeInTurns([{ _ = a.forward(x, training: false) }, { _ = b.forward(x, training: false) }])
    return (median(samples[0]), median(samples[1]))
}

struct CompactSummary: Encodable {
    var groups: [GroupCut]
    var foldedBatchNorms: [String]
    var parametersBefore: Int, parametersAfter: Int, flopsBefore: Int, flopsAfter: Int
    var bytesBefore: Int, bytesAfter: Int
    var maxAbsDifference: Float?
    var latency: [LatencyPair]
    var layers: [LayerPair]
    var output: String
}
