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
            longer than max_seq_length (256 tokens) are truncated, as sentence-transformers does. Linear layers \
            pruned N:M (2:4, say) run through the N:M kernel, which computes from the kept weights only; \
            --dense-kernels runs them as dense products of the masked weights instead.
            """)

    @Argument(help: ArgumentHelp("A sentence-transformers model folder.", valueName: "model-dir"))
    var modelDir: String

    @Option(help: ArgumentHelp("A UTF-8 text file with one sentence per line.", valueName: "sentences.txt"))
    var input: String

    @Option(help: ArgumentHelp("Where to write the embeddings, float32 [N, dimension] (.npy).", valueName: "emb.npy"))
    var out: String

    @Option(help: "Sentences per forward pass (sorted by length, each batch padded to its longest).")
    var batch = 32

    @Flag(help: "Run N:M-pruned layers (e.g. 2:4) as dense products of their masked weights, not through the N:M kernel (to compare).")
    var denseKernels = false

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
        /// Layers that ran through the N:M kernel, and its variant.
        var nmLayers: Int, nmKernel: String
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        var embedder = try SentenceEmbedder(folder: modelDir)
        var converted: [(name: String, n: Int, m: Int)] = []
        if !denseKernels && NMDense.hasVectorKernel {   // without one, N:M layers gain nothing
            let nm = try embedder.model.withNMLayers()
            embedder = SentenceEmbedder(tokenizer: embedder.tokenizer, model: nm.model, settings: embedder.settings)
            converted = nm.converted
        }
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
                              loadSeconds: load, embedSeconds: embed, sentencesPerSecond: Double(sentences.count) / max(embed, 1e-9),
                              nmLayers: converted.count, nmKernel: NMPanels.Variant.best.description)
        if output.json { return try printJSON(summary) }
        let patterns = Set(converted.map { "\($0.n):\($0.m)" }).sorted().joined(separator: ", ")
        let kernel = converted.isEmpty ? "" : String(format: "; %d %@ layers through the %@ N:M kernel", converted.count, patterns, summary.nmKernel)
        print(String(format: "wrote %@: %d sentences × %d%@ (model loaded in %.2f s, %.1f sentences/s%@)", out, sentences.count,
                     embeddings.shape[1], embedder.settings.normalize ? ", L2-normalized" : "", load, summary.sentencesPerSecond, kernel))
    }
}
