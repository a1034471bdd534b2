import NeuralNetwork

/// The `[C, H, W]` geometry of image samples; `[H, W]` counts as one channel.
struct ImageShape: Equatable {
    let channels: Int, height: Int, width: Int

    /// Reads `[C, H, W]` or `[H, W]`, or nil for any other rank or an empty dimension.
    init?(_ shape: [Int]) {
        switch shape.count {
        case 3: (channels, height, width) = (shape[0], shape[1], shape[2])
        case 2: (channels, height, width) = (1, shape[0], shape[1])
        default: return nil
        }
        guard channels > 0, height > 0, width > 0 else { return nil }
    }

    /// Pixels per channel.
    var pixels: Int { height * width }
    /// Values per sample.
    var count: Int { channels * pixels }

    /// The mean over channels of the sample whose `count` values start at `offset`
    /// (row-major `[C, H, W]`): `height × width` values.
    func channelMean(of values: [Float], at offset: Int) -> [Float] {
        var mean = [Float](repeating: 0, count: pixels)
        for c in 0..<channels {
            let start = offset + c * pixels
            for p in 0..<pixels { mean[p] += values[start + p] }
        }
        if channels > 1 { for p in 0..<pixels { mean[p] /= Float(channels) } }
        return mean
    }
}

/// `module` as a dense layer (an inference-only sparse one densified), or nil.
func denseLayer(_ module: Module) -> Dense? {
    (module as? Dense) ?? (module as? SparseDense)?.densified()
}

/// `module` as a convolution (an inference-only sparse one densified), or nil.
func convolutionLayer(_ module: Module) -> Conv2D? {
    (module as? Conv2D) ?? (module as? SparseConv2D)?.densified()
}

/// The non-zero entries in each of `weight`'s `units` consecutive blocks (rows of `[out, in]`,
/// filters of `[out, in, kh, kw]`).
func nonZerosPerUnit(_ weight: [Float], units: Int) -> [Int] {
    guard units > 0 else { return [] }
    let size = weight.count / units
    return (0..<units).map { u in
        var n = 0
        for v in weight[(u * size)..<((u + 1) * size)] where v != 0 { n += 1 }
        return n
    }
}

extension ImageShape {
    /// Per pixel, the largest magnitude over the channels of the sample whose `count` values
    /// start at `offset`: `height × width` values.
    func largestMagnitude(of values: [Float], at offset: Int) -> [Float] {
        var largest = [Float](repeating: 0, count: pixels)
        for c in 0..<channels {
            let start = offset + c * pixels
            for p in 0..<pixels { largest[p] = max(largest[p], abs(values[start + p])) }
        }
        return largest
    }
}
