import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports

/// `prune compact`: physically remove the cut neurons, filters and channels.
struct Compact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a smaller dense model with the cut units removed (and BatchNorm folded).",
        discussion: """
            A unit (neuron, filter, channel) is removed when it is exactly zero in every layer of its \
            dependency group: its rows or filters, biases, and BatchNorm scale and shift, as a structured \
            cut (`prune prune --granularity neuron|filter`) leaves it. The outputs do not change. The new \
            file needs nothing from the old one.
            """)

    @Argument(help: "A model file (safetensors) written by prune.")
    var modelPath: String

    @Option(help: "Where to write the compacted model (safetensors).")
    var out: String

    @Flag(inversion: .prefixedNo, help: "Fold each BatchNorm into the convolution or dense layer before it.")
    var foldBatchNorm = true

    @Option(help: "Also compare the two models' outputs on this many test images (0: skip).")
    var check: Int = 256

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(0, check, for: "--check")
        try validateOutputPath(out, option: "--out")
    }

    func run() throws {
        let loaded = try ModelFile.load(modelPath)
        let result = try Structured.compact(loaded.model, foldBatchNorm: foldBatchNorm)
        var difference: Float?
        if check > 0 {
            let test = try dataOptions.test()
            try Trainer.check(test, fits: loaded.model)
            let x = test.batch(Array(0..<min(check, test.count))[...]).inputs
            let a = loaded.model.forward(x, training: false), b = result.model.forward(x, training: false)
            difference = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
        }
        var metadata = loaded.metadata.filter { !$0.key.hasPrefix("prune.") }
        metadata["compacted.from"] = URL(fileURLWithPath: modelPath).lastPathComponent
        try ModelFile.save(result.model, to: out, metadata: metadata)
        let before = ModelComplexity(loaded.model).totals, after = ModelComplexity(result.model).totals
        let bytes = { (path: String) in (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let summary = CompactSummary(groups: result.groups, foldedBatchNorms: result.foldedBatchNorms,
                                     parametersBefore: before.parameters, parametersAfter: after.parameters,
                                     flopsBefore: before.flops, flopsAfter: after.flops,
                                     bytesBefore: bytes(modelPath), bytesAfter: bytes(out),
                                     maxAbsDifference: difference, output: out)
        if output.json {
            try printJSON(summary)
            return
        }
        let table = TextTable(header: ["group", "units before", "units after"],
                              rows: result.groups.map { [$0.group, "\($0.units)", "\($0.kept)"] }, rightAligned: [1, 2])
        print(table.render())
        print(String(format: "parameters %@ → %@ (%.1f%%), FLOPs %@ → %@ (%.1f%%), file %@ → %@ bytes",
                     grouped(before.parameters), grouped(after.parameters), 100 * Double(after.parameters) / Double(max(before.parameters, 1)),
                     grouped(before.flops), grouped(after.flops), 100 * Double(after.flops) / Double(max(before.flops, 1)),
                     grouped(summary.bytesBefore), grouped(summary.bytesAfter)))
        if !result.foldedBatchNorms.isEmpty { print("folded BatchNorm: \(result.foldedBatchNorms.joined(separator: ", "))") }
        if let difference { print(String(format: "largest output difference on %d test images: %.2e", min(check, 10_000), difference)) }
        print("saved \(out)")
    }
}

struct CompactSummary: Encodable {
    var groups: [GroupCut]
    var foldedBatchNorms: [String]
    var parametersBefore: Int, parametersAfter: Int, flopsBefore: Int, flopsAfter: Int
    var bytesBefore: Int, bytesAfter: Int
    var maxAbsDifference: Float?
    var output: String
}
