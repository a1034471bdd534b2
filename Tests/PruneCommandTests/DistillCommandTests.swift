import FileFormats
import Foundation
import NeuralNetwork
import Testing

@Suite("prune prune and prune train with --distill")
struct DistillCommandTests {
    /// The first run's plan recorded in the file at `path` after the training run.
    func recordedPlan(_ path: String) throws -> [String: Any] {
        let metadata = try #require(try safetensorsHeader(path)["__metadata__"] as? [String: String])
        let history = try #require(try JSONSerialization.jsonObject(with: Data((metadata["pruning.history"] ?? "").utf8)) as? [[String: Any]])
        return try #require(history.last?["plan"] as? [String: Any])
    }

    @Test("`prune prune --distill` fine-tunes against the model before the cut and records T = 4, α = 0.7 in the file")
    func distilledFineTune() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let out = trained.folder.appendingPathComponent("distilled.safetensors").path
        let result = try prune("prune", trained.path, "--sparsity", "0.9", "--fine-tune-epochs", "1", "--distill",
                               "--json", "--quiet", "--no-report", "--out", out)
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let stages = try #require(json["stages"] as? [[String: Any]])
        let afterCut = try #require(stages.first { $0["name"] as? String == "after the cut" }?["accuracy"] as? Double)
        let afterTuning = try #require(stages.first { $0["name"] as? String == "after 1 fine-tuning epochs" }?["accuracy"] as? Double)
        #expect(afterTuning > afterCut && afterTuning > 0.8, "after the cut \(afterCut), after fine-tuning \(afterTuning)")
        let fineTune = try #require(try recordedPlan(out)["fine_tune"] as? [String: Any])
        let distill = try #require(fineTune["distill"] as? [String: Any], "\(fineTune)")
        #expect(distill["temperature"] as? Double == 4 && distill["alpha"] as? Double == 0.7 && distill["teacher"] == nil, "\(distill)")
    }

    @Test("a teacher with another number of classes stops `prune prune` and `prune run` with exit 1, naming the field and the file")
    func wrongWidthTeacher() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let teacher = trained.folder.appendingPathComponent("five-classes.safetensors").path
        try ModelFile.save(try Architecture.mlp.build(classes: 5, layers: [784, 5]), to: teacher)
        let out = trained.folder.appendingPathComponent("never.safetensors").path
        let cli = try prune("prune", trained.path, "--sparsity", "0.9", "--fine-tune-epochs", "1", "--distill", "--teacher", teacher,
                            "--quiet", "--out", out)
        #expect(cli.status == 1, "\(cli)")
        #expect(cli.stderr.contains("fine_tune.distill.teacher (\(teacher)) gives 5 outputs per sample, the model 10"), "\(cli)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let recipe = trained.folder.appendingPathComponent("distill.yaml").path
        try """
            model: \(trained.path)
            prune: {threshold: {sparsity: 0.9}}
            fine_tune: {epochs: 1, distill: {alpha: 0.5, teacher: \(teacher)}}
            output: \(out)
            """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let run = try prune("run", recipe, "--quiet")
        #expect(run.status == 1, "\(run)")
        #expect(run.stderr.contains("fine_tune.distill.teacher (\(teacher)) gives 5 outputs per sample"), "\(run)")
    }

    @Test("distillation options without a place to act are usage errors naming the option", arguments: [
        (["prune", "M", "--sparsity", "0.9", "--fine-tune-epochs", "1", "--teacher", "t.safetensors"], "--teacher applies to distillation: add --distill"),
        (["prune", "M", "--sparsity", "0.9", "--distill"], "--distill acts during fine-tuning: give --fine-tune-epochs"),
        (["prune", "M", "--sparsity", "0.9", "--fine-tune-epochs", "1", "--distill", "--alpha", "2"], "--alpha: fine_tune.distill.alpha must be in [0, 1]"),
        (["train", "--epochs", "1", "--distill"], "--distill: train.distill needs a teacher"),
        (["train", "--epochs", "1", "--distill", "--teacher", "t.safetensors", "--temperature", "0"], "--temperature: train.distill.temperature must be positive"),
    ])
    func usage(_ arguments: [String], _ message: String) throws {
        let result = try prune(arguments + ["--out", FileManager.default.temporaryDirectory.appendingPathComponent("x.safetensors").path])
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains(message), "\(result)")
    }
}
