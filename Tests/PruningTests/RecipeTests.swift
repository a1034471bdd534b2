import Foundation
import NeuralNetwork
import Pruning
import Testing

@Suite("Recipes")
struct RecipeTests {
    static func decode(_ json: String) throws -> Recipe { try JSONDecoder().decode(Recipe.self, from: Data(json.utf8)) }

    @Test("the issue's example decodes with snake_case keys and has no problems")
    func example() throws {
        let r = try Self.decode("""
            {"model": "lenet300", "seed": 1, "train": {"epochs": 10, "batch_size": 128, "optimizer": "sgd", "learning_rate": 0.05, "momentum": 0.9},
             "prune": {"criterion": "magnitude", "granularity": "weight", "scope": "global", "parameters": ["*.weight"],
                       "threshold": {"sparsity": 0.9}, "schedule": {"agp": {"start_epoch": 2, "end_epoch": 8, "every_steps": 100}}},
             "fine_tune": {"epochs": 2, "learning_rate": 0.01}, "output": "pruned.safetensors"}
            """)
        #expect(r.train?.batchSize == 128 && r.prune?.schedule?.agp?.everySteps == 100 && r.fineTune?.epochs == 2)
        #expect(r.prune?.criterion == .magnitude && r.prune?.scope == .global)
        #expect(r.problems().isEmpty)
    }

    @Test("impossible values are reported with their field paths", arguments: [
        (#"{"model": "m", "prune": {"threshold": {"sparsity": 1.5}}}"#, "prune.threshold.sparsity"),
        (#"{"model": "m", "train": {"epochs": 5}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"agp": {"start_epoch": 4, "end_epoch": 2}}}}"#, "prune.schedule.agp.end_epoch"),
        (#"{"model": "m", "train": {"epochs": 5}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"agp": {"start_epoch": 1, "end_epoch": 9}}}}"#, "prune.schedule.agp.end_epoch"),
        (#"{"model": "m", "prune": {"threshold": {"sparsity": 0.5, "value": 0.1}}}"#, "prune.threshold"),
        (#"{"model": "m", "fine_tune": {"epochs": -1}}"#, "fine_tune.epochs"),
        (#"{"model": "m", "validation_split": 1}"#, "validation_split"),
        (#"{"model": "m", "validation_split": 0, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"iterative": {"fraction": 0.5, "accuracy_budget": 0.01}}}}"#, "prune.schedule.iterative.accuracy_budget"),
        (#"{"model": "m", "prune": {"granularity": "2:4", "threshold": {"sparsity": 0.5}}}"#, "prune.threshold"),
        (#"{"model": "m", "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"agp": {"start_epoch": 0, "end_epoch": 1}}}}"#, "prune.schedule"),
        (#"{"model": "lenet300", "layers": [784, 10]}"#, "layers"),
        (#"{"model": "m", "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"iterative": {"fraction": 0}}}}"#, "prune.schedule.iterative.fraction"),
        (#"{"model": "m", "train": {"regularizer": {"l1": -0.1}}}"#, "train.regularizer.l1"),
        (#"{"model": "m", "prune": {"criterion": "movement", "threshold": {"sparsity": 0.5}}}"#, "prune.criterion"),
        (#"{"model": "m", "train": {}, "prune": {"criterion": "movement", "threshold": {"sparsity": 0.5}, "schedule": {"constant": {"start_epoch": 0}}}}"#, "prune.criterion"),
        (#"{"model": "m", "prune": {"criterion": "apoz", "threshold": {"sparsity": 0.5}}}"#, "prune.criterion"),
        (#"{"model": "m", "train": {"regularizer": {"method": "proximal"}}}"#, "train.regularizer"),
        (#"{"model": "m", "train": {"epochs": 5}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"agp": {"start_epoch": 1, "end_epoch": 2, "every_steps": 5, "every_epochs": 1}}}}"#, "prune.schedule.agp"),
        (#"{"model": "m", "train": {"epochs": 5}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"constant": {"start_epoch": 6}}}}"#, "prune.schedule.constant.start_epoch"),
        (#"{"model": "m", "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"iterative": {"fraction": 0.5, "rewind_to_step": 0}}}}"#, "prune.schedule.iterative.rewind_to_step"),
        (#"{"model": "m", "train": {}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"iterative": {"fraction": 0.5, "rewind_to_step": -1}}}}"#, "prune.schedule.iterative.rewind_to_step"),
    ])
    func problems(json: String, field: String) throws {
        let problems = try Self.decode(json).problems()
        #expect(problems.map(\.field).contains(field), "\(problems)")
    }

    @Test("regularizer, constant, every_epochs and rewinding fields decode")
    func newFields() throws {
        let r = try Self.decode("""
            {"model": "m", "train": {"epochs": 4, "regularizer": {"l1": 0.0001, "group_lasso": 0.001, "method": "subgradient", "parameters": ["fc1.weight"]}},
             "prune": {"threshold": {"sparsity": 0.9}, "schedule": {"iterative": {"fraction": 0.5, "rewind_to_step": 100}}}}
            """)
        #expect(r.problems().isEmpty, "\(r.problems())")
        let regularizers = try #require(try r.train?.regularizer?.regularizers())
        #expect(regularizers.map(\.penalty) == [.l1(0.0001), .groupLasso(0.001)])
        #expect(regularizers.allSatisfy { $0.method == .subgradient && $0.parameters == ["fc1.weight"] })
        #expect(r.prune?.schedule?.iterative?.rewindToStep == 100)
        let c = try Self.decode(#"{"model": "m", "train": {"epochs": 4}, "prune": {"threshold": {"value": 0.01}, "schedule": {"constant": {"start_epoch": 2}}}}"#)
        #expect(c.problems().isEmpty && c.prune?.schedule?.constant?.startEpoch == 2)
        let a = try Self.decode(#"{"model": "m", "train": {"epochs": 4}, "prune": {"threshold": {"sparsity": 0.5}, "schedule": {"agp": {"start_epoch": 0, "end_epoch": 4, "every_epochs": 1}}}}"#)
        #expect(a.problems().isEmpty && a.prune?.schedule?.agp?.everyEpochs == 1)
        #expect(throws: DecodingError.self) { try Self.decode(#"{"model": "m", "train": {"regularizer": {"l1": 1, "method": "magic"}}}"#) }
    }

    @Test("a misspelled name is a decoding error that lists the valid names, never a fallback", arguments: [
        (#"{"model": "m", "prune": {"criterion": "biggest", "threshold": {"sparsity": 0.5}}}"#, "magnitude, squared-magnitude, largest"),
        (#"{"model": "m", "prune": {"scope": "world", "threshold": {"sparsity": 0.5}}}"#, "layer, global or row"),
        (#"{"model": "m", "prune": {"granularity": "5:4", "threshold": {"sparsity": 0.5}}}"#, "weight, neuron, filter"),
        (#"{"model": "m", "train": {"optimizer": "rmsprop"}}"#, "sgd, adam or adamw"),
        (#"{"model": "m", "train": {"schedule": "linear"}}"#, "constant, step or cosine"),
        (#"{"model": "m", "fine_tune": {"epochs": 1, "optimizer": "lion"}}"#, "sgd, adam or adamw"),
    ])
    func wrongName(json: String, listing: String) {
        do {
            _ = try Self.decode(json)
            Issue.record("decoded \(json)")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains(listing), "\(context.debugDescription)")
        } catch {
            Issue.record("expected dataCorrupted, got \(error)")
        }
    }

    @Test("YAML recipes report the file and line of a bad field, an unknown key, or a misspelled name", arguments: [
        ("model: lenet300\nprune:\n  threshold: {sparsity: 1.5}\n", "r.yaml:3: prune.threshold.sparsity must be in [0, 1]"),
        ("model: lenet300\nprune:\n  threshold: {sparsity: 0.5}\n  schedul: {}\n", "r.yaml:4: prune.schedul is not a known key"),
        ("model: lenet300\nprune:\n  criterion: magnitud\n  threshold: {sparsity: 0.5}\n", "r.yaml:3: prune.criterion 'magnitud' is not one of magnitude"),
    ])
    func yamlLines(text: String, message: String) {
        #expect(throws: PruningError.self) { try Recipe(yaml: text, source: "r.yaml") }
        do { _ = try Recipe(yaml: text, source: "r.yaml") } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }
}

@Suite("Recipes: gradient clipping")
struct GradientClipRecipeTests {
    @Test("train.gradient_clip reaches the training options and the recorded plan; a norm of 0 is refused")
    func clip() throws {
        let recipe = try Recipe(yaml: "model: lenet300\ntrain: {epochs: 1, gradient_clip: 1.5}\n")
        #expect(recipe.problems().isEmpty && recipe.trainingOptions()?.gradientClipNorm == 1.5)
        let reread = try Recipe(yaml: recipe.yaml())
        #expect(recipe.resolved().train?.gradientClip == 1.5 && reread == recipe)
        #expect { try Recipe(yaml: "model: lenet300\ntrain: {epochs: 1, gradient_clip: 0}\n") } throws: {
            ($0 as? PruningError)?.field == "train.gradient_clip" || "\($0)".contains("train.gradient_clip must be a positive norm")
        }
    }

    @Test("a language model fine-tunes with AdamW for a bounded number of steps; a classifier as before; fields override")
    func languageModelFineTuning() throws {
        var r = try RecipeTests.decode(#"{"model": "run.safetensors", "prune": {"threshold": {"sparsity": 0.5}}, "fine_tune": {"epochs": 1}}"#)
        let classifier = r.fineTuneOptions(epochs: 1)
        #expect(classifier.maxSteps == nil && classifier.batchSize == 128 && classifier.gradientClipNorm == nil)
        #expect(r.fineTuneOptimizer().rule is SGD)
        r.sequenceData = true   // what PruningRun sets for next-token windows
        let language = r.fineTuneOptions(epochs: 1)
        #expect(language.maxSteps == 200 && language.batchSize == 32 && language.learningRate == 3e-4)
        #expect(language.gradientClipNorm == 1 && language.weightDecayScope == .layerWeights)
        let adam = try #require(r.fineTuneOptimizer().rule as? Adam)
        #expect(adam.beta2 == 0.95 && adam.weightDecay == 0.1 && adam.decoupled)
        // Explicit fields win; a bad step count is a problem naming its field.
        r.fineTune = Recipe.FineTune(epochs: 1, learningRate: 1e-3, steps: 50)
        #expect(r.fineTuneOptions(epochs: 1).maxSteps == 50 && r.fineTuneOptions(epochs: 1).learningRate == 1e-3)
        r.fineTune?.steps = 0
        let problems = r.problems().map { "\($0)" }
        #expect(problems.contains { $0.contains("fine_tune.steps") }, "\(problems)")
    }
}
