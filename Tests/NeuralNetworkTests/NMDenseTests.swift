import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("N:M inference layers")
struct NMDenseTests {
    /// A Dense layer masked to keep the `n` largest of every `m` weights of a row.
    static func pruned(_ name: String, inFeatures: Int, outFeatures: Int, n: Int, m: Int, seed: UInt64) -> Dense {
        var rng = SeededGenerator(seed: seed)
        let dense = Dense(name: name, inFeatures: inFeatures, outFeatures: outFeatures, rng: &rng)
        dense.weight.mask = nmMask(dense.weight.value, n: n, m: m)
        dense.bias?.value = randomTensor([outFeatures], seed: seed + 1)
        return dense
    }

    @Test("an NMDense layer gives the masked Dense layer's outputs (≤ 1e-5), on tokens of sequences and on batches past the kernel's",
          arguments: [(2, 4), (4, 8), (1, 4)])
    func sameOutputs(_ pattern: (Int, Int)) throws {
        let dense = Self.pruned("fc", inFeatures: 48, outFeatures: 40, n: pattern.0, m: pattern.1, seed: 3)
        let layer = try #require(NMDense(dense, n: pattern.0, m: pattern.1))
        // The measured choice keeps some of the timed row counts for the kernel; the rows follow
        // the first count at or above them, and nothing past 64 runs through the kernel.
        #expect(Set(layer.kernelProbes).isSubset(of: [1, 8, 32, NMDense.largestKernelBatch]), "\(layer.kernelProbes)")
        layer.kernelProbes = [8, 64]
        #expect([1, 2, 8, 9, 32, 33, 64, 65].map { layer.usesKernel(rows: $0) } == [false, true, true, false, false, true, true, false])
        // Both products, whatever the measurement chose: the kernel up to 64 rows, then none.
        for kernelProbes in [[1, 8, 32, NMDense.largestKernelBatch], []] {
            layer.kernelProbes = kernelProbes
            for shape in [[1, 48], [3, 9, 48], [5, 30, 48]] {   // the last one is 150 rows: the dense copy
                let x = randomTensor(shape, seed: 4)
                let a = dense.forward(x, training: false), b = layer.forward(x, training: false)
                #expect(a.shape == b.shape)
                #expect(maxRelativeError(b.scalars, a.scalars) <= 1e-5, "\(pattern) \(shape) kernel at \(kernelProbes)")
            }
        }
        let back = layer.densified()
        var masked = dense.weight.value
        masked.multiply(by: dense.weight.mask!)
        #expect(back.weight.value == masked)
        #expect(layer.multiplyAdds(for: [[10, 48]], nonZeroOnly: true) == 10 * dense.weight.mask!.nonZeroCount())
        if pattern.0 > 1 { #expect(NMDense(dense, n: pattern.0 - 1, m: pattern.1) == nil, "a group keeps more than n") }
    }

    @Test("withNMLayers converts exactly the Dense layers pruned N:M, naming their patterns, and keeps the model's outputs")
    func conversion() throws {
        let model = Graph(inputShape: [64])
        var x = Graph.NodeID.input
        x = try model.add(Self.pruned("a", inFeatures: 64, outFeatures: 32, n: 2, m: 4, seed: 1), after: x)
        x = try model.add(ReLU(name: "relu"), after: x)
        var rng = SeededGenerator(seed: 2)
        x = try model.add(Dense(name: "b", inFeatures: 32, outFeatures: 24, rng: &rng), after: x)   // dense
        x = try model.add(Self.pruned("c", inFeatures: 24, outFeatures: 8, n: 3, m: 8, seed: 3), after: x)
        #expect(Graph.nmPattern(of: try #require(model.nodes[0].module as? Dense))! == (2, 4))
        #expect(Graph.nmPattern(of: try #require(model.nodes[2].module as? Dense)) == nil)
        // One weight in 20 fits 1:4 but fills a fifth of its slots: no pattern (CSR's case).
        var rng2 = SeededGenerator(seed: 4)
        let light = Dense(name: "light", inFeatures: 40, outFeatures: 10, rng: &rng2)
        light.weight.mask = Tensor(shape: [10, 40], scalars: (0..<400).map { $0 % 20 == 1 ? 1 : 0 })
        #expect(Graph.nmPattern(of: light) == nil)
        let (converted, layers) = try model.withNMLayers()
        #expect(layers.map(\.name) == ["a", "c"])
        #expect(layers.map { "\($0.n):\($0.m)" } == ["2:4", "3:8"])
        #expect(converted.nodes.map { $0.module is NMDense } == [true, false, false, true])
        let input = randomTensor([5, 64], seed: 9)
        #expect(maxRelativeError(converted.forward(input, training: false).scalars, model.forward(input, training: false).scalars) <= 1e-5)
    }
}
