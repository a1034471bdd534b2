import Foundation
import NeuralNetwork
import TensorCore

/// A sentence-transformers model folder ready to embed text: its WordPiece tokenizer and its
/// BERT encoder with pooling (all-MiniLM-L6-v2: 384 features, L2-normalized).
///
/// ```swift
/// let embedder = try SentenceEmbedder(folder: ".cache/models/all-MiniLM-L6-v2")
/// let vectors = embedder.embed(["A cat sat.", "A dog ran."])   // [2, 384]
/// ```
public struct SentenceEmbedder {
    /// The tokenizer the folder describes (`vocab.txt`, `tokenizer_config.json`, and the
    /// 256-token limit of `sentence_bert_config.json`).
    public let tokenizer: BertTokenizer
    /// The encoder: token ids `[N, T]` in, one embedding per sentence out.
    public let model: Graph
    /// How token states become the embedding.
    public let settings: BertCheckpoint.SentenceSettings

    /// Reads the folder.
    /// - Throws: `FormatError` naming the file and the field, line or tensor that is wrong.
    public init(folder: String) throws {
        let (model, settings) = try BertCheckpoint.read(folder: folder, pooling: true)
        let tokenizer = try BertTokenizer(folder: folder)
        guard tokenizer.options.maxLength <= model.inputShape[0] else {
            throw FormatError(path: folder, .configField(field: "max_seq_length", problem: "(\(tokenizer.options.maxLength)) exceeds the model's \(model.inputShape[0]) positions"))
        }
        self.init(tokenizer: tokenizer, model: model, settings: settings)
    }

    /// Puts together a tokenizer and an encoder (a pruned or fine-tuned one, say).
    public init(tokenizer: BertTokenizer, model: Graph, settings: BertCheckpoint.SentenceSettings) {
        self.tokenizer = tokenizer; self.model = model; self.settings = settings
    }

    /// The embedding width.
    public var dimension: Int { model.outputShape.last ?? 0 }

    /// Embeds `sentences`, returning `[N, dimension]` in the order given.
    ///
    /// As sentence-transformers does, sentences are sorted longest first and run in batches of
    /// `batchSize`, each padded to its own longest sentence: the padding mask makes the result
    /// exactly the same as one sentence at a time, and sorting keeps the padding small.
    /// `progress` is called with the number of sentences done after each batch.
    public func embed(_ sentences: [String], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) -> Tensor {
        precondition(batchSize >= 1, "batch size must be at least 1, got \(batchSize)")
        let ids = sentences.map { tokenizer.encode($0) }
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count || (ids[$0].count == ids[$1].count && $0 < $1) }
        let d = dimension
        var out = Tensor.zeros([sentences.count, d])
        var done = 0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = Array(order[start..<min(start + batchSize, order.count)])
            let length = batch.map { ids[$0].count }.max() ?? 1
            var input = Tensor(shape: [batch.count, length], repeating: Float(tokenizer.specialTokens.padding))
            for (row, i) in batch.enumerated() {
                for (t, id) in ids[i].enumerated() { input.scalars[row * length + t] = Float(id) }
            }
            let y = model.forward(input)
            y.withUnsafeBufferPointer { py in
                out.withUnsafeMutableBufferPointer { po in
                    for (row, i) in batch.enumerated() {
                        (po.baseAddress! + i * d).update(from: py.baseAddress! + row * d, count: d)
                    }
                }
            }
            done += batch.count
            progress?(done)
        }
        return out
    }
}
