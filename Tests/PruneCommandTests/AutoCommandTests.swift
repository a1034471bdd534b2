import FileFormats
import Foundation
import Pruning
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

        // 3 + 7 + 2 probes of one epoch, one epoch of preparation for the 2 candidates that
        // train before their cut (and for the 2 refining probes and the run's own cut, when
        // one of them is chosen), then two rounds of 3 epochs.
        let auto = try prune("auto", path("dense.safetensors"), "--data", path("data.csv"), "--max-accuracy-drop", "5",
                             "--budget-epochs", "23", "--probes", "3", "--out", path("auto.safetensors"), "--json")
        #expect(auto.status == 0, "\(auto)")
        let summary = try singleJSONObject(auto.stdout)
        let search = try #require(summary["search"] as? [String: Any])
        let probes = try #require(search["probes"] as? [[String: Any]]), ranking = try #require(search["ranking"] as? [[String: Any]])
        func name(_ strategy: Any?) -> String {
            guard let s = strategy as? [String: Any] else { return "?" }
            return "\(s["criterion"] ?? "?")\(s["l1"] == nil ? "" : "+l1")/\(s["allocation"] ?? "?")"
        }
        let preparing = probes.filter { ["movement/global", "magnitude+l1/global"].contains(name($0["strategy"])) }.count
        #expect(probes.count <= 12 && search["split"] as? String == "validation" && search["epochs"] as? Int == probes.count + preparing)
        #expect(Set(ranking.map { name($0["strategy"]) }) == Set(Strategy.candidates.map(\.description)), "\(ranking)")
        #expect(name(search["strategy"]) == name(ranking.first?["strategy"]))
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
        // size is parameters; under latency the candidates include whole neurons and filters, so the search costs more.
        let size = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0.5", "--objective", "size", "--budget-epochs", "5", "--out", "/tmp/x.safetensors")
        #expect(size.status == 2 && size.stderr.contains("19 epochs"), "\(size)")
        let latency = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0.5", "--objective", "latency", "--budget-epochs", "5", "--out", "/tmp/x.safetensors")
        #expect(latency.status == 2 && latency.stderr.contains("21 epochs"), "\(latency)")
        let speed = try prune("auto", "m.safetensors", "--max-accuracy-drop", "0.5", "--objective", "speed", "--out", "/tmp/x.safetensors")
        #expect(speed.status == 2 && speed.stderr.contains("--objective"), "\(speed)")
    }
}

@Suite("sensitivity curves cached by prune sensitivity")
struct SensitivityCacheReuseTests {
    @Test("a run allocating by sensitivity reads the curves `prune sensitivity` cached for the same file and split")
    func reused() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        try Data(DataCommandTests().separableCSV(count: 400).text.utf8).write(to: URL(fileURLWithPath: path("data.csv")))
        let trained = try prune("train", "--model", "lenet300", "--data", path("data.csv"), "--epochs", "2", "--out", path("m.safetensors"), "--quiet")
        #expect(trained.status == 0, "\(trained)")
        let measured = try prune("sensitivity", path("m.safetensors"), "--data", path("data.csv"))
        #expect(measured.status == 0, "\(measured)")

        // Rewrite the cached curves: fc2 costs nothing at any level, fc1 and fc3 a great deal.
        let cachePath = path("m.sensitivity.json")
        var cache = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cachePath))) as? [String: Any])
        var analysis = try #require(cache["analysis"] as? [String: Any])
        let baseline = try #require((analysis["baseline"] as? [String: Any])?["loss"] as? Double)
        var layers = try #require(analysis["layers"] as? [[String: Any]])
        for i in layers.indices {
            let free = layers[i]["path"] as? String == "fc2.weight"
            layers[i]["levels"] = try #require(layers[i]["levels"] as? [[String: Any]]).map { level in
                var l = level
                l["loss"] = free ? baseline : baseline + 10
                return l
            }
        }
        analysis["layers"] = layers
        cache["analysis"] = analysis
        try JSONSerialization.data(withJSONObject: cache).write(to: URL(fileURLWithPath: cachePath))

        // Half of all 31,400 weights (fc1 300×4, fc2 100×300, fc3 2×100): fc2 alone pays, 15,700 of its 30,000.
        let run = try prune("prune", path("m.safetensors"), "--data", path("data.csv"), "--allocation", "sensitivity", "--sparsity", "0.5",
                            "--no-report", "--out", path("p.safetensors"))
        #expect(run.status == 0 && run.stderr.contains("sensitivity curves: \(cachePath)"), "\(run)")
        let fc1 = try safetensorsFloats(path("p.safetensors"), "fc1.weight"), fc2 = try safetensorsFloats(path("p.safetensors"), "fc2.weight")
        let fc3 = try safetensorsFloats(path("p.safetensors"), "fc3.weight")
        #expect(fc1.filter { $0 == 0 }.count == 0 && fc3.filter { $0 == 0 }.count == 0)
        #expect(fc2.filter { $0 == 0 }.count == 15_700)
    }
}

@Suite("latency profiles cached beside a model file")
struct LatencyCacheTests {
    @Test("prune prune --objective latency times the layers once, caches them beside the model, and cuts by the cached figures")
    func cached() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        try Data(DataCommandTests().separableCSV(count: 400).text.utf8).write(to: URL(fileURLWithPath: path("data.csv")))
        let trained = try prune("train", "--model", "lenet300", "--data", path("data.csv"), "--epochs", "1", "--out", path("m.safetensors"), "--quiet")
        #expect(trained.status == 0, "\(trained)")
        let first = try prune("prune", path("m.safetensors"), "--data", path("data.csv"), "--objective", "latency", "--sparsity", "0.3",
                              "--no-report", "--out", path("p1.safetensors"))
        let cachePath = path("m.latency.json")
        #expect(first.status == 0 && first.stderr.contains("latency profile: \(cachePath) (timed in"), "\(first)")

        // Rewrite the cache: fc1 and fc3 never run faster sparse; fc2 (2 of the 4 time units)
        // saves all its time from the first level, 10%, read from 0 by a straight line.
        var cache = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cachePath))) as? [String: Any])
        var profile = try #require(cache["profile"] as? [String: Any])
        var layers = try #require(profile["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == ["fc1", "fc2", "fc3"])
        for i in layers.indices {
            let fc2 = layers[i]["name"] as? String == "fc2"
            layers[i]["dense"] = fc2 ? 2.0 : 1.0
            layers[i]["sparse"] = try #require(layers[i]["sparse"] as? [[String: Any]]).map { level in
                var l = level
                l["seconds"] = fc2 ? 0.0 : 10.0
                return l
            }
        }
        profile["layers"] = layers
        cache["profile"] = profile
        try JSONSerialization.data(withJSONObject: cache).write(to: URL(fileURLWithPath: cachePath))

        // A uniform cut saving 30% of 4 units: fc2 saves 20 per unit of sparsity, so 6% of every layer.
        let second = try prune("prune", path("m.safetensors"), "--data", path("data.csv"), "--objective", "latency", "--sparsity", "0.3",
                               "--allocation", "uniform", "--no-report", "--out", path("p2.safetensors"))
        #expect(second.status == 0 && second.stderr.contains("latency profile: \(cachePath)\n"), "\(second)")
        let zeros = try ["fc1.weight", "fc2.weight", "fc3.weight"].map { try safetensorsFloats(path("p2.safetensors"), $0).filter { $0 == 0 }.count }
        #expect(zeros == [72, 1800, 12], "\(zeros)")
    }
}
