import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing
import TestSupport

@Suite("Hugging Face model folders as model files: all-MiniLM-L6-v2 read, pruned, written and read back", .serialized)
struct ModelFolderTests {
    /// A fresh path in the temporary folder, removed with its partial siblings by `cleanUp`.
    func scratch(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("prune-folder-\(name)-\(UUID())").path
    }

    /// The reference set's first fortunes (one line each, none blank).
    func sentences() throws -> [String] {
        let data = try #require(FileManager.default.contents(atPath: "\(MiniLM.reference)/sentences.json"))
        return Array(try #require(try JSONSerialization.jsonObject(with: data) as? [String]).prefix(20))
    }

    /// The largest |a − b| over equal-length arrays.
    func largestDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    @Test("a pruned MiniLM written as a folder: transformers' layout, tokenizer files beside it, masks read back, the same embeddings")
    func roundTrip() throws {
        let folder = try MiniLM.requireFolder()
        let loaded = try ModelFile.load(folder)
        #expect(loaded.metadata[ModelFolder.sourceKey] == folder)
        let model = loaded.model
        // Cut the smaller half of one feed-forward weight by magnitude.
        let p = try #require(model.parameter(at: "encoder.layer.0.intermediate.dense.weight"))
        let median = p.value.magnitudes().scalars.sorted()[p.count / 2]
        p.mask = p.value.map { abs($0) >= median ? 1 : 0 }
        p.applyMask()
        let out = scratch("minilm")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try ModelFile.save(model, to: out, metadata: loaded.metadata)

        for file in ["config.json", "vocab.txt", "tokenizer.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "\(file) was not copied")
        }
        let stored = try Safetensors.read("\(out)/model.safetensors")
        #expect(stored.metadata["format"] == "pt")
        #expect(stored.tensors.contains { $0.name == "encoder.layer.5.output.dense.weight" })
        #expect(!stored.tensors.contains { $0.name.hasSuffix(".mask") })
        #expect(stored.tensors.contains { $0.name == "pooler.dense.weight" })   // BertModel finds every tensor it has

        // Prune reads the masks back; the plain BERT reader (what transformers sees) reads the zeros.
        let again = try ModelFile.load(out).model
        let mask = try #require(again.parameter(at: "encoder.layer.0.intermediate.dense.weight")?.mask)
        #expect(mask == p.mask)
        #expect(again.parameter(at: "encoder.layer.1.intermediate.dense.weight")?.mask == nil)
        let embedder = try SentenceEmbedder(folder: out)
        let text = Array(try sentences().prefix(16))
        #expect(text.count == 16)
        let written = embedder.embed(text)
        let inMemory = SentenceEmbedder(tokenizer: embedder.tokenizer, model: model, settings: embedder.settings).embed(text)
        #expect(largestDifference(written.scalars, inMemory.scalars) < 1e-6)
        let dense = try SentenceEmbedder(folder: folder).embed(text)
        #expect(largestDifference(written.scalars, dense.scalars) > 1e-3)   // the cut changed the embeddings
    }

    @Test("a model not read from a folder writes files; as a folder it is refused, as is one whose shapes no longer fit config.json; nothing is left behind")
    func refusals() throws {
        let folder = try MiniLM.requireFolder()
        let model = try ModelFile.load(folder).model
        // A model not read from a folder keeps writing a file to a name without extension …
        let plain = scratch("plain")
        defer { try? FileManager.default.removeItem(atPath: plain) }
        try ModelFile.save(model, to: plain, metadata: [:])
        #expect(FileManager.default.fileExists(atPath: plain) && !ModelFolder.isFolder(plain))
        // … and is refused a folder: there is no tokenizer or config.json to copy.
        let existing = scratch("existing")
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: existing) }
        let orphan = #expect(throws: FormatError.self) { try ModelFile.save(model, to: existing, metadata: [:]) }
        #expect(orphan?.description.contains("give a .safetensors or .onnx path") == true, "\(String(describing: orphan))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: existing).isEmpty)

        let out = scratch("refused")

        // A smaller feed-forward width than config.json's 1536, as compaction leaves it.
        var configuration = try TransformerConfiguration(bertConfig: HuggingFaceConfig(path: "\(folder)/config.json"))
        configuration.intermediate = 1024
        let shrunk = try Graph.bertEncoder(configuration, sequenceLength: 32, seed: 1)
        let misfit = #expect(throws: FormatError.self) {
            try ModelFile.save(shrunk, to: out, metadata: [ModelFolder.sourceKey: folder])
        }
        #expect(misfit?.description.contains("does not fit its folder's config.json") == true, "\(String(describing: misfit))")
        let parent = (out as NSString).deletingLastPathComponent, stem = (out as NSString).lastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.hasPrefix(stem) }.isEmpty)
    }

    @Test("a model read from a folder is written as a folder unless the path ends in a weight file's extension")
    func folderOrFile() {
        let read = [ModelFolder.sourceKey: "all-MiniLM-L6-v2"], base = scratch("names")
        for name in ["pruned", "minilm-0.5", "cut.v2"] { #expect(ModelFolder.handles("\(base)/\(name)", metadata: read), "\(name)") }
        for name in ["pruned.safetensors", "pruned.onnx", "pruned.BIN"] { #expect(!ModelFolder.handles("\(base)/\(name)", metadata: read), "\(name)") }
        #expect(!ModelFolder.handles("\(base)/pruned", metadata: [:]))
    }

    @Test("writing leaves behind hidden folders (huggingface_hub's .cache), other runtimes' weights and weight files")
    func copiedFiles() throws {
        let folder = try MiniLM.requireFolder()
        let fileManager = FileManager.default
        let source = scratch("source"), out = scratch("copied")
        defer { for path in [source, out] { try? fileManager.removeItem(atPath: path) } }
        try fileManager.createDirectory(atPath: source, withIntermediateDirectories: false)
        for name in try fileManager.contentsOfDirectory(atPath: folder) where !name.hasPrefix(".") {
            if ModelFolder.isFolder("\(folder)/\(name)") {   // small (1_Pooling/): copied
                try fileManager.copyItem(atPath: "\(folder)/\(name)", toPath: "\(source)/\(name)")
            } else {   // the weights are 90 MB: linked
                try fileManager.createSymbolicLink(atPath: "\(source)/\(name)", withDestinationPath: "\(folder)/\(name)")
            }
        }
        for extra in [".cache/huggingface/download/model.safetensors.metadata", "onnx/model.onnx", "pytorch_model.bin"] {
            try fileManager.createDirectory(atPath: ((source + "/" + extra) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: "\(source)/\(extra)"))
        }
        let loaded = try ModelFile.load(source)
        try ModelFile.save(loaded.model, to: out, metadata: loaded.metadata)
        let written = Set(try fileManager.subpathsOfDirectory(atPath: out))
        #expect(written.isSuperset(of: ["config.json", "vocab.txt", "model.safetensors", "1_Pooling/config.json"]), "\(written)")
        #expect(!written.contains { $0.hasPrefix(".cache") || $0.hasPrefix("onnx") || $0 == "pytorch_model.bin" }, "\(written)")
        // Linked files are copied as files (huggingface_hub's snapshots are links into its cache).
        let vocabulary = try fileManager.attributesOfItem(atPath: "\(out)/vocab.txt")
        #expect(vocabulary[.type] as? FileAttributeType == .typeRegular, "\(vocabulary)")
    }

    @Test("sentences as distillation data: ids padded to the longest, the encoder's embeddings as targets, 20% held out")
    func sentenceData() throws {
        let folder = try MiniLM.requireFolder()
        let embedder = try SentenceEmbedder(folder: folder)
        let text = try sentences()
        #expect(text.count == 20 && !text.contains { $0.contains("\n") || $0.isEmpty })
        let file = scratch("sentences") + ".txt"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try (text.joined(separator: "\n") + "\n\n").write(toFile: file, atomically: true, encoding: .utf8)
        let data = try LabeledData(sentencesAt: file, for: embedder)
        #expect(data.training.count == 16 && data.test.count == 4)
        let longest = text.map { embedder.tokenizer.encode($0).count }.max()
        #expect(data.training.sampleShape == [try #require(longest)])
        #expect(data.training.targetWidth == 384)
        // A perfect encoder (the one that made the targets) scores a mean cosine of 1 with zero loss.
        let evaluation = Trainer.evaluate(embedder.model, on: data.test)
        #expect(abs(evaluation.accuracy - 1) < 1e-5 && evaluation.loss < 1e-10)
        #expect(data.testOrigins(0).sample.hasPrefix("line "))
    }
}
