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
}
