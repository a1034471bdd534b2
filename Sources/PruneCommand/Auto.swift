import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports

extension Objective: ExpressibleByArgument {
    /// A name, or `size` for `parameters` (the model's size in weights).
    public init?(argument: String) { self.init(rawValue: argument == "size" ? Objective.parameters.rawValue : argument) }
}

/// `prune auto`: say the accuracy budget, and Prune finds the sparsity, the criterion and
/// the allocation, then fine-tunes and saves the model with the plan that reproduces it.
struct Auto: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the highest sparsity within an accuracy budget, and the strategy for it; save the model and its plan.",
        discussion: """
            Everything is decided on a validation split of the training set (never the test set): \
            a bisection over sparsity with magnitude pruning (each probe cut on a copy, fine-tuned \
            --probe-epochs and measured), then every strategy (magnitude under global, LAMP, ERK \
            and sensitivity allocation; Taylor; SNIP; movement and magnitude after an L1 pull, \
            both trained --probe-epochs before their cut) tried at the sparsity found, then the \
            search continued with the best. The rest of --budget-epochs goes to rounds: the first cuts to \
            the sparsity found, each later one cuts --round-fraction of what remains, each is \
            fine-tuned --round-epochs and measured, and the first round that breaks the budget is \
            rolled back. The test split is measured once, at the end. The chosen plan is written \
            beside the model (OUT with .recipe.yaml); `prune run` of it gives the same model \
            without searching.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: "The most accuracy the pruned model may lose, in points (0.5 = half a point), against the model as given.")
    var maxAccuracyDrop: Double

    @Option(help: "What the sparsity is a share of: parameters (or size), flops, or latency (each layer's batch-1 time on this machine, dense or CSR, whichever is faster; timed once and cached beside the model).")
    var objective: Objective = .parameters

    @Option(help: "Training epochs for everything: the probes and the final fine-tuning.")
    var budgetEpochs: Int = 28

    @Option(help: "Fine-tuning epochs of each probe.")
    var probeEpochs: Int = Recipe.Defaults.autoProbeEpochs

    @Option(help: "Probes of the sparsity search.")
    var probes: Int = Recipe.Defaults.autoProbes

    @Option(help: "Fine-tuning epochs of each round after the search.")
    var roundEpochs: Int = 3

    @Option(help: "The fraction of the remaining weights each round after the first cuts.")
    var roundFraction: Double = 0.2

    @Option(help: "Fine-tuning learning rate.")
    var learningRate: Float = Recipe.Defaults.fineTuneLearningRate

    @Option(help: "Seed for the validation split, shuffling and the criteria.")
    var seed: UInt64 = Recipe.Defaults.seed

    @Option(help: "Fraction of the training set held out for every decision.")
    var validationSplit: Double = Recipe.Defaults.validationSplit

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Option(help: "Where to write the pruned model; its plan goes beside it (.recipe.yaml).")
    var out: String

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup var reportFlag: ReportFlag

    @OptionGroup(title: "Knowledge distillation during the probes' and rounds' fine-tuning")
    var distillation: DistillArguments

    /// Epochs the searches' probes cost at most.
    var searchEpochs: Int {
        Recipe.searchEpochs(thresholdProbes: probes, probeEpochs: probeEpochs, selecting: true, objective: objective)
    }

    /// Rounds after the search that the budget pays for.
    var rounds: Int { roundEpochs > 0 ? (budgetEpochs - searchEpochs) / roundEpochs : 0 }

    /// The plan these options describe: a search, then iterative rounds from its find, the
    /// rest of the budget as fine-tuning.
    var recipe: Recipe {
        Recipe(model: source.modelPath, data: dataOptions.data, classes: dataOptions.classes, seed: seed, validationSplit: validationSplit,
               prune: Recipe.Prune(criterion: .auto, granularity: .weight, objective: objective,
                                   threshold: Recipe.ThresholdSpec(auto: Recipe.AutoThreshold(
                                       maxAccuracyDrop: maxAccuracyDrop / 100, probes: probes, probeEpochs: probeEpochs)),
                                   schedule: Recipe.ScheduleSpec(iterative: Recipe.Iterative(
                                       fraction: roundFraction, rounds: max(rounds, 1), fineTuneEpochs: roundEpochs))),
               fineTune: Recipe.FineTune(epochs: budgetEpochs - searchEpochs - max(rounds, 1) * roundEpochs, learningRate: learningRate,
                                         distill: distillation.spec),
               output: out)
    }

    var execution: PlanExecution {
        let options = [
            "prune.objective": "--objective", "prune.threshold.auto.max_accuracy_drop": "--max-accuracy-drop", "prune.threshold.auto.probes": "--probes",
            "prune.threshold.auto.probe_epochs": "--probe-epochs", "fine_tune.learning_rate": "--learning-rate",
            "prune.schedule.iterative.fraction": "--round-fraction",
            "validation_split": "--validation-split",
        ].merging(DistillArguments.options(in: "fine_tune")) { a, _ in a }
        return PlanExecution(recipe: recipe, options: options, threads: threadOptions.threads, quiet: quiet, json: output.json,
                             report: !reportFlag.noReport)
    }

    func validate() throws {
        guard maxAccuracyDrop > 0, maxAccuracyDrop < 100 else { throw ValidationError("--max-accuracy-drop is in points and must be in (0, 100), got \(maxAccuracyDrop)") }
        try requireAtLeast(0, probeEpochs, for: "--probe-epochs")
        try requireAtLeast(1, roundEpochs, for: "--round-epochs")
        guard roundFraction > 0, roundFraction < 1 else { throw ValidationError("--round-fraction must be in (0, 1), got \(roundFraction)") }
        guard budgetEpochs >= searchEpochs + roundEpochs else {
            throw ValidationError("--budget-epochs \(budgetEpochs) does not cover the search's probes (\(searchEpochs) epochs: \(probes) + \(Strategy.candidates(for: objective).count - 1) + \(Recipe.Defaults.autoRefineProbes) probes of \(probeEpochs), and the preparation of those that train before their cut) and one round of --round-epochs \(roundEpochs); raise it or lower --probes / --probe-epochs")
        }
        try execution.checkPlan()
        try validateOutputPath(out, option: "--out")
    }

    func run() throws {
        let report = try execution.execute()
        guard let search = report.history.search else { return }
        var plan = search.fixing(recipe)
        plan.data = plan.data ?? DatasetFolder.defaultPath
        let path = Self.recipePath(besides: out)
        let header = """
            # The plan `prune auto` chose for \(out) (budget \(maxAccuracyDrop) points on the validation split).
            # `prune run \(path)` cuts and fine-tunes the same way, without searching, and gives the same model.

            """
        try AtomicFile.write(Data((header + plan.yaml()).utf8), to: path)
        if !output.json { print("plan: \(path)") }
    }

    /// `OUT` with its extension replaced by `.recipe.yaml`.
    static func recipePath(besides output: String) -> String { (output as NSString).deletingPathExtension + ".recipe.yaml" }
}

/// The search's result as text lines: the probes, the ranking and what was chosen.
struct SearchSummary {
    let search: SearchReport
    init(_ search: SearchReport) { self.search = search }

    func lines() -> [String] {
        var lines: [String] = []
        if !search.ranking.isEmpty {
            let objective = search.sharedObjective
            let rows = search.ranking.enumerated().map { i, p in
                [String(i + 1), p.strategy.description] + (objective.map { _ in [String(format: "%.2f", 100 * p.target)] } ?? [])
                    + [String(format: "%.2f", 100 * p.sparsity), String(format: "%.2f", 100 * p.accuracy), String(format: "%.4f", p.loss)]
            }
            let header = ["rank", "strategy"] + (objective.map { ["\($0.rawValue) removed %"] } ?? []) + ["sparsity %", "val acc %", "val loss"]
            lines.append(TextTable(header: header, rows: rows, rightAligned: Set(header.indices).subtracting([1])).render())
        }
        let budget = search.maximumDrop.map { String(format: ", budget %.2f points from %.2f%%", 100 * $0, 100 * search.baseline) } ?? ""
        if let chosen = search.schedule {
            let rows = search.schedules.enumerated().map { i, p in
                [String(i + 1), p.schedule?.description ?? "?", String(format: "%.2f", 100 * p.sparsity), String(format: "%.2f", 100 * p.accuracy),
                 String(format: "%.4f", p.loss)]
            }
            lines.append(TextTable(header: ["rank", "schedule", "sparsity %", "val acc %", "val loss"], rows: rows, rightAligned: [0, 2, 3, 4]).render())
            lines.append("schedule: chose \(chosen) (each tried with \(search.scheduleEpochs ?? 0) epochs; the chosen one runs with the fine-tuning epochs)")
            if search.ranking.isEmpty && search.maximumDrop == nil { return lines }
        }
        let at = search.sharedObjective.map { String(format: "%.2f%% of %@ removed", 100 * search.sparsity, $0.rawValue) }
            ?? String(format: "%.2f%% sparsity", 100 * search.sparsity)
        lines.append(String(format: "search: chose %@ at %@ after %d probes (%d epochs, %.1f s%@), on the %@ split",
                            search.strategy.description, at, search.probes.count, search.epochs, search.seconds,
                            budget, search.split.rawValue))
        return lines
    }
}
