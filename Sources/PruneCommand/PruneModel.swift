import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore

extension CriterionName: ExpressibleByArgument {}
extension Scope: ExpressibleByArgument {}

/// `prune prune`: a one-shot cut of a model file, optionally followed by fine-tuning.
struct PruneModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Prune a model file once (optionally fine-tune), and save it with its masks.",
        discussion: """
            Units (weights, N:M groups, neurons or filters) are scored by the criterion and the \
            lowest are cut: to a target --sparsity, or below an absolute --threshold. Masks are \
            saved in the model file and stay in force through later training.
            """)

    @Argument(help: "A model file (safetensors) written by prune.")
    var modelPath: String

    @Option(help: "Importance: \(CriterionName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var criterion: CriterionName = .magnitude

    @Option(help: "Unit: weight, neuron, filter, or N:M (e.g. 2:4).")
    var granularity: String = "weight"

    @Option(help: "Where units compete: layer or global (default: global for weights, layer for neurons and filters).")
    var scope: Scope?

    @Option(help: "Fraction of units to cut, in [0, 1]: of all selected weights (global), or of each layer's neurons or filters (layer scope).")
    var sparsity: Double?

    @Option(help: "Cut every unit whose importance is below this value (instead of --sparsity).")
    var threshold: Float?

    @Option(parsing: .upToNextOption, help: "Parameter path patterns to prune (`*` is a wildcard).")
    var parameters: [String] = ["*.weight"]

    @Option(parsing: .upToNextOption, help: "Parameter path patterns to leave alone.")
    var exclude: [String] = []

    @Option(help: "Epochs of fine-tuning after the cut (SGD, momentum 0.9).")
    var fineTuneEpochs: Int = 0

    @Option(help: "Fine-tuning learning rate (the starting rate under a cosine schedule).")
    var learningRate: Float = 0.01

    @Option(help: "Fine-tuning learning-rate schedule: constant, step, cosine.")
    var fineTuneSchedule: LearningRateSchedule.Kind = .constant

    @Option(help: "Fine-tuning batch size.")
    var batchSize: Int = 128

    @Option(help: "Seed for the random criterion and for shuffling.")
    var seed: UInt64 = 1

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Where to write the pruned model (safetensors).")
    var out: String

    @Flag(help: "No progress output.")
    var quiet = false

    func validate() throws {
        guard Granularity(granularity) != nil else {
            throw ValidationError("--granularity must be weight, neuron, filter or N:M with 0 ≤ N ≤ M (e.g. 2:4), got '\(granularity)'")
        }
        if granularity.contains(":") && (sparsity != nil || threshold != nil) {
            throw ValidationError("N:M granularity fixes the sparsity (N of every M kept); drop --sparsity and --threshold")
        }
        switch (sparsity, threshold) {
        case (nil, nil) where !granularity.contains(":"):
            throw ValidationError("give --sparsity (a fraction to cut) or --threshold (an importance value)")
        case (.some, .some): throw ValidationError("give --sparsity or --threshold, not both")
        case let (s?, nil) where !(0...1).contains(s): throw ValidationError("--sparsity must be in [0, 1], got \(s)")
        default: break
        }
        if Granularity(granularity)?.isStructured == true && threshold != nil {
            throw ValidationError("--granularity \(granularity) takes --sparsity (the fraction of units removed per layer), not --threshold")
        }
        if criterion.isStructuredOnly && !(Granularity(granularity)?.isStructured ?? false) {
            throw ValidationError("--criterion \(criterion.rawValue) ranks whole units: use it with --granularity filter or neuron")
        }
        if criterion == .movement {
            throw ValidationError("--criterion movement accumulates −w·∂L/∂w during training; use it in a `prune run` recipe with a train section")
        }
        try requireAtLeast(0, fineTuneEpochs, for: "--fine-tune-epochs")
        try requireAtLeast(1, batchSize, for: "--batch-size")
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive") }
        try validateOutputPath(out, option: "--out")
    }

    /// Global for weights and N:M groups; per layer for neurons and filters.
    var effectiveScope: Scope { scope ?? (Granularity(granularity)?.isStructured == true ? .layer : .global) }

    func run() throws {
        threadOptions.apply()
        let loaded = try ModelFile.load(modelPath)
        let model = loaded.model
        let test = try dataOptions.test()
        try Trainer.check(test, fits: model)
        let before = Trainer.evaluate(model, on: test)

        var train: Dataset?
        if criterion.needsData || fineTuneEpochs > 0 { train = try dataOptions.training() }
        let plan = PruningPlan(
            criterion: try oneShotCriterion(criterion, seed: seed, model: model, data: train), granularity: Granularity(granularity)!,
            scope: effectiveScope,
            threshold: threshold.map { .value($0) } ?? .sparsity(sparsity ?? 0),
            parameters: parameters, excluding: exclude)
        let result = try Pruner.prune(model, with: plan)
        let pruned = Trainer.evaluate(model, on: test)

        var tuned: Evaluation?
        if fineTuneEpochs > 0, let train {
            let options = TrainingOptions.fineTuning(epochs: fineTuneEpochs, batchSize: batchSize, learningRate: learningRate,
                                                     seed: seed, workers: threadOptions.threads,
                                                     schedule: LearningRateSchedule(kind: fineTuneSchedule))
            let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
            trainer.callbacks.append(ProgressReporter(quiet: quiet || output.json))
            try trainer.fit(train, options: options)
            tuned = trainer.evaluate(test)
        }

        var history: [PruningEvent] = []
        if let text = loaded.metadata["pruning.history"] {
            do {
                history = try JSONDecoder().decode([PruningEvent].self, from: Data(text.utf8))
            } catch {
                throw FormatError(path: modelPath, "the 'pruning.history' metadata is not a valid history: \(error)")
            }
        }
        history.append(PruningEvent(criterion: criterion.rawValue, granularity: granularity, scope: effectiveScope.rawValue,
                                    sparsityTarget: sparsity, threshold: threshold, sparsity: result.sparsity,
                                    accuracyBefore: before.accuracy, accuracyAfter: pruned.accuracy,
                                    accuracyFineTuned: tuned?.accuracy, fineTuneEpochs: fineTuneEpochs))
        var metadata = loaded.metadata.filter { !$0.key.hasPrefix("prune.") }
        metadata["pruning.history"] = String(decoding: try JSONEncoder().encode(history), as: UTF8.self)
        metadata["accuracy"] = String((tuned ?? pruned).accuracy)
        try ModelFile.save(model, to: out, metadata: metadata)

        if output.json {
            try printJSON(PruneSummary(sparsity: result.sparsity, seconds: result.seconds, accuracyBefore: before.accuracy,
                                       accuracyPruned: pruned.accuracy, accuracyFineTuned: tuned?.accuracy,
                                       parameters: result.parameters, report: ModelReport(model), output: out))
        } else {
            print(ModelReport(model).render())
            print(String(format: "accuracy %.2f%% before, %.2f%% after the cut%@; cut took %.2f ms",
                         100 * before.accuracy, 100 * pruned.accuracy,
                         tuned.map { String(format: ", %.2f%% after %d fine-tuning epochs", 100 * $0.accuracy, fineTuneEpochs) } ?? "",
                         1000 * result.seconds))
            print(savedLine(out, model: model))
        }
    }
}

/// The criterion for a single cut: Taylor scores are averaged over 20 training batches
/// first (the model's current gradient is one batch's noise), SNIP takes one batch; the
/// others as named.
func oneShotCriterion(_ name: CriterionName, seed: UInt64, model: Graph, data: Dataset?) throws -> Criterion {
    if name == .taylor, let data { return try averagedTaylorScores(model, data: data, batches: 20) }
    if name == .snip, let data { return try snipScores(model, data: data) }
    if name == .apoz, let data { return try AveragePercentageOfZeros(measuring: model, on: data) }
    return name.criterion(seed: seed)
}

/// One pruning step, as recorded in a model file's `pruning.history` metadata.
struct PruningEvent: Codable {
    var criterion: String, granularity: String, scope: String
    var sparsityTarget: Double?, threshold: Float?
    var sparsity: Double
    var accuracyBefore: Float, accuracyAfter: Float, accuracyFineTuned: Float?
    var fineTuneEpochs: Int
}

struct PruneSummary: Encodable {
    var sparsity: Double, seconds: Double
    var accuracyBefore: Float, accuracyPruned: Float, accuracyFineTuned: Float?
    var parameters: [PrunedParameter]
    var report: ModelReport
    var output: String
}
