import NeuralNetwork
import Pruning
import TensorCore
import TestSupport
import Testing

@Suite("Recipes: sparse kernels in training")
struct SparseKernelsRecipeTests {
    @Test("sparse_kernels reaches the training and fine-tuning options and the YAML round trip; a bad name lists the valid ones")
    func field() throws {
        let recipe = try Recipe(yaml: "model: lenet300\ntrain: {epochs: 1, batch_size: 32}\nfine_tune: {epochs: 1, batch_size: 48}\nsparse_kernels: measured\n")
        #expect(recipe.problems().isEmpty)
        #expect(recipe.trainingOptions()?.sparseKernels == .measured(batchSize: 32, maximumDensity: 0.2))
        #expect(recipe.fineTuneOptions(epochs: 1).sparseKernels == .measured(batchSize: 48, maximumDensity: 0.2))
        #expect(try Recipe(yaml: recipe.yaml()) == recipe)
        let plain = try Recipe(yaml: "model: lenet300\ntrain: {epochs: 1}\n")
        #expect(plain.trainingOptions()?.sparseKernels == .off && plain.fineTuneOptions(epochs: 1).sparseKernels == .off)
        #expect { try Recipe(yaml: "model: lenet300\nsparse_kernels: sideways\n", source: "r.yaml") } throws: {
            "\($0)".contains("sideways") && "\($0)".contains("off, on or measured")
        }
    }

    @Test("AGP with sparse kernels: the same cuts and figures as with dense products; layers train sparse once they keep ≤ 20%")
    func agp() throws {
        var runs: [(report: RunReport, model: Graph)] = []
        for kernels in [Recipe.SparseKernels.off, .on] {
            let (model, data) = try ScheduleTests.problem()
            var recipe = ScheduleTests.recipe(Recipe.Prune(scope: .layer, threshold: Recipe.ThresholdSpec(sparsity: 0.9),
                                                           schedule: Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 0, endEpoch: 2, everySteps: 2))))
            recipe.sparseKernels = kernels
            let report = try PruningRun(recipe).run(model, data: DataSplits(training: data, validation: nil, test: data))
            runs.append((report, model))
        }
        let (dense, sparse) = (runs[0], runs[1])
        #expect(dense.report.history.cuts.map(\.step) == sparse.report.history.cuts.map(\.step))
        #expect(dense.report.history.cuts.map(\.sparsity) == sparse.report.history.cuts.map(\.sparsity))
        #expect(abs(dense.report.final.loss - sparse.report.final.loss) <= 1e-4, "\(dense.report.final) vs \(sparse.report.final)")
        for path in ["fc1.weight", "fc2.weight"] {
            let a = try #require(dense.model.parameter(at: path)), b = try #require(sparse.model.parameter(at: path))
            #expect(a.mask == b.mask)
            #expect(maxRelativeError(b.value.scalars, a.value.scalars) <= 1e-3, "\(path)")
        }
        // After the last cut (90%) both layers keep ≤ 20%: the sparse run trained them through CSR.
        let layers = sparse.model.nodes.compactMap { $0.module as? Dense }
        #expect(layers.allSatisfy { $0.sparsePattern != nil })
        #expect(dense.model.nodes.compactMap { $0.module as? Dense }.allSatisfy { $0.sparsePattern == nil })
    }
}
