import ArgumentParser
import Foundation
import Pruning

/// `prune run`: carry out a whole recipe (YAML or JSON).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pruning recipe: build or load, train, prune on a schedule, fine-tune, save, report.",
        discussion: """
            Every field is documented in docs/RECIPES.md. The recipe is checked before any training.

            With a `checkpoint` section (or --checkpoint-every), the run saves a checkpoint, atomically, \
            every so many training steps, after training and after every round (by default beside the \
            output: NAME.checkpoint.safetensors; removed when the run finishes). After a crash or a kill, \
            `prune run RECIPE --resume` continues from it to the same model file, byte for byte, and the \
            same figures as an uninterrupted run. Training that diverges (a NaN or infinite loss or weight) \
            stops the run with exit 1, saying where, and saves the last good model as NAME.last-good.safetensors.
            """)

    @Argument(help: "The recipe file (YAML or JSON).")
    var recipePath: String

    @Option(help: "Fraction of the training set held out for decisions (overrides the recipe's validation_split).")
    var validationSplit: Double?

    @Option(help: ArgumentHelp("Save a checkpoint every so many training steps, after training and after every round (overrides checkpoint.every_steps).",
                               valueName: "steps"))
    var checkpointEvery: Int?

    @Flag(help: "Continue from the checkpoint (checkpoint.path, or beside the output) to the result an uninterrupted run gives; with no checkpoint yet, start from the beginning.")
    var resume = false

    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup var reportFlag: ReportFlag

    func validate() throws {
        if let checkpointEvery { try requireAtLeast(1, checkpointEvery, for: "--checkpoint-every") }
    }

    func run() throws {
        guard let text = try? String(contentsOfFile: recipePath, encoding: .utf8) else {
            throw PruningError.invalidField(field: "recipe", problem: "cannot be read", location: recipePath)
        }
        var recipe = try Recipe(yaml: text, source: recipePath)
        if let validationSplit { recipe.validationSplit = validationSplit }
        var options = ["validation_split": "--validation-split"]
        if recipe.checkpoint == nil, resume || checkpointEvery != nil {
            options["checkpoint"] = resume ? "--resume" : "--checkpoint-every"
            recipe.checkpoint = Recipe.Checkpoint()
        }
        if let checkpointEvery { recipe.checkpoint?.everySteps = checkpointEvery }
        if recipe.checkpoint != nil, recipe.checkpointPath == nil {
            throw ValidationError("\(options["checkpoint"] ?? "checkpoint"): the recipe has no output: give checkpoint.path (checkpoints go beside the output by default)")
        }
        var execution = PlanExecution(recipe: recipe, options: options, threads: threadOptions.threads, quiet: quiet, json: output.json)
        execution.resume = resume
        execution.report = !reportFlag.noReport
        try execution.execute()
    }
}
