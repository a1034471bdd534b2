import NeuralNetwork
import Pruning
import Reports
import Testing
import TensorCore

@Suite("Reports")
struct ReportTests {
    @Test("a text table aligns columns and sets the total row off with rules")
    func table() {
        let text = TextTable(header: ["name", "n"], rows: [["a", "1"], ["long", "200"]], footer: ["total", "201"],
                             rightAligned: [1]).render()
        #expect(text == """
            name     n
            ----------
            a        1
            long   200
            ----------
            total  201
            """)
    }

    @Test("dense and sparse bytes and FLOPs of a pruned model")
    func modelReport() throws {
        let model = try Graph(inputShape: [4], sequential: [
            Dense(name: "fc", weight: Tensor(shape: [2, 4], scalars: [1, 2, 3, 4, 5, 6, 7, 8]), bias: Tensor(shape: [2], scalars: [1, 1])),
            ReLU(name: "r"),
        ])
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.75)))   // keeps 7 and 8
        let report = ModelReport(model)
        #expect(report.layers.count == 1)   // ReLU has no parameters
        let fc = report.layers[0]
        #expect(fc.parameters == 10 && fc.nonZeros == 4)
        #expect(fc.flops == 16 && fc.sparseFlops == 4)
        #expect(fc.bytes == 40)
        #expect(fc.sparseBytes == (4 + 2) * 2 + 4 * 3 + 4 * 2)   // values + UInt16 column indices, row starts, dense bias
        #expect(abs(report.totals.compression - 40.0 / 32.0) < 1e-12)
        let text = report.render()
        #expect(text.contains("total") && text.contains("compression 1.25×"))
    }

    @Test("sparse bytes are the bytes of the CSRMatrix of each weight: narrow and wide indices, dense and conv layers",
          arguments: [Architecture.lenet300, .lenet5])
    func sparseBytesMatchCSRMatrix(_ architecture: Architecture) throws {
        var rng = SeededGenerator(seed: 4)
        let model = try architecture.build(seed: 3)
        // A layer wider than 65,536 inputs needs UInt32 column indices.
        let wide = try Graph(inputShape: [70_000], sequential: [Dense(name: "wide", inFeatures: 70_000, outFeatures: 3, rng: &rng)])
        for m in [model, wide] {
            try Pruner.prune(m, with: PruningPlan(threshold: .sparsity(0.9)))
            let report = ModelReport(m)
            #expect(report.layers.count == m.nodes.filter { !$0.module.namedParameters.isEmpty }.count)
            for layer in report.layers {
                let weight = try #require(m.parameter(at: "\(layer.name).weight")).value
                let matrix = CSRMatrix(weight.reshaped([weight.shape[0], weight.count / weight.shape[0]]))
                let bias = m.parameter(at: "\(layer.name).bias")?.count ?? 0
                #expect(layer.sparseBytes == matrix.bytes + 4 * bias, "\(layer.name): CSRMatrix stores \(matrix.bytes) bytes")
                #expect(matrix.columnIndices.width == (matrix.columns > 65_536 ? 4 : 2), "\(layer.name)")
            }
            #expect(report.totals.sparseBytes == report.layers.reduce(0) { $0 + $1.sparseBytes })
        }
    }
}
