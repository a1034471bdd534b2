import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("N:M weights in model files: written in the N:M form, run as NMDense after a sparse load")
struct NMModelFileTests {
    /// lenet300 with fc1 pruned 2:4 and fc2 1:4 by magnitude (masks), fc3 dense.
    static func model() throws -> Graph {
        let model = try Architecture.lenet300.build(seed: 12)
        for (path, n) in [("fc1.weight", 2), ("fc2.weight", 1)] {
            let p = try #require(model.parameter(at: path))
            p.mask = nmMask(p.value, n: n, m: 4)
        }
        return model
    }

    @Test("a sparse file stores 2:4 and 1:4 weights as values and 4-bit positions, loads them as NMDense (same predictions) or masked dense")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Self.model()
        let path = folder.file("nm.safetensors")
        try ModelFile.save(model, to: path, storage: .sparse)
        let contents = try Safetensors.read(path)
        #expect(contents.metadata[ModelFile.nmKey] == #"{"fc1.weight":{"m":4,"n":2,"shape":[300,784]},"fc2.weight":{"m":4,"n":1,"shape":[100,300]}}"#)
        #expect(contents["fc1.weight.nm_values"]?.shape == [300 * 196 * 2])
        #expect(contents.integer("fc1.weight.nm_positions")?.shape == [300 * 196])
        #expect(contents["fc1.weight"] == nil && contents["fc3.weight"] != nil)

        let sparse = try ModelFile.load(path, sparse: true).model
        #expect(sparse.nodes.map { $0.module is NMDense } == [false, true, false, true, false, false])
        let x = try DatasetFolder(fashionMNISTPath).test().batch(Array(0..<20)[...]).inputs
        let expected = model.forward(x, training: false)
        #expect(maxRelativeError(sparse.forward(x, training: false).scalars, expected.scalars) <= 1e-5)

        let dense = try ModelFile.load(path).model
        #expect(!dense.nodes.contains { $0.module is NMDense })
        for p in ["fc1.weight", "fc2.weight"] {
            #expect(dense.parameter(at: p)?.mask == model.parameter(at: p)?.mask, "\(p)")
        }
        #expect(dense.forward(x, training: false) == expected)

        // The sparse-loaded model writes the same arrays again.
        let again = folder.file("again.safetensors")
        try ModelFile.save(sparse, to: again, storage: .sparse)
        #expect(try Safetensors.read(again)["fc1.weight.nm_values"] == contents["fc1.weight.nm_values"])
    }

    @Test("damaged N:M arrays are rejected with the tensor named", arguments: ["position", "twice", "values", "missing", "metadata"])
    func rejectsDamage(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let good = folder.file("good.safetensors")
        try ModelFile.save(try Self.model(), to: good, storage: .sparse)
        var contents = try Safetensors.read(good)
        let positions = try #require(contents.integers.firstIndex { $0.name == "fc1.weight.nm_positions" })
        let mentions: [String]
        switch damage {
        case "position":   // position 5 in a group of 4
            contents.integers[positions].tensor.bytes[0] = 0x05
            mentions = ["'fc1.weight.nm_positions'", "outside its group"]
        case "twice":      // both kept values of the first group at one position
            let byte = contents.integers[positions].tensor.bytes[0]
            contents.integers[positions].tensor.bytes[0] = (byte & 0x0F) | (byte << 4)
            mentions = ["'fc1.weight.nm_positions'", "one position"]
        case "values":
            let index = try #require(contents.tensors.firstIndex { $0.name == "fc1.weight.nm_values" })
            contents.tensors[index].tensor = Tensor.zeros([7])
            mentions = ["'fc1.weight.nm_values'", "[117600]"]
        case "missing":
            contents.integers.remove(at: positions)
            mentions = ["'fc1.weight.nm_positions'"]
        default:
            contents.metadata[ModelFile.nmKey] = #"{"fc1.weight":{"m":4,"n":2,"shape":[784,300]},"fc2.weight":{"m":4,"n":1,"shape":[100,300]}}"#
            mentions = ["'fc1.weight'", "[784, 300]"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }
}
