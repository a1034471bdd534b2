/// Gathering samples into a batch: rows of a flat array of samples, copied or scaled from bytes.

extension Tensor {
    /// The samples at `indices` of `source`, a flat array of samples of `sampleShape`, stacked
    /// in order: `[indices.count] + sampleShape`.
    /// - Precondition: `sampleShape` has at least one element; every index is a sample of `source`.
    /// - Complexity: O(indices.count · sample size).
    public init(gathering indices: some Collection<Int>, from source: [Float], sampleShape: [Int]) {
        self = source.withUnsafeBufferPointer { src in
            Tensor.gathered(indices, sampleShape: sampleShape, sourceCount: src.count) { i, size, d in
                d.update(from: src.baseAddress! + i * size, count: size)
            }
        }
    }

    /// The samples at `indices` of `source`, a flat array of byte samples of `sampleShape`,
    /// each byte converted to `Float` and multiplied by `scale` (1/255 for images), stacked in
    /// order: `[indices.count] + sampleShape`.
    /// - Precondition: `sampleShape` has at least one element; every index is a sample of `source`.
    /// - Complexity: O(indices.count · sample size).
    public init(gathering indices: some Collection<Int>, fromBytes source: [UInt8], scale: Float, sampleShape: [Int]) {
        self = source.withUnsafeBufferPointer { src in
            Tensor.gathered(indices, sampleShape: sampleShape, sourceCount: src.count) { i, size, d in
                let s = src.baseAddress! + i * size
                for j in 0..<size { d[j] = Float(s[j]) * scale }
            }
        }
    }

    /// Checks every index against the `sourceCount / size` samples and calls `write(index,
    /// size, destination)` to fill each sample's place in the batch, in order.
    private static func gathered(_ indices: some Collection<Int>, sampleShape: [Int], sourceCount: Int,
                                 _ write: (Int, Int, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let size = sampleShape.product
        precondition(size > 0, "gathering needs samples of at least one element, got shape \(sampleShape)")
        let samples = sourceCount / size
        return Tensor(shape: [indices.count] + sampleShape) { out in
            var o = 0
            for i in indices {
                precondition(i >= 0 && i < samples, "sample index \(i) out of range 0..<\(samples)")
                write(i, size, out.baseAddress! + o)
                o += size
            }
        }
    }
}
