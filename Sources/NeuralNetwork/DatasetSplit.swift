import TensorCore

extension Dataset {
    /// The samples at `indices`, in that order, as a dataset of their own (copied).
    /// - Precondition: every index is in `0..<count`.
    /// - Complexity: O(indices.count · sample size).
    public func subset(_ indices: [Int]) -> Dataset {
        let size = sampleShape.product
        for i in indices { precondition(i >= 0 && i < count, "sample index \(i) out of range 0..<\(count)") }
        if case let .windows(text, length, stride) = storage {
            // The windows' starts, kept as a text of their own.
            var out = [UInt8](); out.reserveCapacity(indices.count * (length + 1))
            for i in indices { out.append(contentsOf: text[(i * stride)...(i * stride + length)]) }
            return Dataset(checked: .windows(out, length: length, stride: length + 1), sampleShape: sampleShape, labels: [],
                           targets: [], targetWidth: 0, count: indices.count, classCount: classCount)
        }
        let picked: Storage
        switch storage {
        case let .bytes(bytes, scale):
            var out = [UInt8](); out.reserveCapacity(indices.count * size)
            for i in indices { out.append(contentsOf: bytes[(i * size)..<((i + 1) * size)]) }
            picked = .bytes(out, scale: scale)
        case let .floats(values):
            var out = [Float](); out.reserveCapacity(indices.count * size)
            for i in indices { out.append(contentsOf: values[(i * size)..<((i + 1) * size)]) }
            picked = .floats(out)
        case .windows: preconditionFailure("windows are handled above")
        }
        var pickedTargets = [Float](); pickedTargets.reserveCapacity(indices.count * targetWidth)
        for i in indices { pickedTargets.append(contentsOf: targets[(i * targetWidth)..<((i + 1) * targetWidth)]) }
        var result = Dataset(checked: picked, sampleShape: sampleShape, labels: targetWidth > 0 ? [] : indices.map { labels[$0] },
                             targets: pickedTargets, targetWidth: targetWidth, count: indices.count,
                             classCount: classCount)
        result.teacherLogits = gatheredTeacherLogits(indices)
        return result
    }

    /// Splits off a validation set: `fraction` of the samples, drawn with `seed`, become the
    /// second dataset; the rest, in their original order, the first. The same seed gives the
    /// same split. With `fraction` 0 the validation set is nil and the training set is `self`.
    ///
    /// Windows of a text are split by position instead, since overlapping windows drawn at
    /// random would share bytes across the split (and a tenth of every offset is a tenth of
    /// the text's length in windows): the last `fraction` of the text becomes the validation
    /// set, as non-overlapping windows; the training windows keep their stride over the rest.
    /// - Throws: `ModelError` when `fraction` is outside [0, 1) or leaves either part empty.
    public func splittingValidation(fraction: Double, seed: UInt64) throws -> (training: Dataset, validation: Dataset?) {
        guard fraction.isFinite, fraction >= 0, fraction < 1 else {
            throw ModelError.validationSplit(fraction: fraction, samples: count)
        }
        guard fraction > 0 else { return (self, nil) }
        if case let .windows(text, length, stride) = storage {
            // Windows that are separate pieces (a subset's, stride length + 1) stay whole.
            let pieces = stride > length
            var cut = text.count - Int((fraction * Double(text.count)).rounded())
            if pieces { cut -= cut % stride }
            guard cut > length, text.count - cut > length else {
                throw ModelError.validationSplit(fraction: fraction, samples: count)
            }
            return (try Dataset(text: Array(text[..<cut]), length: length, stride: stride),
                    try Dataset(text: Array(text[cut...]), length: length, stride: pieces ? stride : length))
        }
        let held = Int((fraction * Double(count)).rounded())
        guard held >= 1, held < count else {
            throw ModelError.validationSplit(fraction: fraction, samples: count)
        }
        var rng = SeededGenerator(seed: seed ^ 0x5641_4C49_4441_5445)   // "VALIDATE": apart from the training stream
        var order = Array(0..<count)
        rng.shuffle(&order)
        var isHeld = [Bool](repeating: false, count: count)
        for i in order.prefix(held) { isHeld[i] = true }
        return (subset((0..<count).filter { !isHeld[$0] }), subset((0..<count).filter { isHeld[$0] }))
    }
}

extension Dataset {
    /// A dataset from parts already known to agree (a subset of a checked dataset).
    init(checked storage: Storage, sampleShape: [Int], labels: [Int32], targets: [Float], targetWidth: Int,
         count: Int, classCount: Int) {
        self.storage = storage
        self.sampleShape = sampleShape
        self.labels = labels
        self.targets = targets
        self.targetWidth = targetWidth
        self.count = count
        self.classCount = classCount
    }
}
