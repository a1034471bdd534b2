import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import Pruning
import Reports
import TensorCore
import Yams

/// `prune run`: carry out a whole recipe (YAML or JSON).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a pruning recipe: build or load, train, prune on a schedule, fine-tune, save, report.",
        discussion: "Every field is documented in docs/RECIPES.md. The recipe is checked before any training.")

    @Argument(help: "The recipe file (YAML or JSON).")
    var recipePath: String

    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "No progress output.")
    var quiet = false

    func run() throws {
        threadOptions.apply()
        let recipe = try RecipeFile.load(recipePath)
        let seed = recipe.seed ?? 1
        let folder = DatasetFolder(recipe.data ?? DatasetFolder.defaultPath)
        let train = try folder.training(), test = try folder.test()

        let model: Graph
        var metadata: [String: String] = [:]
        if let architecture = Architecture(rawValue: recipe.model) {
            model = try architecture.build(inputShape: train.sampleShape, classes: max(train.classCount, test.classCount), seed: seed)
            metadata["model"] = architecture.rawValue
        } else {
            let loaded = try ModelFile.load(recipe.model)
            model = loaded.model
            metadata = loaded.metadata.filter { !$0.key.hasPrefix("prune.") }
        }
        try Trainer.check(test, fits: model)
        let progress = ProgressReporter(quiet: quiet || output.json)

        // Training, with AGP inside it when the schedule asks for it.
        let t = recipe.train
        var options = TrainingOptions()
        options.epochs = t?.epochs ?? 10
        options.batchSize = t?.batchSize ?? 64
        options.learningRate = t?.learningRate ?? 0.05
        options.schedule = LearningRateSchedule(kind: LearningRateSchedule.Kind(rawValue: t?.schedule ?? "cosine") ?? .cosine)
        options.seed = seed
        options.workers = threadOptions.threads
        let optimizer = (OptimizerKind(rawValue: t?.optimizer ?? "sgd") ?? .sgd)
            .optimizer(momentum: t?.momentum ?? 0.9, weightDecay: t?.weightDecay ?? 5e-4)
        let trainer = Trainer(model: model, optimizer: optimizer)
        trainer.callbacks = [progress]

        let plan = try recipe.prune.map { p -> PruningPlan in
            let threshold: Threshold = p.threshold.value.map { .value($0) }
                ?? p.threshold.perLayer.map { .perLayer($0) } ?? .sparsity(p.threshold.sparsity ?? 0)
            // During AGP and iterative rounds, Taylor uses the latest gradients.
            let criterion = (p.criterion ?? .magnitude).criterion(seed: seed)
            guard let granularity = Granularity(p.granularity ?? "weight") else { throw ValidationError("prune.granularity is invalid") }
            return PruningPlan(criterion: criterion, granularity: granularity, scope: p.scope ?? .global, threshold: threshold,
                               parameters: p.parameters ?? ["*.weight"], excluding: p.exclude ?? [])
        }
        let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
        var gradual: GradualPruning?
        if let plan, let agp = recipe.prune?.schedule?.agp {
            let schedule = try GradualSchedule(initial: agp.initialSparsity ?? 0, final: recipe.prune?.threshold.sparsity ?? 0,
                                               startStep: max(0, agp.startEpoch * stepsPerEpoch - 1),
                                               endStep: max(0, agp.endEpoch * stepsPerEpoch - 1), every: agp.everySteps ?? 100)
            gradual = GradualPruning(plan: plan, schedule: schedule)
            trainer.callbacks.insert(gradual!, at: 0)
        }
        var stages: [(String, Evaluation)] = []
        if t != nil || gradual != nil {
            try trainer.fit(train, options: options)
            stages.append(("after training", trainer.evaluate(test)))
        }
        trainer.callbacks.removeAll { $0 === gradual }

        // One-shot (default) or iterative pruning after training.
        var rounds: [RoundReport] = []
        if let plan, gradual == nil {
            let fineTune = TrainingOptions.fineTuning(
                epochs: recipe.prune?.schedule?.iterative?.fineTuneEpochs ?? 1, batchSize: options.batchSize,
                learningRate: recipe.fineTune?.learningRate ?? 0.01, seed: seed, workers: options.workers)
            if let iterative = recipe.prune?.schedule?.iterative {
                let result = try pruneIteratively(trainer, data: train, validation: test, plan: IterativePlan(
                    plan: plan, fractionPerRound: iterative.fraction, targetSparsity: recipe.prune?.threshold.sparsity ?? 0,
                    maximumRounds: iterative.rounds ?? 100, accuracyBudget: iterative.accuracyBudget, fineTune: fineTune))
                rounds = result.rounds
                stages.append(("after \(rounds.count) iterative rounds (\(result.stop.rawValue))", trainer.evaluate(test)))
            } else {
                var step = plan
                step.criterion = try oneShotCriterion(recipe.prune?.criterion ?? .magnitude, seed: seed, model: model, data: train)
                try Pruner.prune(model, with: step)
                stages.append(("after the cut", trainer.evaluate(test)))
            }
        }

        // Fine-tuning with the masks fixed.
        if let f = recipe.fineTune, f.epochs > 0 {
            let fineTune = TrainingOptions.fineTuning(epochs: f.epochs, batchSize: options.batchSize,
                                                      learningRate: f.learningRate ?? 0.01, seed: seed &+ 1, workers: options.workers)
            trainer.optimizer.reset()
            try trainer.fit(train, options: fineTune)
            stages.append(("after \(f.epochs) fine-tuning epochs", trainer.evaluate(test)))
        }
        if stages.isEmpty { stages.append(("as loaded", trainer.evaluate(test))) }

        let final = stages.last!.1
        if let out = recipe.output {
            metadata["accuracy"] = String(final.accuracy)
            metadata["recipe"] = String(decoding: try JSONEncoder().encode(recipe), as: UTF8.self)
            try ModelFile.save(model, to: out, metadata: metadata)
        }
        let report = ModelReport(model)
        if output.json {
            try printJSON(RunSummary(stages: stages.map { RunSummary.Stage(name: $0.0, accuracy: $0.1.accuracy, loss: $0.1.loss) },
                                     report: report, gradualCuts: gradual?.history.count ?? 0,
                                     pruningSeconds: gradual?.seconds ?? 0, rounds: rounds.count, output: recipe.output))
        } else {
            print(report.render())
            for (name, e) in stages { print(String(format: "accuracy %.2f%% %@", 100 * e.accuracy, name)) }
            if let gradual { print(String(format: "AGP: %d cuts, %.1f ms of pruning", gradual.history.count, 1000 * gradual.seconds)) }
            for r in rounds {
                print(String(format: "round %d: sparsity %.1f%%, accuracy %.2f%% after the cut, %.2f%% after fine-tuning%@",
                             r.round, 100 * r.sparsity, 100 * r.accuracyAfterCut, 100 * r.accuracyAfterFineTune, r.rolledBack ? " (rolled back)" : ""))
            }
            if let out = recipe.output { print("saved \(out)") }
        }
    }
}

struct RunSummary: Encodable {
    struct Stage: Encodable { var name: String, accuracy: Float, loss: Float }
    var stages: [Stage]
    var report: ModelReport
    var gradualCuts: Int, pruningSeconds: Double, rounds: Int
    var output: String?
}

/// Reads and checks recipe files: unknown keys, wrong types and impossible values are
/// reported with the field's path and line before anything runs.
enum RecipeFile {
    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    static func load(_ path: String) throws -> Recipe {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Problem(description: "\(path): cannot read the recipe")
        }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String) throws -> Recipe {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw Problem(description: "\(path): the recipe is empty") }
            root = node
        } catch let error as Problem {
            throw error
        } catch {
            throw Problem(description: "\(path): not valid YAML: \(error)")
        }
        try checkKeys(root, Recipe.keys, path: path, prefix: "")
        let recipe: Recipe
        do {
            recipe = try YAMLDecoder().decode(Recipe.self, from: text)
        } catch let error as DecodingError {
            let (codingPath, message): ([CodingKey], String) = switch error {
            case let .typeMismatch(type, c): (c.codingPath, "expected \(type)")
            case let .valueNotFound(type, c): (c.codingPath, "missing a \(type) value")
            case let .keyNotFound(key, c): (c.codingPath + [key], "is required")
            case let .dataCorrupted(c): (c.codingPath, c.debugDescription)
            @unknown default: ([], "\(error)")
            }
            let field = codingPath.map(\.stringValue).joined(separator: ".")
            throw Problem(description: "\(path):\(line(of: codingPath.map(\.stringValue), in: root)): \(field.isEmpty ? "recipe" : field): \(message)")
        }
        if let first = recipe.problems().first {
            throw Problem(description: "\(path):\(line(of: first.path.split(separator: ".").map(String.init), in: root)): \(first.path) \(first.message)")
        }
        return recipe
    }

    /// Rejects keys the recipe format does not know, naming the path and line.
    static func checkKeys(_ node: Node, _ tree: KeyTree, path: String, prefix: String) throws {
        guard case let .map(allowed) = tree, let mapping = node.mapping else { return }
        for (key, value) in mapping {
            let name = key.string ?? "\(key)"
            let full = prefix.isEmpty ? name : "\(prefix).\(name)"
            guard let child = allowed[name] ?? allowed["*"] else {
                throw Problem(description: "\(path):\(key.mark.map { "\($0.line)" } ?? "?"): unknown key '\(full)'; allowed here: \(allowed.keys.sorted().joined(separator: ", "))")
            }
            try checkKeys(value, child, path: path, prefix: full)
        }
    }

    /// The line of the deepest node found along `keys` (1 when none).
    static func line(of keys: [String], in root: Node) -> Int {
        var node = root
        var line = root.mark?.line ?? 1
        for key in keys {
            guard let mapping = node.mapping, let (k, v) = mapping.first(where: { $0.key.string == key }) else { break }
            line = k.mark?.line ?? line
            node = v
        }
        return line
    }
}
