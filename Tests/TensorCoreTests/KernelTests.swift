import Testing
import TensorCore
import TestSupport

@Suite("GEMM through BLAS matches the naive product")
struct MatMulTests {
    @Test("all four transpose cases", arguments: [
        (Transpose.none, Transpose.none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ])
    func transposes(_ ta: Transpose, _ tb: Transpose) {
        let (m, n, k) = (17, 23, 31)
        let a = randomTensor(ta == .none ? [m, k] : [k, m], seed: 1)
        let b = randomTensor(tb == .none ? [k, n] : [n, k], seed: 2)
        let fast = matmul(a, ta, b, tb)
        let slow = naiveMatmul(a, ta, b, tb)
        #expect(fast.shape == [m, n])
        #expect(maxRelativeError(fast.scalars, slow.scalars) < 1e-5)
    }

    @Test("an empty inner dimension gives zeros")
    func emptyInner() {
        let c = matmul(Tensor.zeros([3, 0]), .none, Tensor.zeros([0, 4]), .none)
        #expect(c == Tensor.zeros([3, 4]))
    }

    @Test("x·Wᵀ (gemv for one sample, gemm for a batch, split by output features) matches the naive product",
          arguments: [1, 5])
    func linearProduct(_ n: Int) {
        let w = randomTensor([13, 7], seed: 3)
        let x = randomTensor([n, 7], seed: 4)
        let reference = naiveMatmul(x, .none, w, .transposed)
        for pool in [nil, WorkerPool(count: 2)] {
            let y = linear(x, weight: w, pool: pool)
            #expect(y.shape == [n, 13])
            #expect(maxRelativeError(y.scalars, reference.scalars) < 1e-5)
            // With a bias, written first and the product added to it (beta = 1).
            let b = randomTensor([13], seed: 5)
            let biased = linear(x, weight: w, bias: b, pool: pool)
            var expected = reference
            for r in 0..<n { for j in 0..<13 { expected.scalars[r * 13 + j] += b.scalars[j] } }
            #expect(maxRelativeError(biased.scalars, expected.scalars) < 1e-5)
        }
    }
}

@Suite("im2col and col2im")
struct Im2colTests {
    static let geometries = [
        ConvolutionGeometry(batch: 2, channels: 3, height: 7, width: 6, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1),
        ConvolutionGeometry(batch: 1, channels: 1, height: 28, width: 28, kernelHeight: 5, kernelWidth: 5, stride: 1, padding: 2),
        ConvolutionGeometry(batch: 3, channels: 2, height: 9, width: 8, kernelHeight: 3, kernelWidth: 2, stride: 2, padding: 1),
        ConvolutionGeometry(batch: 2, channels: 4, height: 5, width: 5, kernelHeight: 1, kernelWidth: 1, stride: 2, padding: 0),
        ConvolutionGeometry(batch: 1, channels: 2, height: 4, width: 4, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 3),
        // Taps that fall entirely in the padding for every output column.
        ConvolutionGeometry(batch: 2, channels: 1, height: 1, width: 1, kernelHeight: 3, kernelWidth: 3, stride: 2, padding: 1),
        ConvolutionGeometry(batch: 1, channels: 2, height: 3, width: 3, kernelHeight: 5, kernelWidth: 5, stride: 2, padding: 1),
    ]

    @Test("im2col equals the definition", arguments: geometries)
    func matchesNaive(_ g: ConvolutionGeometry) {
        let x = randomTensor([g.batch, g.channels, g.height, g.width], seed: 5)
        let cols = im2col(g, input: x)
        #expect(cols.shape == [g.columnRows, g.columnCount])
        #expect(cols.scalars == naiveIm2col(g, input: x.scalars))
    }

    @Test("col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>", arguments: geometries)
    func adjoint(_ g: ConvolutionGeometry) {
        let x = randomTensor([g.batch, g.channels, g.height, g.width], seed: 6)
        let c = randomTensor([g.columnRows, g.columnCount], seed: 7)
        let cols = im2col(g, input: x)
        let folded = col2im(g, columns: c)
        let lhs = doubleDot(cols, c), rhs = doubleDot(x, folded)
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    }
}

@Suite("Exact k-th value selection")
struct SelectionTests {
    @Test("matches sorting on values with negatives and duplicates")
    func matchesSort() {
        var rng = SeededGenerator(seed: 11)
        var values = (0..<5000).map { _ in Float(Int(rng.nextFloat(in: -50, 50))) / 7 }
        values += [0, -0.0, .infinity, -.infinity, 1e-30, -1e-30]
        let sorted = values.sorted()
        for k in [0, 1, 17, 2500, values.count - 2, values.count - 1] {
            let fast = values.withUnsafeBufferPointer { kthSmallest(k, in: [$0]) }
            #expect(fast == sorted[k] || (fast == 0 && sorted[k] == 0), "k = \(k)")
        }
    }

    @Test("several buffers behave as one concatenated array")
    func multipleBuffers() {
        let a = randomTensor([1000], seed: 12), b = randomTensor([333], seed: 13), c = randomTensor([1], seed: 14)
        let all = a.scalars + b.scalars + c.scalars
        for k in [0, 500, 1000, 1333] {
            let fast = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in c.withUnsafeBufferPointer { pc in kthSmallest(k, in: [pa, pb, pc]) } }
            }
            #expect(fast == naiveKthSmallest(k, in: all))
            #expect(kthSmallest(k, in: [a, b, c]) == fast, "the Tensor-level form")
        }
    }

    @Test("k-th smallest magnitude matches sorting absolute values")
    func magnitudes() {
        let a = randomTensor([2000], low: -3, high: 3, seed: 15), b = randomTensor([77], low: -1, high: 1, seed: 16)
        let sorted = (a.scalars + b.scalars).map { abs($0) }.sorted()
        for k in [0, 1, 1000, 2076] {
            let fast = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { kthSmallestMagnitude(k, in: [pa, $0]) } }
            #expect(fast == sorted[k], "k = \(k)")
            #expect(kthSmallestMagnitude(k, in: [a, b]) == fast, "the Tensor-level form")
        }
    }

    @Test("ordered keys preserve float order")
    func keys() {
        let xs: [Float] = [-.infinity, -3, -1e-20, -0.0, 0, 1e-20, 2, .infinity]
        for (x, y) in zip(xs, xs.dropFirst()) { #expect(orderedKey(x) <= orderedKey(y)) }
        #expect(orderedKey(-1) < orderedKey(1))
    }
}

@Suite("Elementwise kernels and reductions")
struct ElementwiseTests {
    @Test("relaxed sum and dot agree with Double references")
    func sums() {
        let a = randomTensor([10_007], seed: 21), b = randomTensor([10_007], seed: 22)
        let s = a.withUnsafeBufferPointer { relaxedSum($0.baseAddress!, count: $0.count) }
        let d = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { relaxedDot(pa.baseAddress!, $0.baseAddress!, count: pa.count) } }
        let sRef = a.scalars.reduce(0.0) { $0 + Double($1) }
        #expect(abs(Double(s) - sRef) < 1e-3)
        #expect(abs(Double(d) - doubleDot(a, b)) < 1e-3)
        #expect(abs(Double(a.sum()) - sRef) < 1e-3)
        #expect(abs(Double(a.dot(b)) - doubleDot(a, b)) < 1e-3)
    }

    @Test("row sums, bias add and argmax")
    func rows() {
        let m = Tensor(shape: [3, 4], scalars: [1, 2, 3, 4, -1, 9, 0, 2, 5, 5, 6, 1])
        #expect(channelSums(m).scalars == [5, 16, 9, 7])
        let image = Tensor(shape: [2, 2, 3], scalars: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        #expect(channelSums(image).scalars == [30, 48])   // 1+2+3+7+8+9, 4+5+6+10+11+12
        #expect(argmaxRows(m) == [3, 1, 2])
        var x = m
        addRowVector(&x, Tensor(shape: [4], scalars: [10, 20, 30, 40]))
        #expect(x.scalars == [11, 22, 33, 44, 9, 29, 30, 42, 15, 25, 36, 41])
    }

    @Test("relu, its gradient, masks and counting")
    func activations() {
        let x = Tensor(shape: [5], scalars: [-2, -0.5, 0, 0.5, 3])
        let y = relu(x)
        #expect(y.scalars == [0, 0, 0, 0.5, 3])
        #expect(reluBackward(output: y, gradient: Tensor(shape: [5], repeating: 1)).scalars == [0, 0, 0, 1, 1])
        var w = Tensor(shape: [5], scalars: [1, 2, 3, 4, 5])
        w.multiply(by: Tensor(shape: [5], scalars: [1, 0, 1, 0, 1]))
        #expect(w.scalars == [1, 0, 3, 0, 5])
        #expect(w.nonZeroCount() == 3)
        #expect(w.maxMagnitude() == 5)
        #expect(allFinite(w))
        #expect(!allFinite(Tensor(shape: [2], scalars: [1, .nan])))
    }

    @Test("tensors are values: a copy does not see later writes")
    func copyOnWrite() {
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        var b = a
        b[1, 1] = 40
        #expect(a[1, 1] == 4)
        #expect(b.scalars == [1, 2, 3, 40])
        #expect(a.reshaped([4]).shape == [4])
    }
}

@Suite("Seeded randomness")
struct RandomTests {
    @Test("the same seed gives the same stream; another seed does not")
    func determinism() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let sa = (0..<8).map { _ in a.next() }, sb = (0..<8).map { _ in b.next() }, sc = (0..<8).map { _ in c.next() }
        #expect(sa == sb)
        #expect(sa != sc)
    }

    @Test("uniform and normal samples have the right moments")
    func moments() {
        var rng = SeededGenerator(seed: 5)
        let u = (0..<100_000).map { _ in Double(rng.nextUnitFloat()) }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(u.reduce(0, +) / 1e5 - 0.5) < 0.01)
        let g = (0..<100_000).map { _ in Double(rng.nextNormal()) }
        let mean = g.reduce(0, +) / 1e5
        let variance = g.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 1e5
        #expect(abs(mean) < 0.02)
        #expect(abs(variance - 1) < 0.03)
    }

    @Test("shuffle is a permutation and depends on the seed")
    func shuffle() {
        var rng = SeededGenerator(seed: 9)
        var a = Array(0..<1000)
        rng.shuffle(&a)
        #expect(a.sorted() == Array(0..<1000))
        #expect(a != Array(0..<1000))
        var rng2 = SeededGenerator(seed: 9)
        var b = Array(0..<1000)
        rng2.shuffle(&b)
        #expect(a == b)
    }
}
