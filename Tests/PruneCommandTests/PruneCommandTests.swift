import Foundation
import TestSupport
import Testing

/// The folder of committed help snapshots.
let snapshotFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")

/// Compares `actual` with the committed snapshot `name`. With `PRUNE_UPDATE_SNAPSHOTS=1`
/// in the environment the snapshot is rewritten instead (then review and commit the diff).
func expectSnapshot(_ actual: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let url = snapshotFolder.appendingPathComponent(name)
    if ProcessInfo.processInfo.environment["PRUNE_UPDATE_SNAPSHOTS"] == "1" {
        try FileManager.default.createDirectory(at: snapshotFolder, withIntermediateDirectories: true)
        try Data(actual.utf8).write(to: url)
        return
    }
    let expected = try #require(try? String(contentsOf: url, encoding: .utf8), """
        snapshot \(url.path) is missing; run the tests once with PRUNE_UPDATE_SNAPSHOTS=1 to write it
        """, sourceLocation: sourceLocation)
    #expect(actual == expected, """
        output differs from \(url.path); if the change is intended, rerun with PRUNE_UPDATE_SNAPSHOTS=1 \
        and commit the new snapshot
        """, sourceLocation: sourceLocation)
}

@Suite("prune help")
struct HelpTests {
    @Test("`prune --help` matches its snapshot", arguments: [
        (["--help"], "prune-help.txt"),
        (["train", "--help"], "prune-train-help.txt"),
        (["eval", "--help"], "prune-eval-help.txt"),
        (["info", "--help"], "prune-info-help.txt"),
        (["import", "--help"], "prune-import-help.txt"),
        (["run", "--help"], "prune-run-help.txt"),
    ])
    func helpSnapshot(arguments: [String], snapshot: String) throws {
        let result = try prune(arguments)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.isEmpty)
        try expectSnapshot(result.stdout, named: snapshot)
    }

    @Test("`prune help train` prints the same text as `prune train --help`")
    func helpSubcommand() throws {
        let viaHelp = try prune("help", "train"), viaFlag = try prune("train", "--help")
        #expect(viaHelp.status == 0, "\(viaHelp)")
        #expect(viaHelp.stdout == viaFlag.stdout)
        #expect(viaHelp.stdout.contains("USAGE: prune train"))
    }

    @Test("`prune --version` prints the version")
    func version() throws {
        let result = try prune("--version")
        #expect(result.status == 0)
        #expect(result.stdout == "0.1.0\n")
    }
}

@Suite("prune errors")
struct ErrorTests {
    /// One line on stderr, no crash report.
    func expectCleanError(_ result: PruneResult, mentions words: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.stderrLines.count == 1, "expected one stderr line: \(result)", sourceLocation: sourceLocation)
        for word in words {
            #expect(result.stderr.contains(word), "stderr should mention '\(word)': \(result)", sourceLocation: sourceLocation)
        }
        for crash in ["Fatal error", "Stack dump", "Current stack trace", "Illegal instruction", "Segmentation"] {
            #expect(!result.stderr.contains(crash), "\(result)", sourceLocation: sourceLocation)
        }
        #expect(result.stdout.isEmpty, "\(result)", sourceLocation: sourceLocation)
    }

    @Test("`prune train --threads 0` is a usage error (exit 2) naming the option")
    func zeroThreads() throws {
        let result = try prune("train", "--threads", "0")
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("--threads"), "\(result)")
        #expect(result.stderr.contains("between 1 and 256"), "\(result)")
    }

    @Test("a bad option value is a usage error (exit 2)", arguments: [
        ["train", "--model", "vgg"], ["train", "--epochs", "0"], ["train", "--layers", "784,10"],
        ["train", "--batch-size", "x"], ["train", "--model", "mlp", "--layers", "100,10"],
        ["train", "--out", "/nonexistent/model.safetensors"],
        ["bench", "train", "--epochs", "0"], ["bench", "gemm", "--batch-size", "0"], ["bench", "gemm", "--concurrent", "-1"],
        ["bench", "layers", "--steps", "0"], ["bench", "spmm", "--cache", "hot"], ["bench", "spmm", "--sparsity", "1"],
    ])
    func badOption(_ arguments: [String]) throws {
        let result = try prune(arguments)
        #expect(result.status == 2, "\(result)")
        // One line on stderr, before any training starts: nothing on stdout.
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result)")
        #expect(result.stderr.hasPrefix("error: "), "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
    }

    @Test("`prune bench spmm --json` times the CSR product against BLAS on the same inputs, warm or cold", arguments: ["warm", "cold"])
    func benchSpMM(_ cache: String) throws {
        // Batch 130: two 64-sample panels and a 2-sample tail.
        let result = try prune("bench", "spmm", "--rows", "70", "--cols", "96", "--sparsity", "0.9", "--batch", "130",
                               "--runs", "3", "--cache", cache, "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect(json["cache"] as? String == cache)
        #expect(json["non_zeros"] as? Int == 70 * 96 - Int((0.9 * Double(70 * 96)).rounded()))
        #expect((json["max_relative_error"] as? Double ?? 1) < 1e-5, "\(json)")
        let (dense, sparse) = (json["dense_ms"] as? Double ?? 0, json["sparse_ms"] as? Double ?? 0)
        #expect(dense > 0 && sparse > 0)
        let speedup = json["speedup"] as? Double ?? 0
        #expect(abs(speedup - dense / sparse) < 1e-9 * max(1, dense / sparse))
        // The bytes bound: dense Float32 over CSR's values, 2-byte column indices and 71 row offsets.
        let nonZeros = 70 * 96 - Int((0.9 * Double(70 * 96)).rounded())
        #expect(json["dense_bytes"] as? Int == 4 * 70 * 96)
        #expect(json["sparse_bytes"] as? Int == 4 * 71 + 6 * nonZeros)
        let bound = json["bytes_bound"] as? Double ?? 0
        #expect(abs(bound - Double(4 * 70 * 96) / Double(4 * 71 + 6 * nonZeros)) < 1e-12)
        #expect(abs((json["of_bound"] as? Double ?? 0) - speedup / bound) < 1e-9)
        #expect((json["machine"] as? String ?? "").hasSuffix("cores)"), "\(json)")
        #expect(!(json["blas"] as? String ?? "").isEmpty)
    }

    @Test("`prune eval` of a missing file exits 1 with one stderr line naming the path")
    func evalMissingFile() throws {
        let result = try prune("eval", "/nonexistent.safetensors")
        #expect(result.status == 1, "\(result)")
        expectCleanError(result, mentions: ["/nonexistent.safetensors", "no such file"])
    }

    @Test("`prune eval` and `prune info` of a corrupt file exit 1 naming the path", arguments: ["eval", "info"])
    func corruptFile(_ subcommand: String) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = SplitMix64(seed: 42)
        let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let path = folder.appendingPathComponent("corrupt.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try prune(subcommand, path)
        #expect(result.status == 1, "\(result)")
        expectCleanError(result, mentions: [path])
    }

    @Test("`prune train --data /nonexistent` exits 1 and says how to install the data")
    func missingData() throws {
        let result = try prune("train", "--data", "/nonexistent", "--epochs", "1")
        #expect(result.status == 1, "\(result)")
        expectCleanError(result, mentions: ["/nonexistent", "apt-get install dataset-fashion-mnist"])
    }

    @Test("an unknown subcommand is a usage error (exit 2)")
    func unknownSubcommand() throws {
        let result = try prune("frobnicate")
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.contains("frobnicate"), "\(result)")
        #expect(result.stdout.isEmpty)
    }
}

/// A tiny seeded generator for test bytes (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The folder of the shared trained model, removed when the test process exits.
nonisolated(unsafe) var trainedModelFolder: String?

/// One epoch of lenet300 on the real data, trained once and shared by the end-to-end tests.
struct TrainedModel {
    let folder: URL
    let path: String
    let train: PruneResult

    static let shared: Result<TrainedModel, Error> = Result {
        let folder = try temporaryFolder()
        trainedModelFolder = folder.path
        atexit { if let path = trainedModelFolder { try? FileManager.default.removeItem(atPath: path) } }
        let path = folder.appendingPathComponent("m.safetensors").path
        let train = try prune("train", "--model", "lenet300", "--epochs", "1", "--json", "--quiet", "--out", path)
        return TrainedModel(folder: folder, path: path, train: train)
    }
}

@Suite("prune train, eval and info on Fashion-MNIST")
struct EndToEndTests {
    @Test("`prune train --json` prints one JSON object with accuracy above 0.80 and writes the model")
    func train() throws {
        let trained = try TrainedModel.shared.get()
        #expect(trained.train.status == 0, "\(trained.train)")
        let json = try singleJSONObject(trained.train.stdout)
        let accuracy = try #require(json["accuracy"] as? Double)
        #expect(accuracy > 0.80 && accuracy <= 1)
        #expect(json["samples"] as? Int == 10000)
        #expect(json["parameters"] as? Int == 266_610)
        #expect(json["output"] as? String == trained.path)
        let epochs = try #require(json["epochs"] as? [[String: Any]])
        #expect(epochs.count == 1)
        #expect(epochs.first?["epoch"] as? Int == 1)
        // Per-epoch figures come from the validation split (10% of the training set), never from the test set.
        #expect((epochs.first?["validationAccuracy"] as? Double).map { $0 > 0.7 && $0 <= 1 } == true, "\(epochs)")
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.map { $0["split"] as? String } == ["validation", "test"], "\(stages)")
        #expect(trained.train.stderr.isEmpty, "--quiet --json must not draw progress: \(trained.train.stderr)")
        #expect(FileManager.default.fileExists(atPath: trained.path))
    }

    @Test("`prune eval --json` reproduces the training run's test accuracy on 10000 samples")
    func eval() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let trainAccuracy = try #require(try singleJSONObject(trained.train.stdout)["accuracy"] as? Double)
        let result = try prune("eval", trained.path, "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect(json["samples"] as? Int == 10000)
        let accuracy = try #require(json["accuracy"] as? Double)
        #expect(abs(accuracy - trainAccuracy) <= 1e-6, "eval \(accuracy) vs train \(trainAccuracy)")
        let loss = try #require(json["loss"] as? Double)
        #expect(loss > 0 && loss < 1)

        let text = try prune("eval", trained.path)
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("accuracy "))
        #expect(text.stdout.contains(String(format: "%.2f%%", 100 * accuracy)), "\(text)")
        #expect(text.stdout.contains("(10000 samples)"))
    }

    @Test("`prune info --json` counts 266,610 parameters in lenet300's layers")
    func infoJSON() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let result = try prune("info", trained.path, "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let totals = try #require(json["totals"] as? [String: Any])
        #expect(totals["parameters"] as? Int == 266_610)
        #expect(totals["nonZeros"] as? Int == 266_610, "a trained dense model has no exact zeros")
        let layers = try #require(json["layers"] as? [[String: Any]])
        // Graph nodes, parameter-free ones included: Flatten, three Dense and two ReLU.
        #expect(layers.map { $0["name"] as? String } == ["flatten", "fc1", "relu1", "fc2", "relu2", "fc3"])
        #expect(layers.map { $0["parameters"] as? Int } == [0, 235_500, 0, 30_100, 0, 1_010])
        #expect((layers[1]["shape"] as? [Int]) == [300, 784])
    }

    @Test("`prune info` prints a table with a header line and a total row")
    func infoText() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let result = try prune("info", trained.path)
        #expect(result.status == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        try #require(lines.count == 10, "header, rule, 6 layers, rule, total: \(result.stdout)")
        #expect(lines[0].hasPrefix("layer"))
        for column in ["kind", "shape", "parameters", "non-zeros", "sparsity", "FLOPs"] {
            #expect(lines[0].contains(column), "header lacks \(column): \(lines[0])")
        }
        #expect(lines[1].allSatisfy { $0 == "-" })
        #expect(lines[3].hasPrefix("fc1"))
        #expect(lines[3].contains("300×784"))
        let total = lines[9].split(separator: " ")
        #expect(total.first == "total")
        #expect(total.contains("266610"))
        #expect(total.contains("0.0%"))
    }

    @Test("`prune prune --sparsity 0.9 --json` cuts 90% of the weights, records it in the file, and `info` sees it")
    func pruneOneShot() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let out = trained.folder.appendingPathComponent("p90.safetensors").path
        let result = try prune("prune", trained.path, "--sparsity", "0.9", "--json", "--out", out)
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect((json["sparsity"] as? Double).map { abs($0 - 0.9) < 1e-6 } == true, "\(json)")
        let stages = try #require(json["stages"] as? [[String: Any]])
        #expect(stages.map { $0["name"] as? String } == ["as loaded", "after the cut", "final"], "\(stages)")
        #expect(stages.map { $0["split"] as? String } == ["test", "validation", "test"], "\(stages)")
        let before = try #require(stages[0]["accuracy"] as? Double), after = try #require(json["accuracy"] as? Double)
        #expect(after < before && after > 0.6, "before \(before), after \(after)")
        // The file records the cut as a state dict: every weight dense with its cut entries
        // zero (10% of the 266,200 kept), the masks listed in the metadata, no other tensor,
        // and one run in the metadata with the figures printed above.
        let header = try safetensorsHeader(out)
        let metadata = try #require(header["__metadata__"] as? [String: String], "\(header.keys)")
        #expect(Set(header.keys) == ["__metadata__", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        let masked = try #require(metadata["prune.masked"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String])
        #expect(masked == ["fc1.weight", "fc2.weight", "fc3.weight"], "\(masked)")
        let kept = try ["fc1.weight", "fc2.weight", "fc3.weight"].map { p in try safetensorsFloats(out, p).filter { $0 != 0 }.count }
        #expect(kept.reduce(0, +) == 266_200 - 239_580, "\(kept)")
        let info = try singleJSONObject(try prune("info", out, "--json").stdout)
        let totals = try #require(info["totals"] as? [String: Any])
        // 90% of the 266,200 weights are cut; the 410 biases stay.
        #expect(totals["nonZeros"] as? Int == 266_610 - 239_580)
        let eval = try singleJSONObject(try prune("eval", out, "--json").stdout)
        #expect((eval["accuracy"] as? Double).map { abs($0 - after) < 1e-6 } == true)
        // The file records the run: the resolved plan, the cut and every figure with its split.
        let history = try #require(try JSONSerialization.jsonObject(with: Data((metadata["pruning.history"] ?? "").utf8)) as? [[String: Any]])
        // The first entry is the training run that made the model (no cuts), the second this cut.
        try #require(history.count == 2, "\(history)")
        #expect((history[0]["cuts"] as? [Any])?.isEmpty == true && (history[0]["plan"] as? [String: Any])?["train"] != nil)
        let run = history[1]
        let plan = try #require(run["plan"] as? [String: Any])
        #expect(plan["model"] as? String == trained.path && plan["validation_split"] as? Double == 0.1)
        #expect(((plan["prune"] as? [String: Any])?["threshold"] as? [String: Any])?["sparsity"] as? Double == 0.9)
        let cuts = try #require(run["cuts"] as? [[String: Any]])
        #expect(cuts.count == 1 && (cuts[0]["sparsity"] as? Double).map { abs($0 - 0.9) < 1e-6 } == true, "\(cuts)")
        #expect(((run["measurements"] as? [[String: Any]])?.last?["accuracy"] as? Double).map { abs($0 - after) < 1e-6 } == true)
        #expect(metadata["accuracy"].flatMap(Double.init).map { abs($0 - after) < 1e-6 } == true)
    }

    @Test("the same plan through `prune prune` and `prune run` gives byte-identical files")
    func pruneAndRunAgree() throws {
        let trained = try TrainedModel.shared.get()
        try #require(trained.train.status == 0, "\(trained.train)")
        let viaPrune = trained.folder.appendingPathComponent("via-prune.safetensors").path
        let viaRun = trained.folder.appendingPathComponent("via-run.safetensors").path
        let cli = try prune("prune", trained.path, "--sparsity", "0.8", "--criterion", "taylor", "--fine-tune-epochs", "1",
                            "--quiet", "--out", viaPrune)
        #expect(cli.status == 0, "\(cli)")
        let recipe = trained.folder.appendingPathComponent("same.yaml").path
        try """
            model: \(trained.path)
            prune: {criterion: taylor, threshold: {sparsity: 0.8}}
            fine_tune: {epochs: 1}
            output: \(viaRun)
            """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let run = try prune("run", recipe, "--quiet")
        #expect(run.status == 0, "\(run)")
        let a = try Data(contentsOf: URL(fileURLWithPath: viaPrune)), b = try Data(contentsOf: URL(fileURLWithPath: viaRun))
        #expect(a.count > 100_000 && a == b, "\(a.count) vs \(b.count) bytes")
    }

    @Test("the same plan through `prune train --prune-to` and `prune run` gives byte-identical files")
    func trainAndRunAgree() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let viaTrain = folder.appendingPathComponent("via-train.safetensors").path
        let viaRun = folder.appendingPathComponent("via-run.safetensors").path
        let cli = try prune("train", "--model", "lenet300", "--epochs", "1", "--prune-to", "0.8", "--prune-start-epoch", "0",
                            "--prune-every", "100", "--quiet", "--out", viaTrain)
        #expect(cli.status == 0, "\(cli)")
        let recipe = folder.appendingPathComponent("same.yaml").path
        try """
            model: lenet300
            train: {epochs: 1}
            prune:
              threshold: {sparsity: 0.8}
              schedule: {agp: {start_epoch: 0, end_epoch: 1}}
            output: \(viaRun)
            """.write(toFile: recipe, atomically: true, encoding: .utf8)
        let run = try prune("run", recipe, "--quiet")
        #expect(run.status == 0, "\(run)")
        let a = try Data(contentsOf: URL(fileURLWithPath: viaTrain)), b = try Data(contentsOf: URL(fileURLWithPath: viaRun))
        #expect(a.count > 100_000 && a == b, "\(a.count) vs \(b.count) bytes")
    }

    @Test("`prune prune` without a target, or with a bad granularity, is a usage error", arguments: [
        ["--out", "/tmp/x.safetensors"], ["--sparsity", "0.5", "--granularity", "3:2", "--out", "/tmp/x.safetensors"],
        ["--sparsity", "1.5", "--out", "/tmp/x.safetensors"], ["--sparsity", "0.5", "--threshold", "0.1", "--out", "/tmp/x.safetensors"],
    ])
    func pruneUsage(_ arguments: [String]) throws {
        let result = try prune(["prune", "/nonexistent.safetensors"] + arguments)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result)")
    }

    @Test("--calibration feeds wanda and sparsegpt only, names a file that exists, and takes at least one sample")
    func calibrationUsage() throws {
        let existing = "\(referenceFolder)/minilm/sentences.json"
        for (arguments, message) in [
            (["--criterion", "magnitude", "--calibration", existing], "--calibration: prune.calibration feeds the layer-wise criteria wanda and sparsegpt"),
            (["--criterion", "wanda", "--calibration", "/nonexistent.txt"], "no such file: /nonexistent.txt"),
            (["--criterion", "wanda", "--calibration", existing, "--calibration-samples", "0"], "at least 1, got 0"),
        ] {
            let result = try prune(["prune", "/nonexistent.safetensors", "--sparsity", "0.5", "--out", "/tmp/x.safetensors"] + arguments)
            #expect(result.status == 2 && result.stderr.contains(message), "\(result)")
        }
    }

    @Test("the seed's example trains, shows both flaws, and cuts exactly the weights whose |w·|w|| is below 0.01")
    func seedExample() throws {
        let prune = try #require(pruneExecutable, "prune is not built")
        let binary = URL(fileURLWithPath: prune).deletingLastPathComponent().appendingPathComponent("SeedExample").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "SeedExample is not built next to prune")
        let result = try runProgram(binary, [])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 7, "\(result.stdout)")
        // "signed w·|w| < 0.01 would cut N of 400 weights, including all M negative ones": N ≥ M > 0.
        let numbers = lines[1].split(separator: " ").compactMap { Int($0) }
        try #require(numbers.count == 3, "\(lines[1])")
        #expect(numbers[1] == 400 && numbers[0] >= numbers[2] && numbers[2] > 0, "\(lines[1])")
        for line in lines[4...5] {
            let counts = line.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
            #expect(counts.count >= 3 && counts[0] == 200 && counts[1] + counts[2] == 200 && counts[1] > 0, "\(line)")
        }
        #expect(lines[6].hasPrefix("overall sparsity"))

        // The cut itself: every weight whose |w·|w|| (the example's score) is below 0.01 is
        // zero afterwards, and every other one keeps its trained value.
        let json = try singleJSONObject(try runProgram(binary, ["--json"]).stdout)
        #expect((json["threshold"] as? Double).map(Float.init) == 0.01)
        let weights = try #require(json["weights"] as? [String: [String: [Double]]], "\(json)")
        #expect(weights.keys.sorted() == ["fc1.weight", "fc2.weight"])
        var (cut, kept) = (0, 0)
        for (path, pair) in weights {
            let before = try #require(pair["before"]).map(Float.init), after = try #require(pair["after"]).map(Float.init)
            try #require(before.count == after.count && before.count == 200, "\(path)")
            for (w, a) in zip(before, after) {
                if abs(w * abs(w)) < 0.01 {
                    #expect(a == 0, "\(path): \(w) scores \(abs(w * abs(w))) < 0.01 but survives as \(a)")
                    cut += 1
                } else if abs(w * abs(w)) > 0.01 {
                    #expect(a == w && a != 0, "\(path): \(w) scores \(abs(w * abs(w))) > 0.01 but became \(a)")
                    kept += 1
                }
            }
        }
        // Both sides of the cut are exercised, and the text reported the same counts.
        #expect(cut > 0 && kept > 0)
        let reportedCuts = lines[4...5].compactMap { $0.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }.dropFirst().first }
        #expect(reportedCuts.reduce(0, +) == cut, "\(lines[4...5])")
    }
}
