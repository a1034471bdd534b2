/// Tensor-level entry points of the convolution kernels (direct, channel-vectorized,
/// im2col), which check shapes once and call the pointer kernels, and the naive twins the
/// tests compare them with.
///
/// Shapes: input `[N, C, H, W]`, weight `[Cout, C, KH, KW]`, bias `[Cout]`, output and its
/// gradient `[N, Cout, OH, OW]`, as described by a `ConvolutionGeometry`.

extension ConvolutionGeometry {
    /// The input shape `[N, C, H, W]`.
    public var inputShape: [Int] { [batch, channels, height, width] }

    /// The output shape `[N, Cout, OH, OW]` for `outputChannels` filters.
    public func outputShape(outputChannels cout: Int) -> [Int] { [batch, cout, outputHeight, outputWidth] }

    /// The weight shape `[Cout, C, KH, KW]` for `outputChannels` filters.
    public func weightShape(outputChannels cout: Int) -> [Int] { [cout, channels, kernelHeight, kernelWidth] }

    /// Checks the operands of a convolution kernel named `kernel` (each may be absent) and
    /// returns the number of filters, read from the weight or else from the output gradient.
    func checkOperands(_ kernel: String, input: Tensor? = nil, weight: Tensor? = nil, bias: Tensor? = nil,
                       outputGradient dy: Tensor? = nil) -> Int {
        let cout = weight?.shape.first ?? (dy.map { $0.rank == 4 ? $0.shape[1] : -1 } ?? 0)
        if let input {
            precondition(input.shape == inputShape, "\(kernel): input \(input.shape) does not fit \(inputShape) of \(self)")
        }
        if let weight {
            precondition(weight.shape == weightShape(outputChannels: cout), "\(kernel): weight \(weight.shape) does not fit \(self)")
        }
        if let bias { precondition(bias.shape == [cout], "\(kernel): bias \(bias.shape) is not [\(cout)]") }
        if let dy {
            precondition(dy.shape == outputShape(outputChannels: cout),
                         "\(kernel): output gradient \(dy.shape) does not fit \(outputShape(outputChannels: cout))")
        }
        return cout
    }
}

/// Calls `body` with the bias pointer, or nil without a bias.
private func withBias<R>(_ bias: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let bias else { return body(nil) }
    return bias.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A forward kernel's pointer form: geometry, input, weight, bias, filters, output.
private typealias ForwardKernel = (ConvolutionGeometry, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>?,
                                   Int, UnsafeMutablePointer<Float>) -> Void
/// A weight-gradient kernel's pointer form: geometry, input, output gradient, filters, weight gradient.
private typealias WeightGradientKernel = (ConvolutionGeometry, UnsafePointer<Float>, UnsafePointer<Float>, Int,
                                          UnsafeMutablePointer<Float>) -> Void

/// Checks the operands of forward kernel `name` and runs it into a new output tensor.
private func forward(_ name: String, _ kernel: ForwardKernel, _ g: ConvolutionGeometry, _ input: Tensor, _ weight: Tensor,
                     _ bias: Tensor?) -> Tensor {
    let cout = g.checkOperands(name, input: input, weight: weight, bias: bias)
    return Tensor(shape: g.outputShape(outputChannels: cout)) { y in
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                withBias(bias) { kernel(g, x.baseAddress!, w.baseAddress!, $0, cout, y.baseAddress!) }
            }
        }
    }
}

/// Checks the operands of weight-gradient kernel `name` and runs it into a new `[Cout, C, K, K]` tensor.
private func weightGradient(_ name: String, _ kernel: WeightGradientKernel, _ g: ConvolutionGeometry, _ input: Tensor,
                            _ dy: Tensor) -> Tensor {
    let cout = g.checkOperands(name, input: input, outputGradient: dy)
    return Tensor(shape: g.weightShape(outputChannels: cout)) { dw in
        input.withUnsafeBufferPointer { x in
            dy.withUnsafeBufferPointer { d in kernel(g, x.baseAddress!, d.baseAddress!, cout, dw.baseAddress!) }
        }
    }
}

/// `conv(input, weight) + bias` for a stride-1 convolution, vectorized along output rows
/// (few input taps, rows of at most 32 outputs).
/// - Precondition: `directConvolutionApplies(g)`; operands shaped as the geometry says.
/// - Complexity: O(N·Cout·OH·C·K²·⌈OW/8⌉) vector multiply-adds.
public func directConvolution(_ g: ConvolutionGeometry, input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    forward("directConvolution", directConvolution, g, input, weight, bias)
}

/// The weight gradient `[Cout, C, K, K]` of a stride-1 convolution, by the row-vectorized kernel.
/// - Precondition: `directConvolutionApplies(g)`; `outputGradient` is `[N, Cout, OH, OW]`.
/// - Complexity: O(N·Cout·C·K²·OH·⌈OW/8⌉) vector multiply-adds.
public func directConvolutionWeightGradient(_ g: ConvolutionGeometry, input: Tensor, outputGradient dy: Tensor) -> Tensor {
    weightGradient("directConvolutionWeightGradient", directConvolutionWeightGradient, g, input, dy)
}

/// The input gradient `[N, C, H, W]` of a stride-1 convolution, as a direct convolution of
/// the output gradient with the flipped kernel.
/// - Precondition: `directInputGradientApplies(g)`; operands shaped as the geometry says.
/// - Complexity: O(N·C·H·Cout·K²·⌈W/8⌉) vector multiply-adds.
public func directConvolutionInputGradient(_ g: ConvolutionGeometry, weight: Tensor, outputGradient dy: Tensor) -> Tensor {
    let cout = g.checkOperands("directConvolutionInputGradient", weight: weight, outputGradient: dy)
    return Tensor(shape: g.inputShape) { dx in
        weight.withUnsafeBufferPointer { w in
            dy.withUnsafeBufferPointer { d in
                directConvolutionInputGradient(g, weight: w.baseAddress!, outputGradient: d.baseAddress!,
                                               outputChannels: cout, inputGradient: dx.baseAddress!)
            }
        }
    }
}

/// `conv(input, weight) + bias` for a stride-1 convolution, vectorized across output channels
/// (small images with many filters).
/// - Precondition: `channelVectorConvolutionApplies(g)`; operands shaped as the geometry says.
/// - Complexity: O(N·OH·OW·C·K²·⌈Cout/8⌉) vector multiply-adds.
public func channelVectorConvolution(_ g: ConvolutionGeometry, input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    forward("channelVectorConvolution", channelVectorConvolution, g, input, weight, bias)
}

/// The weight gradient `[Cout, C, K, K]` of a stride-1 convolution, vectorized across output
/// channels (no im2col matrix).
/// - Precondition: `channelVectorConvolutionApplies(g)`; `outputGradient` is `[N, Cout, OH, OW]`.
/// - Complexity: O(N·OH·OW·C·K²·⌈Cout/8⌉) vector multiply-adds.
public func channelVectorConvolutionWeightGradient(_ g: ConvolutionGeometry, input: Tensor, outputGradient dy: Tensor) -> Tensor {
    weightGradient("channelVectorConvolutionWeightGradient", channelVectorConvolutionWeightGradient, g, input, dy)
}

// MARK: - Naive twins

/// Calls `body(inputIndex, weightIndex, outputIndex)` for every multiply-add of a convolution
/// of geometry `g` with `cout` filters (any stride and padding), straight from the definition
/// `y[n, co, y, x] += w[co, c, kh, kw] · x[n, c, y·s − p + kh, x·s − p + kw]`.
private func forEachTap(_ g: ConvolutionGeometry, outputChannels cout: Int, _ body: (Int, Int, Int) -> Void) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    for n in 0..<g.batch { for co in 0..<cout { for c in 0..<g.channels {
        for kh in 0..<g.kernelHeight { for kw in 0..<g.kernelWidth { for y in 0..<oh { for x in 0..<ow {
            let iy = y * g.stride - g.padding + kh, ix = x * g.stride - g.padding + kw
            guard iy >= 0 && iy < g.height && ix >= 0 && ix < g.width else { continue }
            body(((n * g.channels + c) * g.height + iy) * g.width + ix,
                 ((co * g.channels + c) * g.kernelHeight + kh) * g.kernelWidth + kw,
                 ((n * cout + co) * oh + y) * ow + x)
        } } } }
    } } }
}

/// The naive twin of the convolution kernels, in Double, for tests: `conv(input, weight) + bias`.
package func naiveConvolution(_ g: ConvolutionGeometry, input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    let cout = g.checkOperands("naiveConvolution", input: input, weight: weight, bias: bias)
    let plane = g.outputHeight * g.outputWidth
    var sums = (0..<g.batch * cout * plane).map { Double(bias?.scalars[$0 / plane % cout] ?? 0) }
    forEachTap(g, outputChannels: cout) { i, w, o in sums[o] += Double(input.scalars[i]) * Double(weight.scalars[w]) }
    return Tensor(shape: g.outputShape(outputChannels: cout), scalars: sums.map { Float($0) })
}

/// The naive twin of the weight-gradient kernels, in Double: `dW = Σ dy · x`.
package func naiveConvolutionWeightGradient(_ g: ConvolutionGeometry, input: Tensor, outputGradient dy: Tensor) -> Tensor {
    let cout = g.checkOperands("naiveConvolutionWeightGradient", input: input, outputGradient: dy)
    var sums = [Double](repeating: 0, count: g.weightShape(outputChannels: cout).product)
    forEachTap(g, outputChannels: cout) { i, w, o in sums[w] += Double(input.scalars[i]) * Double(dy.scalars[o]) }
    return Tensor(shape: g.weightShape(outputChannels: cout), scalars: sums.map { Float($0) })
}

/// The naive twin of the input-gradient kernels, in Double: `dx = Σ w · dy`.
package func naiveConvolutionInputGradient(_ g: ConvolutionGeometry, weight: Tensor, outputGradient dy: Tensor) -> Tensor {
    let cout = g.checkOperands("naiveConvolutionInputGradient", weight: weight, outputGradient: dy)
    var sums = [Double](repeating: 0, count: g.inputShape.product)
    forEachTap(g, outputChannels: cout) { i, w, o in sums[i] += Double(weight.scalars[w]) * Double(dy.scalars[o]) }
    return Tensor(shape: g.inputShape, scalars: sums.map { Float($0) })
}
