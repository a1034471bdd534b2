import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning

extension CriterionName: ExpressibleByArgument {}
extension Allocation: ExpressibleByArgument {}
extension Scope: ExpressibleByArgument {}
extension Granularity: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// `prune prune`: a one-shot cut of a model file, optionally followed by fine-tuning.
struct PruneModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a model file once (optionally fine-tune), and save it with its masks.",
        discussion: """
            Units (weights, N:M groups, neurons or filters) are scored by the criterion and the \
            lowest are cut: to a target --sparsity, or below an absolute --threshold. Neuron and \
            filter cuts follow the model's dependency groups. Masks are saved in the model file \
            and stay in force through later training. The same plan as a recipe (`prune run`) \
            gives the same file.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: "Importance: \(CriterionName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var criterion: CriterionName = Recipe.Defaults.criterion

    @Option(help: "Unit: weight, neuron, filter, head (attention heads of BERT-style encoders), or N:M (e.g. 2:4).")
    var granularity: Granularity = Recipe.Defaults.granularity

    @Option(help: "Where units compete: layer, global, or row (each output row on its own, as Wanda compares) (default: global for weights, row for --criterion wanda and sparsegpt, layer for neurons, filters and heads).")
    var scope: Scope?

    @Option(help: ArgumentHelp("With --criterion wanda or sparsegpt: unlabeled samples to measure layer inputs on, in file order (sentences, one per line, for a model folder; any data file otherwise). Default: the training split. For a model folder without --data, the sentences are also the data the cut is evaluated on.", valueName: "file"))
    var calibration: String?

    @Option(help: "With --calibration: how many of its samples to measure on.")
    var calibrationSamples = Recipe.Defaults.calibrationSamples

    @Option(help: "With --calibration: measure each layer on the outputs of the layers already pruned (sequential, as the papers; the default) or on the dense model's (dense).")
    var calibrationInputs: Recipe.Calibration.Inputs?

    @Option(help: "How --sparsity is shared among weight tensors: global, uniform, lamp or erk (replaces --scope).")
    var allocation: Allocation?

    @Option(help: "Fraction of units to cut, in [0, 1]: of all selected weights (global), or of each layer's neurons or filters (layer scope).")
    var sparsity: Double?

    @Option(help: "What --sparsity is a share of: parameters (or size), flops, or latency (each layer's batch-1 time on this machine, dense or CSR, whichever is faster; timed once and cached beside the model).")
    var objective: Objective = .parameters

    @Option(help: "Cut every unit whose importance is below this value (instead of --sparsity).")
    var threshold: Float?

    @Option(parsing: .upToNextOption, help: "Parameter path patterns to prune (`*` is a wildcard).")
    var parameters: [String] = Recipe.Defaults.parameters

    @Option(parsing: .upToNextOption, help: "Parameter path patterns to leave alone.")
    var exclude: [String] = []

    @Option(help: "Epochs of fine-tuning after the cut (SGD, momentum 0.9, no weight decay; a language model: AdamW, see --fine-tune-steps).")
    var fineTuneEpochs: Int = 0

    @Option(help: "How masked Dense layers fine-tune: off (dense products), on (through CSR where a layer keeps at most 20% of its weights), measured (where that also timed faster).")
    var sparseKernels: Recipe.SparseKernels = .off

    @Option(help: "Fine-tune for this many steps, over as many passes as they take (with --fine-tune-epochs: whichever ends first). A language model's epoch is every offset of its text: give steps, not epochs.")
    var fineTuneSteps: Int?

    @Option(help: "Fine-tuning learning rate (default 0.01; a language model: 3e-4).")
    var learningRate: Float?

    @Option(help: "Fine-tuning learning-rate schedule: constant, step, cosine (default constant; a language model: cosine).")
    var fineTuneSchedule: LearningRateSchedule.Kind?

    @Option(help: "Fine-tuning batch size (default 128; a language model: 32).")
    var batchSize: Int?

    @Option(help: "Seed for the validation split, the random criterion and shuffling.")
    var seed: UInt64 = Recipe.Defaults.seed

    @Option(help: "Fraction of the training set held out to judge the cut (0: report on the test set only).")
    var validationSplit: Double = Recipe.Defaults.validationSplit

    @OptionGroup(title: "Knowledge distillation during fine-tuning")
    var distillation: DistillArguments

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Where to write the pruned model (safetensors).")
    var out: String

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup var reportFlag: ReportFlag

    /// `--data`; for a model folder without it, the `--calibration` sentences (Fashion-MNIST,
    /// the default, cannot feed a sentence encoder).
    var data: String {
        if dataOptions.data == DatasetFolder.defaultPath, ModelFolder.isFolder(source.modelPath),
           let calibration, calibration.lowercased().hasSuffix(".txt") { return calibration }
        return dataOptions.data
    }

    /// The plan these options describe.
    var recipe: Recipe {
        var plan = Recipe(model: source.modelPath, data: data, classes: dataOptions.classes, seed: seed, validationSplit: validationSplit,
               prune: Recipe.Prune(criterion: criterion, granularity: granularity, scope: scope, allocation: allocation,
                                   objective: objective == .parameters ? nil : objective, parameters: parameters,
                                   exclude: exclude, threshold: Recipe.ThresholdSpec(sparsity: sparsity, value: threshold),
                                   schedule: Recipe.ScheduleSpec(oneShot: Recipe.OneShot()),
                                   calibration: calibration.map { Recipe.Calibration(file: $0, samples: calibrationSamples,
                                                                                      inputs: calibrationInputs == .sequential ? nil : calibrationInputs) }),
               fineTune: fineTuneEpochs != 0 || fineTuneSteps != nil
                   // Steps alone: as many passes as they take (every pass has a step at least).
                   ? Recipe.FineTune(epochs: fineTuneEpochs == 0 ? fineTuneSteps ?? 0 : fineTuneEpochs,
                                     learningRate: learningRate, batchSize: batchSize, schedule: fineTuneSchedule,
                                     distill: distillation.spec, steps: fineTuneSteps)
                   : nil,
               output: out)
        plan.sparseKernels = sparseKernels == .off ? nil : sparseKernels
        return plan
    }

    var execution: PlanExecution {
        PlanExecution(recipe: recipe, options: [
            "prune.threshold.sparsity": "--sparsity", "prune.threshold.value": "--threshold",
            "prune.threshold": "--sparsity or --threshold", "prune.criterion": "--criterion", "prune.granularity": "--granularity", "prune.allocation": "--allocation",
            "prune.objective": "--objective", "prune.schedule": "--granularity", "fine_tune.epochs": "--fine-tune-epochs", "fine_tune.steps": "--fine-tune-steps",
            "fine_tune.learning_rate": "--learning-rate", "fine_tune.batch_size": "--batch-size",
            "validation_split": "--validation-split", "prune.calibration": "--calibration",
            "prune.calibration.samples": "--calibration-samples", "prune.calibration.inputs": "--calibration-inputs",
        ].merging(DistillArguments.options(in: "fine_tune")) { a, _ in a }, threads: threadOptions.threads, quiet: quiet, json: output.json, report: !reportFlag.noReport)
    }

    func validate() throws {
        if distillation.distill, fineTuneEpochs <= 0, fineTuneSteps == nil {
            throw ValidationError("--distill acts during fine-tuning: give --fine-tune-epochs or --fine-tune-steps")
        }
        if calibrationInputs != nil, calibration == nil {
            throw ValidationError("--calibration-inputs says what --calibration's samples are measured on: give --calibration FILE too")
        }
        if let calibration, !FileManager.default.fileExists(atPath: calibration) {
            throw ValidationError("--calibration: no such file: \(calibration)")
        }
        try execution.checkPlan()
        try validateOutputPath(out, option: "--out")
    }

    func run() throws { try execution.execute() }
}
extension Recipe.SparseKernels: ExpressibleByArgument {}
