import Foundation
import TestSupport
import Testing

/// `prune run` on recipes (refusals, AGP, lottery tickets, regularization, SNIP) and the
/// structured cuts, compaction and export that follow them, on Fashion-MNIST.
extension EndToEndTests {
    @Test("`prune run` rejects a bad recipe before training, naming the file, line and field", arguments: [
        ("model: lenet300\nprune:\n  threshold: {sparsity: 1.5}\n", ":3: prune.threshold.sparsity"),
        ("model: lenet300\ntrain: {epochs: 5}\nprune:\n  threshold: {sparsity: 0.5}\n  schedule: {agp: {start_epoch: 4, end_epoch: 2}}\n",
         ":5: prune.schedule.agp.end_epoch"),
        ("model: lenet300\nprune:\n  threshold: {sparsity: 0.5}\n  schedul: {}\n", ":4: prune.schedul is not a known key"),
        ("model: lenet300\nprune:\n  criterion: magnitud\n  threshold: {sparsity: 0.5}\n", ":3: prune.criterion 'magnitud' is not one of magnitude"),
        ("model: lenet300\ntrain: {epochs: ten}\n", ":2: train.epochs"),
    ])
    func badRecipe(_ text: String, _ expected: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("recipe.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path)
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains(path + expected), "\(result)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(result)")
    }

    @Test("`prune run` carries out a short AGP recipe: 90% sparsity, fine-tuned, saved")
    func runRecipe() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("agp.safetensors").path
        let recipe = """
            model: lenet300
            seed: 1
            train: {epochs: 2, batch_size: 128, learning_rate: 0.05}
            prune:
              threshold: {sparsity: 0.9}
              schedule: {agp: {start_epoch: 0, end_epoch: 1, every_steps: 50}}
            fine_tune: {epochs: 1, learning_rate: 0.01}
            output: \(out)
            """
        let path = folder.appendingPathComponent("agp.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--json", "--quiet")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let totals = try #require((json["report"] as? [String: Any])?["totals"] as? [String: Any])
        #expect(totals["nonZeros"] as? Int == 266_610 - 239_580, "\(totals)")
        let cuts = try #require(json["cuts"] as? [[String: Any]])
        #expect(cuts.count >= 10 && cuts.allSatisfy { $0["phase"] as? String == "training" }, "\(cuts)")
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.map { $0["split"] as? String } == ["validation", "validation", "test"], "\(stages)")
        #expect((stages.last?["accuracy"] as? Double ?? 0) > 0.8, "\(stages)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test("`prune run` lottery ticket: two iterative rounds, each rewinding to initialization and retraining")
    func runLotteryTicket() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let recipe = """
            model: lenet300
            seed: 2
            train: {epochs: 1, batch_size: 256, learning_rate: 0.05}
            prune:
              threshold: {sparsity: 0.75}
              schedule: {iterative: {fraction: 0.5, rounds: 3, rewind_to_step: 0, fine_tune_epochs: 1}}
            """
        let path = folder.appendingPathComponent("lth.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--json", "--quiet")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let rounds = try #require(json["rounds"] as? [[String: Any]])
        #expect(rounds.count == 2, "\(rounds)")
        #expect(rounds.compactMap { $0["sparsity"] as? Double }.map { ($0 * 100).rounded() } == [50, 75])
        // Each round retrains from the initial weights: after a cut to 50% of a freshly
        // initialized net, one epoch brings accuracy back well above chance.
        #expect(rounds.allSatisfy { ($0["accuracyAfterRecovery"] as? Double ?? 0) > 0.8 && $0["split"] as? String == "validation" }, "\(rounds)")
        #expect((json["trainingSeconds"] as? Double ?? 0) > (json["pruningSeconds"] as? Double ?? 1))
    }

    @Test("`prune run` regularization strategy: L1 during training, then a value-threshold cut")
    func runRegularization() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let recipe = """
            model: lenet300
            train: {epochs: 2, batch_size: 128, regularizer: {l1: 0.001}}
            prune:
              threshold: {value: 0.001}
            """
        let path = folder.appendingPathComponent("l1.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--quiet")
        #expect(result.status == 0, "\(result)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("after training, ") })
        let numbers = line.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[1] == 266_200 && numbers[0] > 266_200 / 20, "\(line)")   // 10.6% when measured
        let accuracy = try #require(result.stdout.split(separator: "\n").first { $0.hasSuffix("after the cut") })
        #expect(accuracy.hasPrefix("validation accuracy"), "\(accuracy)")
        #expect(Double(accuracy.split(separator: " ")[2].dropLast()) ?? 0 > 80, "\(accuracy)")
    }

    @Test("`prune run` SNIP at initialization: cut to 90% before training, then train with the masks held")
    func runSnipAtInitialization() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let recipe = """
            model: lenet300
            train: {epochs: 1, batch_size: 128}
            prune:
              criterion: snip
              threshold: {sparsity: 0.9}
              schedule: {constant: {start_epoch: 0}}
            """
        let path = folder.appendingPathComponent("snip.yaml").path
        try recipe.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--json", "--quiet")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.compactMap { $0["name"] as? String } == ["after the cut (before training)", "after training", "final"])
        #expect((stages[0]["accuracy"] as? Double ?? 1) < 0.5, "an untrained net is near chance")
        #expect((stages[1]["accuracy"] as? Double ?? 0) > 0.8, "\(stages)")
        let totals = try #require((json["report"] as? [String: Any])?["totals"] as? [String: Any])
        // 26,620 weights kept; of the 410 biases, those of neurons left with no input stay at 0.
        let nonZeros = try #require(totals["nonZeros"] as? Int)
        #expect(nonZeros <= 266_610 - 239_580 && nonZeros >= 26_620, "\(totals)")
    }

    @Test("`prune prune --granularity neuron --threshold` cuts through the dependency groups: every unit below the value, down to one per group; the logits stay")
    func structuredValueThreshold() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let out = trained.folder.appendingPathComponent("neurons.safetensors").path
        // No row's mean w² reaches 1: each prunable group keeps only its floor of one unit.
        let result = try prune("prune", trained.path, "--granularity", "neuron", "--criterion", "l2-norm", "--threshold", "1",
                               "--json", "--quiet", "--out", out)
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect((json["cuts"] as? [[String: Any]])?.first?["thresholdValue"] as? Double == 1)
        let layers = try #require((json["report"] as? [String: Any])?["layers"] as? [[String: Any]])
        let nonZeros = Dictionary(uniqueKeysWithValues: layers.compactMap { l in (l["name"] as? String).map { ($0, l["nonZeros"] as? Int ?? -1) } })
        // One row of fc1 (784 weights + its bias) and one of fc2 (300 + bias) are left; fc3 produces the logits.
        #expect(nonZeros["fc1"] == 785 && nonZeros["fc2"] == 301 && nonZeros["fc3"] == 1010, "\(nonZeros)")
    }

    @Test("`prune prune --criterion movement` is a usage error: movement needs training")
    func movementNeedsTraining() throws {
        let result = try prune("prune", "/nonexistent.safetensors", "--criterion", "movement", "--sparsity", "0.5", "--out", "/tmp/x.safetensors")
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--criterion") && result.stderr.contains("movement") && result.stderr.contains("train"), "\(result)")
    }

    @Test("neurons cut from a trained model, then `prune compact`: smaller file, same outputs; `prune bench infer` compares them")
    func structuredCompactAndBench() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dense = folder.appendingPathComponent("dense.safetensors").path
        let masked = folder.appendingPathComponent("masked.safetensors").path
        let small = folder.appendingPathComponent("small.safetensors").path
        #expect(try prune("train", "--model", "lenet300", "--epochs", "1", "--batch-size", "256", "--quiet", "--out", dense).status == 0)
        let cut = try prune("prune", dense, "--granularity", "neuron", "--criterion", "l2-norm", "--sparsity", "0.5", "--json", "--out", masked)
        #expect(cut.status == 0, "\(cut)")
        let compacted = try prune("compact", masked, "--out", small, "--json", "--bench")
        #expect(compacted.status == 0, "\(compacted)")
        let json = try singleJSONObject(compacted.stdout)
        let groups = try #require(json["groups"] as? [[String: Any]])
        #expect(groups.map { "\($0["group"]!) \($0["units"]!)→\($0["kept"]!)" } == ["fc1 300→150", "fc2 100→50"])
        #expect(json["parametersAfter"] as? Int == 784 * 150 + 150 + 150 * 50 + 50 + 50 * 10 + 10)
        #expect((json["maxAbsDifference"] as? Double ?? 1) <= 1e-5)
        let latency = try #require(json["latency"] as? [[String: Any]])
        #expect(latency.map { $0["batch"] as? Int } == [1, 256])
        #expect(latency.allSatisfy { ($0["beforeMs"] as? Double ?? 0) > 0 && ($0["afterMs"] as? Double ?? 0) > 0 })
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == ["fc1", "fc2", "fc3"])
        #expect(layers.map { $0["shapeAfter"] as? [Int] } == [[150, 784], [50, 150], [10, 50]])
        #expect(layers.allSatisfy { ($0["msBefore"] as? Double ?? 0) > 0 && ($0["msAfter"] as? Double ?? 0) > 0 })
        let denseBytes = try #require(try FileManager.default.attributesOfItem(atPath: dense)[.size] as? Int)
        #expect(Double(json["bytesAfter"] as? Int ?? .max) < 0.48 * Double(denseBytes), "\(json) vs \(denseBytes)")
        let a = try singleJSONObject(try prune("eval", masked, "--json").stdout)
        let b = try singleJSONObject(try prune("eval", small, "--json").stdout)
        #expect(a["accuracy"] as? Double == b["accuracy"] as? Double)

        let bench = try prune("bench", "infer", dense, small, "--batch", "1", "--batch", "64", "--runs", "20", "--json")
        #expect(bench.status == 0, "\(bench)")
        let results = try #require(try singleJSONObject(bench.stdout)["results"] as? [[String: Any]])
        #expect(results.count == 4)
        #expect(results.allSatisfy { ($0["dense_ms"] as? Double ?? 0) > 0 && ($0["dense_p90_ms"] as? Double ?? 0) >= ($0["dense_ms"] as? Double ?? 1) })
        #expect(results.allSatisfy { ($0["sparse_ms"] as? Double ?? 0) > 0 && ($0["speedup"] as? Double ?? 0) > 0 })
        #expect(results.map { $0["batch"] as? Int } == [1, 1, 64, 64])
        #expect(results.map { $0["sparse_layers"] as? Int } == [0, 0, 0, 0], "dense and compacted models have no sparse layer")
        #expect(results.filter { $0["speedup_vs_first"] != nil }.count == 2)
        // Weights read per pass: every parameter as Float32, on both paths (nothing runs as CSR).
        let lenet300 = 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
        #expect(results.map { $0["dense_bytes"] as? Int } == [4 * lenet300, 4 * (json["parametersAfter"] as? Int ?? 0), 4 * lenet300, 4 * (json["parametersAfter"] as? Int ?? 0)])
        #expect(results.allSatisfy { $0["sparse_bytes"] as? Int == $0["dense_bytes"] as? Int && $0["bytes_bound"] as? Double == 1 })
    }

    @Test("`prune compact` of a model with nothing to remove keeps every unit")
    func compactDense() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dense = folder.appendingPathComponent("d.safetensors").path
        let out = folder.appendingPathComponent("c.safetensors").path
        #expect(try prune("train", "--model", "mlp", "--layers", "784,32,10", "--epochs", "1", "--quiet", "--out", dense).status == 0)
        let result = try prune("compact", dense, "--out", out, "--json", "--check", "0")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect(json["parametersAfter"] as? Int == json["parametersBefore"] as? Int)
        #expect(json["maxAbsDifference"] == nil)
    }

    @Test("`prune export --fp16` of a 90%-pruned model: under 10% of dense Float32, accuracy within 0.1 point")
    func exportHalfPrecision() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dense = folder.appendingPathComponent("d.safetensors").path
        let pruned = folder.appendingPathComponent("p.safetensors").path
        let half = folder.appendingPathComponent("h.safetensors").path
        #expect(try prune("train", "--model", "lenet300", "--epochs", "1", "--batch-size", "256", "--quiet", "--out", dense).status == 0)
        #expect(try prune("prune", dense, "--sparsity", "0.9", "--quiet", "--out", pruned).status == 0)
        let result = try prune("export", pruned, "--fp16", "--evaluate", "--json", "--out", half)
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let after = try #require(json["bytesAfter"] as? Int), reference = try #require(json["denseFloat32Bytes"] as? Int)
        #expect(Double(after) <= 0.10 * Double(reference), "\(after) of \(reference)")
        let a = try #require(json["accuracyBefore"] as? Double), b = try #require(json["accuracyAfter"] as? Double)
        #expect(abs(a - b) <= 0.001, "\(a) → \(b)")
        let denseExport = try prune("export", half, "--format", "dense", "--json", "--out", folder.appendingPathComponent("x.safetensors").path)
        #expect((try singleJSONObject(denseExport.stdout)["bytesAfter"] as? Int ?? 0) > 1_000_000)

        // --format sparse: no larger, fc1 (about 7% kept) runs sparse as loaded, `prune eval` gives the same accuracy.
        let sparse = folder.appendingPathComponent("s.safetensors").path
        let exported = try prune("export", pruned, "--format", "sparse", "--fp16", "--json", "--out", sparse)
        #expect(exported.status == 0, "\(exported)")
        let summary = try singleJSONObject(exported.stdout)
        #expect((summary["sparseLayers"] as? [String])?.first == "fc1")
        #expect(try #require(summary["bytesAfter"] as? Int) <= after)
        let evaluated = try prune("eval", sparse, "--json")
        #expect(evaluated.status == 0, "\(evaluated)")
        #expect(abs(try #require(try singleJSONObject(evaluated.stdout)["accuracy"] as? Double) - b) <= 1e-9)
    }
}
