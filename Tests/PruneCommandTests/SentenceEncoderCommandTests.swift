import FileFormats
import Foundation
import Testing
import TestSupport

/// all-MiniLM-L6-v2 as `make models` unpacks it.
let miniLMFolder = packageRoot.appendingPathComponent(".cache/models/all-MiniLM-L6-v2").path

@Suite("`prune prune` on a sentence-transformers folder: sentences in, a pruned folder out", .serialized)
struct SentenceEncoderCommandTests {
    /// The first `count` fortunes of 20–200 characters, each on one line.
    func fortuneLines(_ count: Int) throws -> String {
        let text = try String(contentsOfFile: "/usr/share/games/fortunes/fortunes", encoding: .utf8)
        let entries = text.components(separatedBy: "\n%\n").map {
            $0.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
        }
        let lines = entries.filter { (20...200).contains($0.count) }.prefix(count)
        try #require(lines.count == count, "the fortunes package has too few short entries")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Checks that MiniLM is unpacked and writes `fortuneLines(count)` to `sentences.txt` in `work`.
    func miniLMSentences(_ count: Int, in work: URL) throws -> String {
        try #require(FileManager.default.fileExists(atPath: "\(miniLMFolder)/model.safetensors"), "run `make models`")
        let sentences = work.appendingPathComponent("sentences.txt").path
        try fortuneLines(count).write(toFile: sentences, atomically: true, encoding: .utf8)
        return sentences
    }

    @Test("50% magnitude cut then 12 fine-tuning steps: the cosine to the dense embeddings drops, fine-tuning recovers part, the folder embeds")
    func pruneFolder() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = try miniLMSentences(200, in: work)
        let out = work.appendingPathComponent("minilm-50").path
        let result = try prune("prune", miniLMFolder, "--data", sentences, "--sparsity", "0.5", "--fine-tune-steps", "12",
                               "--validation-split", "0.25", "--out", out, "--json", "--no-report")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let stages = try #require(json["stages"] as? [[String: Any]], "\(json)")
        func cosine(_ name: String, _ split: String) -> Double? {
            stages.first { ($0["name"] as? String)?.hasPrefix(name) == true && $0["split"] as? String == split }?["accuracy"] as? Double
        }
        let loaded = try #require(cosine("as loaded", "test"), "\(stages)")
        let cut = try #require(cosine("after the cut", "validation"), "\(stages)")
        let tuned = try #require(cosine("after fine-tuning", "validation"), "\(stages)")
        #expect(abs(loaded - 1) < 1e-5)   // the dense encoder against its own embeddings
        #expect(cut < 0.95 && tuned > cut + 0.01, "cut \(cut), fine-tuned \(tuned)")
        let sparsity = try #require(json["sparsity"] as? Double)
        #expect(abs(sparsity - 0.5) < 0.01)

        for file in ["config.json", "vocab.txt", "modules.json", "1_Pooling/config.json", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file)")
        }
        let embedded = work.appendingPathComponent("emb.npy").path
        let embed = try prune("embed", out, "--input", sentences, "--out", embedded, "--json")
        #expect(embed.status == 0, "\(embed)")
        let info = try prune("info", out, "--json")
        #expect(info.status == 0, "\(info)")
    }

    @Test("distilling token by token (--distill --distill-match tokens) recovers the pooled embeddings and is recorded in the plan")
    func tokenDistillation() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = try miniLMSentences(200, in: work)
        let out = work.appendingPathComponent("minilm-50-tokens").path
        let result = try prune("prune", miniLMFolder, "--data", sentences, "--sparsity", "0.5", "--fine-tune-steps", "12",
                               "--distill", "--distill-match", "tokens", "--validation-split", "0.25", "--out", out, "--json", "--no-report")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let stages = try #require(json["stages"] as? [[String: Any]], "\(json)")
        func cosine(_ name: String) -> Double? {
            stages.first { ($0["name"] as? String)?.hasPrefix(name) == true && $0["split"] as? String == "validation" }?["accuracy"] as? Double
        }
        let cut = try #require(cosine("after the cut"), "\(stages)"), tuned = try #require(cosine("after fine-tuning"), "\(stages)")
        #expect(cut < 0.95 && tuned > cut + 0.01, "cut \(cut), fine-tuned \(tuned)")
        let metadata = try #require(try safetensorsHeader("\(out)/model.safetensors")["__metadata__"] as? [String: String])
        let history = metadata["pruning.history"] ?? ""
        #expect(history.contains(#""match":"tokens""#), "\(history)")
        let usage = try prune("prune", miniLMFolder, "--data", sentences, "--sparsity", "0.5", "--distill-match", "tokens", "--out", out)
        #expect(usage.status == 2 && usage.stderr.contains("--distill-match applies to distillation"), "\(usage)")
    }

    @Test("half the heads cut by Wanda from calibration sentences alone, compacted (outputs kept ≤ 1e-5), embedded from the smaller folder")
    func heads() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = try miniLMSentences(64, in: work)
        let cut = work.appendingPathComponent("half-heads").path, small = work.appendingPathComponent("small").path
        let result = try prune("prune", miniLMFolder, "--granularity", "head", "--criterion", "wanda", "--calibration", sentences,
                               "--sparsity", "0.5", "--out", cut, "--json", "--no-report")
        #expect(result.status == 0, "\(result)")
        let compact = try prune("compact", cut, "--out", small, "--data", sentences, "--check", "12", "--json")
        #expect(compact.status == 0, "\(compact)")
        let json = try singleJSONObject(compact.stdout)
        let groups = try #require(json["groups"] as? [[String: Any]], "\(json)")
        let heads = groups.filter { ($0["group"] as? String)?.hasSuffix("attention.self.value") == true }
        #expect(heads.count == 6 && heads.allSatisfy { $0["units"] as? Int == 12 && $0["kept"] as? Int == 6 }, "\(groups)")
        let difference = try #require(json["maxAbsDifference"] as? Double, "\(json)")
        #expect(difference <= 1e-5)
        let config = try String(contentsOfFile: "\(small)/config.json", encoding: .utf8)
        #expect(config.contains("pruned_heads"))
        let embed = try prune("embed", small, "--input", sentences, "--out", work.appendingPathComponent("e.npy").path, "--json")
        #expect(embed.status == 0, "\(embed)")
    }

    @Test("2:4 by Wanda from calibration sentences: every encoder Linear layer embeds through the N:M kernel, equal to the dense kernels' (≤ 1e-5)")
    func twoOfFour() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = try miniLMSentences(48, in: work)
        let cut = work.appendingPathComponent("minilm-24").path
        let result = try prune("prune", miniLMFolder, "--granularity", "2:4", "--criterion", "wanda", "--calibration", sentences,
                               "--out", cut, "--no-report")
        #expect(result.status == 0, "\(result)")
        let (kernel, dense) = (work.appendingPathComponent("nm.npy").path, work.appendingPathComponent("dense.npy").path)
        let nm = try prune(["embed", cut, "--input", sentences, "--out", kernel, "--batch", "1", "--json"],
                           environment: ["PRUNE_NM": "kernel"])   // the kernel whatever this CPU's timing says
        #expect(nm.status == 0, "\(nm)")
        let layers = try singleJSONObject(nm.stdout)["nmLayers"] as? Int
        #expect(layers == 36, "\(nm.stdout)")   // 6 blocks × 6 Linear layers
        let plain = try prune("embed", cut, "--input", sentences, "--out", dense, "--batch", "1", "--dense-kernels", "--json")
        #expect(plain.status == 0, "\(plain)")
        let plainLayers = try singleJSONObject(plain.stdout)["nmLayers"] as? Int
        #expect(plainLayers == 0, "\(plain.stdout)")
        let (a, b) = (try NPY.read(kernel), try NPY.read(dense))
        #expect(a.shape == [48, 384] && a.shape == b.shape)
        let difference = zip(a.floats(), b.floats()).map { abs($0 - $1) }.max() ?? .infinity
        #expect(difference <= 1e-5, "largest difference \(difference)")
    }

    @Test("Wanda measured on the dense model's inputs (--calibration-inputs dense) cuts the first layer as the sequential cut does and later layers otherwise; a bad value is refused")
    func calibrationInputs() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = try miniLMSentences(32, in: work)
        var masks: [String: Safetensors.Contents] = [:]
        for inputs in ["sequential", "dense"] {
            let out = work.appendingPathComponent(inputs).path
            let r = try prune("prune", miniLMFolder, "--criterion", "wanda", "--sparsity", "0.5", "--calibration", sentences,
                              "--calibration-inputs", inputs, "--out", out, "--no-report", "--quiet")
            #expect(r.status == 0, "\(r)")
            masks[inputs] = try Safetensors.read(out + "/model.safetensors")
        }
        let zeros = { (inputs: String, name: String) -> [Bool] in (masks[inputs]?[name]?.scalars ?? []).map { $0 == 0 } }
        let first = "encoder.layer.0.attention.self.query.weight", last = "encoder.layer.5.output.dense.weight"
        #expect(!zeros("dense", first).isEmpty && zeros("dense", first) == zeros("sequential", first), "the first layer sees the same inputs")
        let differing = zip(zeros("dense", last), zeros("sequential", last)).filter { $0 != $1 }.count
        #expect(differing > 0, "the last block's inputs differ once the blocks before it are cut")
        #expect(zeros("dense", last).filter { $0 }.count == zeros("dense", last).count / 2, "50% of each row either way")
        let bad = try prune("prune", miniLMFolder, "--criterion", "wanda", "--sparsity", "0.5", "--calibration", sentences,
                            "--calibration-inputs", "pruned", "--out", work.appendingPathComponent("x").path)
        #expect(bad.status == 2 && bad.stderr.contains("--calibration-inputs"), "\(bad)")
        let alone = try prune("prune", miniLMFolder, "--criterion", "wanda", "--sparsity", "0.5", "--calibration-inputs", "dense",
                              "--out", work.appendingPathComponent("y").path)
        #expect(alone.status == 2 && alone.stderr.contains("give --calibration FILE too"), "\(alone)")
    }

    @Test("a text file of sentences with a model that is not a folder is refused, naming the file")
    func sentencesNeedAFolder() throws {
        let work = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let sentences = work.appendingPathComponent("sentences.txt").path
        try "one line\nanother line\n".write(toFile: sentences, atomically: true, encoding: .utf8)
        let result = try prune("train", "--model", "mlp", "--data", sentences, "--epochs", "1")
        #expect(result.status != 0)
        #expect(result.stderr.contains("sentences.txt") && result.stderr.contains("sentence-encoder model folder"), "\(result)")
    }
}
