import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Reports

/// `prune info`: the per-layer table of a model file.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's layers: shape, parameters, non-zeros, sparsity, FLOPs.")

    @OptionGroup var source: ModelFileArgument

    @OptionGroup var output: OutputOptions

    func run() throws {
        let loaded = try ModelFile.load(source.modelPath)
        let complexity = ModelComplexity(loaded.model)
        if output.json {
            try printJSON(complexity)
        } else {
            print(renderComplexity(complexity))
        }
    }
}

/// Renders the per-layer table (every node) with totals.
func renderComplexity(_ c: ModelComplexity) -> String {
    let rows = c.layers.map { l in
        [l.name, l.kind.rawValue, l.shape.map(String.init).joined(separator: "×"), String(l.parameters), String(l.nonZeros),
         l.parameters == 0 ? "-" : String(format: "%.1f%%", 100 * l.sparsity), String(l.flops)]
    }
    let t = c.totals
    return TextTable(header: ["layer", "kind", "shape", "parameters", "non-zeros", "sparsity", "FLOPs"], rows: rows,
                     footer: ["total", "", "", String(t.parameters), String(t.nonZeros), String(format: "%.1f%%", 100 * t.sparsity),
                              String(t.flops)],
                     rightAligned: [3, 4, 5, 6]).render()
}
