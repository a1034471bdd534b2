import FileFormats
import Foundation
import Testing

@Suite("prune auto")
struct AutoCommandTests {
    @Test("prune auto searches on the validation split, saves the model, its report with the evidence and a plan that `prune run` reproduces exactly")
    func autoAndReproduce() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        try Data(DataCommandTests().separableCSV(count: 400).text.utf8).write(to: URL(fileURLWithPath: path("data.csv")))
        let trained = try prune("train", "--model", "lenet300", "--data", path("data.csv"), "--epochs", "3", "--out", path("dense.safetensors"), "--quiet")
        #expect(trained.status == 0, "\(trained)")

        // 3 + 5 + 2 probes of one epoch, then two rounds of 3 epochs.
        let auto = try prune("auto", path("dense.safetensors"), "--data", path("data.csv"), "--max-accuracy-drop", "5",
                             "--budget-epochs", "16", "--probes", "3", "--out", path("auto.safetensors"), "--json")
        #expect(auto.status == 0, "\(auto)")
        let summary = try singleJSONObject(auto.stdout)
        let search = try #require(summary["search"] as? [String: Any])
        let probes = try #require(search["probes"] as? [[String: Any]]), ranking = try #require(search["ranking"] as? [[String: Any]])
        #expect(probes.count <= 10 && search["split"] as? String == "validation" && search["epochs"] as? Int == probes.count)
        #expect(ranking.count == 6, "\(ranking)")
        let chosen = try #require(search["strategy"] as? [String: String])
        #expect(chosen == (ranking.first?["strategy"] as? [String: String]))
        // Every decision looked at the validation split; the test split appears once, at the end.
        let stages = try #require(summary["stages"] as? [[String: Any]])
        #expect(stages.filter { $0["split"] as? String == "test" }.map { $0["name"] as? String } == ["as loaded", "final"])

        let report = try String(contentsOfFile: path("auto.report.html"), encoding: .utf8)
        #expect(report.contains("id=\"search-probes\"") && report.contains("id=\"search-ranking\""))
        let plan = try String(contentsOfFile: path("auto.recipe.yaml"), encoding: .utf8)
        #expect(plan.contains("first_sparsity") && !plan.contains("criterion: auto") && !plan.contains("auto:"), "\(plan)")

        // The plan, run again, gives the same weights and masks without searching.
        try FileManager.default.moveItem(atPath: path("auto.safetensors"), toPath: path("searched.safetensors"))
        let again = try prune("run", path("auto.recipe.yaml"), "--quiet", "--no-report")
        #expect(again.status == 0 && !again.stdout.contains("search:"), "\(again)")
        let a = try Safetensors.read(path("searched.safetensors")), b = try Safetensors.read(path("auto.safetensors"))
        #expect(a.tensors.map(\.name) == b.tensors.map(\.name) && !a.tensors.isEmpty)
        for (x, y) in zip(a.tensors, b.tensors) { #expect(x.tensor.scalars == y.tensor.scalars, "\(x.name)") }
    }

    @Test("a budget outside (0, 100) points, or no validation split, is a usage error naming the option")
    func badOptions() throws {
        let zero = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0", "--out", "/tmp/x.safetensors")
        #expect(zero.status == 2 && zero.stderr.contains("--max-accuracy-drop"), "\(zero)")
        let split = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0.5", "--validation-split", "0", "--out", "/tmp/x.safetensors")
        #expect(split.status == 2 && split.stderr.contains("--validation-split") && split.stderr.contains("validation split"), "\(split)")
        let budget = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0.5", "--budget-epochs", "5", "--out", "/tmp/x.safetensors")
        #expect(budget.status == 2 && budget.stderr.contains("--budget-epochs 5"), "\(budget)")
    }
}
