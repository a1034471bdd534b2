/// Direct (no im2col) stride-1 convolution kernels for small images, vectorized along
/// output rows with `SIMD8<Float>`.
///
/// For a convolution with few input channels (LeNet's first layer has one), im2col
/// writes `K²` copies of the input and feeds BLAS a GEMM with a tiny dimension; the
/// direct loops below keep a row of outputs in registers instead. Rows are padded to a
/// multiple of 8 lanes; the padding lanes compute values that are never stored.
///
/// Shapes: input `[N, C, H, W]`, weight `[Cout, C, K, K]`, output `[N, Cout, OH, OW]`
/// with `OH = H + 2p − K + 1`. Padded scratch images are `[C, H + 2p, paddedWidth]`.

typealias Lanes = SIMD8<Float>

/// Scratch geometry shared by the three kernels.
struct DirectLayout {
    let g: ConvolutionGeometry
    let outputHeight: Int, outputWidth: Int
    /// Vectors per output row.
    let vectors: Int
    /// Padded input height and width (width covers the last vector's reads).
    let paddedHeight: Int, paddedWidth: Int

    init(_ g: ConvolutionGeometry) {
        precondition(directConvolutionApplies(g), "direct convolution needs stride 1, a square kernel and rows of at most 32 outputs: \(g)")
        self.g = g
        outputHeight = g.outputHeight
        outputWidth = g.outputWidth
        vectors = (outputWidth + 7) / 8
        paddedHeight = g.height + 2 * g.padding
        paddedWidth = vectors * 8 + g.kernelWidth - 1
    }

    var paddedImageSize: Int { g.channels * paddedHeight * paddedWidth }

    /// Copies image `n` into `padded` with zero borders.
    func pad(_ input: UnsafePointer<Float>, image n: Int, into padded: UnsafeMutablePointer<Float>) {
        padImage(g, input, image: n, into: padded, paddedHeight: paddedHeight, paddedWidth: paddedWidth)
    }
}

/// Copies image `n` of `input` (`[N, C, H, W]`) into `padded` (`[C, paddedHeight,
/// paddedWidth]`) with `g.padding` zeros above and left, and zeros everywhere else.
func padImage(_ g: ConvolutionGeometry, _ input: UnsafePointer<Float>, image n: Int, into padded: UnsafeMutablePointer<Float>,
              paddedHeight: Int, paddedWidth: Int) {
    padded.update(repeating: 0, count: g.channels * paddedHeight * paddedWidth)
    let plane = g.height * g.width
    for c in 0..<g.channels {
        let src = input + (n * g.channels + c) * plane
        for y in 0..<g.height {
            let dst = padded + (c * paddedHeight + y + g.padding) * paddedWidth + g.padding
            let s = src + y * g.width
            for x in 0..<g.width { dst[x] = s[x] }
        }
    }
}

@inline(__always)
func load(_ p: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}

@inline(__always)
func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
}

/// Whether the direct kernels apply: stride 1, square kernel, rows of at most 32 outputs.
public func directConvolutionApplies(_ g: ConvolutionGeometry) -> Bool {
    g.stride == 1 && g.dilation == 1 && g.kernelHeight == g.kernelWidth && g.outputWidth <= 32 && g.outputWidth >= 1 && g.outputHeight >= 1
}

/// `output = conv(input, weight) + bias` for a stride-1 convolution.
/// - Complexity: O(N·Cout·OH·C·K²·⌈OW/8⌉) vector multiply-adds.
func directConvolution(_ g: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, outputChannels cout: Int,
                              output: UnsafeMutablePointer<Float>) {
    let l = DirectLayout(g)
    let k = g.kernelWidth, ow = l.outputWidth, oh = l.outputHeight
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: l.paddedImageSize)
    defer { padded.deallocate() }
    var row = [Float](repeating: 0, count: l.vectors * 8)
    row.withUnsafeMutableBufferPointer { rowBuffer in
        let tmp = rowBuffer.baseAddress!
        for n in 0..<g.batch {
            l.pad(input, image: n, into: padded)
            for co in 0..<cout {
                let b = bias?[co] ?? 0
                let wco = weight + co * g.channels * k * k
                let out = output + (n * cout + co) * oh * ow
                for y in 0..<oh {
                    var a0 = Lanes(repeating: b), a1 = a0, a2 = a0, a3 = a0
                    for c in 0..<g.channels {
                        for kh in 0..<k {
                            let src = padded + (c * l.paddedHeight + y + kh) * l.paddedWidth
                            let wrow = wco + (c * k + kh) * k
                            for kw in 0..<k {
                                let w = Lanes(repeating: wrow[kw])
                                let s = src + kw
                                a0.addProduct(w, load(s))
                                if l.vectors > 1 { a1.addProduct(w, load(s + 8)) }
                                if l.vectors > 2 { a2.addProduct(w, load(s + 16)) }
                                if l.vectors > 3 { a3.addProduct(w, load(s + 24)) }
                            }
                        }
                    }
                    store(a0, tmp)
                    if l.vectors > 1 { store(a1, tmp + 8) }
                    if l.vectors > 2 { store(a2, tmp + 16) }
                    if l.vectors > 3 { store(a3, tmp + 24) }
                    let o = out + y * ow
                    for x in 0..<ow { o[x] = tmp[x] }
                }
            }
        }
    }
}

/// The weight gradient of a stride-1 convolution: `dW[co, c, kh, kw] = Σ dy · x` over
/// images and output positions. `weightGradient` (`[Cout, C, K, K]`) is overwritten.
/// - Complexity: O(N·Cout·C·K²·OH·⌈OW/8⌉) vector multiply-adds.
func directConvolutionWeightGradient(_ g: ConvolutionGeometry, input: UnsafePointer<Float>,
                                            outputGradient dy: UnsafePointer<Float>, outputChannels cout: Int,
                                            weightGradient dw: UnsafeMutablePointer<Float>) {
    let l = DirectLayout(g)
    let k = g.kernelWidth, ow = l.outputWidth, oh = l.outputHeight
    let rowWidth = l.vectors * 8
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: l.paddedImageSize)
    let dyPadded = UnsafeMutablePointer<Float>.allocate(capacity: cout * oh * rowWidth)
    defer { padded.deallocate(); dyPadded.deallocate() }
    dyPadded.update(repeating: 0, count: cout * oh * rowWidth)
    dw.update(repeating: 0, count: cout * g.channels * k * k)
    for n in 0..<g.batch {
        l.pad(input, image: n, into: padded)
        // dy rows padded with zeros to whole vectors, so extra lanes add nothing.
        for co in 0..<cout {
            for y in 0..<oh {
                let s = dy + ((n * cout + co) * oh + y) * ow
                let d = dyPadded + (co * oh + y) * rowWidth
                for x in 0..<ow { d[x] = s[x] }
            }
        }
        var pairedChannels = 0
        if k <= 5 {
            // Two output channels at a time share every input load: 10 accumulators,
            // two dy vectors and one input vector stay in the 16 AVX registers.
            pairedChannels = cout / 2 * 2
            for co in stride(from: 0, to: pairedChannels, by: 2) {
                for c in 0..<g.channels {
                    for kh in 0..<k {
                        var p0 = Lanes(repeating: 0), p1 = p0, p2 = p0, p3 = p0, p4 = p0
                        var q0 = p0, q1 = p0, q2 = p0, q3 = p0, q4 = p0
                        for y in 0..<oh {
                            let d = dyPadded + (co * oh + y) * rowWidth
                            let e = d + oh * rowWidth
                            let s = padded + (c * l.paddedHeight + y + kh) * l.paddedWidth
                            for v in 0..<l.vectors {
                                let dv = load(d + 8 * v), ev = load(e + 8 * v)
                                let x = s + 8 * v
                                let x0 = load(x); p0.addProduct(dv, x0); q0.addProduct(ev, x0)
                                if k > 1 { let x1 = load(x + 1); p1.addProduct(dv, x1); q1.addProduct(ev, x1) }
                                if k > 2 { let x2 = load(x + 2); p2.addProduct(dv, x2); q2.addProduct(ev, x2) }
                                if k > 3 { let x3 = load(x + 3); p3.addProduct(dv, x3); q3.addProduct(ev, x3) }
                                if k > 4 { let x4 = load(x + 4); p4.addProduct(dv, x4); q4.addProduct(ev, x4) }
                            }
                        }
                        let out0 = dw + ((co * g.channels + c) * k + kh) * k
                        let out1 = out0 + g.channels * k * k
                        let ps = [p0, p1, p2, p3, p4], qs = [q0, q1, q2, q3, q4]
                        for kw in 0..<k { out0[kw] += ps[kw].sum(); out1[kw] += qs[kw].sum() }
                    }
                }
            }
        }
        for co in pairedChannels..<cout {
            for c in 0..<g.channels {
                for kh in 0..<k {
                    if k <= 8 {
                        // One accumulator per kernel column; the dy row is loaded once per row.
                        var a0 = Lanes(repeating: 0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
                        for y in 0..<oh {
                            let d = dyPadded + (co * oh + y) * rowWidth
                            let s = padded + (c * l.paddedHeight + y + kh) * l.paddedWidth
                            let d0 = load(d), d1 = l.vectors > 1 ? load(d + 8) : .zero
                            let d2 = l.vectors > 2 ? load(d + 16) : .zero, d3 = l.vectors > 3 ? load(d + 24) : .zero
                            @inline(__always) func dot(_ p: UnsafePointer<Float>) -> Lanes {
                                var v = d0 * load(p)
                                if l.vectors > 1 { v.addProduct(d1, load(p + 8)) }
                                if l.vectors > 2 { v.addProduct(d2, load(p + 16)) }
                                if l.vectors > 3 { v.addProduct(d3, load(p + 24)) }
                                return v
                            }
                            a0 += dot(s)
                            if k > 1 { a1 += dot(s + 1) }
                            if k > 2 { a2 += dot(s + 2) }
                            if k > 3 { a3 += dot(s + 3) }
                            if k > 4 { a4 += dot(s + 4) }
                            if k > 5 { a5 += dot(s + 5) }
                            if k > 6 { a6 += dot(s + 6) }
                            if k > 7 { a7 += dot(s + 7) }
                        }
                        let out = dw + ((co * g.channels + c) * k + kh) * k
                        out[0] += a0.sum()
                        if k > 1 { out[1] += a1.sum() }
                        if k > 2 { out[2] += a2.sum() }
                        if k > 3 { out[3] += a3.sum() }
                        if k > 4 { out[4] += a4.sum() }
                        if k > 5 { out[5] += a5.sum() }
                        if k > 6 { out[6] += a6.sum() }
                        if k > 7 { out[7] += a7.sum() }
                        continue
                    }
                    for kw in 0..<k {
                        var acc = Lanes(repeating: 0)
                        for y in 0..<oh {
                            let d = dyPadded + (co * oh + y) * rowWidth
                            let s = padded + (c * l.paddedHeight + y + kh) * l.paddedWidth + kw
                            for v in 0..<l.vectors { acc.addProduct(load(d + 8 * v), load(s + 8 * v)) }
                        }
                        dw[((co * g.channels + c) * k + kh) * k + kw] += acc.sum()
                    }
                }
            }
        }
    }
}

/// The input gradient of a stride-1 convolution: `dx[c, y, x] = Σ w[co, c, kh, kw] ·
/// dy[co, y − kh + p, x − kw + p]`, computed as the forward kernel applied to `dy` with
/// the kernel flipped and its channel axes swapped, and padding `K − 1 − p`.
/// `inputGradient` (`[N, C, H, W]`) is overwritten.
/// - Precondition: `padding <= K − 1` and `W <= 32` (`directInputGradientApplies`).
/// - Complexity: O(N·C·H·Cout·K²·⌈W/8⌉) vector multiply-adds.
func directConvolutionInputGradient(_ g: ConvolutionGeometry, weight: UnsafePointer<Float>,
                                           outputGradient dy: UnsafePointer<Float>, outputChannels cout: Int,
                                           inputGradient dx: UnsafeMutablePointer<Float>) {
    precondition(directInputGradientApplies(g), "direct input gradient needs stride 1, padding ≤ K − 1 and width ≤ 32")
    let k = g.kernelWidth
    let flipped = UnsafeMutablePointer<Float>.allocate(capacity: cout * g.channels * k * k)
    defer { flipped.deallocate() }
    flipKernel(weight, outputChannels: cout, inputChannels: g.channels, kernel: k, into: flipped)
    let transposed = ConvolutionGeometry(batch: g.batch, channels: cout, height: g.outputHeight, width: g.outputWidth,
                                         kernelHeight: k, kernelWidth: k, stride: 1, padding: k - 1 - g.padding)
    directConvolution(transposed, input: dy, weight: flipped, bias: nil, outputChannels: g.channels, output: dx)
}

/// Whether `directConvolutionInputGradient` applies: stride 1, a square kernel,
/// padding at most `K − 1`, input rows of at most 32.
public func directInputGradientApplies(_ g: ConvolutionGeometry) -> Bool {
    g.stride == 1 && g.dilation == 1 && g.kernelHeight == g.kernelWidth && g.padding <= g.kernelWidth - 1 && g.width <= 32
}

/// `w'[c, co, kh, kw] = w[co, c, K−1−kh, K−1−kw]`: the kernel of the transposed convolution.
func flipKernel(_ weight: UnsafePointer<Float>, outputChannels cout: Int, inputChannels cin: Int, kernel k: Int,
                into flipped: UnsafeMutablePointer<Float>) {
    for co in 0..<cout {
        for c in 0..<cin {
            for kh in 0..<k {
                for kw in 0..<k {
                    flipped[((c * cout + co) * k + kh) * k + kw] = weight[((co * cin + c) * k + (k - 1 - kh)) * k + (k - 1 - kw)]
                }
            }
        }
    }
}
