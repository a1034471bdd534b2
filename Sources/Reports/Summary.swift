import Foundation
import NeuralNetwork

/// What a model costs, per layer and in total, densely and as a sparse model would.
///
/// Sparse bytes count each weight as TensorCore's `CSRMatrix` stores its non-zeros (the
/// weight as a `[rows, count / rows]` matrix): 4 bytes per value, 2 per column index (4 when
/// the matrix is wider than 65,536 columns) and 4 per row start (`rows + 1` Int32 offsets);
/// other parameters stay dense. Sparse FLOPs count only multiply-adds with non-zero weights.
public struct ModelReport: Codable, Equatable, Sendable {
    /// One line per layer that has parameters.
    public struct Layer: Codable, Equatable, Sendable {
        public var name: String, kind: String, shape: [Int]
        public var parameters: Int, nonZeros: Int, sparsity: Double
        public var flops: Int, sparseFlops: Int
        public var bytes: Int, sparseBytes: Int
    }
    /// Sums over the layers, with the compression ratio `bytes / sparseBytes`.
    public struct Totals: Codable, Equatable, Sendable {
        public var parameters: Int, nonZeros: Int, sparsity: Double
        public var flops: Int, sparseFlops: Int
        public var bytes: Int, sparseBytes: Int
        public var compression: Double
    }
    /// The layers with parameters, in model order.
    public var layers: [Layer]
    /// The totals.
    public var totals: Totals

    /// Measures `model`.
    public init(_ model: Graph) {
        let complexity = ModelComplexity(model)
        layers = zip(complexity.layers, model.nodes).compactMap { row, node in
            guard row.parameters > 0 else { return nil }
            var sparseBytes = 0
            for (name, p) in node.module.namedParameters where p.isTrainable {
                if name == "weight" && p.value.rank >= 2 {
                    sparseBytes += Self.csrBytes(rows: p.value.shape[0], columns: p.count / max(1, p.value.shape[0]),
                                                 nonZeros: p.value.nonZeroCount())
                } else {
                    sparseBytes += 4 * p.count
                }
            }
            return Layer(name: row.name, kind: row.kind.rawValue, shape: row.shape, parameters: row.parameters,
                         nonZeros: row.nonZeros, sparsity: row.sparsity, flops: row.flops, sparseFlops: row.sparseFlops,
                         bytes: row.bytes, sparseBytes: sparseBytes)
        }
        let t = complexity.totals
        let sparseBytes = layers.reduce(0) { $0 + $1.sparseBytes }
        totals = Totals(parameters: t.parameters, nonZeros: t.nonZeros, sparsity: t.sparsity, flops: t.flops,
                        sparseFlops: t.sparseFlops, bytes: t.bytes, sparseBytes: sparseBytes,
                        compression: sparseBytes == 0 ? 1 : Double(t.bytes) / Double(sparseBytes))
    }

    /// The bytes of a `[rows, columns]` CSR matrix with `nonZeros` entries, as `CSRMatrix`
    /// stores it: Float32 values, UInt16 column indices (UInt32 above 65,536 columns) and
    /// `rows + 1` Int32 row starts.
    public static func csrBytes(rows: Int, columns: Int, nonZeros: Int) -> Int {
        (4 + (columns <= 65_536 ? 2 : 4)) * nonZeros + 4 * (rows + 1)
    }

    /// The report as a text table with a total row and the compression ratio.
    public func render() -> String {
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        let table = TextTable(
            header: ["layer", "kind", "shape", "parameters", "non-zeros", "sparsity", "FLOPs", "sparse FLOPs", "bytes", "CSR bytes"],
            rows: layers.map { l in
                [l.name, l.kind, l.shape.map(String.init).joined(separator: "×"), String(l.parameters), String(l.nonZeros),
                 pct(l.sparsity), String(l.flops), String(l.sparseFlops), String(l.bytes), String(l.sparseBytes)]
            },
            footer: ["total", "", "", String(totals.parameters), String(totals.nonZeros), pct(totals.sparsity),
                     String(totals.flops), String(totals.sparseFlops), String(totals.bytes), String(totals.sparseBytes)],
            rightAligned: Set(3...9))
        return table.render() + String(format: "\ncompression %.2f× (dense Float32 bytes / CSR bytes); sparse FLOPs %.1f%% of dense",
                                       totals.compression, totals.flops == 0 ? 100 : 100 * Double(totals.sparseFlops) / Double(totals.flops))
    }
}
