import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import TensorCore
import Testing
import TestSupport

/// Interrupted runs resumed from their last checkpoint end exactly where uninterrupted
/// runs end: the same model file, byte for byte, and the same figures.
@Suite("Resuming a run from a checkpoint")
struct ResumeTests {
    /// 1,200 Fashion-MNIST training images (10% held out for validation) and 300 test images.
    static let data: Result<(training: Dataset, test: Dataset), Error> = Result {
        let folder = DatasetFolder(fashionMNISTPath)
        return (try folder.training().subset(Array(0..<1200)), try folder.test().subset(Array(0..<300)))
    }

    /// A small MLP with BatchNorm (running statistics) and dropout (a generator).
    static func model() throws -> Graph {
        var rng = SeededGenerator(seed: 11)
        return try Graph(inputShape: [1, 28, 28], sequential: [
            Flatten(name: "flatten"),
            Dense(name: "fc1", inFeatures: 784, outFeatures: 48, rng: &rng), BatchNorm(name: "bn1", features: 48),
            ReLU(name: "relu1"), Dropout(name: "drop1", rate: 0.2, seed: 5),
            Dense(name: "fc2", inFeatures: 48, outFeatures: 10, rng: &rng),
        ])
    }

    struct Stop: Error {}

    /// Writes every checkpoint to a file, as the command line does, and stops the run
    /// after checkpoint `stopAfterCheckpoint` or during training step `stopAtStep`
    /// (counted over every phase; the step's checkpoint, if any, is not taken).
    final class Interrupter: RunObserver, TrainingCallback {
        let path: String
        let architecture: GraphSpec
        var stopAfterCheckpoint: Int?
        var stopAtStep: Int?
        var checkpoints: [RunCheckpoint.Position] = []
        var steps = 0

        init(path: String, architecture: GraphSpec) { self.path = path; self.architecture = architecture }

        func run(didCheckpoint checkpoint: RunCheckpoint) throws {
            checkpoints.append(checkpoint.position)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let state = String(decoding: try encoder.encode(checkpoint.state), as: UTF8.self)
            try CheckpointFile.write(CheckpointFile.Contents(state: state, architecture: architecture, tensors: checkpoint.tensors),
                                     to: path)
            if checkpoints.count == stopAfterCheckpoint { throw Stop() }
        }

        func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
            steps += 1
            if steps == stopAtStep { throw Stop() }
        }
    }

    /// What a run leaves: the model file's bytes and the report.
    struct Outcome {
        var file: Data
        var report: RunReport
        var model: Graph
    }

    /// Saves `model` with the run's history (what `prune run` writes) and returns the bytes.
    static func file(_ model: Graph, _ history: RunHistory, folder: URL) throws -> Data {
        let path = folder.appendingPathComponent("model-\(UUID().uuidString).safetensors").path
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let entry = String(decoding: try encoder.encode(history.compacted()), as: UTF8.self)
        try ModelFile.save(model, to: path, metadata: ["pruning.history": "[\(entry)]"])
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// Reads a checkpoint file back into a checkpoint and a fresh model of its architecture.
    static func load(_ path: String) throws -> (RunCheckpoint, Graph) {
        let contents = try CheckpointFile.read(path)
        let state = try JSONDecoder().decode(RunCheckpoint.State.self, from: Data(contents.state.utf8))
        return (RunCheckpoint(state: state, tensors: contents.tensors), try contents.architecture.makeGraph())
    }

    /// A fresh temporary folder.
    static func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prune-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        return folder
    }

    /// Runs `recipe` until its first checkpoint and returns that checkpoint, read back from
    /// its file, with a fresh model to resume into.
    static func firstCheckpoint(of recipe: Recipe, folder: URL) throws -> (RunCheckpoint, Graph) {
        let path = folder.appendingPathComponent("first.checkpoint.safetensors").path
        let interrupter = Interrupter(path: path, architecture: try model().spec)
        interrupter.stopAfterCheckpoint = 1
        #expect(throws: Stop.self) { try run(recipe, model: try model(), observer: interrupter, folder: folder) }
        return try load(path)
    }

    /// Runs `recipe` from the start (or from `checkpoint` into `model`).
    static func run(_ recipe: Recipe, model: Graph, observer: Interrupter? = nil, from checkpoint: RunCheckpoint? = nil,
                    workers: Int = 1, folder: URL) throws -> Outcome {
        let (training, test) = try data.get()
        let engine = try PruningRun(recipe)
        engine.workers = workers
        engine.observers = [observer].compactMap { $0 }
        let report = try engine.run(model, data: try recipe.splits(training: training, test: test), resumingFrom: checkpoint)
        return Outcome(file: try file(model, report.history, folder: folder), report: report, model: model)
    }

    /// Runs `recipe` uninterrupted, then, for each stop, runs it again until the stop and
    /// resumes from its last checkpoint file; every resumed run must give the uninterrupted
    /// run's file and figures. Returns the uninterrupted run's checkpoint positions and report.
    @discardableResult
    static func expectResumesIdentical(_ recipe: Recipe, stops: [(checkpoint: Int?, step: Int?)], workers: Int = 1,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws -> ([RunCheckpoint.Position], RunReport) {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("run.checkpoint.safetensors").path
        let reference = try model()
        let full = Interrupter(path: path, architecture: reference.spec)
        let expected = try run(recipe, model: reference, observer: full, workers: workers, folder: folder)
        for stop in stops {
            try? FileManager.default.removeItem(atPath: path)
            let interrupter = Interrupter(path: path, architecture: reference.spec)
            interrupter.stopAfterCheckpoint = stop.checkpoint
            interrupter.stopAtStep = stop.step
            #expect(throws: Stop.self, "the run was not interrupted at \(stop)", sourceLocation: sourceLocation) {
                try run(recipe, model: try model(), observer: interrupter, workers: workers, folder: folder)
            }
            let (checkpoint, fresh) = try load(path)
            let resumed = try run(recipe, model: fresh, observer: Interrupter(path: path, architecture: reference.spec),
                                  from: checkpoint, workers: workers, folder: folder)
            #expect(resumed.file == expected.file, "resumed from \(checkpoint.position) (stop \(stop)): the model file differs",
                    sourceLocation: sourceLocation)
            #expect(resumed.report.history == expected.report.history, "resumed from \(checkpoint.position)", sourceLocation: sourceLocation)
            #expect(resumed.report.final == expected.report.final, "resumed from \(checkpoint.position)", sourceLocation: sourceLocation)
            let figures = { (r: RunReport) in r.epochs.map { [$0.loss, $0.trainingAccuracy, $0.validation?.accuracy ?? -1, $0.validation?.loss ?? -1] } }
            #expect(figures(resumed.report) == figures(expected.report), "resumed from \(checkpoint.position)", sourceLocation: sourceLocation)
        }
        return (full.checkpoints, expected.report)
    }

    @Test("AGP with movement scores, momentum, BatchNorm and dropout: resumed mid-epoch, mid-ramp and in fine-tuning, the file is byte-identical")
    func agp() throws {
        let recipe = Recipe(model: "test", seed: 4, validationSplit: 0.1,
                            train: Recipe.Training(epochs: 3, batchSize: 40, learningRate: 0.05),
                            prune: Recipe.Prune(criterion: .movement, threshold: Recipe.ThresholdSpec(sparsity: 0.8),
                                                schedule: Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 0, endEpoch: 2, everySteps: 5))),
                            fineTune: Recipe.FineTune(epochs: 1, batchSize: 60),
                            checkpoint: Recipe.Checkpoint(everySteps: 10))
        // 27 steps per epoch: checkpoints after steps 10, 20, …; 81 training steps, 18 of fine-tuning.
        let (positions, _) = try Self.expectResumesIdentical(recipe, stops: [(1, nil), (nil, 17), (nil, 54), (nil, 95), (9, nil)])
        #expect(positions.count == 10, "\(positions)")   // 9 step checkpoints and one after training
        #expect(positions.contains(.afterTraining))
        guard case let .training(p) = positions[1] else { Issue.record("\(positions[1])"); return }
        #expect(p.epoch == 1 && p.stepInEpoch == 20 && p.step == 20, "\(p)")
    }

    @Test("a checkpoint's momentum matters: resuming with it zeroed gives another model (the comparison can fail)")
    func optimizerStateMatters() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let recipe = Recipe(model: "test", train: Recipe.Training(epochs: 1, batchSize: 40),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.5)),
                            checkpoint: Recipe.Checkpoint(everySteps: 10))
        let expected = try Self.run(recipe, model: try Self.model(), folder: folder)
        var (checkpoint, fresh) = try Self.firstCheckpoint(of: recipe, folder: folder)
        let resumed = try Self.run(recipe, model: fresh, from: checkpoint, folder: folder)
        #expect(resumed.file == expected.file)
        (checkpoint, fresh) = try Self.load(folder.appendingPathComponent("first.checkpoint.safetensors").path)
        let momentum = checkpoint.tensors.keys.filter { $0.hasPrefix("optimizer/") }
        #expect(momentum.sorted() == ["optimizer/bn1.bias", "optimizer/bn1.weight", "optimizer/fc1.bias", "optimizer/fc1.weight",
                                      "optimizer/fc2.bias", "optimizer/fc2.weight"])
        for name in momentum { checkpoint.tensors[name] = Tensor.zeros(checkpoint.tensors[name]!.shape) }
        let forgetful = try Self.run(recipe, model: fresh, from: checkpoint, folder: folder)
        #expect(forgetful.file != expected.file)
    }

    @Test("one-shot Taylor cut after Adam training, then fine-tuning: resumed in training and in fine-tuning, byte-identical")
    func oneShotFineTune() throws {
        let recipe = Recipe(model: "test", seed: 7, validationSplit: 0.1,
                            train: Recipe.Training(epochs: 2, batchSize: 50, optimizer: .adam, learningRate: 0.002),
                            prune: Recipe.Prune(criterion: .taylor, threshold: Recipe.ThresholdSpec(sparsity: 0.7)),
                            fineTune: Recipe.FineTune(epochs: 2, batchSize: 50),
                            checkpoint: Recipe.Checkpoint(everySteps: 8))
        // 22 steps per epoch: 44 training steps, then a cut, then 44 fine-tuning steps.
        let (positions, _) = try Self.expectResumesIdentical(recipe, stops: [(2, nil), (nil, 30), (6, nil), (nil, 70), (nil, 88)])
        #expect(positions.contains { if case .fineTuning = $0 { true } else { false } }, "\(positions)")
    }

    @Test("two data-parallel workers, each replica with its own dropout generator: resumed mid-epoch, byte-identical; one worker is refused")
    func dataParallel() throws {
        let recipe = Recipe(model: "test", seed: 8, train: Recipe.Training(epochs: 2, batchSize: 40),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.6)),
                            checkpoint: Recipe.Checkpoint(everySteps: 10))
        try Self.expectResumesIdentical(recipe, stops: [(2, nil), (nil, 40)], workers: 2)
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("c.safetensors").path
        let interrupter = Interrupter(path: path, architecture: try Self.model().spec)
        interrupter.stopAfterCheckpoint = 1
        #expect(throws: Stop.self) { try Self.run(recipe, model: try Self.model(), observer: interrupter, workers: 2, folder: folder) }
        let (checkpoint, fresh) = try Self.load(path)
        #expect(throws: RunError.checkpointMismatch("it was taken with 2 workers (--threads), this run has 1: use the same number for the same result")) {
            try Self.run(recipe, model: fresh, from: checkpoint, folder: folder)
        }
    }

    @Test("lottery-ticket rounds under an accuracy budget: resumed in training, during a round's retraining and between rounds, byte-identical")
    func lotteryTicket() throws {
        let recipe = Recipe(model: "test", seed: 9, validationSplit: 0.1,
                            train: Recipe.Training(epochs: 1, batchSize: 60, learningRate: 0.05),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.75),
                                                schedule: Recipe.ScheduleSpec(iterative: Recipe.Iterative(
                                                    fraction: 0.5, rounds: 3, accuracyBudget: 0.5, rewindToStep: 4))),
                            checkpoint: Recipe.Checkpoint(everySteps: 7, everyRounds: 1))
        // 18 steps per epoch; two rounds (50%, 75%), each rewinding to step 4 and retraining one epoch.
        let (positions, _) = try Self.expectResumesIdentical(recipe, stops: [(1, nil), (nil, 12), (4, nil), (5, nil), (nil, 30), (8, nil)])
        let betweenRounds = positions.filter { $0 == .rounds(recovery: nil) }.count
        let inRecovery = positions.filter(\.isRecovery).count
        #expect(betweenRounds == 2 && inRecovery >= 4, "\(positions)")
    }

    @Test("an iterative round rolled back by its budget after a resume restores the weights from before its cut")
    func rollbackAfterResume() throws {
        // A budget of 0 rolls back the first round that loses any accuracy: resumed
        // mid-recovery, the rollback must use the saved weights.
        let recipe = Recipe(model: "test", seed: 2, validationSplit: 0.1,
                            train: Recipe.Training(epochs: 1, batchSize: 60),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.99),
                                                schedule: Recipe.ScheduleSpec(iterative: Recipe.Iterative(
                                                    fraction: 0.9, rounds: 2, fineTuneEpochs: 1, accuracyBudget: 0))),
                            fineTune: Recipe.FineTune(epochs: 0, batchSize: 60),
                            checkpoint: Recipe.Checkpoint(everySteps: 6))
        // 18 steps per epoch: checkpoints after steps 6, 12, 18, after training, then 24, 30 in round 1's fine-tuning.
        let (positions, report) = try Self.expectResumesIdentical(recipe, stops: [(nil, 28), (6, nil)])
        #expect(positions.count >= 6 && positions[4].isRecovery && positions[5].isRecovery, "\(positions)")
        #expect(report.history.stop == .accuracyBudget && report.history.rounds.last?.rolledBack == true, "\(report.history.rounds)")
    }

    @Test("a checkpoint of another plan, or with a tensor of the wrong shape, is refused naming the difference")
    func mismatch() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var recipe = Recipe(model: "test", train: Recipe.Training(epochs: 1, batchSize: 100),
                            checkpoint: Recipe.Checkpoint(everySteps: 5))
        var (checkpoint, fresh) = try Self.firstCheckpoint(of: recipe, folder: folder)
        // It records the kernels the products ran on (a resume in another process sets them).
        struct Kernels: Decodable { var gemm: GEMMChoice? }
        let kernels = try JSONDecoder().decode(Kernels.self, from: JSONEncoder().encode(checkpoint.state))
        #expect(kernels.gemm == BLAS.choice)
        recipe.train?.learningRate = 0.01
        #expect(throws: RunError.checkpointMismatch("the plan changed since it was taken (train differ); run the same recipe, or start afresh")) {
            try Self.run(recipe, model: fresh, from: checkpoint, folder: folder)
        }
        recipe.train?.learningRate = nil
        checkpoint.tensors["model/fc2.weight"] = Tensor.zeros([10, 47])
        #expect(throws: RunError.checkpointMismatch("tensor 'model/fc2.weight' has shape [10, 47], the model's 'fc2.weight' is [10, 48]")) {
            try Self.run(recipe, model: fresh, from: checkpoint, folder: folder)
        }
    }

    @Test("a learning rate of 1e6 stops the run with a typed error naming the phase, epoch, step and parameter; the model is the last good one")
    func divergence() throws {
        let (training, test) = try Self.data.get()
        let recipe = Recipe(model: "test", train: Recipe.Training(epochs: 2, batchSize: 40, learningRate: 1e6),
                            prune: Recipe.Prune(threshold: Recipe.ThresholdSpec(sparsity: 0.5),
                                                schedule: Recipe.ScheduleSpec(agp: Recipe.AGP(startEpoch: 0, endEpoch: 1, everySteps: 1))))
        /// Copies the weights after every step that finished.
        final class LastGood: RunObserver, TrainingCallback {
            var values: [Tensor] = []
            var steps = 0
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                values = trainer.model.parameters.map(\.parameter.value)
                steps += 1
            }
        }
        let model = try Self.model()
        let lastGood = LastGood()
        let engine = try PruningRun(recipe)
        engine.observers = [lastGood]
        do {
            _ = try engine.run(model, data: try recipe.splits(training: training, test: test))
            Issue.record("a learning rate of 1e6 did not stop the run")
        } catch let RunError.diverged(phase, cause, history) {
            #expect(phase == .training(epochs: 2))
            switch cause {
            case let .nonFiniteWeights(parameter, epoch, step, _):
                #expect(model.parameter(at: parameter) != nil && epoch == 1 && step == lastGood.steps + 1, "\(cause)")
            case let .nonFiniteLoss(epoch, step, _):
                #expect(epoch == 1 && step == lastGood.steps + 1, "\(cause)")
            default: Issue.record("unexpected \(cause)")
            }
            #expect("\(RunError.diverged(phase: phase, cause: cause, history: history))".hasPrefix("the run stopped during training: training diverged: "))
            #expect(history.cuts.count == lastGood.steps, "one cut after every step that finished")
            #expect(model.parameters.allSatisfy { allFinite($0.parameter.value) })
            if lastGood.steps > 0 {
                #expect(model.parameters.map(\.parameter.value) == lastGood.values, "the model is the one after the last good step")
            }
        }
    }
}

extension RunCheckpoint.Position {
    /// Whether the position is inside a round's recovery.
    var isRecovery: Bool {
        if case .rounds(.some) = self { return true }
        return false
    }
}
