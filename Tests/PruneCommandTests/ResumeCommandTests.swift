import FileFormats
import Foundation
import TestSupport
import Testing

/// A folder with the first `training` and `test` Fashion-MNIST images as raw IDX files,
/// for runs that take seconds.
func smallDataFolder(training: Int, test: Int) throws -> URL {
    let folder = try temporaryFolder()
    for (split, count) in [("train", training), ("t10k", test)] {
        for kind in ["images-idx3-ubyte", "labels-idx1-ubyte"] {
            let file = try IDX.read("\(fashionMNISTPath)/\(split)-\(kind).gz")
            let sample = file.dimensions.dropFirst().reduce(1, *)
            var dimensions = file.dimensions
            dimensions[0] = count
            var bytes: [UInt8] = [0, 0, 8, UInt8(dimensions.count)]
            for d in dimensions { bytes += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: d >> $0) } }
            bytes += file.bytes.prefix(count * sample)
            try Data(bytes).write(to: folder.appendingPathComponent("\(split)-\(kind)"))
        }
    }
    return folder
}

/// The figures of a `prune run --json` summary, without times and paths.
func figures(_ json: [String: Any]) -> String {
    var json = json
    for key in ["trainingSeconds", "pruningSeconds", "output", "reportPath"] { json[key] = nil }
    json["epochs"] = (json["epochs"] as? [[String: Any]])?.map { $0.filter { !["seconds", "samplesPerSecond"].contains($0.key) } }
    let data = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
}

@Suite("prune run --resume and divergence")
struct ResumeCommandTests {
    /// An AGP recipe of 36 training and 15 fine-tuning steps, checkpointing every 5.
    static func recipe(data: URL, output: String) -> String {
        """
        model: lenet300
        data: \(data.path)
        seed: 5
        train: {epochs: 2, batch_size: 100, learning_rate: 0.05}
        prune:
          threshold: {sparsity: 0.9}
          schedule: {agp: {start_epoch: 0, end_epoch: 1, every_steps: 4}}
        fine_tune: {epochs: 1, learning_rate: 0.01}
        checkpoint: {every_steps: 5}
        output: \(output)
        """
    }

    @Test("`prune run` killed with SIGKILL after its first checkpoint, then `--resume`d (with other GEMM kernels by default): the same file, byte for byte, and the same figures")
    func killAndResume() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 2000, test: 500)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let straight = folder.appendingPathComponent("straight.safetensors").path
        let resumed = folder.appendingPathComponent("resumed.safetensors").path
        let straightRecipe = folder.appendingPathComponent("straight.yaml").path
        let resumedRecipe = folder.appendingPathComponent("resumed.yaml").path
        try Self.recipe(data: data, output: straight).write(toFile: straightRecipe, atomically: true, encoding: .utf8)
        try Self.recipe(data: data, output: resumed).write(toFile: resumedRecipe, atomically: true, encoding: .utf8)
        // The interrupted run and the straight one multiply on BLAS, the resumed run would on the
        // packed kernel: the checkpoint's record of the kernels must carry it over.
        let expected = try prune(["run", straightRecipe, "--json", "--quiet"], environment: ["PRUNE_GEMM": "blas"])
        #expect(expected.status == 0, "\(expected)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("straight.checkpoint.safetensors").path),
                "a finished run removes its checkpoint")

        // Start the run, kill it as soon as its first checkpoint exists.
        let checkpoint = folder.appendingPathComponent("resumed.checkpoint.safetensors").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(pruneExecutable))
        process.arguments = ["run", resumedRecipe, "--quiet", "--json"]
        process.environment = ProcessInfo.processInfo.environment.merging(["PRUNE_GEMM": "blas"]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint), process.isRunning, Date() < deadline { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the run ended before it was killed")
        #expect(!FileManager.default.fileExists(atPath: resumed), "a killed run has no output yet")

        let result = try prune("run", resumedRecipe, "--resume", "--json")
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("resuming from \(checkpoint): training, epoch 1, step "), "\(result)")
        let a = try #require(FileManager.default.contents(atPath: straight))
        let b = try #require(FileManager.default.contents(atPath: resumed))
        #expect(a == b, "the resumed run's file differs from the uninterrupted run's")
        #expect(figures(try singleJSONObject(result.stdout)) == figures(try singleJSONObject(expected.stdout)))
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
        // The resumed run's report keeps to its history, and says why.
        let page = try String(contentsOfFile: folder.appendingPathComponent("resumed.report.html").path, encoding: .utf8)
        #expect(page.contains("resumed from a checkpoint"))
    }

    @Test("`--resume` with no checkpoint yet starts from the beginning; `--checkpoint-every` needs an output or checkpoint.path")
    func resumeWithoutCheckpoint() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 2000, test: 500)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let path = folder.appendingPathComponent("r.yaml").path
        try "model: lenet300\ndata: \(data.path)\nprune: {threshold: {sparsity: 0.5}}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let usage = try prune("run", path, "--checkpoint-every", "10")
        #expect(usage.status == 2 && usage.stderr.contains("--checkpoint-every: the recipe has no output: give checkpoint.path"), "\(usage)")
        let out = folder.appendingPathComponent("m.safetensors").path
        try "model: lenet300\ndata: \(data.path)\nprune: {threshold: {sparsity: 0.5}}\noutput: \(out)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--resume")
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("no checkpoint at \(folder.path)/m.checkpoint.safetensors yet: starting from the beginning"), "\(result)")
        #expect(FileManager.default.fileExists(atPath: out))
    }

    @Test("a learning rate of 1e6 stops `prune run` with exit 1, one line naming the epoch and step, and the last good model saved")
    func divergence() throws {
        let folder = try temporaryFolder(), data = try smallDataFolder(training: 2000, test: 500)
        defer { for f in [folder, data] { try? FileManager.default.removeItem(at: f) } }
        let out = folder.appendingPathComponent("m.safetensors").path
        let path = folder.appendingPathComponent("r.yaml").path
        try """
            model: lenet300
            data: \(data.path)
            train: {epochs: 1, batch_size: 100, learning_rate: 1e6}
            prune: {threshold: {sparsity: 0.5}}
            output: \(out)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try prune("run", path, "--quiet")
        #expect(result.status == 1, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stdout.isEmpty, "\(result)")
        let saved = folder.appendingPathComponent("m.last-good.safetensors").path
        #expect(result.stderr.hasPrefix("error: the run stopped during training: training diverged: "), "\(result)")
        #expect(result.stderr.contains("at epoch 1, step ") || result.stderr.contains("the update of epoch 1, step "), "\(result)")
        #expect(result.stderr.contains("the last good model (before that step) is saved as \(saved)"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: out), "no output file for a run that did not finish")
        for tensor in ["fc1.weight", "fc2.weight", "fc3.weight"] {
            let values = try safetensorsFloats(saved, tensor)
            #expect(values.count > 0 && values.allSatisfy(\.isFinite), "\(tensor)")
        }
        let metadata = try safetensorsMetadata(saved)
        #expect(metadata["stopped"]?.contains("training diverged") == true, "\(metadata)")
        #expect(metadata["pruning.history"] != nil && metadata["accuracy"] == nil, "\(metadata)")
        #expect(try prune("info", saved).status == 0)
    }
}
