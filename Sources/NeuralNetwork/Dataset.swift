import TensorCore

/// A batch of samples: inputs `[N] + sampleShape` and either class labels or targets.
public struct Batch {
    /// `[N] + sampleShape`.
    public var inputs: Tensor
    /// One class index per sample (empty for regression data); for token sequences, one per
    /// position, sample by sample (`[N·T]`).
    public var labels: [Int32]
    /// `[N, targetWidth]` regression targets, or nil for classification data.
    public var targets: Tensor?
    /// `[N, C]` logits of a teacher model for these samples, when the dataset carries them
    /// (see `Dataset.withTeacherLogits(_:)`) or a `Trainer.teacher` gave them (then shaped as
    /// its outputs, `[N, T, C]` for a sequence model, or its token states, `[N, T, d]`, when
    /// distilling by tokens); distillation trains against them.
    public var teacherLogits: Tensor?
    /// The number of samples.
    public var count: Int { inputs.shape[0] }
}

/// An in-memory dataset.
///
/// Images are kept as bytes and scaled to `Float` one batch at a time, so the 60,000
/// Fashion-MNIST training images take 47 MB rather than 188 MB.
public struct Dataset {
    enum Storage {
        case bytes([UInt8], scale: Float)
        case floats([Float])
        /// Windows of a byte text: sample i reads `length` bytes from `i · stride` and its
        /// labels are the `length` bytes after each of them (the next-byte targets).
        case windows([UInt8], length: Int, stride: Int)
    }

    let storage: Storage
    /// The shape of one sample, e.g. `[1, 28, 28]`.
    public let sampleShape: [Int]
    /// One class index per sample (empty for regression data).
    public let labels: [Int32]
    /// Flattened `[count, targetWidth]` regression targets (empty for classification data).
    public let targets: [Float]
    /// The width of one regression target (0 for classification data).
    public let targetWidth: Int
    /// Labels per sample: 1 for classification, the sequence length for next-token data.
    public var labelsPerSample: Int {
        if case let .windows(_, length, _) = storage { return length }
        return 1
    }
    /// The number of samples.
    public let count: Int
    /// The number of classes (1 + the largest label; 0 for regression data).
    public let classCount: Int
    /// `[count, C]` logits of a teacher model, one row per sample in order (nil: none
    /// attached; see `withTeacherLogits(_:)`).
    public internal(set) var teacherLogits: Tensor?

    /// Creates a classification dataset from bytes scaled by `scale` (e.g. 1/255).
    /// - Throws: `ModelError` when sizes disagree or a label is negative.
    public init(bytes: [UInt8], scale: Float, sampleShape: [Int], labels: [Int32]) throws {
        try self.init(storage: .bytes(bytes, scale: scale), elementCount: bytes.count,
                      sampleShape: sampleShape, labels: labels, targets: [], targetWidth: 0)
    }

    /// Creates a dataset from floats with class labels.
    public init(inputs: [Float], sampleShape: [Int], labels: [Int32]) throws {
        try self.init(storage: .floats(inputs), elementCount: inputs.count,
                      sampleShape: sampleShape, labels: labels, targets: [], targetWidth: 0)
    }

    /// Creates a regression dataset: inputs and `[count, targetWidth]` targets.
    public init(inputs: [Float], sampleShape: [Int], targets: [Float], targetWidth: Int) throws {
        try self.init(storage: .floats(inputs), elementCount: inputs.count,
                      sampleShape: sampleShape, labels: [], targets: targets, targetWidth: targetWidth)
    }

    private init(storage: Storage, elementCount: Int, sampleShape: [Int], labels: [Int32],
                 targets: [Float], targetWidth: Int) throws {
        let sampleSize = sampleShape.product
        guard sampleSize > 0, elementCount % sampleSize == 0 else {
            throw ModelError.datasetSize(values: elementCount, sampleShape: sampleShape)
        }
        let count = elementCount / sampleSize
        if targetWidth > 0 {
            guard targets.count == count * targetWidth else {
                throw ModelError.datasetAnswers(samples: count, answers: targets.count / targetWidth, kind: "targets")
            }
        } else {
            guard labels.count == count else {
                throw ModelError.datasetAnswers(samples: count, answers: labels.count, kind: "labels")
            }
            if let bad = labels.first(where: { $0 < 0 }) { throw ModelError.negativeLabel(bad) }
        }
        self.init(checked: storage, sampleShape: sampleShape, labels: labels, targets: targets, targetWidth: targetWidth,
                  count: count, classCount: targetWidth > 0 ? 0 : Int(labels.max() ?? -1) + 1)
    }

    /// Next-byte prediction data from a text: sample `i` is the `length` bytes starting at
    /// `i · stride` (as token ids 0–255) and its labels are the bytes one further on. Stride 1
    /// gives every window (training: a shuffled epoch draws windows without replacement);
    /// stride `length` gives non-overlapping windows that predict each byte once (evaluation).
    /// - Throws: `ModelError` when the text is shorter than one window plus its last target.
    public init(text: [UInt8], length: Int, stride: Int = 1) throws {
        guard length >= 1, stride >= 1, text.count > length else {
            throw ModelError.datasetSize(values: text.count, sampleShape: [length + 1])
        }
        let count = (text.count - 1 - length) / stride + 1
        self.init(checked: .windows(text, length: length, stride: stride), sampleShape: [length], labels: [],
                  targets: [], targetWidth: 0, count: count, classCount: 256)
    }

    /// Gathers the samples at `indices` into one batch.
    /// - Complexity: O(indices.count · sample size).
    public func batch<C: Collection>(_ indices: C) -> Batch where C.Element == Int {
        let n = indices.count
        let inputs: Tensor
        switch storage {
        case let .bytes(bytes, scale): inputs = Tensor(gathering: indices, fromBytes: bytes, scale: scale, sampleShape: sampleShape)
        case let .floats(values): inputs = Tensor(gathering: indices, from: values, sampleShape: sampleShape)
        case let .windows(text, length, stride):
            var ids = [Float](), next = [Int32]()
            ids.reserveCapacity(n * length); next.reserveCapacity(n * length)
            for i in indices {
                let start = i * stride
                for j in start..<(start + length) { ids.append(Float(text[j])); next.append(Int32(text[j + 1])) }
            }
            return Batch(inputs: Tensor(shape: [n, length], scalars: ids), labels: next, targets: nil, teacherLogits: nil)
        }
        if targetWidth > 0 {
            var t = [Float](); t.reserveCapacity(n * targetWidth)
            for i in indices { t.append(contentsOf: targets[(i * targetWidth)..<((i + 1) * targetWidth)]) }
            return Batch(inputs: inputs, labels: [], targets: Tensor(shape: [n, targetWidth], scalars: t),
                         teacherLogits: gatheredTeacherLogits(indices))
        }
        return Batch(inputs: inputs, labels: indices.map { labels[$0] }, targets: nil,
                     teacherLogits: gatheredTeacherLogits(indices))
    }
}

extension Graph {
    /// The padding token when trailing padding cannot change what the model computes for the
    /// real tokens: it reads sequences, has a `PaddingMask`, and every node that mixes tokens
    /// (attention, mean pooling) reads that mask. Nil otherwise.
    public var trailingPaddingID: Int? {
        guard takesSequences, let p = nodes.firstIndex(where: { $0.module is PaddingMask }) else { return nil }
        for node in nodes where node.module is SelfAttention || node.module is MeanPooling {
            guard node.inputs.contains(NodeID(index: p)) else { return nil }
        }
        return (nodes[p].module as? PaddingMask)?.paddingID
    }

    /// `batch` with the token positions past its longest sequence left out, when trailing
    /// padding cannot change the result (`trailingPaddingID`), the model gives one output per
    /// sequence (a pooled encoder), and the batch has one target or label per sequence. Only
    /// the work changes: sentences padded to the longest of a whole file cost what their own
    /// lengths do.
    public func trimmingPadding(_ batch: Batch) -> Batch {
        guard outputShape.count == 1, batch.inputs.rank == 2, batch.labels.count <= batch.count,
              let pad = trailingPaddingID.map(Float.init) else { return batch }
        let (n, width) = (batch.inputs.shape[0], batch.inputs.shape[1])
        let ids = batch.inputs.scalars
        let longest = (0..<n).map { s in ((0..<width).last { ids[s * width + $0] != pad } ?? 0) + 1 }.max() ?? width
        guard longest < width else { return batch }
        var trimmed = batch
        trimmed.inputs = Tensor(shape: [n, longest], scalars: (0..<n).flatMap { ids[($0 * width)..<($0 * width + longest)] })
        return trimmed
    }
}
