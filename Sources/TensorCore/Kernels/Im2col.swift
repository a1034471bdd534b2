/// im2col / col2im for 2-D convolution over a whole batch.
///
/// Geometry of a convolution: input `[N, C, H, W]`, kernel `KH×KW`, stride `s`,
/// zero padding `p`, dilation `d` (taps `d` pixels apart). Output size
/// `OH = (H + 2p − d·(KH − 1) − 1)/s + 1`, likewise `OW`.
/// The column matrix is `[C·KH·KW, N·OH·OW]`: row `(c, kh, kw)` holds, for every output
/// position of every image, the input pixel that kernel tap sees (0 in the padding).
/// A convolution is then one GEMM: `[Cout, C·KH·KW] · cols`.
public struct ConvolutionGeometry: Equatable, Sendable, Codable {
    /// Images N, input channels C, input height H and width W.
    public var batch: Int, channels: Int, height: Int, width: Int
    /// Kernel height and width, step between kernel positions, zero padding on each border.
    public var kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int
    /// Distance between neighbouring kernel taps (1: a plain convolution).
    public var dilation: Int

    /// Creates a geometry; sizes are checked by `outputHeight`/`outputWidth` users.
    public init(batch: Int, channels: Int, height: Int, width: Int,
                kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.stride = stride; self.padding = padding; self.dilation = dilation
    }

    /// Output height `(H + 2p − d·(KH − 1) − 1)/s + 1`.
    public var outputHeight: Int { (height + 2 * padding - dilation * (kernelHeight - 1) - 1) / stride + 1 }
    /// Output width `(W + 2p − d·(KW − 1) − 1)/s + 1`.
    public var outputWidth: Int { (width + 2 * padding - dilation * (kernelWidth - 1) - 1) / stride + 1 }
    /// Rows of the column matrix: `C·KH·KW`.
    public var columnRows: Int { channels * kernelHeight * kernelWidth }
    /// Columns of the column matrix: `N·OH·OW`.
    public var columnCount: Int { batch * outputHeight * outputWidth }

    /// For kernel column `kw`: the input-column offset `kw·dilation − padding`, and the range
    /// `lo..<hi` of output columns `x` whose input column `x·stride + offset` lies inside
    /// the image (the others read padding).
    func insideColumns(kernelColumn kw: Int) -> (offset: Int, lo: Int, hi: Int) {
        let ow = outputWidth
        let off = kw * dilation - padding
        let lo = Swift.min(ow, Swift.max(0, (-off + stride - 1) / stride))
        let hi = off > width - 1 ? lo : Swift.max(lo, Swift.min(ow, (width - 1 - off) / stride + 1))
        return (off, lo, hi)
    }
}

/// Unfolds `input` (`[N, C, H, W]`) into the column matrix `[C·KH·KW, N·OH·OW]`.
/// - Precondition: `input.shape == g.inputShape`.
/// - Complexity: O(C·KH·KW·N·OH·OW).
public func im2col(_ g: ConvolutionGeometry, input: Tensor) -> Tensor {
    _ = g.checkOperands("im2col", input: input)
    return Tensor(shape: [g.columnRows, g.columnCount]) { c in
        input.withUnsafeBufferPointer { im2col(g, input: $0.baseAddress!, columns: c.baseAddress!) }
    }
}

/// Folds a column matrix `[C·KH·KW, N·OH·OW]` back into `[N, C, H, W]`, summing overlapping
/// taps (the adjoint of `im2col`).
/// - Precondition: `columns` is `[C·KH·KW, N·OH·OW]`.
/// - Complexity: O(C·KH·KW·N·OH·OW).
public func col2im(_ g: ConvolutionGeometry, columns: Tensor) -> Tensor {
    precondition(columns.shape == [g.columnRows, g.columnCount],
                 "col2im: columns \(columns.shape) do not fit [\(g.columnRows), \(g.columnCount)] of \(g)")
    return Tensor(shape: g.inputShape) { x in
        columns.withUnsafeBufferPointer { col2im(g, columns: $0.baseAddress!, output: x.baseAddress!) }
    }
}

/// The output `[N, Cout, OH, OW]` of a convolution computed as `product = W · im2col(x)`
/// (`[Cout, N·OH·OW]`), plus the bias `[Cout]` when given.
/// - Precondition: `product` is `[Cout, N·OH·OW]`; `bias` is `[Cout]`.
/// - Complexity: O(N·Cout·OH·OW).
public func convolutionOutput(_ g: ConvolutionGeometry, columnProduct product: Tensor, bias: Tensor?) -> Tensor {
    precondition(product.rank == 2 && product.shape[1] == g.columnCount,
                 "convolutionOutput: product \(product.shape) is not [Cout, \(g.columnCount)]")
    let cout = product.shape[0]
    precondition(bias == nil || bias!.shape == [cout], "convolutionOutput: bias \(bias!.shape) is not [\(cout)]")
    let plane = g.outputHeight * g.outputWidth
    let biasValues = bias ?? Tensor.zeros([cout])
    return Tensor(shape: g.outputShape(outputChannels: cout)) { y in
        product.withUnsafeBufferPointer { p in
            biasValues.withUnsafeBufferPointer { b in
                for n in 0..<g.batch {
                    for co in 0..<cout {
                        let src = p.baseAddress! + co * g.batch * plane + n * plane
                        let dst = y.baseAddress! + (n * cout + co) * plane
                        let bv = b[co]
                        for i in 0..<plane { dst[i] = src[i] + bv }
                    }
                }
            }
        }
    }
}

/// The output gradient `[N, Cout, OH, OW]` regrouped by channel, `[Cout, N·OH·OW]` (the
/// layout of `W · im2col(x)`), for the weight and input gradients of an im2col convolution.
/// - Precondition: `outputGradient` is `[N, Cout, OH, OW]` for this geometry.
/// - Complexity: O(N·Cout·OH·OW).
public func convolutionOutputColumns(_ g: ConvolutionGeometry, outputGradient dy: Tensor) -> Tensor {
    let cout = g.checkOperands("convolutionOutputColumns", outputGradient: dy)
    let plane = g.outputHeight * g.outputWidth
    return Tensor(shape: [cout, g.batch * plane]) { t in
        dy.withUnsafeBufferPointer { d in
            for n in 0..<g.batch {
                for co in 0..<cout {
                    let src = d.baseAddress! + (n * cout + co) * plane
                    let dst = t.baseAddress! + co * g.batch * plane + n * plane
                    for i in 0..<plane { dst[i] = src[i] }
                }
            }
        }
    }
}

/// One row segment of the column matrix: kernel tap `(c, kh, kw)` over image `n`, and
/// where it lives in the image and in the column matrix.
struct ColumnSegment {
    /// Input-row offset of the tap, `kh·dilation`.
    var kernelRow: Int
    /// Offset of plane `(n, c)` in the `[N, C, H, W]` images.
    var imageOffset: Int
    /// Offset of the segment's `OH·OW` entries in the `[C·KH·KW, N·OH·OW]` column matrix.
    var columnOffset: Int
    /// `insideColumns(kernelColumn: kw)`: the input-column offset and the output columns
    /// `lo..<hi` that read inside the image.
    var offset: Int, lo: Int, hi: Int
}

extension ConvolutionGeometry {
    /// Calls `body` once per (kernel tap, image) pair, in column-matrix order: the loop
    /// skeleton `im2col` and `col2im` share. `body` runs the `OH·OW` loop itself, so the
    /// per-pixel loops stay concrete and the call costs nothing per pixel (inlined).
    /// - Complexity: O(C·KH·KW·N) calls.
    @inline(__always)
    func forEachColumnSegment(_ body: (ColumnSegment) -> Void) {
        let plane = height * width
        let outPlane = outputHeight * outputWidth
        for c in 0..<channels {
            for kh in 0..<kernelHeight {
                for kw in 0..<kernelWidth {
                    let row = (c * kernelHeight + kh) * kernelWidth + kw
                    let (off, lo, hi) = insideColumns(kernelColumn: kw)
                    for n in 0..<batch {
                        body(ColumnSegment(kernelRow: kh * dilation, imageOffset: (n * channels + c) * plane,
                                           columnOffset: (row * batch + n) * outPlane, offset: off, lo: lo, hi: hi))
                    }
                }
            }
        }
    }
}

/// Unfolds `input` (`[N, C, H, W]`, contiguous) into `columns` (`[C·KH·KW, N·OH·OW]`).
/// - Complexity: O(C·KH·KW·N·OH·OW).
func im2col(_ g: ConvolutionGeometry, input: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    g.forEachColumnSegment { t in
        let src = input + t.imageOffset
        let dst = columns + t.columnOffset
        for y in 0..<oh {
            let iy = y * g.stride - g.padding + t.kernelRow
            let d = dst + y * ow
            if iy < 0 || iy >= g.height {
                for x in 0..<ow { d[x] = 0 }
                continue
            }
            let s = src + iy * g.width + t.offset
            // Short runs (a row of a small image): plain loops beat memcpy calls.
            for x in 0..<t.lo { d[x] = 0 }
            if g.stride == 1 {
                for x in t.lo..<t.hi { d[x] = s[x] }
            } else {
                for x in t.lo..<t.hi { d[x] = s[x * g.stride] }
            }
            for x in t.hi..<ow { d[x] = 0 }
        }
    }
}

/// Folds `columns` back into `input` shape, summing overlapping taps (the adjoint of
/// `im2col`). `output` (`[N, C, H, W]`) is overwritten.
/// - Complexity: O(C·KH·KW·N·OH·OW).
func col2im(_ g: ConvolutionGeometry, columns: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    output.update(repeating: 0, count: g.batch * g.channels * g.height * g.width)
    g.forEachColumnSegment { t in
        let dst = output + t.imageOffset
        let src = columns + t.columnOffset
        for y in 0..<oh {
            let iy = y * g.stride - g.padding + t.kernelRow
            if iy < 0 || iy >= g.height { continue }
            let d = dst + iy * g.width + t.offset
            let s = src + y * ow
            if g.stride == 1 {
                for x in t.lo..<t.hi { d[x] += s[x] }
            } else {
                for x in t.lo..<t.hi { d[x * g.stride] += s[x] }
            }
        }
    }
}

/// The naive twin of `im2col`, written from the definition, for tests.
package func naiveIm2col(_ g: ConvolutionGeometry, input: [Float]) -> [Float] {
    let (oh, ow) = (g.outputHeight, g.outputWidth)
    var out = [Float](repeating: 0, count: g.columnRows * g.columnCount)
    for c in 0..<g.channels { for kh in 0..<g.kernelHeight { for kw in 0..<g.kernelWidth {
        let r = (c * g.kernelHeight + kh) * g.kernelWidth + kw
        for n in 0..<g.batch { for y in 0..<oh { for x in 0..<ow {
            let iy = y * g.stride - g.padding + kh * g.dilation, ix = x * g.stride - g.padding + kw * g.dilation
            var v: Float = 0
            if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width {
                v = input[((n * g.channels + c) * g.height + iy) * g.width + ix]
            }
            out[r * g.columnCount + (n * oh + y) * ow + x] = v
        } } }
    } } }
    return out
}
