import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import Testing
import TensorCore
import TestSupport

@Suite("The pruning report's data")
struct PruningReportTests {
    /// Fashion-MNIST, 1,200 training and 300 test images.
    static func data() throws -> (training: Dataset, test: Dataset) {
        let folder = try DatasetFolder(fashionMNISTPath)
        return (try folder.training().subset(Array(0..<1200)), try folder.test().subset(Array(0..<300)))
    }

    /// LeNet-300-100 trained 2 epochs while AGP prunes it to 90%, watched by a recorder.
    static func agpRun() throws -> (Graph, RunReport, RunRecorder, Dataset) {
        let recipe = try Recipe(yaml: """
            model: lenet300
            seed: 1
            validation_split: 0.25
            train: {epochs: 2, batch_size: 100, learning_rate: 0.05, schedule: constant}
            prune:
              threshold: {sparsity: 0.9}
              schedule: {agp: {start_epoch: 1, end_epoch: 2, every_steps: 3}}
            """)
        let (training, test) = try data()
        let splits = try recipe.splits(training: training, test: test)
        let model = try #require(try recipe.buildModel(sampleShape: training.sampleShape, classes: 10))
        let run = try PruningRun(recipe)
        let recorder = RunRecorder(model, plan: recipe.pruningPlan())
        run.observers = [recorder]
        return (model, try run.run(model, data: splits), recorder, test)
    }

    @Test("the recorder keeps every step, each epoch's figures and the dense model of the first cut")
    func recorder() throws {
        let (model, run, recorder, _) = try Self.agpRun()
        // 900 training images in batches of 100: 9 steps per epoch, 2 epochs.
        #expect(recorder.steps.map(\.step) == Array(0..<18))
        #expect(recorder.steps.allSatisfy { $0.learningRate == 0.05 })
        #expect(recorder.phases.map(\.phase) == ["training"] && recorder.phases.map(\.step) == [0])
        // The first epoch trains dense; AGP then ramps up from 0 (its first cut, after the 9th
        // step, is to 0%), never down, to 90% at the last cut.
        let sparsity = recorder.steps.map(\.sparsity)
        #expect(sparsity.prefix(9).allSatisfy { $0 == 0 } && sparsity[9...].contains { $0 > 0 })
        #expect(zip(sparsity, sparsity.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(abs(sparsity.last! - 0.9) < 1e-6 && sparsity.last! == run.history.cuts.last!.sparsity)
        #expect(recorder.epochs.map(\.epoch) == [1, 2] && recorder.epochs.allSatisfy { $0.validation?.samples == 300 })
        #expect(recorder.epochs[0].sparsity == 0 && recorder.epochs[1].sparsity == sparsity.last!)
        // The "before" model is dense, taken after the 9th step (AGP's first cut follows it), and is not the final model.
        let before = try #require(recorder.before)
        #expect(recorder.beforeStep == 9 && run.history.cuts.first?.step == 8)
        let weights = before.parameters.filter { $0.path.hasSuffix("weight") }
        #expect(weights.allSatisfy { $0.parameter.value.nonZeroCount() == $0.parameter.count && $0.parameter.mask == nil })
        #expect(before.parameter(at: "fc1.weight")!.value != model.parameter(at: "fc1.weight")!.value)
    }

    @Test("the report places every figure at its sparsity and split, counts the weights, and reads back from its JSON")
    func report() throws {
        let (model, run, recorder, test) = try Self.agpRun()
        var inputs = ReportInputs(title: "agp", model: model, run: run, recorder: recorder, images: test)
        inputs.latencySeconds = 0.02
        let report = try PruningReport(inputs)
        // Measurements: after training (validation, 90%) and final (test, 90%); epochs: training and validation.
        let final = try #require(report.accuracy.last { $0.stage == "final" })
        #expect(final.split == .test && abs(final.sparsity - 0.9) < 1e-6 && final.accuracy == run.final.accuracy)
        #expect(report.accuracy.filter { $0.split == .training }.map(\.sparsity) == recorder.epochs.map(\.sparsity))
        // The dense model: its last dense epoch on the validation split, and the "before" model on the test images.
        #expect(report.dense.map(\.stage) == ["epoch 1", "before the first cut"] && report.dense.map(\.split) == [.validation, .test])
        #expect(report.dense[0].accuracy == recorder.epochs[0].validation!.accuracy)
        #expect(report.dense[1].accuracy == Trainer.evaluate(recorder.before!, on: test).accuracy && report.dense[1].sparsity == 0)
        // The histogram counts each pruned weight once: zeros apart, the rest in the bins.
        let h = try #require(report.histogram)
        let total = 784 * 300 + 300 * 100 + 100 * 10
        #expect(h.after.reduce(0, +) + h.zerosAfter == total && h.before!.reduce(0, +) + h.zerosBefore! == total)
        #expect(h.zerosAfter == Int((0.9 * Double(total)).rounded()) && h.zerosBefore == 0)
        let kept = model.parameters.filter { $0.path.hasSuffix("weight") }.flatMap { $0.parameter.value.scalars }.filter { $0 != 0 }.map(abs)
        #expect(h.smallestKept == Double(kept.min()!))
        // The last cut (global magnitude) removed every weight below its cutoff; it came after the
        // last step, so every weight kept is at or above it, and the tensors' zeros add up.
        let lastCut = try #require(h.lastCut)
        #expect(lastCut == Double(run.history.cuts.last!.cutoff!) && lastCut > 0 && h.smallestKept! >= lastCut)
        #expect(report.weights.map(\.path) == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(report.weights.reduce(0) { $0 + Int(($1.after * Double($1.count)).rounded()) } == h.zerosAfter)
        #expect(report.weights.allSatisfy { $0.before == 0 })
        #expect(h.edges.first! <= Double(kept.min()!) && h.edges.last! >= Double(kept.max()!))
        let nonZeros = { (m: Graph) in m.parameters.reduce(0) { $0 + $1.parameter.value.nonZeroCount() } }
        #expect(report.before?.totals.nonZeros == nonZeros(recorder.before!) && report.after.totals.nonZeros == nonZeros(model))
        #expect(report.steps.count == 18 && report.time!.training == run.timing.training)
        #expect(report.time!.scoring > 0 && report.time!.cutting > 0)
        let latency = try #require(report.latency)
        #expect(latency.beforeMilliseconds! > 0 && latency.afterMilliseconds > 0 && latency.runs >= 1)
        // The JSON reads back, and can sit inside a page.
        let json = report.json()
        #expect(!json.contains("<") && !json.contains("&"))
        let back = try JSONDecoder().decode(PruningReport.self, from: Data(json.utf8))
        #expect(back.accuracy == report.accuracy && back.histogram == report.histogram && back.steps == report.steps)
    }

    @Test("many steps are thinned to at most the limit, each keeping its run's mean loss")
    func thinning() throws {
        let (model, run, recorder, _) = try Self.agpRun()
        var inputs = ReportInputs(title: "agp", model: model, run: run, recorder: recorder)
        inputs.maximumSteps = 5
        inputs.latencySeconds = 0
        let report = try PruningReport(inputs)
        // 18 steps in runs of 4: steps 3, 7, 11, 15, 17.
        #expect(report.steps.map(\.step) == [3, 7, 11, 15, 17])
        let losses = recorder.steps.map(\.loss)
        #expect(abs(report.steps[0].loss - losses[0..<4].reduce(0, +) / 4) < 1e-6)
        #expect(abs(report.steps[4].loss - losses[16..<18].reduce(0, +) / 2) < 1e-6)
        #expect(report.steps[4].sparsity == recorder.steps[17].sparsity)
        #expect(report.latency == nil && report.saliency == nil && report.notes["saliency"] != nil)
    }

    @Test("a baseline that takes other inputs is refused, saying both shapes")
    func mismatchedBaseline() throws {
        var rng = SeededGenerator(seed: 1)
        let model = try Graph(inputShape: [4], sequential: [Dense(name: "fc", inFeatures: 4, outFeatures: 2, rng: &rng)])
        let other = try Graph(inputShape: [5], sequential: [Dense(name: "fc", inFeatures: 5, outFeatures: 2, rng: &rng)])
        var inputs = ReportInputs(title: "t", model: model, baseline: other)
        inputs.latencySeconds = 0
        #expect(throws: ReportError.baselineMismatch("the model before pruning takes [5] and gives [2]; the pruned one takes [4] and gives [2]")) {
            try PruningReport(inputs)
        }
    }
}
