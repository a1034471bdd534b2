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
        abstract: "Train a built-in architecture, or your own from a JSON file, on your data (IDX, NumPy, CSV or images).",
        discussion: """
            --model takes a built-in name or an architecture file (SPEC.json: input shape and layers, \
            docs/FORMATS.md). Defaults (He-uniform initialization, SGD with momentum 0.9, learning rate 0.05, per-step cosine \
            decay, weight decay 5e-4, batch 64) are tuned for 10 epochs on Fashion-MNIST; see docs/RESULTS.md.
            """)

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")), or an architecture file SPEC.json.")
    var model: ModelChoice = ModelChoice(Architecture.lenet300)

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

    @OptionGroup var reportFlag: ReportFlag

    @OptionGroup(title: "Gradual pruning during training (AGP, global magnitude)")
    var gradual: GradualArguments

    @OptionGroup(title: "Knowledge distillation during training")
    var distillation: DistillArguments

    @OptionGroup(title: "Regularization as a pruning strategy (then cut with `prune prune --threshold`)")
    var regularization: RegularizerArguments

    @Option(help: "Fraction of the training set held out: per-epoch figures are measured on it (0: none; the test set is read once, at the end). Default \(Recipe.Defaults.validationSplit); gpt-tiny: 0.")
    var validationSplit: Double?

    /// The plan these options describe.
    func recipe() throws -> Recipe {
        Recipe(model: model.value, layers: try parsedLayers(), initializer: initializer, data: dataOptions.data,
               classes: dataOptions.classes,
               seed: hyper.seed, validationSplit: validationSplit, train: hyper.training(regularizer: regularization.spec, distill: distillation.spec),
               prune: gradual.prune(epochs: hyper.epochs ?? Recipe.Defaults.epochs), output: out)
    }

    func execution() throws -> PlanExecution {
        var execution = PlanExecution(recipe: try recipe(), options: [
            "layers": "--layers", "validation_split": "--validation-split",
            "train.epochs": "--epochs", "train.steps": "--steps", "train.minutes": "--minutes", "train.gradient_clip": "--gradient-clip", "train.batch_size": "--batch-size", "train.learning_rate": "--learning-rate",
            "train.momentum": "--momentum", "train.weight_decay": "--weight-decay", "train.step_epochs": "--step-epochs",
            "train.step_factor": "--step-factor", "train.warmup_steps": "--warmup-steps",
            "train.regularizer.l1": "--l1", "train.regularizer.l2": "--l2", "train.regularizer.group_lasso": "--group-lasso",
            "train.regularizer.parameters": "--regularize",
            "prune.threshold": "--prune-to", "prune.allocation": "--allocation", "prune.schedule.agp.start_epoch": "--prune-start-epoch",
            "prune.schedule.agp.end_epoch": "--prune-end-epoch", "prune.schedule.agp.every_steps": "--prune-every",
            "prune.schedule.agp.every_epochs": "--prune-every-epochs",
        ].merging(DistillArguments.options(in: "train")) { a, _ in a }, threads: threadOptions.threads, quiet: quiet, json: output.json) { report, model in
            report.history.cuts.isEmpty ? [renderComplexity(ModelComplexity(model))] : []
        }
        execution.report = !reportFlag.noReport
        return execution
    }

    func validate() throws {
        try execution().checkPlan()
        try validateOutputPath(out, option: "--out")
    }

    /// `--layers 784,300,10` as sizes (the plan's validator checks them).
    func parsedLayers() throws -> [Int]? {
        guard let layers else { return nil }
        let sizes = layers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard sizes.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--layers must be positive integers separated by commas, got '\(layers)'")
        }
        return sizes.map { $0! }
    }

    func run() throws { try execution().execute() }
}

/// Hyper-parameters shared by training commands. Those left out take the defaults of the model
/// (`Recipe.TrainingDefaults`: the classifiers' SGD recipe, or gpt-tiny's AdamW recipe).
struct TrainingArguments: ParsableArguments {
    typealias D = Recipe.TrainingDefaults
    @Option(help: "Passes over the training data (default \(D.classifier.epochs); gpt-tiny: \(D.languageModel.epochs)).")
    var epochs: Int?
    @Option(help: "Stop after this many steps (default: every epoch; gpt-tiny: \(D.languageModel.steps!)).")
    var steps: Int?
    @Option(help: "Stop after this many minutes of training; the learning-rate decay spans the steps projected to fit (the result then depends on the machine's speed). Lifts gpt-tiny's default step limit.")
    var minutes: Double?
    @Option(help: "Samples per step (default \(D.classifier.batchSize); gpt-tiny: \(D.languageModel.batchSize)).")
    var batchSize: Int?
    @Option(help: "Optimizer: sgd, adam, adamw (default \(D.classifier.optimizer.rawValue); gpt-tiny: \(D.languageModel.optimizer.rawValue)).")
    var optimizer: OptimizerKind?
    @Option(help: "Base learning rate (default \(D.classifier.learningRate); gpt-tiny: \(D.languageModel.learningRate)).")
    var learningRate: Float?
    @Option(help: "Momentum (SGD; default \(D.classifier.momentum)).")
    var momentum: Float?
    @Flag(help: "Use Nesterov momentum (SGD).")
    var nesterov = false
    @Option(help: "Weight decay: L2 for sgd and adam, decoupled for adamw (default \(D.classifier.weightDecay); gpt-tiny: \(D.languageModel.weightDecay) on layer weights).")
    var weightDecay: Float?
    @Option(help: "Learning-rate schedule: constant, step, cosine (default \(D.classifier.schedule.rawValue)).")
    var schedule: LearningRateSchedule.Kind?
    @Option(help: "Epochs between decays for --schedule step.")
    var stepEpochs: Int = Recipe.Defaults.stepEpochs
    @Option(help: "Decay factor for --schedule step.")
    var stepFactor: Float = Recipe.Defaults.stepFactor
    @Option(help: "Linear warm-up steps before the schedule (default \(D.classifier.warmupSteps); gpt-tiny: \(D.languageModel.warmupSteps)).")
    var warmupSteps: Int?
    @Option(help: "Clip each step's gradients to this global L2 norm (default: none; gpt-tiny: \(D.languageModel.gradientClip!)).")
    var gradientClip: Float?
    @Option(help: "Seed for weights and shuffling; the same seed gives the same result.")
    var seed: UInt64 = Recipe.Defaults.seed

    /// The `train` section these options describe.
    func training(regularizer: Recipe.RegularizerSpec?, distill: Recipe.Distill? = nil) -> Recipe.Training {
        var t = Recipe.Training(epochs: epochs, batchSize: batchSize, optimizer: optimizer, learningRate: learningRate,
                                momentum: momentum, nesterov: nesterov, weightDecay: weightDecay, schedule: schedule,
                                stepEpochs: stepEpochs, stepFactor: stepFactor, warmupSteps: warmupSteps, regularizer: regularizer,
                                distill: distill)
        t.steps = steps
        t.minutes = minutes
        t.gradientClip = gradientClip
        return t
    }
}

/// Options for gradual pruning during `prune train`.
struct GradualArguments: ParsableArguments {
    @Option(help: "Final sparsity of gradual (AGP) pruning during training; off when absent.")
    var pruneTo: Double?

    @Option(help: "How --prune-to is shared among weight tensors: global, uniform, lamp or erk.")
    var allocation: Allocation?

    @Option(help: "Epoch whose end starts the ramp (0: from the first step).")
    var pruneStartEpoch: Int = 1
    @Option(help: "Epoch whose end finishes the ramp.")
    var pruneEndEpoch: Int?
    @Option(help: "Steps between cuts.")
    var pruneEvery: Int = Recipe.Defaults.agpEverySteps
    @Option(help: "Epochs between cuts (instead of --prune-every steps).")
    var pruneEveryEpochs: Int?

    /// The `prune` section these options describe: global magnitude over every weight,
    /// on the AGP ramp (nil without `--prune-to`).
    func prune(epochs: Int) -> Recipe.Prune? {
        guard let pruneTo else { return nil }
        let agp = Recipe.AGP(startEpoch: pruneStartEpoch, endEpoch: pruneEndEpoch ?? epochs,
                             everySteps: pruneEveryEpochs == nil ? pruneEvery : nil, everyEpochs: pruneEveryEpochs)
        return Recipe.Prune(criterion: .magnitude, granularity: .weight, scope: .global, allocation: allocation, parameters: Recipe.Defaults.parameters,
                            threshold: Recipe.ThresholdSpec(sparsity: pruneTo), schedule: Recipe.ScheduleSpec(agp: agp))
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
    var regularize: [String] = Recipe.Defaults.parameters

    /// The `train.regularizer` section these options describe (nil without a strength).
    var spec: Recipe.RegularizerSpec? {
        guard l1 != nil || l2 != nil || groupLasso != nil else { return nil }
        return Recipe.RegularizerSpec(l1: l1, l2: l2, groupLasso: groupLasso, method: regularizerMethod, parameters: regularize)
    }
}
