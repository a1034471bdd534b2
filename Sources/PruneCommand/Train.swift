import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore

/// `prune train`: build an architecture, train it, evaluate it, save it.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a built-in architecture on MNIST-format data.",
        discussion: """
            Defaults (He-uniform initialization, SGD with momentum 0.9, learning rate 0.05, per-step cosine \
            decay, weight decay 5e-4, batch 64) are tuned for 10 epochs on Fashion-MNIST; see docs/RESULTS.md.
            """)

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: Architecture = .lenet300

    @Option(help: "Layer sizes for --model mlp, e.g. 784,300,100,10.")
    var layers: String?

    @Option(help: "Weight initialization: \(Initializer.allCases.map(\.rawValue).joined(separator: ", ")).")
    var initializer: Initializer = .default

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var hyper: TrainingArguments
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Where to write the trained model (safetensors).")
    var out: String?

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup(title: "Gradual pruning during training (AGP, global magnitude)")
    var gradual: GradualArguments

    @OptionGroup(title: "Regularization as a pruning strategy (then cut with `prune prune --threshold`)")
    var regularization: RegularizerArguments

    func validate() throws {
        if layers != nil && model != .mlp { throw ValidationError("--layers applies only to --model mlp") }
        _ = try parsedLayers()
        try validateOutputPath(out, option: "--out")
        try gradual.validate(epochs: hyper.epochs)
    }

    func parsedLayers() throws -> [Int]? {
        guard let layers else { return nil }
        let sizes = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard sizes.count >= 2, sizes.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--layers must be at least two positive integers separated by commas, got '\(layers)'")
        }
        return sizes.map { $0! }
    }

    func run() throws {
        threadOptions.apply()
        let train = try dataOptions.training()
        let test = try dataOptions.test()
        let graph: Graph
        do {
            graph = try model.build(inputShape: train.sampleShape, classes: max(train.classCount, test.classCount),
                                    layers: try parsedLayers(), seed: hyper.seed, initializer: initializer)
        } catch let error as ModelError {
            throw ValidationError("\(error)")   // a bad --model/--layers combination: a usage error
        }
        let trainer = Trainer(model: graph, optimizer: hyper.makeOptimizer())
        let stepsPerEpoch = (train.count + hyper.batchSize - 1) / hyper.batchSize
        let pruning = try gradual.callback(stepsPerEpoch: stepsPerEpoch, epochs: hyper.epochs)
        if let pruning { trainer.callbacks.append(pruning) }
        let regularizers = try regularization.regularizers()
        if !regularizers.isEmpty { trainer.callbacks.insert(Regularization(regularizers), at: 0) }
        trainer.callbacks.append(ProgressReporter(quiet: quiet || output.json))
        var options = hyper.trainingOptions
        options.workers = threadOptions.threads
        let reports = try trainer.fit(train, options: options, validation: test)
        let final = reports.last?.validation ?? trainer.evaluate(test)
        if let pruning, !quiet, !output.json {
            let last = pruning.history.last
            print(String(format: "gradual pruning: %d cuts to %.1f%% sparsity, %.1f ms of pruning in all",
                         pruning.history.count, 100 * (last?.sparsity ?? 0), 1000 * pruning.seconds))
        }
        if !regularizers.isEmpty, !quiet, !output.json {
            let weights = regularizers.flatMap { $0.selected(in: graph) }
            let zeros = weights.reduce(0) { $0 + $1.parameter.count - $1.parameter.value.nonZeroCount() }
            print(String(format: "regularization: %d of %d regularized entries are exactly zero (%.1f%%)",
                         zeros, weights.reduce(0) { $0 + $1.parameter.count },
                         100 * Double(zeros) / Double(max(weights.reduce(0) { $0 + $1.parameter.count }, 1))))
        }
        if let out {
            try ModelFile.save(graph, to: out, metadata: [
                "model": model.rawValue, "accuracy": String(final.accuracy), "seed": String(hyper.seed),
            ])
        }
        let complexity = ModelComplexity(graph)
        if output.json {
            try printJSON(TrainResult(accuracy: final.accuracy, loss: final.loss, samples: final.samples,
                                      epochs: reports.map { EpochJSON($0) }, parameters: complexity.totals.parameters,
                                      output: out))
        } else {
            print(String(format: "test accuracy %.2f%%  loss %.4f  (%d samples)", 100 * final.accuracy, final.loss, final.samples))
            print(renderComplexity(complexity))
            if let out { print(savedLine(out, model: graph)) }
        }
    }
}

/// Hyper-parameters shared by training commands.
struct TrainingArguments: ParsableArguments {
    @Option(help: "Passes over the training data.")
    var epochs: Int = 10
    @Option(help: "Samples per step.")
    var batchSize: Int = 64
    @Option(help: "Optimizer: sgd, adam, adamw.")
    var optimizer: OptimizerKind = .sgd
    @Option(help: "Base learning rate.")
    var learningRate: Float = 0.05
    @Option(help: "Momentum (SGD).")
    var momentum: Float = 0.9
    @Flag(help: "Use Nesterov momentum (SGD).")
    var nesterov = false
    @Option(help: "Weight decay: L2 for sgd and adam, decoupled for adamw.")
    var weightDecay: Float = 5e-4
    @Option(help: "Learning-rate schedule: constant, step, cosine.")
    var schedule: LearningRateSchedule.Kind = .cosine
    @Option(help: "Epochs between decays for --schedule step.")
    var stepEpochs: Int = 3
    @Option(help: "Decay factor for --schedule step.")
    var stepFactor: Float = 0.1
    @Option(help: "Linear warm-up steps before the schedule.")
    var warmupSteps: Int = 0
    @Option(help: "Seed for weights and shuffling; the same seed gives the same result.")
    var seed: UInt64 = 1

    func validate() throws {
        try requireAtLeast(1, epochs, for: "--epochs")
        try requireAtLeast(1, batchSize, for: "--batch-size")
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive, got \(learningRate)") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        try requireAtLeast(1, stepEpochs, for: "--step-epochs")
        try requireAtLeast(0, warmupSteps, for: "--warmup-steps")
        guard stepFactor > 0, stepFactor.isFinite else { throw ValidationError("--step-factor must be positive, got \(stepFactor)") }
    }

    func makeOptimizer() -> Optimizer {
        optimizer.optimizer(momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
    }

    var trainingOptions: TrainingOptions {
        var o = TrainingOptions()
        o.epochs = epochs
        o.batchSize = batchSize
        o.learningRate = learningRate
        o.schedule = LearningRateSchedule(kind: schedule, stepEpochs: stepEpochs, stepFactor: stepFactor, warmupSteps: warmupSteps)
        o.seed = seed
        return o
    }
}

struct EpochJSON: Encodable {
    var epoch: Int, loss: Float, trainingAccuracy: Float, seconds: Double, samplesPerSecond: Double
    var testAccuracy: Float?
    init(_ r: EpochReport) {
        epoch = r.epoch; loss = r.loss; trainingAccuracy = r.trainingAccuracy
        seconds = r.seconds; samplesPerSecond = r.samplesPerSecond; testAccuracy = r.validation?.accuracy
    }
}

struct TrainResult: Encodable {
    var accuracy: Float, loss: Float, samples: Int
    var epochs: [EpochJSON]
    var parameters: Int
    var output: String?
}

/// Options for gradual pruning during `prune train`.
struct GradualArguments: ParsableArguments {
    @Option(help: "Final sparsity of gradual (AGP) pruning during training; off when absent.")
    var pruneTo: Double?
    @Option(help: "Epoch whose end starts the ramp (0: from the first step).")
    var pruneStartEpoch: Int = 1
    @Option(help: "Epoch whose end finishes the ramp.")
    var pruneEndEpoch: Int?
    @Option(help: "Steps between cuts.")
    var pruneEvery: Int = 100
    @Option(help: "Epochs between cuts (instead of --prune-every steps).")
    var pruneEveryEpochs: Int?

    func validate(epochs: Int) throws {
        guard let pruneTo else { return }
        guard (0...1).contains(pruneTo) else { throw ValidationError("--prune-to must be in [0, 1], got \(pruneTo)") }
        let end = pruneEndEpoch ?? epochs
        guard pruneStartEpoch >= 0, end >= pruneStartEpoch, end <= epochs else {
            throw ValidationError("--prune-start-epoch \(pruneStartEpoch) and --prune-end-epoch \(end) must satisfy 0 ≤ start ≤ end ≤ --epochs (\(epochs))")
        }
        try requireAtLeast(1, pruneEvery, for: "--prune-every")
        if let pruneEveryEpochs { try requireAtLeast(1, pruneEveryEpochs, for: "--prune-every-epochs") }
    }

    /// The training callback, or nil when gradual pruning is off.
    func callback(stepsPerEpoch: Int, epochs: Int) throws -> GradualPruning? {
        guard let pruneTo else { return nil }
        // Steps are 0-based: the end of epoch e is step e·stepsPerEpoch − 1.
        let start = max(0, pruneStartEpoch * stepsPerEpoch - 1)
        let end = max(start, (pruneEndEpoch ?? epochs) * stepsPerEpoch - 1)
        let every = pruneEveryEpochs.map { $0 * stepsPerEpoch } ?? pruneEvery
        let schedule = try GradualSchedule(final: pruneTo, startStep: start, endStep: end, every: every)
        return GradualPruning(plan: PruningPlan(threshold: .sparsity(0)), schedule: schedule)
    }
}

extension Regularizer.Method: ExpressibleByArgument {}

/// Options for regularization during `prune train`.
struct RegularizerArguments: ParsableArguments {
    @Option(help: "L1 strength λ: adds λ·Σ|w| to the loss.")
    var l1: Float?
    @Option(help: "L2 strength λ: adds (λ/2)·Σw² to the loss of the --regularize parameters only.")
    var l2: Float?
    @Option(help: "Group-lasso strength λ: adds λ·Σ‖row or filter‖₂, driving whole neurons and filters to zero.")
    var groupLasso: Float?
    @Option(help: "proximal (soft-threshold after each step: exact zeros) or subgradient.")
    var regularizerMethod: Regularizer.Method = .proximal
    @Option(parsing: .upToNextOption, help: "Parameter path patterns to regularize (`*` is a wildcard).")
    var regularize: [String] = ["*.weight"]

    func validate() throws {
        for (name, value) in [("--l1", l1), ("--l2", l2), ("--group-lasso", groupLasso)] {
            if let value, !(value >= 0 && value.isFinite) { throw ValidationError("\(name) must be ≥ 0 and finite, got \(value)") }
        }
    }

    func regularizers() throws -> [Regularizer] {
        let penalties: [Regularizer.Penalty] = [l1.map { .l1($0) }, l2.map { .l2($0) }, groupLasso.map { .groupLasso($0) }].compactMap { $0 }
        return try penalties.map { try Regularizer($0, method: regularizerMethod, parameters: regularize) }
    }
}
