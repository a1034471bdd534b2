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
        #expect(fc.sparseBytes == 8 * 2 + 4 * 3 + 4 * 2)   // values + column indices, row pointers, dense bias
        #expect(abs(report.totals.compression - 40.0 / 36.0) < 1e-12)
        let text = report.render()
        #expect(text.contains("total") && text.contains("compression 1.11×"))
    }
}
