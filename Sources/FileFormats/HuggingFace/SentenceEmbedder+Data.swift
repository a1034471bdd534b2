import Foundation
import NeuralNetwork
import TensorCore

/// Sentences as data: a text file read line by line, and a sentence encoder's own embeddings as
/// the targets that a pruned copy of it learns to keep.
///
/// ```swift
/// let embedder = try SentenceEmbedder(folder: "all-MiniLM-L6-v2")
/// let data = try LabeledData(sentencesAt: "sentences.txt", for: embedder)   // targets [N, 384]
/// ```
extension SentenceEmbedder {
    /// The lines of a UTF-8 text file, in order, without line ends (a final newline ends the
    /// last line; `\r\n` ends are accepted).
    /// - Throws: `FormatError` for a missing or unreadable file, text that is not UTF-8, or a
    ///   file without lines.
    public static func readLines(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw FormatError(path: path, .corrupt(what: "not UTF-8 text"))
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0.hasSuffix("\r") ? $0.dropLast() : $0) }
        if lines.last == "" { lines.removeLast() }   // the final newline ends the last line
        guard !lines.isEmpty else { throw FormatError(path: path, .corrupt(what: "no sentences (the file is empty)")) }
        return lines
    }

    /// Distillation data for this encoder: each sentence as its token ids (`[CLS] … [SEP]`,
    /// truncated as `embed` truncates), padded with `[PAD]` to the longest of them, and this
    /// encoder's embedding as its regression target (`[N, dimension]`). Pruning and fine-tuning
    /// on it keep a copy of the encoder close to these embeddings; `Trainer.evaluate` reports
    /// the mean cosine to them as the accuracy.
    /// - Throws: `TrainingError` for an empty list.
    public func distillationData(_ sentences: [String], batchSize: Int = 32) throws -> Dataset {
        let ids = sentences.map { tokenizer.encode($0) }
        let length = max(ids.map(\.count).max() ?? 1, 1)
        var inputs = [Float](repeating: Float(tokenizer.specialTokens.padding), count: sentences.count * length)
        for (s, sentence) in ids.enumerated() {
            for (t, id) in sentence.enumerated() { inputs[s * length + t] = Float(id) }
        }
        let targets = embed(sentences, batchSize: batchSize)
        return try Dataset(inputs: inputs, sampleShape: [length], targets: targets.scalars, targetWidth: dimension)
    }
}

extension LabeledData {
    /// The non-blank lines of a text file as distillation data for `embedder`
    /// (`SentenceEmbedder.distillationData`), with 20% held out as the test split (the fixed
    /// draw every data file gets). Samples are named by their line numbers.
    /// - Throws: `FormatError` naming the file: unreadable, not UTF-8, or too few sentences.
    public init(sentencesAt path: String, for embedder: SentenceEmbedder) throws {
        let numbered = try SentenceEmbedder.readLines(path).enumerated().filter { !$0.element.trimmingCharacters(in: .whitespaces).isEmpty }
        guard numbered.count >= 2 else {
            throw FormatError(path: path, .unexpectedContent(expected: "at least 2 sentences (lines)", found: "\(numbered.count)"))
        }
        let lines = numbered.map { $0.offset + 1 }
        let data = try embedder.distillationData(numbered.map(\.element))
        try self.init(holdingOutFrom: data, origins: SampleOrigins { (path, "line \(lines[$0])") }, source: path)
    }
}
