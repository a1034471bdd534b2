import ArgumentParser
import FileFormats
import NeuralNetwork
import Pruning

/// `--distill [--teacher MODEL] [--temperature T] [--alpha A]`: knowledge distillation in
/// `prune prune` (during fine-tuning) and `prune train` (during training and gradual pruning).
struct DistillArguments: ParsableArguments {
    @Flag(help: "Learn from a teacher's softened outputs as well as the labels (knowledge distillation, Hinton et al. 2015).")
    var distill = false

    @Option(help: ArgumentHelp("The teacher: a model file with the same classes (default: the model before any cut; a model trained from scratch needs one).",
                               valueName: "model"))
    var teacher: String?

    @Option(help: "Distillation temperature T (default \(Recipe.Defaults.distillTemperature)).")
    var temperature: Float?

    @Option(help: "Weight α of the teacher's term; 1 − α weighs the labels (default \(Recipe.Defaults.distillAlpha)).")
    var alpha: Float?

    @Option(name: .customLong("distill-match"),
            help: ArgumentHelp("What the student matches: outputs (its softened logits, the default) or tokens (a sentence encoder's last hidden state at every real token; the teacher runs on each batch).",
                               valueName: "outputs|tokens"))
    var match: Distillation.Match?

    func validate() throws {
        if !distill, let option = [teacher.map { _ in "--teacher" }, temperature.map { _ in "--temperature" },
                                     alpha.map { _ in "--alpha" }, match.map { _ in "--distill-match" }].compactMap({ $0 }).first {
            throw ValidationError("\(option) applies to distillation: add --distill")
        }
    }

    /// The `distill` section these options describe (nil without `--distill`).
    var spec: Recipe.Distill? { distill ? Recipe.Distill(temperature: temperature, alpha: alpha, teacher: teacher, match: match) : nil }

    /// The options that set the fields of the `distill` section at `section` (`fine_tune`),
    /// for usage errors.
    static func options(in section: String) -> [String: String] {
        ["\(section).distill.temperature": "--temperature", "\(section).distill.alpha": "--alpha",
         "\(section).distill.teacher": "--teacher", "\(section).distill.match": "--distill-match",
         "\(section).distill": "--distill"]
    }
}

extension Distillation.Match: ExpressibleByArgument {}
extension Recipe.Calibration.Inputs: ExpressibleByArgument {}

extension PlanExecution {
    /// The teacher of the plan's distillation for `engine`: the model file the plan names,
    /// or, for a resumed run, the model as loaded before the checkpoint replaced it (nil:
    /// the engine copies the model as the run starts).
    func teacher(startingModel: Graph, resumed: Bool) throws -> Graph? {
        if let path = recipe.distillTeacher { return try ModelFile.load(path).model }
        return resumed && !recipe.distillSections.isEmpty ? startingModel : nil
    }
}
