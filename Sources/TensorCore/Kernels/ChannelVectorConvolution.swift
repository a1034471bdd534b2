/// Stride-1 convolution kernels vectorized across output channels (`SIMD8<Float>` lanes
/// hold 8 channels of one output position); see `channelVectorConvolution`. Shapes as in
/// DirectConvolution.swift.

/// Sizes shared by the channel-vectorized kernels.
struct ChannelLayout {
    let k: Int, outputHeight: Int, outputWidth: Int
    /// `C·K·K` kernel taps.
    let taps: Int
    /// Vectors of 8 output channels, and their total width (`Cout` rounded up to 8).
    let vectors: Int, width: Int
    /// The padded image size (no extra columns: loads are scalar).
    let paddedHeight: Int, paddedWidth: Int

    init(_ g: ConvolutionGeometry, outputChannels cout: Int) {
        precondition(channelVectorConvolutionApplies(g), "channel-vectorized convolution needs stride 1 and a square kernel: \(g)")
        k = g.kernelWidth
        outputHeight = g.outputHeight
        outputWidth = g.outputWidth
        taps = g.channels * k * k
        vectors = (cout + 7) / 8
        width = vectors * 8
        paddedHeight = g.height + 2 * g.padding
        paddedWidth = g.width + 2 * g.padding
    }

    /// The offset of each tap `(c, kh, kw)` in a padded image, relative to the output position.
    func tapOffsets(channels: Int) -> [Int] {
        var offsets: [Int] = []
        offsets.reserveCapacity(taps)
        for c in 0..<channels { for kh in 0..<k { for kw in 0..<k { offsets.append((c * paddedHeight + kh) * paddedWidth + kw) } } }
        return offsets
    }
}

/// Whether `channelVectorConvolution` applies: stride 1 and a square kernel.
public func channelVectorConvolutionApplies(_ g: ConvolutionGeometry) -> Bool {
    g.stride == 1 && g.dilation == 1 && g.kernelHeight == g.kernelWidth && g.outputWidth >= 1 && g.outputHeight >= 1
}

/// `output = conv(input, weight) + bias` for a stride-1 convolution, vectorized across
/// output channels: each register holds 8 channels of one output position, four
/// positions at a time, so small images (LeNet's 10×10 second layer) use every lane.
///
/// Weights are repacked to `[C·K·K, ⌈Cout/8⌉·8]` once per call.
/// - Complexity: O(N·OH·OW·C·K²·⌈Cout/8⌉) vector multiply-adds.
func channelVectorConvolution(_ g: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>?, outputChannels cout: Int,
                                     output: UnsafeMutablePointer<Float>) {
    let l = ChannelLayout(g, outputChannels: cout)
    let (oh, ow, taps, vectors, width, hp, wp) = (l.outputHeight, l.outputWidth, l.taps, l.vectors, l.width, l.paddedHeight, l.paddedWidth)
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: taps * width)
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: g.channels * hp * wp)
    let biasLanes = UnsafeMutablePointer<Float>.allocate(capacity: width)
    defer { packed.deallocate(); padded.deallocate(); biasLanes.deallocate() }
    packed.initialize(repeating: 0, count: taps * width)
    for co in 0..<cout { for t in 0..<taps { packed[t * width + co] = weight[co * taps + t] } }
    biasLanes.initialize(repeating: 0, count: width)
    if let bias { for co in 0..<cout { biasLanes[co] = bias[co] } }
    let offsets = l.tapOffsets(channels: g.channels)
    let plane = oh * ow
    for n in 0..<g.batch {
        padImage(g, input, image: n, into: padded, paddedHeight: hp, paddedWidth: wp)
        let out = output + n * cout * plane
        for block in stride(from: 0, to: vectors, by: 2) {
            let two = block + 1 < vectors
            let b0 = load(biasLanes + block * 8), b1 = two ? load(biasLanes + block * 8 + 8) : .zero
            for y in 0..<oh {
                var x = 0
                while x < ow {
                    let count = min(4, ow - x)
                    let origin = padded + y * wp + x
                    var a0 = b0, a1 = b0, a2 = b0, a3 = b0
                    var c0 = b1, c1 = b1, c2 = b1, c3 = b1
                    for t in 0..<taps {
                        let p = origin + offsets[t]
                        let w0 = load(packed + t * width + block * 8)
                        a0.addProduct(w0, Lanes(repeating: p[0]))
                        if count > 1 { a1.addProduct(w0, Lanes(repeating: p[1])) }
                        if count > 2 { a2.addProduct(w0, Lanes(repeating: p[2])) }
                        if count > 3 { a3.addProduct(w0, Lanes(repeating: p[3])) }
                        if two {
                            let w1 = load(packed + t * width + block * 8 + 8)
                            c0.addProduct(w1, Lanes(repeating: p[0]))
                            if count > 1 { c1.addProduct(w1, Lanes(repeating: p[1])) }
                            if count > 2 { c2.addProduct(w1, Lanes(repeating: p[2])) }
                            if count > 3 { c3.addProduct(w1, Lanes(repeating: p[3])) }
                        }
                    }
                    let position = y * ow + x
                    @inline(__always) func scatter(_ v: Lanes, _ firstChannel: Int, _ j: Int) {
                        for l in 0..<min(8, cout - firstChannel) { out[(firstChannel + l) * plane + position + j] = v[l] }
                    }
                    let first = block * 8
                    scatter(a0, first, 0)
                    if count > 1 { scatter(a1, first, 1) }
                    if count > 2 { scatter(a2, first, 2) }
                    if count > 3 { scatter(a3, first, 3) }
                    if two {
                        scatter(c0, first + 8, 0)
                        if count > 1 { scatter(c1, first + 8, 1) }
                        if count > 2 { scatter(c2, first + 8, 2) }
                        if count > 3 { scatter(c3, first + 8, 3) }
                    }
                    x += count
                }
            }
        }
    }
}

/// The weight gradient of a stride-1 convolution, vectorized across output channels:
/// `dW[co, c, kh, kw] = Σ dy[n, co, y, x] · x[n, c, y + kh − p, x + kw − p]`, with four
/// taps × 16 channels held in registers while the loop runs over every output position.
/// No im2col matrix is built. `weightGradient` (`[Cout, C, K, K]`) is overwritten.
/// - Complexity: O(N·OH·OW·C·K²·⌈Cout/8⌉) vector multiply-adds.
func channelVectorConvolutionWeightGradient(_ g: ConvolutionGeometry, input: UnsafePointer<Float>,
                                                   outputGradient dy: UnsafePointer<Float>, outputChannels cout: Int,
                                                   weightGradient dw: UnsafeMutablePointer<Float>) {
    let l = ChannelLayout(g, outputChannels: cout)
    let (oh, ow, taps, vectors, width, hp, wp) = (l.outputHeight, l.outputWidth, l.taps, l.vectors, l.width, l.paddedHeight, l.paddedWidth)
    let plane = oh * ow
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: taps * width)      // [taps, width]
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: g.channels * hp * wp)
    let dyT = UnsafeMutablePointer<Float>.allocate(capacity: plane * width)       // [positions, width]
    defer { sums.deallocate(); padded.deallocate(); dyT.deallocate() }
    sums.initialize(repeating: 0, count: taps * width)
    dyT.initialize(repeating: 0, count: plane * width)
    let offsets = l.tapOffsets(channels: g.channels)
    for n in 0..<g.batch {
        padImage(g, input, image: n, into: padded, paddedHeight: hp, paddedWidth: wp)
        let image = dy + n * cout * plane
        for co in 0..<cout { for p in 0..<plane { dyT[p * width + co] = image[co * plane + p] } }
        for block in stride(from: 0, to: vectors, by: 2) {
            let two = block + 1 < vectors
            for t0 in stride(from: 0, to: taps, by: 4) {
                let count = min(4, taps - t0)
                let o0 = offsets[t0], o1 = count > 1 ? offsets[t0 + 1] : 0
                let o2 = count > 2 ? offsets[t0 + 2] : 0, o3 = count > 3 ? offsets[t0 + 3] : 0
                var a0 = Lanes(repeating: 0), a1 = a0, a2 = a0, a3 = a0
                var c0 = a0, c1 = a0, c2 = a0, c3 = a0
                for y in 0..<oh {
                    for x in 0..<ow {
                        let d = dyT + (y * ow + x) * width + block * 8
                        let origin = padded + y * wp + x
                        let d0 = load(d)
                        let v0 = Lanes(repeating: origin[o0])
                        a0.addProduct(d0, v0)
                        let v1 = Lanes(repeating: origin[o1]), v2 = Lanes(repeating: origin[o2]), v3 = Lanes(repeating: origin[o3])
                        if count > 1 { a1.addProduct(d0, v1) }
                        if count > 2 { a2.addProduct(d0, v2) }
                        if count > 3 { a3.addProduct(d0, v3) }
                        if two {
                            let d1 = load(d + 8)
                            c0.addProduct(d1, v0)
                            if count > 1 { c1.addProduct(d1, v1) }
                            if count > 2 { c2.addProduct(d1, v2) }
                            if count > 3 { c3.addProduct(d1, v3) }
                        }
                    }
                }
                @inline(__always) func add(_ v: Lanes, _ tap: Int, _ lane: Int) {
                    let p = sums + tap * width + lane
                    store(load(p) + v, p)
                }
                let lane = block * 8
                add(a0, t0, lane)
                if count > 1 { add(a1, t0 + 1, lane) }
                if count > 2 { add(a2, t0 + 2, lane) }
                if count > 3 { add(a3, t0 + 3, lane) }
                if two {
                    add(c0, t0, lane + 8)
                    if count > 1 { add(c1, t0 + 1, lane + 8) }
                    if count > 2 { add(c2, t0 + 2, lane + 8) }
                    if count > 3 { add(c3, t0 + 3, lane + 8) }
                }
            }
        }
    }
    for co in 0..<cout { for t in 0..<taps { dw[co * taps + t] = sums[t * width + co] } }
}
