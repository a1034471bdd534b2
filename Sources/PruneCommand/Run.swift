import ArgumentParser
import Foundation
import Pruning

/// `prune run`: carry out a whole recipe (YAML or JSON).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pruning recipe: build or load, train, prune on a schedule, fine-tune, save, report.",
        discussion: "Every field is documented in docs/RECIPES.md. The recipe is checked before any training.")

    @Argument(help: "The recipe file (YAML or JSON).")
    var recipePath: String

    @Option(help: "Fraction of the training set held out for decisions (overrides the recipe's validation_split).")
    var validationSplit: Double?

    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        guard let text = try? String(contentsOfFile: recipePath, encoding: .utf8) else {
            throw PruningError.invalidField(field: "recipe", problem: "cannot be read", location: recipePath)
        }
        var recipe = try Recipe(yaml: text, source: recipePath)
        if let validationSplit { recipe.validationSplit = validationSplit }
        try PlanExecution(recipe: recipe, options: ["validation_split": "--validation-split"], threads: threadOptions.threads,
                          quiet: quiet, json: output.json).execute()
    }
}
