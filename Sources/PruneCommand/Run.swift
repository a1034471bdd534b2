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
        var zerosAfterRegularization: (zeros: Int, total: Int)?

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

        let movement = recipe.prune?.criterion == .movement
            ? MovementScores(parameters: recipe.prune?.parameters ?? ["*.weight"]) : nil
        let plan = try recipe.prune.map { p -> PruningPlan in
            let threshold: Threshold = p.threshold.value.map { .value($0) }
                ?? p.threshold.perLayer.map { .perLayer($0) } ?? .sparsity(p.threshold.sparsity ?? 0)
            // During AGP and iterative rounds, Taylor uses the latest batch's gradient;
            // movement sums −w·∂L/∂w over all training steps so far, rounds included.
            let criterion: Criterion = movement ?? (p.criterion ?? .magnitude).criterion(seed: seed)
            guard let granularity = Granularity(p.granularity ?? "weight") else { throw ValidationError("prune.granularity is invalid") }
            return PruningPlan(criterion: criterion, granularity: granularity, scope: p.scope ?? (granularity.isStructured ? .layer : .global), threshold: threshold,
                               parameters: p.parameters ?? ["*.weight"], excluding: p.exclude ?? [])
        }
        let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
        let schedule = recipe.prune?.schedule
        var gradual: GradualPruning?
        if let plan, let agp = schedule?.agp {
            let every = agp.everyEpochs.map { $0 * stepsPerEpoch } ?? agp.everySteps ?? 100
            let ramp = try GradualSchedule(initial: agp.initialSparsity ?? 0, final: recipe.prune?.threshold.sparsity ?? 0,
                                           startStep: max(0, agp.startEpoch * stepsPerEpoch - 1),
                                           endStep: max(0, agp.endEpoch * stepsPerEpoch - 1), every: every)
            gradual = GradualPruning(plan: plan, schedule: ramp)
            trainer.callbacks.insert(gradual!, at: 0)
        }
        var stages: [(String, Evaluation)] = []
        var timing = Timing()
        var constant: ConstantPruning?
        if let plan, let c = schedule?.constant {
            let start = c.startEpoch ?? 0
            if start == 0 || t == nil {
                var step = plan
                step.criterion = try movement ?? oneShotCriterion(recipe.prune?.criterion ?? .magnitude, seed: seed, model: model, data: train)
                timing.pruning += try Pruner.prune(model, with: step).seconds
                stages.append(("after the cut (before training)", trainer.evaluate(test)))
            } else {
                constant = ConstantPruning(plan: plan, afterStep: start * stepsPerEpoch - 1)
                trainer.callbacks.insert(constant!, at: 0)
            }
        }
        let rewindStep = schedule?.iterative?.rewindToStep
        if let rewindStep, rewindStep > options.epochs * stepsPerEpoch {
            throw ValidationError("prune.schedule.iterative.rewind_to_step \(rewindStep) is past the end of training (\(options.epochs * stepsPerEpoch) steps)")
        }
        let snapshot = rewindStep.map { SnapshotAtStep(step: $0, model: model) }
        if let snapshot { trainer.callbacks.append(snapshot) }
        let regularizers = try t?.regularizer?.regularizers() ?? []
        if !regularizers.isEmpty { trainer.callbacks.insert(Regularization(regularizers), at: 0) }
        if let movement { trainer.callbacks.insert(movement, at: 0) }   // before any cut that reads it
        if t != nil || gradual != nil {
            timing.training += try trainer.fit(train, options: options).reduce(0) { $0 + $1.seconds }
            stages.append(("after training", trainer.evaluate(test)))
        }
        if let gradual { timing.pruning += gradual.seconds }
        if let constant { timing.pruning += constant.result?.seconds ?? 0 }
        // Movement keeps accumulating through iterative rounds; regularizers and schedules stop.
        trainer.callbacks.removeAll { $0 !== progress && $0 !== movement }
        if !regularizers.isEmpty {
            var seen = Set<String>()
            let weights = regularizers.flatMap { $0.selected(in: model) }.filter { seen.insert($0.path).inserted }
            let total = weights.reduce(0) { $0 + $1.parameter.count }
            zerosAfterRegularization = (weights.reduce(0) { $0 + $1.parameter.count - $1.parameter.value.nonZeroCount() }, total)
        }

        // One-shot (default) or iterative pruning after training.
        var rounds: [RoundReport] = []
        if let plan, gradual == nil, schedule?.constant == nil {
            if let iterative = schedule?.iterative {
                var roundTraining = TrainingOptions.fineTuning(
                    epochs: iterative.fineTuneEpochs ?? 1, batchSize: recipe.fineTune?.batchSize ?? options.batchSize,
                    learningRate: recipe.fineTune?.learningRate ?? 0.01, seed: seed, workers: options.workers)
                var rewind: WeightSnapshot?
                if let rewindStep {
                    // Lottery ticket: each round replays training from the snapshot.
                    guard let taken = snapshot?.snapshot else {
                        throw ValidationError("prune.schedule.iterative.rewind_to_step \(rewindStep) is past the end of training (\(options.epochs * stepsPerEpoch) steps)")
                    }
                    rewind = taken
                    roundTraining = options
                    roundTraining.epochs = iterative.fineTuneEpochs ?? options.epochs
                }
                let result = try pruneIteratively(trainer, data: train, validation: test, plan: IterativePlan(
                    plan: plan, fractionPerRound: iterative.fraction, targetSparsity: recipe.prune?.threshold.sparsity ?? 0,
                    maximumRounds: iterative.rounds ?? 100, accuracyBudget: iterative.accuracyBudget, fineTune: roundTraining,
                    rewind: rewind))
                rounds = result.rounds
                timing.pruning += rounds.reduce(0) { $0 + $1.pruningSeconds }
                timing.training += rounds.reduce(0) { $0 + $1.trainingSeconds }
                stages.append(("after \(rounds.count) iterative rounds (\(result.stop.rawValue))", trainer.evaluate(test)))
            } else {
                var step = plan
                step.criterion = try movement ?? oneShotCriterion(recipe.prune?.criterion ?? .magnitude, seed: seed, model: model, data: train)
                timing.pruning += try Pruner.prune(model, with: step).seconds
                stages.append(("after the cut", trainer.evaluate(test)))
            }
        }

        // Fine-tuning with the masks fixed.
        if let f = recipe.fineTune, f.epochs > 0 {
            let fineTune = TrainingOptions.fineTuning(epochs: f.epochs, batchSize: f.batchSize ?? options.batchSize,
                                                      learningRate: f.learningRate ?? 0.01, seed: seed &+ 1, workers: options.workers)
            trainer.optimizer.reset()
            timing.training += try trainer.fit(train, options: fineTune).reduce(0) { $0 + $1.seconds }
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
            try printJSON(RunSummary(
                stages: stages.map { RunSummary.Stage(name: $0.0, accuracy: $0.1.accuracy, loss: $0.1.loss) },
                report: report, gradualCuts: gradual?.history.count ?? 0,
                pruningSeconds: timing.pruning, trainingSeconds: timing.training,
                rounds: rounds.map { RunSummary.Round($0) }, output: recipe.output))
        } else {
            print(report.render())
            if let z = zerosAfterRegularization {
                print(String(format: "after training, %d of %d regularized entries are exactly zero (%.1f%%)",
                             z.zeros, z.total, 100 * Double(z.zeros) / Double(max(z.total, 1))))
            }
            for r in rounds {
                print(String(format: "round %d: sparsity %.1f%%, accuracy %.2f%% after the cut, %.2f%% after %@ (cut %.1f ms, training %.1f s)%@",
                             r.round, 100 * r.sparsity, 100 * r.accuracyAfterCut, 100 * r.accuracyAfterFineTune,
                             rewindStep == nil ? "fine-tuning" : "rewinding and retraining",
                             1000 * r.pruningSeconds, r.trainingSeconds, r.rolledBack ? " (rolled back)" : ""))
            }
            for (name, e) in stages { print(String(format: "accuracy %.2f%% %@", 100 * e.accuracy, name)) }
            if let gradual { print(String(format: "AGP: %d cuts", gradual.history.count)) }
            print(String(format: "time: %.1f s training, %.1f ms pruning (scoring, selecting, masking)",
                         timing.training, 1000 * timing.pruning))
            if let out = recipe.output { print(savedLine(out, model: model)) }
        }
    }
}

/// Where a run's time went.
struct Timing {
    var training = 0.0, pruning = 0.0
}

struct RunSummary: Encodable {
    struct Stage: Encodable { var name: String, accuracy: Float, loss: Float }
    struct Round: Encodable {
        var round: Int, sparsity: Double, accuracyAfterCut: Float, accuracyAfterTraining: Float, rolledBack: Bool
        var pruningSeconds: Double, trainingSeconds: Double
        init(_ r: RoundReport) {
            round = r.round; sparsity = r.sparsity; accuracyAfterCut = r.accuracyAfterCut
            accuracyAfterTraining = r.accuracyAfterFineTune; rolledBack = r.rolledBack
            pruningSeconds = r.pruningSeconds; trainingSeconds = r.trainingSeconds
        }
    }
    var stages: [Stage]
    var report: ModelReport
    var gradualCuts: Int, pruningSeconds: Double, trainingSeconds: Double
    var rounds: [Round]
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
