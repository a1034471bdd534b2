import FileFormats
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("Sparse inference layers")
struct SparseDenseTests {
    /// lenet300 with fc1 and fc2 masked to 10% and 25% density (every k-th entry) and fc3 left dense.
    static func masked() throws -> Graph {
        let model = try Architecture.lenet300.build(seed: 3)
        for (path, k) in [("fc1.weight", 10), ("fc2.weight", 4)] {
            let p = try #require(model.parameter(at: path))
            p.mask = Tensor(shape: p.value.shape, scalars: (0..<p.count).map { $0 % k == 3 ? 1 : 0 })
        }
        return model
    }

    @Test("sparsified() turns the sparse Dense layers into CSR layers and keeps the outputs, at batch 1 and larger")
    func sameOutputs() throws {
        let model = try Self.masked()
        let sparse = try model.sparsified()
        #expect(sparse.nodes.map { $0.module is SparseDense } == [false, true, false, true, false, false])
        let test = try DatasetFolder(fashionMNISTPath).test()
        for n in [1, 7, 64, 100] {
            let x = test.batch(Array(0..<n)[...]).inputs
            let a = model.forward(x, training: false), b = sparse.forward(x, training: false)
            #expect(a.shape == b.shape)
            #expect(maxRelativeError(b.scalars, a.scalars) <= 1e-5, "batch \(n)")
        }
        #expect(try model.sparsified(maximumDensity: 0.05).nodes.contains { $0.module is SparseDense } == false)
        #expect(try model.sparsified(maximumDensity: 1).nodes.filter { $0.module is SparseDense }.count == 3)
    }

    @Test("a layer more than 1,024 inputs wide runs batches through its column blocks with the masked layer's outputs")
    func wideLayer() throws {
        var rng = SeededGenerator(seed: 41)
        let dense = Dense(name: "wide", inFeatures: 1_500, outFeatures: 530, rng: &rng)
        let keep = randomTensor([530, 1_500], low: 0, high: 1, seed: 42)
        dense.weight.mask = Tensor(shape: [530, 1_500], scalars: keep.scalars.map { $0 < 0.1 ? 1 : 0 })
        let layer = SparseDense(dense)
        #expect(layer.weight.benefitsFromColumnBlocks && layer.weight.columnBlocks == nil)
        for pool in [nil, WorkerPool(count: 2)] {
            layer.pool = pool
            dense.pool = pool
            for n in [1, 3, 130] {
                let x = randomTensor([n, 1_500], seed: UInt64(n))
                let want = dense.forward(x, training: false), got = layer.forward(x, training: false)
                #expect(maxRelativeError(got.scalars, want.scalars) <= 1e-5, "batch \(n)")
            }
        }
    }

    @Test("a sparse layer reports the dense shape and its kept multiply-adds, and rebuilds its dense weight")
    func description() throws {
        let model = try Self.masked()
        let fc1 = try #require(model.module(named: "fc1") as? Dense)
        let layer = SparseDense(fc1)
        #expect(layer.spec == fc1.spec)
        #expect(layer.weight.nonZeroCount == 23_520)
        #expect(layer.multiplyAdds(for: [[784]], nonZeroOnly: true) == 23_520)
        #expect(layer.namedParameters.first?.1.value == fc1.weight.value)
    }

    @Test("Dense and SparseDense inference split between threads give the one-thread outputs (zero inputs skipped or not)")
    func threadedInference() throws {
        let model = try Self.masked()
        let sparse = try model.sparsified(maximumDensity: 0.3)
        let images = try DatasetFolder(fashionMNISTPath).test().batch(Array(0..<5)[...]).inputs
        let dense = randomTensor([5, 1, 28, 28], low: 0.1, high: 1, seed: 17)   // no zero inputs: the row-wise kernels
        var want: [[Float]] = []
        for x in [images, dense] { for n in [1, 5] { want.append(sparse.forward(Tensor(shape: [n, 1, 28, 28], scalars: Array(x.scalars[0..<n * 784])), training: false).scalars) } }
        let pool = WorkerPool(count: 2)
        sparse.useThreads(pool)
        #expect((sparse.module(named: "fc3") as? Dense)?.pool === pool)
        var k = 0
        for x in [images, dense] {
            for n in [1, 5] {
                let got = sparse.forward(Tensor(shape: [n, 1, 28, 28], scalars: Array(x.scalars[0..<n * 784])), training: false).scalars
                #expect(maxRelativeError(got, want[k]) <= 1e-5, "batch \(n)")
                k += 1
            }
        }
        sparse.useThreads(nil)
        // The dense model: fc1 (235,200 weights) splits its sgemv and sgemm between the threads.
        let one = model.forward(images, training: false), single = model.forward(Tensor(shape: [1, 1, 28, 28], scalars: Array(images.scalars[0..<784])), training: false)
        model.useThreads(pool)
        defer { model.useThreads(nil) }
        #expect(maxRelativeError(model.forward(images, training: false).scalars, one.scalars) <= 1e-5)
        #expect(maxRelativeError(model.forward(Tensor(shape: [1, 1, 28, 28], scalars: Array(images.scalars[0..<784])), training: false).scalars, single.scalars) <= 1e-5)
    }

    @Test("a Dense layer at batch 1 (matrix-vector path) gives each sample's row of the batched product")
    func denseBatchOne() throws {
        var rng = SeededGenerator(seed: 14)
        let layer = Dense(name: "d", inFeatures: 37, outFeatures: 11, rng: &rng)
        let x = randomTensor([5, 37], seed: 15)
        let batch = layer.forward(x, training: false)
        for i in 0..<5 {
            let one = layer.forward(Tensor(shape: [1, 37], scalars: Array(x.scalars[(37 * i)..<(37 * i + 37)])), training: false)
            #expect(one.shape == [1, 11])
            #expect(maxRelativeError(one.scalars, Array(batch.scalars[(11 * i)..<(11 * i + 11)])) < 1e-6)
        }
    }

    @Test("a measured choice keeps whichever form is faster and the outputs; densified() gives back a trainable masked model")
    func measuredChoiceAndDensified() throws {
        let model = try Self.masked()
        let test = try DatasetFolder(fashionMNISTPath).test()
        let x = test.batch(Array(0..<32)[...]).inputs
        let pool = WorkerPool(count: 2)
        for batch in [1, 32] {
            let sparse = try model.sparsified(.measured(batchSize: batch, maximumDensity: 0.3), pool: pool)
            // fc3 is dense (100% kept): never a candidate.
            #expect(!(sparse.module(named: "fc3") is SparseDense))
            for node in sparse.nodes { if let s = node.module as? SparseDense { #expect(s.pool === pool) } }
            #expect(maxRelativeError(sparse.forward(x, training: false).scalars, model.forward(x, training: false).scalars) <= 1e-5)
        }
        // Below every layer's density there is nothing to measure: all stay dense.
        #expect(try !model.sparsified(.measured(batchSize: 1, maximumDensity: 0.05)).nodes.contains { $0.module is SparseDense })
        // Choices the timings cannot get wrong. A 2,048² layer keeping 1 weight in 512: at batch 1
        // CSR reads 4,096 entries where the dense product reads 4 M (hundreds of times faster),
        // so it must run sparse.
        var rng = SeededGenerator(seed: 12)
        let light = Dense(name: "light", inFeatures: 2_048, outFeatures: 2_048, rng: &rng)
        light.weight.mask = Tensor(shape: [2_048, 2_048], scalars: (0..<(2_048 * 2_048)).map { $0 % 512 == 7 ? 1 : 0 })
        light.weight.applyMask()
        let lightModel = try Graph(inputShape: [2_048], sequential: [light])
        let lightSparse = try lightModel.sparsified(.measured(batchSize: 1, maximumDensity: 0.3))
        #expect(lightSparse.module(named: "light") is SparseDense)
        let v = randomTensor([1, 2_048], seed: 13)
        #expect(maxRelativeError(lightSparse.forward(v, training: false).scalars, lightModel.forward(v, training: false).scalars) <= 1e-5)
        // The same layer under the density rule runs sparse too, and with no room under the
        // density bound it stays dense without being timed.
        #expect(try lightModel.sparsified(.density(maximum: 0.3)).module(named: "light") is SparseDense)
        #expect(try lightModel.sparsified(.measured(batchSize: 1, maximumDensity: 0.001)).module(named: "light") is Dense)
        let all = try model.sparsified(maximumDensity: 1)
        let back = try all.densified()
        #expect(!back.nodes.contains { $0.module is SparseDense })
        for p in ["fc1.weight", "fc2.weight"] {
            #expect(back.parameter(at: p)?.mask == model.parameter(at: p)?.mask, "\(p)")
            #expect(back.parameter(at: p)?.value == model.parameter(at: p)?.value, "\(p)")
        }
        // fc3 had no mask; as CSR of its non-zeros it comes back masked to them, same values.
        #expect(back.parameter(at: "fc3.weight")?.value == model.parameter(at: "fc3.weight")?.value)
        #expect(back.forward(x, training: false) == model.forward(x, training: false))
    }

    @Test("sparse convolutions (im2col × CSR filters) match the masked convolutions, with stride, padding and BatchNorm", arguments: [Architecture.lenet5, .resnet8])
    func convolutions(_ architecture: Architecture) throws {
        let model = try architecture.build(seed: 4)
        var convs = 0
        for node in model.nodes {
            guard let conv = node.module as? Conv2D else { continue }
            convs += 1
            // Keep about one weight in five, a whole filter cut, and a kept zero.
            let mask = Tensor(shape: conv.weight.value.shape, scalars: (0..<conv.weight.count).map {
                $0 < conv.weight.count / conv.outChannels ? 0 : ($0 * 7919 % 5 == 0 ? 1 : 0)
            })
            conv.weight.mask = mask
            if let first = (0..<mask.count).first(where: { mask[flat: $0] == 1 }) { conv.weight.value[flat: first] = 0 }
        }
        if architecture == .resnet8 {   // settle BatchNorm's running statistics off their initial values
            let train = try DatasetFolder(fashionMNISTPath).test()
            for start in stride(from: 0, to: 256, by: 64) { _ = model.forward(train.batch(Array(start..<start + 64)[...]).inputs, training: true) }
        }
        let sparse = try model.sparsified(maximumDensity: 0.3)
        #expect(sparse.nodes.filter { $0.module is SparseConv2D }.count == convs)
        let x = try DatasetFolder(fashionMNISTPath).test().batch(Array(0..<9)[...]).inputs
        let expected = model.forward(x, training: false)
        for n in [1, 9] {
            let input = n == 1 ? Tensor(shape: [1, 1, 28, 28], scalars: Array(x.scalars[0..<784])) : x
            let want = n == 1 ? Array(expected.scalars[0..<expected.count / 9]) : expected.scalars
            #expect(maxRelativeError(sparse.forward(input, training: false).scalars, want) <= 1e-5, "\(architecture) batch \(n)")
        }
        // With two threads, and back to a trainable model with the same masks and values.
        #expect(maxRelativeError(try model.sparsified(.density(maximum: 0.3), pool: WorkerPool(count: 2)).forward(x, training: false).scalars,
                                 expected.scalars) <= 1e-5)
        let back = try sparse.densified()
        #expect(!back.nodes.contains { $0.module is SparseConv2D })
        for (path, parameter) in model.parameters where path.hasSuffix(".weight") {
            #expect(back.parameter(at: path)?.value == parameter.value, "\(path)")
        }
        #expect(back.forward(x, training: false) == expected)
    }
}
