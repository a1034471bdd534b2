import FileFormats
import Foundation
import TensorCore
import Testing

/// The committed files written by NumPy and Pillow (tools/data-fixtures/make_fixtures.py).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// The values make_fixtures.py recorded next to the files.
func expectedFixtureValues(_ group: String, _ key: String) throws -> [Double] {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(fixtures)/expected.json"))
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: [Double]]])
    return try #require(json[group]?[key], "expected.json has no \(group).\(key)")
}

@Suite("NumPy .npy and .npz files")
struct NumPyTests {
    let numpy = "\(fixtures)/numpy"

    @Test("float32 files written by NumPy read as NumPy wrote them: little-endian, big-endian, Fortran order, float16")
    func floatsFromNumPy() throws {
        let expected = try expectedFixtureValues("numpy", "f4").map(Float.init)
        for name in ["f4", "f4_big_endian", "f4_fortran"] {
            let a = try NPY.read("\(numpy)/\(name).npy")
            #expect(a.shape == [2, 3] && a.scalarType == .float32, "\(name)")
            #expect(a.floats() == expected, "\(name)")
        }
        let half = try NPY.read("\(numpy)/f2.npy")
        #expect(half.scalarType == .float16 && half.floats() == expected)   // quarters are exact in float16
        let cube = try NPY.read("\(numpy)/f8_3d_fortran.npy")
        let cubeValues = try expectedFixtureValues("numpy", "f8_3d").map(Float.init)
        #expect(cube.shape == [2, 3, 4] && cube.floats() == cubeValues)
        let scalar = try NPY.read("\(numpy)/scalar.npy")
        #expect(scalar.shape == [] && scalar.floats() == [1.5])
    }

    @Test("integer and boolean files written by NumPy keep their values, signs and byte order")
    func integersFromNumPy() throws {
        #expect(try NPY.read("\(numpy)/i8.npy").integers() == [3, 0, -2, 9_000_000_000])
        #expect(try NPY.read("\(numpy)/i4_big_endian.npy").integers() == [1, -1, 65536])
        #expect(try NPY.read("\(numpy)/u1.npy").bytes == [0, 1, 128, 254, 255, 7])
        #expect(try NPY.read("\(numpy)/bool.npy").integers() == [1, 0, 1])
    }

    @Test("an object array (pickled) is refused with the dtype named")
    func objectArrayRefused() throws {
        let path = "\(numpy)/object.npy"
        expectError(formatError { _ = try NPY.read(path) }, path: path, mentions: ["dtype", "|O"])
    }

    @Test("what the writer writes, NumPy's layout and the reader agree (round trip of every type)")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let values: [Float] = [1, -2.5, 3.25, .greatestFiniteMagnitude, -0, 1e-40]
        let a = NPY.Array(shape: [2, 3], floats: values)
        let path = folder.file("a.npy")
        try NPY.write(a, to: path)
        let back = try NPY.read(path)
        #expect(back == a && back.floats().map(\.bitPattern) == values.map(\.bitPattern))
        // The header NumPy writes: 64-byte aligned data, a dict literal.
        let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect((raw.count - 24) % 64 == 0)
        #expect(String(decoding: raw[10..<70], as: UTF8.self).hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        let ints = NPY.Array(shape: [4], integers: [Int64.min, -1, 0, Int64.max])
        #expect(try NPY.decode(NPY.encode(ints), path: "x") == ints)
        let bytes = NPY.Array(shape: [1, 2, 2], bytes: [9, 8, 7, 6])
        #expect(try NPY.decode(NPY.encode(bytes), path: "x") == bytes)
        let tensor = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        #expect(try NPY.decode(NPY.encode(NPY.Array(tensor)), path: "x").inputs(path: "x") == tensor)
    }

    @Test("np.savez and np.savez_compressed archives read with every array")
    func npzFromNumPy() throws {
        let x = try expectedFixtureValues("numpy", "dataset_x").map(Float.init)
        let y = try expectedFixtureValues("numpy", "dataset_y").map(Int64.init)
        let stored = try NPZ.read("\(numpy)/dataset.npz")
        #expect(Set(stored.keys) == ["x_train", "y_train", "x_test", "y_test"])
        #expect(stored["x_train"]?.floats() == Array(x[0..<120]) && stored["y_test"]?.scalarType == .uint8)
        #expect(stored["y_train"]?.integers() == Array(y[0..<30]))
        let deflated = try NPZ.read("\(numpy)/dataset_compressed.npz")
        #expect(deflated["x"]?.shape == [40, 4] && deflated["x"]?.floats() == x)
        #expect(deflated["y"]?.scalarType == .int32 && deflated["y"]?.integers() == y)
    }

    @Test("the .npz writer's archives (stored and deflated) read back")
    func npzRoundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let arrays: [(name: String, array: NPY.Array)] = [("x", NPY.Array(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])),
                                                          ("y", NPY.Array(shape: [3], integers: [0, 1, 0]))]
        for compressed in [false, true] {
            let path = folder.file("d\(compressed).npz")
            try NPZ.write(arrays, to: path, compressed: compressed)
            let back = try NPZ.read(path)
            #expect(back["x"] == arrays[0].array && back["y"] == arrays[1].array)
        }
    }

    // MARK: Hostile files

    /// A valid header for `descr` and `shape` followed by `dataBytes` bytes.
    func npy(_ header: String, dataBytes: Int, major: UInt8 = 1) -> [UInt8] {
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        let h = Array(header.utf8)
        bytes += major == 1 ? [UInt8(h.count & 0xFF), UInt8(h.count >> 8)] : [UInt8(h.count & 0xFF), UInt8(h.count >> 8), 0, 0]
        return bytes + h + [UInt8](repeating: 0, count: dataBytes)
    }

    @Test("malformed .npy headers are errors naming the file and the problem", arguments: [
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 23, "truncated"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 25, "too long"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", 0, "too many elements"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000000000, 100), }", 0, "too many elements"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 0, "shape"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12, "shape"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (2,), }", 8, "repeats"),
        ("{'descr': '<f4', 'shape': (2,), }", 8, "fortran_order"),
        ("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "dtype"),
        ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, "structured"),
        ("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8, "byte order"),
        ("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8, "True or False"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 8, "unknown key"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } trailing", 8, "after"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8, "shape"),
    ])
    func hostileHeaders(header: String, dataBytes: Int, mentions: String) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(npy(header, dataBytes: dataBytes), to: "bad.npy")
        expectError(formatError { _ = try NPY.read(path) }, path: path, mentions: [mentions])
    }

    @Test("bad magic, unknown versions, huge and truncated header lengths are refused")
    func hostilePreambles() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let good = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", dataBytes: 4)
        var version = good; version[6] = 9
        var huge = npy("{}", dataBytes: 0, major: 2); huge[8...11] = [0xFF, 0xFF, 0xFF, 0x7F]
        var long = good; long[8] = 0xFF; long[9] = 0x7F
        for (bytes, words) in [([UInt8](good.prefix(7)), ["magic"]), (Array("NUMPY....".utf8), ["magic"]), (version, ["version 9"]),
                               (huge, ["exceeds"]), (long, ["truncated"])] {
            let path = try folder.write(bytes, to: "bad.npy")
            expectError(formatError { _ = try NPY.read(path) }, path: path, mentions: words)
        }
    }

    /// A ZIP archive of `members` (name, bytes), stored, written by hand so sizes can lie.
    func zip(_ members: [(String, [UInt8])], declaredSize: UInt32? = nil) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        for (name, data) in members {
            let crc = crc32(data), offset = UInt32(out.count)
            let size = declaredSize ?? UInt32(data.count)
            let fields = u16(20) + u16(0) + u16(0) + u16(0) + u16(0) + u32(crc) + u32(UInt32(data.count)) + u32(size) + u16(name.utf8.count) + u16(0)
            out += u32(0x0403_4B50) + fields + Array(name.utf8) + data
            central += u32(0x0201_4B50) + u16(20) + fields + u16(0) + u16(0) + u16(0) + u32(0) + u32(offset) + Array(name.utf8)
        }
        let start = UInt32(out.count)
        return out + central + u32(0x0605_4B50) + u16(0) + u16(0) + u16(members.count) + u16(members.count)
            + u32(UInt32(central.count)) + u32(start) + u16(0)
    }

    func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    @Test("hostile .npz archives: duplicate names, non-.npy members, lying sizes, over-budget sizes, bad members")
    func hostileArchives() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let member = [UInt8](NPY.encode(NPY.Array(shape: [2], floats: [1, 2])))
        let sane = try folder.write(zip([("x.npy", member)]), to: "sane.npz")
        #expect(try NPZ.read(sane)["x"]?.floats() == [1, 2])   // the hand-made archive is valid
        let cases: [([UInt8], Int, [String])] = [
            (zip([("x.npy", member), ("x.npy", member)]), NPZ.defaultMaximumBytes, ["stored twice"]),
            (zip([("notes.txt", member)]), NPZ.defaultMaximumBytes, ["notes.txt", "not an .npy"]),
            (zip([("x.npy", member)], declaredSize: 0xFFFF_FFF0), NPZ.defaultMaximumBytes, ["x.npy"]),
            (zip([("x.npy", member)]), 10, ["more than 10 bytes"]),
            (zip([("x.npy", Array(member.prefix(20)))]), NPZ.defaultMaximumBytes, ["x"]),
            (Array(zip([("x.npy", member)]).prefix(40)), NPZ.defaultMaximumBytes, ["zip"]),
            (Array("PK not really a zip archive at all".utf8), NPZ.defaultMaximumBytes, ["zip"]),
        ]
        for (i, (bytes, budget, words)) in cases.enumerated() {
            let path = try folder.write(bytes, to: "bad\(i).npz")
            expectError(formatError { _ = try NPZ.read(path, maximumBytes: budget) }, path: path, mentions: words)
        }
    }

    @Test("a zip bomb (1 MB of zeros deflated, declared 64 bytes) stops at the declared size")
    func zipBomb() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let big = NPY.Array(shape: [1 << 18], floats: [Float](repeating: 0, count: 1 << 18))
        var bytes = [UInt8](try NPZ.encode([("x", big)], compressed: true))
        #expect(bytes.count < 10_000)
        // Patch the declared uncompressed size (local header offset 22, central header offset 24).
        let central = bytes.indices.first { bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4B && bytes[$0 + 2] == 1 && bytes[$0 + 3] == 2 }!
        for at in [22, central + 24] { bytes[at...(at + 3)] = [64, 0, 0, 0] }
        let path = try folder.write(bytes, to: "bomb.npz")
        expectError(formatError { _ = try NPZ.read(path) }, path: path, mentions: ["x.npy"])
    }
}
