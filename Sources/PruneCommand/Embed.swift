import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

/// `prune embed`: sentence embeddings from a sentence-transformers model folder.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed sentences with a sentence-transformers model folder (all-MiniLM-L6-v2) and write them as .npy.",
        discussion: """
            MODEL_DIR holds config.json, model.safetensors, vocab.txt and the sentence-transformers files \
            (modules.json, 1_Pooling/config.json, sentence_bert_config.json), as all-MiniLM-L6-v2 ships them \
            (`make models` unpacks it into .cache/models/all-MiniLM-L6-v2). Each line of --input is one sentence; \
            the output is float32 [lines, 384], in input order, L2-normalized when the folder says so. Sentences \
            longer than max_seq_length (256 tokens) are truncated, as sentence-transformers does.
            """)

    @Argument(help: ArgumentHelp("A sentence-transformers model folder.", valueName: "model-dir"))
    var modelDir: String

    @Option(help: ArgumentHelp("A UTF-8 text file with one sentence per line.", valueName: "sentences.txt"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the embeddings, float32 [N, dimension] (.npy).", valueName: "emb.npy"))
    var out: String

    @Option(help: "Sentences per forward pass (sorted by length, each batch padded to its longest).")
    var batch = 32

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, batch, for: "--batch")
        try validateOutputPath(out, option: "--out")
    }

    /// The `--json` summary.
    struct Summary: Encodable {
        var model: String, input: String, output: String
        var sentences: Int, dimension: Int, normalized: Bool
        var loadSeconds: Double, embedSeconds: Double, sentencesPerSecond: Double
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let embedder = try SentenceEmbedder(folder: modelDir)
        let loaded = clock.now
        let sentences = try SentenceEmbedder.readLines(input)
        let interactive = !quiet && !output.json && isatty(STDERR_FILENO) != 0
        let embeddings = embedder.embed(sentences, batchSize: batch) { done in
            guard interactive else { return }
            FileHandle.standardError.write(Data(String(format: "\rembedding %d/%d", done, sentences.count).utf8))
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let finished = clock.now
        try NPY.write(NPY.Array(embeddings), to: out)
        let (load, embed) = ((loaded - start).seconds, (finished - loaded).seconds)
        let summary = Summary(model: modelDir, input: input, output: out, sentences: sentences.count,
                              dimension: embeddings.shape[1], normalized: embedder.settings.normalize,
                              loadSeconds: load, embedSeconds: embed, sentencesPerSecond: Double(sentences.count) / max(embed, 1e-9))
        if output.json { return try printJSON(summary) }
        print(String(format: "wrote %@: %d sentences × %d%@ (model loaded in %.2f s, %.1f sentences/s)", out, sentences.count,
                     embeddings.shape[1], embedder.settings.normalize ? ", L2-normalized" : "", load, summary.sentencesPerSecond))
    }
}
