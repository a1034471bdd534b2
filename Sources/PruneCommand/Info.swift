import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune info`: the per-layer table of a model file.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's layers: shape, parameters, non-zeros, sparsity, FLOPs.")

    @Argument(help: "A model file (safetensors) written by prune.")
    var modelPath: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        let loaded = try ModelFile.load(modelPath)
        let complexity = ModelComplexity(loaded.model)
        if output.json {
            try printJSON(complexity)
        } else {
            print(renderComplexity(complexity))
        }
    }
}

/// Renders the per-layer table with totals.
func renderComplexity(_ c: ModelComplexity) -> String {
    var rows: [[String]] = [["layer", "kind", "shape", "parameters", "non-zeros", "sparsity", "FLOPs"]]
    for l in c.layers {
        rows.append([l.name, l.kind.rawValue, l.shape.map(String.init).joined(separator: "×"),
                     String(l.parameters), String(l.nonZeros),
                     l.parameters == 0 ? "-" : String(format: "%.1f%%", 100 * l.sparsity), String(l.flops)])
    }
    let t = c.totals
    rows.append(["total", "", "", String(t.parameters), String(t.nonZeros),
                 String(format: "%.1f%%", 100 * t.sparsity), String(t.flops)])
    return textTable(rows, rightAligned: [3, 4, 5, 6])
}

/// Lays out rows as aligned columns with a rule under the header and above the last row.
func textTable(_ rows: [[String]], rightAligned: Set<Int>) -> String {
    let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { $0[c].count }.max() ?? 0 }
    func line(_ row: [String]) -> String {
        row.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return rightAligned.contains(c) ? pad + cell : cell + pad
        }.joined(separator: "  ")
    }
    let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))
    var lines = [line(rows[0]), rule]
    lines += rows.dropFirst().dropLast().map(line)
    lines += [rule, line(rows.last!)]
    return lines.joined(separator: "\n")
}
