import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import TestSupport
import Testing

@Suite("Sparse (CSR) model files")
struct SparseModelFileTests {
    /// lenet300 with fc1 at 5% density (every 20th entry kept, a kept zero among them), fc2 at
    /// 25% and fc3 at 50%.
    static func model() throws -> Graph {
        let model = try Architecture.lenet300.build(seed: 8)
        for (path, k) in [("fc1.weight", 20), ("fc2.weight", 4), ("fc3.weight", 2)] {
            let p = try #require(model.parameter(at: path))
            // fc2 and fc3 keep runs of three entries, which fit no N:M pattern (N:M weights are
            // stored in their own form: NMModelFileTests).
            p.mask = Tensor(shape: p.value.shape, scalars: (0..<p.count).map { (k == 20 ? $0 : $0 / 3) % k == 1 ? 1 : 0 })
        }
        try #require(model.parameter(at: "fc1.weight")).value[flat: 1] = 0   // kept, but zero
        return model
    }

    @Test("a sparse file stores each light Dense weight in the smaller of CSR and bitmask, loads both as SparseDense without densifying, and predicts the same")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Self.model()
        let path = folder.file("sparse.safetensors")
        try ModelFile.save(model, to: path, storage: .sparse)
        let contents = try Safetensors.read(path)
        #expect(contents.metadata[ModelFile.csrKey] == #"{"fc1.weight":[300,784]}"#)
        #expect(contents.integer("fc1.weight.csr_columns")?.dtype == "U16")
        #expect(contents.integer("fc1.weight.csr_row_starts")?.shape == [301])
        #expect(contents["fc1.weight.csr_values"]?.shape == [11_760])
        // At 25% density the bitmask (3,750 bytes + values) is smaller than 16-bit indices (15,000 bytes).
        #expect(contents.integer("fc2.weight.bitmask") != nil && contents["fc2.weight.csr_values"] == nil)
        #expect(contents.integer("fc3.weight.bitmask") != nil)
        #expect(contents["fc1.weight"] == nil)

        let sparse = try ModelFile.load(path, sparse: true).model
        // fc3 keeps 50%: above the 30% limit, it loads dense.
        #expect(sparse.nodes.map { $0.module is SparseDense } == [false, true, false, true, false, false])
        let layer = try #require(sparse.module(named: "fc1") as? SparseDense)
        #expect(layer.weight.nonZeroCount == 11_760)
        #expect((sparse.module(named: "fc2") as? SparseDense)?.weight == CSRMatrix(model.parameter(at: "fc2.weight")!.value, mask: model.parameter(at: "fc2.weight")!.mask))
        let x = try DatasetFolder(fashionMNISTPath).test().batch(Array(0..<50)[...]).inputs
        let expected = model.forward(x, training: false)
        #expect(maxRelativeError(sparse.forward(x, training: false).scalars, expected.scalars) <= 1e-5)

        // Loaded for training: dense, masked to the stored entries (the kept zero included).
        let dense = try ModelFile.load(path).model
        #expect(!dense.nodes.contains { $0.module is SparseDense })
        for p in ["fc1.weight", "fc2.weight", "fc3.weight"] {
            #expect(dense.parameter(at: p)?.mask == model.parameter(at: p)?.mask, "\(p)")
            #expect(dense.parameter(at: p)?.value == model.parameter(at: p)?.value, "\(p)")
        }
        #expect(dense.forward(x, training: false) == expected)

        // Saving the sparse-loaded model writes the same arrays again.
        let again = folder.file("again.safetensors")
        try ModelFile.save(sparse, to: again, storage: .sparse)
        #expect(try Safetensors.read(again)["fc1.weight.csr_values"] == contents["fc1.weight.csr_values"])
    }

    @Test("Float16 CSR values halve the value bytes and stay within Float16 rounding")
    func halfPrecision() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Self.model()
        let full = folder.file("f32.safetensors"), half = folder.file("f16.safetensors")
        try ModelFile.save(model, to: full, storage: .sparse)
        try ModelFile.save(model, to: half, storage: .sparse, halfPrecision: true)
        #expect(try fileSize(full) - fileSize(half) > 2 * 11_760)
        let a = try #require(ModelFile.load(full, sparse: true).model.module(named: "fc1") as? SparseDense)
        let b = try #require(ModelFile.load(half, sparse: true).model.module(named: "fc1") as? SparseDense)
        #expect(a.weight.columnIndices == b.weight.columnIndices && a.weight.rowStarts == b.weight.rowStarts)
        for (x, y) in zip(a.weight.values, b.weight.values) { #expect(abs(x - y) <= max(abs(x) / 1024, 0x1p-24)) }   // subnormal halves: 2⁻²⁴ steps
    }

    /// The contents of a good sparse file, to be damaged.
    func contents(_ folder: TemporaryFolder) throws -> Safetensors.Contents {
        let path = folder.file("good.safetensors")
        try ModelFile.save(try Self.model(), to: path, storage: .sparse)
        return try Safetensors.read(path)
    }

    @Test("damaged CSR arrays are rejected with the tensor named", arguments: ["columns", "starts", "order", "dtype", "missing", "metadata"])
    func rejectsDamage(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try contents(folder)
        let columns = try #require(contents.integers.firstIndex { $0.name == "fc1.weight.csr_columns" })
        let starts = try #require(contents.integers.firstIndex { $0.name == "fc1.weight.csr_row_starts" })
        var mentions: [String]
        switch damage {
        case "columns":   // column 800 of a 784-wide matrix
            contents.integers[columns].tensor.bytes[0] = 0x20; contents.integers[columns].tensor.bytes[1] = 0x03
            mentions = ["'fc1.weight'", "inconsistent", "below 784"]
        case "starts":    // the last offset no longer equals the value count
            contents.integers[starts].tensor.bytes[4 * 300] ^= 1
            mentions = ["'fc1.weight'", "inconsistent"]
        case "order":     // offsets that fall
            contents.integers[starts].tensor.bytes[4] = 0xFF; contents.integers[starts].tensor.bytes[5] = 0xFF
            mentions = ["'fc1.weight'", "inconsistent"]
        case "dtype":
            contents.integers[starts].tensor.dtype = "U32"
            mentions = ["'fc1.weight.csr_row_starts'", "I32", "[301]"]
        case "missing":
            contents.integers.remove(at: columns)
            mentions = ["'fc1.weight.csr_columns'"]
        default:
            contents.metadata[ModelFile.csrKey] = #"{"fc1.weight":[784,300]}"#
            mentions = ["'fc1.weight'", "[784, 300]"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }

    @Test("a hostile architecture size or a mask tensor on a sparse parameter is a FormatError in both load modes",
          arguments: ["size", "product", "mask"])
    func rejectsHostileSparseFiles(_ damage: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var contents = try contents(folder)
        var mentions: [String]
        switch damage {
        case "size", "product":
            let huge = damage == "size" ? "9223372036854775807" : "1048576"
            let architecture = try #require(contents.metadata[ModelFile.architectureKey])
            contents.metadata[ModelFile.architectureKey] = architecture
                .replacingOccurrences(of: #""inFeatures":784"#, with: #""inFeatures":\#(huge)"#)
                .replacingOccurrences(of: #""outFeatures":300"#, with: #""outFeatures":\#(huge)"#)
            try #require(contents.metadata[ModelFile.architectureKey] != architecture)
            mentions = ["fc1"]
        default:
            contents.tensors.append(("fc1.weight.mask", Tensor(shape: [300, 784], repeating: 1)))
            mentions = ["'fc1.weight.mask'", "does not belong"]
        }
        let path = try writeContents(contents, "\(damage).safetensors", in: folder)
        for sparse in [false, true] {
            expectError(formatError { _ = try ModelFile.load(path, sparse: sparse) }, path: path, mentions: mentions)
        }
    }

    @Test("an unmasked weight stays dense in a sparse file, so loading adds no mask")
    func unmaskedStaysDense() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 8)
        let fc1 = try #require(model.parameter(at: "fc1.weight"))
        for i in 0..<fc1.count where i % 50 != 0 { fc1.value[flat: i] = 0 }   // 2% non-zero, no mask
        let path = folder.file("unmasked.safetensors")
        try ModelFile.save(model, to: path, storage: .sparse)
        #expect(try Safetensors.read(path)["fc1.weight"] != nil)
        #expect(try ModelFile.load(path).model.parameter(at: "fc1.weight")?.mask == nil)
    }
}
