import FileFormats
import Foundation
import Testing

@Suite("Your own data and predictions through the CLI")
struct DataCommandTests {
    /// A CSV of `count` rows: 4 features, the label 1 when the first feature is positive.
    func separableCSV(count: Int, stray: (row: Int, label: Int)? = nil) -> (text: String, x: [Float]) {
        var text = "f1,f2,f3,f4,label\n", x: [Float] = []
        for i in 0..<count {
            let features = (0..<4).map { j in Float(((i * 7 + j * 13) % 17) - 8) / 4 }
            x += features
            let label = stray.map { $0.row == i + 2 ? $0.label : nil } ?? nil
            text += features.map { "\($0)" }.joined(separator: ",") + ",\(label ?? (features[0] > 0 ? 1 : 0))\n"
        }
        return (text, x)
    }

    @Test("train 1 epoch on a CSV file, then predict: logits and probabilities [N, 2] as .npy, top-k and JSON agree")
    func trainAndPredict() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("data.csv").path, model = folder.appendingPathComponent("m.safetensors").path
        let (text, x) = separableCSV(count: 200)
        try Data(text.utf8).write(to: URL(fileURLWithPath: csv))
        let trained = try prune("train", "--model", "lenet300", "--data", csv, "--epochs", "1", "--out", model, "--json")
        #expect(trained.status == 0, "\(trained)")
        let summary = try singleJSONObject(trained.stdout)
        #expect((summary["samples"] as? Int) == 40)   // 20% of 200 held out as the test split

        // Inputs as [N, 1, 2, 2]: 4 values per sample, reshaped to the model's [4].
        let inputs = folder.appendingPathComponent("x.npy").path
        try NPY.write(NPY.Array(shape: [10, 1, 2, 2], floats: Array(x[0..<40])), to: inputs)
        let logitsPath = folder.appendingPathComponent("logits.npy").path, probsPath = folder.appendingPathComponent("p.npy").path
        let first = try prune("predict", model, "--input", inputs, "--out", logitsPath)
        #expect(first.status == 0 && first.stdout.contains("logits of 10 samples × 2 classes"), "\(first)")
        let second = try prune("predict", model, "--input", inputs, "--out", probsPath, "--probabilities", "--top-k", "2", "--json")
        #expect(second.status == 0, "\(second)")
        let logits = try NPY.read(logitsPath), probabilities = try NPY.read(probsPath)
        #expect(logits.shape == [10, 2] && logits.scalarType == .float32 && probabilities.shape == [10, 2])
        let z = logits.floats(), p = probabilities.floats()
        for i in 0..<10 {
            let e0 = exp(Double(z[2 * i])), e1 = exp(Double(z[2 * i + 1]))
            #expect(abs(Double(p[2 * i]) - e0 / (e0 + e1)) < 1e-5 && abs(Double(p[2 * i] + p[2 * i + 1]) - 1) < 1e-5)
        }
        let json = try singleJSONObject(second.stdout)
        #expect((json["samples"] as? Int) == 10 && (json["classes"] as? Int) == 2 && (json["values"] as? String) == "probabilities")
        let top = try #require(json["top"] as? [[String: Any]])
        for (i, entry) in top.enumerated() {
            let classes = try #require(entry["classes"] as? [Int])
            #expect(classes.count == 2 && classes[0] == (p[2 * i + 1] > p[2 * i] ? 1 : 0))
        }
        // The model learned the rule on the training rows it predicts (1 epoch, separable data).
        let correct = (0..<10).filter { (z[2 * $0 + 1] > z[2 * $0]) == (x[4 * $0] > 0) }.count
        #expect(correct >= 8, "\(correct) of 10")

        let wrong = folder.appendingPathComponent("wrong.npy").path
        try NPY.write(NPY.Array(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), to: wrong)
        let refused = try prune("predict", model, "--input", wrong, "--out", logitsPath)
        #expect(refused.status == 1 && refused.stderr.contains(wrong) && refused.stderr.contains("[2, 3]"), "\(refused)")
        #expect(try NPY.read(logitsPath) == logits)   // the earlier output is intact
    }

    @Test("a stray label stops `prune train` before training, naming the file and row")
    func strayLabel() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let csv = folder.appendingPathComponent("data.csv").path
        try Data(separableCSV(count: 50, stray: (row: 17, label: 200)).text.utf8).write(to: URL(fileURLWithPath: csv))
        let result = try prune("train", "--model", "lenet300", "--data", csv, "--epochs", "1")
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("\(csv): row 17: label 200 skips classes 2..<200"), "\(result)")
        #expect(!result.stdout.contains("epoch"), "\(result)")
    }

    @Test("lenet5 trains on a folder of RGB PNG images ([3, 32, 32]) and `prune eval` reads the same folder")
    func rgbImages() throws {
        let images = packageRoot.appendingPathComponent("Tests/FileFormatsTests/Fixtures/images/shapes").path
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("m.safetensors").path
        let trained = try prune("train", "--model", "lenet5", "--data", images, "--epochs", "1", "--validation-split", "0", "--out", model, "--quiet")
        #expect(trained.status == 0, "\(trained)")
        let evaluated = try prune("eval", model, "--data", images, "--json")
        #expect(evaluated.status == 0, "\(evaluated)")
        #expect((try singleJSONObject(evaluated.stdout)["samples"] as? Int) == 6)
        let info = try prune("info", model)
        #expect(info.stdout.contains("6×3×5×5"), "\(info)")   // conv1 reads 3 channels
    }
}
