import TensorCore

/// A 2-D convolution over NCHW images, computed as im2col + one GEMM per batch.
///
/// Shapes: input `[N, C, H, W]`, weight `[Cout, C/groups, K, K]`, bias `[Cout]`,
/// output `[N, Cout, OH, OW]` with `OH = (H + 2·padding − dilation·(K − 1) − 1)/stride + 1`.
/// Forward: `Y' = W · cols` where `cols = im2col(x)` is `[C·K·K, N·OH·OW]`;
/// backward: `dW = dY' · colsᵀ`, `db = Σ dY'`, `dx = col2im(Wᵀ · dY')`.
/// With `groups` > 1 (depthwise when `groups == C`), input channels and filters split into
/// that many groups; group `k`'s filters see only its `C/groups` input channels, and each
/// group is one such product.
public final class Conv2D: Layer, InputGradientSkipping {
    public var name: String
    /// `[Cout, C, K, K]`.
    public let weight: Parameter
    /// `[Cout]`, or nil.
    public let bias: Parameter?
    /// Step between kernel positions.
    public let stride: Int
    /// Zero padding on each border.
    public let padding: Int
    /// Distance between neighbouring kernel taps (1: none).
    public let dilation: Int
    /// Channel groups (1: every filter sees every input channel).
    public let groups: Int
    public var computesInputGradient = true
    /// Forces an algorithm; nil chooses automatically (direct for stride-1 convolutions
    /// on small images with few input taps, im2col + GEMM otherwise).
    public var algorithm: ConvolutionAlgorithm?
    private var cachedInput = Tensor.zeros([0])  // [N, C, H, W], cached by a direct forward
    private var usedAlgorithm = ConvolutionAlgorithm.im2col  // of the last training forward
    private var columns = Tensor.zeros([0])      // [C·K·K, N·OH·OW], cached by forward
    private var groupColumns: [Tensor] = []      // one per group when groups > 1, cached by forward
    private var geometry: ConvolutionGeometry?

    /// Output channels.
    public var outChannels: Int { weight.value.shape[0] }
    /// Input channels (all groups').
    public var inChannels: Int { weight.value.shape[1] * groups }
    /// Kernel height and width.
    public var kernelSize: Int { weight.value.shape[2] }

    /// Creates a convolution with weights drawn by `initializer`.
    /// - Precondition: `groups` divides both channel counts.
    public convenience init(name: String, inChannels: Int, outChannels: Int, kernelSize: Int,
                            stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
                            initializer: Initializer = .default, rng: inout SeededGenerator) {
        precondition(kernelSize > 0, "bad convolution geometry")
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "\(groups) groups do not divide \(inChannels) input and \(outChannels) output channels")
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let weight = initializer.weight(shape: [outChannels, inChannels / groups, kernelSize, kernelSize], fanIn: fanIn, rng: &rng)
        self.init(name: name, weight: weight, bias: bias ? initializer.bias(count: outChannels, fanIn: fanIn, rng: &rng) : nil,
                  stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    /// Creates a convolution from an explicit weight `[Cout, C/groups, K, K]` and bias `[Cout]`.
    /// - Precondition: the kernel is square, `groups` divides `Cout`, and the geometry is valid.
    public init(name: String, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1) {
        precondition(weight.rank == 4 && weight.shape[2] == weight.shape[3], "Conv2D weight must be [Cout, C/groups, K, K], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[0]], "Conv2D bias must be [\(weight.shape[0])]")
        precondition(stride > 0 && padding >= 0 && dilation > 0 && groups > 0 && weight.shape[0] % groups == 0,
                     "bad convolution geometry")
        self.name = name
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.weight = Parameter(weight)
        self.bias = bias.map { Parameter($0) }
    }

    public var spec: LayerSpec {
        Self.spec(inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize, stride: stride,
                  padding: padding, dilation: dilation, groups: groups, bias: bias != nil)
    }

    /// The spec of a convolution of this geometry (shared with `SparseConv2D`). Dilation and
    /// groups are written only when not 1, so plain convolutions' specs stay as they were.
    static func spec(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int,
                     dilation: Int = 1, groups: Int = 1, bias: Bool) -> LayerSpec {
        var s = LayerSpec(kind: .conv2d)
        s.inChannels = inChannels; s.outChannels = outChannels; s.kernelSize = kernelSize
        s.stride = stride; s.padding = padding; s.bias = bias
        if dilation != 1 { s.dilation = dilation }
        if groups != 1 { s.groups = groups }
        return s
    }

    public var namedParameters: [(String, Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        try convolutionOutputShape(inputShapes, name: name, inChannels: inChannels, outChannels: outChannels,
                                   kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    public func multiplyAdds(for inputShapes: [[Int]], nonZeroOnly: Bool) -> Int {
        guard let out = try? outputShape(for: inputShapes) else { return 0 }
        let weights = nonZeroOnly ? weight.value.nonZeroCount() : weight.count
        return weights * out[1] * out[2]
    }

    private func makeGeometry(_ x: Tensor) -> ConvolutionGeometry {
        precondition(x.rank == 4 && x.shape[1] == inChannels, "\(name): input \(x.shape) does not fit [N, \(inChannels), H, W]")
        return ConvolutionGeometry(batch: x.shape[0], channels: inChannels / groups, height: x.shape[2], width: x.shape[3],
                                   kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding,
                                   dilation: dilation)
    }

    /// The algorithm used for geometry `g`: the forced one when it applies, else
    /// row-vectorized direct loops for few input taps on rows of up to 32 outputs,
    /// channel-vectorized loops for small images with at least 8 output channels, and
    /// im2col + GEMM otherwise (choices measured with `prune bench layers`).
    public func resolvedAlgorithm(for g: ConvolutionGeometry) -> ConvolutionAlgorithm {
        let rows = directConvolutionApplies(g) && directInputGradientApplies(g)
        let channels = channelVectorConvolutionApplies(g)
        switch algorithm {
        case .direct? where rows: return .direct
        case .directChannels? where channels: return .directChannels
        case .im2col?: return .im2col
        default: break
        }
        if rows && g.columnRows <= Self.directTapLimit { return .direct }
        if channels && outChannels >= 8 && g.outputHeight * g.outputWidth <= Self.channelVectorPlaneLimit { return .directChannels }
        return .im2col
    }

    /// Row-vectorized direct kernels win while `C·K·K` is small.
    static let directTapLimit = 64
    /// Channel-vectorized kernels win on small output planes.
    static let channelVectorPlaneLimit = 256

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = makeGeometry(x)
        if groups > 1 { return groupedForward(x, g, training: training) }
        let chosen = resolvedAlgorithm(for: g)
        if chosen != .im2col {
            if training { cachedInput = x; geometry = g; columns = Tensor.zeros([0]); usedAlgorithm = chosen }
            return chosen == .direct
                ? directConvolution(g, input: x, weight: weight.value, bias: bias?.value)
                : channelVectorConvolution(g, input: x, weight: weight.value, bias: bias?.value)
        }
        let cols = im2col(g, input: x)
        let product = matmul(weight.value.reshaped([outChannels, g.columnRows]), .none, cols, .none)  // [Cout, N·P]
        if training { columns = cols; geometry = g; cachedInput = Tensor.zeros([0]); usedAlgorithm = .im2col }
        return convolutionOutput(g, columnProduct: product, bias: bias?.value)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let g = geometry else { preconditionFailure("\(name): backward without a training forward") }
        let cout = outChannels
        precondition(dy.shape == [g.batch, cout, g.outputHeight, g.outputWidth], "\(name): gradient \(dy.shape) does not fit output")
        if groups > 1 { return groupedBackward(dy, g) }
        if usedAlgorithm == .direct { return directBackward(dy, g) }
        let dyT = convolutionOutputColumns(g, outputGradient: dy)   // dY' = [Cout, N·P]
        if usedAlgorithm == .directChannels {
            // No columns were built: the weight gradient comes from the channel kernel; the
            // input gradient below still uses Wᵀ·dY' and col2im (a transposed direct
            // convolution would cost twice the forward's multiply-adds).
            weight.gradient = channelVectorConvolutionWeightGradient(g, input: cachedInput, outputGradient: dy)
        } else {
            weight.gradient = matmul(dyT, .none, columns, .transposed).reshaped(weight.value.shape)
        }
        if let bias { bias.gradient = channelSums(dy) }
        guard computesInputGradient else { return Tensor.zeros([0]) }
        let dcols = matmul(weight.value.reshaped([cout, g.columnRows]), .transposed, dyT, .none)
        return col2im(g, columns: dcols)
    }

    /// Rows `k·Cout/groups ..< (k+1)·Cout/groups` of the weight as `[Cout/groups, (C/groups)·K·K]`.
    private func groupWeight(_ k: Int, _ g: ConvolutionGeometry) -> Tensor {
        let per = outChannels / groups
        return channels(weight.value.reshaped([1, outChannels, g.columnRows]), k * per..<(k + 1) * per)
            .reshaped([per, g.columnRows])
    }

    /// One im2col product per group; the outputs are concatenated along channels.
    private func groupedForward(_ x: Tensor, _ g: ConvolutionGeometry, training: Bool) -> Tensor {
        let (cin, cout) = (inChannels / groups, outChannels / groups)
        var outputs: [Tensor] = [], cached: [Tensor] = []
        for k in 0..<groups {
            let cols = im2col(g, input: channels(x, k * cin..<(k + 1) * cin))
            let product = matmul(groupWeight(k, g), .none, cols, .none)   // [Cout/groups, N·P]
            outputs.append(convolutionOutput(g, columnProduct: product, bias: bias.map { channels($0.value.reshaped([1, outChannels]), k * cout..<(k + 1) * cout).reshaped([cout]) }))
            if training { cached.append(cols) }
        }
        if training { groupColumns = cached; geometry = g; usedAlgorithm = .im2col }
        return concatenateChannels(outputs)
    }

    private func groupedBackward(_ dy: Tensor, _ g: ConvolutionGeometry) -> Tensor {
        precondition(groupColumns.count == groups, "\(name): backward without a training forward")
        let cout = outChannels / groups
        var weightGradients: [Tensor] = [], inputGradients: [Tensor] = []
        for k in 0..<groups {
            let dyT = convolutionOutputColumns(g, outputGradient: channels(dy, k * cout..<(k + 1) * cout))   // [Cout/groups, N·P]
            weightGradients.append(matmul(dyT, .none, groupColumns[k], .transposed).reshaped([1, cout, g.columnRows]))
            if computesInputGradient {
                inputGradients.append(col2im(g, columns: matmul(groupWeight(k, g), .transposed, dyT, .none)))
            }
        }
        weight.gradient = concatenateChannels(weightGradients).reshaped(weight.value.shape)
        if let bias { bias.gradient = channelSums(dy) }
        return computesInputGradient ? concatenateChannels(inputGradients) : Tensor.zeros([0])
    }

    private func directBackward(_ dy: Tensor, _ g: ConvolutionGeometry) -> Tensor {
        weight.gradient = directConvolutionWeightGradient(g, input: cachedInput, outputGradient: dy)
        if let bias { bias.gradient = channelSums(dy) }
        guard computesInputGradient else { return Tensor.zeros([0]) }
        return directConvolutionInputGradient(g, weight: weight.value, outputGradient: dy)
    }
}

/// How a convolution is computed.
public enum ConvolutionAlgorithm: String, Codable, CaseIterable, Sendable {
    /// Unfold the input (im2col) and multiply with BLAS.
    case im2col
    /// Stride-1 loops vectorized along output rows (TensorCore's direct kernels).
    case direct
    /// Stride-1 loops vectorized across output channels for the forward pass and the
    /// weight gradient (no im2col matrix); `Wᵀ·dY'` and col2im for the input gradient.
    case directChannels = "direct-channels"
}

/// `[Cout, OH, OW]` for an input `[C, H, W]`, or a `ModelError` naming the layer.
func convolutionOutputShape(_ inputShapes: [[Int]], name: String, inChannels: Int, outChannels: Int,
                            kernelSize: Int, stride: Int, padding: Int, dilation: Int = 1) throws -> [Int] {
    let s = try requireRank(inputShapes, 3, name, "a [C, H, W] image")
    guard s[0] == inChannels else {
        throw ModelError.inputChannels(layer: name, expected: inChannels, shape: s)
    }
    let extent = dilation * (kernelSize - 1) + 1
    let oh = (s[1] + 2 * padding - extent) / stride + 1
    let ow = (s[2] + 2 * padding - extent) / stride + 1
    guard s[1] + 2 * padding >= extent, s[2] + 2 * padding >= extent, oh > 0, ow > 0 else { throw ModelError.kernelTooLarge(layer: name, kernel: kernelSize, shape: s) }
    return [outChannels, oh, ow]
}
