import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing

/// `python3`, if it is on the PATH.
let python3: String? = {
    let folders = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
    return executable(folders.map { "\($0)/python3" })
}()

/// Whether `python3 -c "import safetensors.numpy"` succeeds. The reference
/// implementation is not a dependency of Prune; CI installs it for these tests.
let pythonHasSafetensors: Bool = {
    guard let python3 else { return false }
    return (try? run(python3, ["-c", "import safetensors.numpy"]).status) == 0
}()

/// Python's safetensors reads Prune's files. CI installs it (`.ci/run`); without it these
/// tests fail rather than skip (`pip install safetensors numpy`).
@Suite("interoperability with Python's safetensors")
struct PythonInteropTests {
    init() throws {
        try #require(pythonHasSafetensors, "needs python3 with the safetensors and numpy modules (pip install safetensors numpy)")
    }

    @Test("Python's safetensors.numpy.load_file reads a saved lenet300 with the same names, shapes and bits")
    func pythonReadsModelFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 9)
        let weight = try #require(model.parameter(at: "fc2.weight"))
        weight.mask = Tensor(shape: weight.value.shape, scalars: (0..<weight.count).map { $0 % 4 == 0 ? 1 : 0 })
        weight.value.scalars[0] = 0   // kept but zero: the mask goes into prune.bitmasks
        let path = folder.file("lenet300.safetensors")
        try ModelFile.save(model, to: path, metadata: ["model": "lenet300"], storage: .dense)

        let script = """
            import sys, json, base64
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file
            t = load_file(sys.argv[1])
            w = t["fc1.weight"]
            with safe_open(sys.argv[1], framework="np") as f:
                meta = f.metadata()
            print(json.dumps({
                "names": sorted(t.keys()),
                "shape": list(w.shape),
                "dtype": str(w.dtype),
                "first": [int(v) for v in w.reshape(-1)[:8].view("uint32")],
                "mask": [int(v) for v in np.unpackbits(np.frombuffer(base64.b64decode(json.loads(meta["prune.bitmasks"])["fc2.weight"]), np.uint8), bitorder="little")[:8]],
                "model": meta["model"],
                "architecture": json.loads(meta["prune.architecture"])["inputShape"],
            }))
            """
        let result = try run(try #require(python3), ["-c", script, path])
        try #require(result.status == 0, "python failed: \(result.error)")
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8))
        let json = try #require(object as? [String: Any])

        #expect(json["names"] as? [String] == model.parameters.map(\.path).sorted())
        #expect(json["shape"] as? [Int] == [300, 784])
        #expect(json["dtype"] as? String == "float32")
        let fc1 = try #require(model.parameter(at: "fc1.weight")).value.scalars
        #expect(json["first"] as? [Int] == fc1.prefix(8).map { Int($0.bitPattern) })
        #expect(json["mask"] as? [Int] == [1, 0, 0, 0, 1, 0, 0, 0])
        #expect(json["model"] as? String == "lenet300")
        #expect(json["architecture"] as? [Int] == [1, 28, 28])
    }

    @Test("Python rebuilds a packed pruned weight from its bitmask and values, as docs/FORMATS.md shows")
    func pythonUnpacks() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let model = try Architecture.lenet300.build(seed: 10)
        let weight = try #require(model.parameter(at: "fc2.weight"))
        weight.mask = Tensor(shape: weight.value.shape, scalars: (0..<weight.count).map { $0 % 7 == 3 ? 1 : 0 })
        let path = folder.file("packed.safetensors")
        try ModelFile.save(model, to: path, storage: .packed)

        let script = """
            import sys, json
            import numpy as np
            from safetensors import safe_open
            from safetensors.numpy import load_file
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="np") as f:
                shapes = json.loads(f.metadata()["prune.packed"])
            shape = shapes["fc2.weight"]
            n = int(np.prod(shape))
            kept = np.unpackbits(t["fc2.weight.bitmask"], bitorder="little")[:n].astype(bool)
            w = np.zeros(n, dtype=np.float32)
            w[kept] = t["fc2.weight.values"]
            w = w.reshape(shape)
            print(json.dumps({"shape": list(w.shape), "values": [float(v) for v in w.reshape(-1)]}))
            """
        let result = try run(try #require(python3), ["-c", script, path])
        try #require(result.status == 0, "python failed: \(result.error)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(json["shape"] as? [Int] == [100, 300])
        let values = try #require(json["values"] as? [Double])
        // Float32 → Double → JSON → Double → Float32 is exact.
        #expect(values.map { Float($0) } == weight.value.scalars, "\(zip(values, weight.value.scalars).filter { Float($0) != $1 }.count) entries differ")
    }

    @Test("a file written by Python (F32, F16, F64, metadata) decodes to the same values")
    func swiftReadsPythonFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("python.safetensors")
        let script = """
            import sys, numpy as np
            from safetensors.numpy import save_file
            save_file({
                "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
                "f16": np.array([1.0, -2.0, 0.333251953125, 65504.0, 6e-08], dtype=np.float16),
                "f64": np.array([[np.pi], [-1e-3]], dtype=np.float64),
            }, sys.argv[1], metadata={"source": "numpy"})
            """
        let result = try run(try #require(python3), ["-c", script, path])
        try #require(result.status == 0, "python failed: \(result.error)")
        let contents = try Safetensors.read(path)
        #expect(contents.metadata == ["source": "numpy"])
        let f32 = try #require(contents["f32"])
        #expect(f32.shape == [3, 4])
        #expect(bits(f32.scalars) == bits((0..<12).map { Float($0) / 7 }))
        let f16 = try #require(contents["f16"])
        #expect(f16.shape == [5])
        #expect(f16.scalars == [1, -2, 0.333251953125, 65504, 0x1p-24])   // 6e-08 rounds to the smallest subnormal
        let f64 = try #require(contents["f64"])
        #expect(f64.shape == [2, 1])
        #expect(f64.scalars == [Float(Double.pi), Float(-1e-3)])
    }
}
