import TensorCore

/// An inference-only 2-D convolution whose filters are CSR rows (`[Cout, C·K·K]`): the
/// input is unfolded (im2col, `[C·K·K, N·OH·OW]`, already the feature-major layout the
/// sparse × batch kernel reads) and multiplied by the stored weights only. Made by
/// `Graph.sparsified()`; outputs equal the masked `Conv2D`'s up to float rounding.
public final class SparseConv2D: Layer {
    public var name: String
    /// The filters, one CSR row each, over the `C·K·K` taps in `[C, K, K]` order.
    public let weight: CSRMatrix
    /// `[Cout]`, or nil.
    public let bias: Tensor?
    /// Input channels, kernel size, step and zero padding, as in `Conv2D`.
    public let inChannels: Int, kernelSize: Int, stride: Int, padding: Int
    /// Threads that share each product by filters, or nil for the calling thread alone.
    public var pool: WorkerPool?

    /// Creates the layer from a convolution, keeping the entries its mask keeps (its
    /// non-zeros when it has no mask).
    public init(_ conv: Conv2D) {
        name = conv.name
        inChannels = conv.inChannels; kernelSize = conv.kernelSize; stride = conv.stride; padding = conv.padding
        let rows = [conv.outChannels, conv.weight.count / conv.outChannels]
        weight = CSRMatrix(conv.weight.value.reshaped(rows), mask: conv.weight.mask?.reshaped(rows))
        bias = conv.bias?.value
    }

    private init(name: String, weight: CSRMatrix, bias: Tensor?, inChannels: Int, kernelSize: Int, stride: Int, padding: Int) {
        self.name = name; self.weight = weight; self.bias = bias
        self.inChannels = inChannels; self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
    }

    /// A layer of the same geometry and bias with filters `weight` (same shape), and no pool.
    public func withWeight(_ weight: CSRMatrix) -> SparseConv2D {
        precondition(weight.rows == self.weight.rows && weight.columns == self.weight.columns, "filters must keep their shape")
        return SparseConv2D(name: name, weight: weight, bias: bias, inChannels: inChannels, kernelSize: kernelSize,
                            stride: stride, padding: padding)
    }

    /// Output channels.
    public var outChannels: Int { weight.rows }
    var filterShape: [Int] { [weight.rows, inChannels, kernelSize, kernelSize] }

    /// The equivalent convolution, masked to the stored entries (for training or pruning further).
    public func densified() -> Conv2D {
        var rng = SeededGenerator(seed: 0)
        let conv = Conv2D(name: name, inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                          stride: stride, padding: padding, bias: bias != nil, rng: &rng)
        conv.weight.value = weight.dense().reshaped(filterShape)
        conv.weight.mask = weight.storedMask().reshaped(filterShape)
        if let bias { conv.bias?.value = bias }
        return conv
    }

    public var spec: LayerSpec {
        Conv2D.spec(inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
                    padding: padding, bias: bias != nil)
    }

    /// The filters rebuilt dense and masked to the stored entries.
    public var namedParameters: [(String, Parameter)] {
        let w = Parameter(weight.dense().reshaped(filterShape))
        w.mask = weight.storedMask().reshaped(filterShape)
        return [("weight", w)] + (bias.map { [("bias", Parameter($0))] } ?? [])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try convolutionOutputShape(inputShapes, name: name, inChannels: inChannels, outChannels: outChannels,
                                   kernelSize: kernelSize, stride: stride, padding: padding)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        guard let out = try? outputShape(for: inputShapes) else { return 0 }
        return (nonZeroOnly ? weight.nonZeroCount : weight.rows * weight.columns) * out[1] * out[2]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "\(name): input \(x.shape) does not fit [N, \(inChannels), H, W]")
        let g = ConvolutionGeometry(batch: x.shape[0], channels: inChannels, height: x.shape[2], width: x.shape[3],
                                    kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding)
        let cols = im2col(g, input: x)                                   // [C·K·K, N·OH·OW]
        let product = weight.multiply(transposedBatch: cols, pool: pool)  // [Cout, N·OH·OW]
        return convolutionOutput(g, columnProduct: product, bias: bias)
    }

    public func backward(_ gradient: Tensor) -> Tensor {
        preconditionFailure("\(name) is an inference-only sparse layer; train the masked convolution instead")
    }
}
