import Testing
import TensorCore
import TestSupport

@Suite("Direct convolution kernels match their naive twin")
struct ConvolutionTests {
    /// Stride-1 geometries `(N, C, H, W, K, padding)` with odd sizes: one input channel (LeNet's first layer), several,
    /// 1×1 and 9×9 kernels, padding from none to K − 1, rows from 1 to 28 outputs wide.
    static let geometries = [
        (2, 1, 7, 9, 3, 1), (1, 3, 5, 13, 5, 2), (3, 2, 11, 10, 1, 0), (1, 1, 28, 28, 5, 2), (2, 6, 14, 14, 5, 0),
        (1, 2, 12, 11, 9, 4), (2, 3, 3, 5, 3, 0),
    ].map { n, c, h, w, k, p in
        ConvolutionGeometry(batch: n, channels: c, height: h, width: w, kernelHeight: k, kernelWidth: k, stride: 1, padding: p)
    }

    static let outputChannels = [1, 3, 9, 17]

    // Tolerances: Float sums of up to Cout·K² = 1,377 products against Double references.
    @Test("row-vectorized forward, weight and input gradients equal the definition", arguments: geometries)
    func rowVectorized(_ g: ConvolutionGeometry) {
        #expect(directConvolutionApplies(g) && directInputGradientApplies(g), "\(g)")
        for cout in Self.outputChannels {
            let (x, w, b, dy) = Self.operands(g, cout)
            let where_ = "\(g), \(cout) filters"
            #expect(maxRelativeError(directConvolution(g, input: x, weight: w, bias: b).scalars,
                                     naiveConvolution(g, input: x, weight: w, bias: b).scalars) < 1e-5, "\(where_)")
            #expect(maxRelativeError(directConvolution(g, input: x, weight: w, bias: nil).scalars,
                                     naiveConvolution(g, input: x, weight: w, bias: nil).scalars) < 1e-5, "\(where_)")
            #expect(maxRelativeError(directConvolutionWeightGradient(g, input: x, outputGradient: dy).scalars,
                                     naiveConvolutionWeightGradient(g, input: x, outputGradient: dy).scalars) < 1e-4, "\(where_)")
            #expect(maxRelativeError(directConvolutionInputGradient(g, weight: w, outputGradient: dy).scalars,
                                     naiveConvolutionInputGradient(g, weight: w, outputGradient: dy).scalars) < 1e-4, "\(where_)")
        }
    }

    @Test("channel-vectorized forward and weight gradient equal the definition", arguments: geometries)
    func channelVectorized(_ g: ConvolutionGeometry) {
        #expect(channelVectorConvolutionApplies(g), "\(g)")
        for cout in Self.outputChannels {
            let (x, w, b, dy) = Self.operands(g, cout)
            let where_ = "\(g), \(cout) filters"
            #expect(maxRelativeError(channelVectorConvolution(g, input: x, weight: w, bias: b).scalars,
                                     naiveConvolution(g, input: x, weight: w, bias: b).scalars) < 1e-5, "\(where_)")
            #expect(maxRelativeError(channelVectorConvolutionWeightGradient(g, input: x, outputGradient: dy).scalars,
                                     naiveConvolutionWeightGradient(g, input: x, outputGradient: dy).scalars) < 1e-4, "\(where_)")
        }
    }

    @Test("the naive twin agrees with im2col + GEMM, strided and padded too")
    func naiveTwinMatchesIm2col() {
        let g = ConvolutionGeometry(batch: 2, channels: 3, height: 9, width: 8, kernelHeight: 3, kernelWidth: 2, stride: 2, padding: 1)
        let cout = 5
        let x = randomTensor(g.inputShape, seed: 1), w = randomTensor(g.weightShape(outputChannels: cout), seed: 2)
        let b = randomTensor([cout], seed: 3)
        let product = matmul(w.reshaped([cout, g.columnRows]), .none, im2col(g, input: x), .none)
        let viaColumns = convolutionOutput(g, columnProduct: product, bias: b)
        #expect(maxRelativeError(viaColumns.scalars, naiveConvolution(g, input: x, weight: w, bias: b).scalars) < 1e-5)
        // The column view of an output gradient is the inverse regrouping.
        let dy = randomTensor(g.outputShape(outputChannels: cout), seed: 4)
        let columns = convolutionOutputColumns(g, outputGradient: dy)
        #expect(convolutionOutput(g, columnProduct: columns, bias: nil) == dy)
    }

    static func operands(_ g: ConvolutionGeometry, _ cout: Int) -> (Tensor, Tensor, Tensor, Tensor) {
        let seed = UInt64(g.channels * 1000 + g.width * 10 + cout)
        return (randomTensor(g.inputShape, seed: seed), randomTensor(g.weightShape(outputChannels: cout), seed: seed + 1),
                randomTensor([cout], seed: seed + 2), randomTensor(g.outputShape(outputChannels: cout), seed: seed + 3))
    }
}
