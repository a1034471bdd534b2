import FileFormats
import Foundation
import TensorCore
import TestSupport
import Testing

/// Hand-built safetensors bytes: the little-endian header length, the header text
/// padded with spaces to a multiple of 8 (unless `pad` is false), then `data`.
func safetensorsBytes(header: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
    var json = Array(header.utf8)
    while pad && json.count % 8 != 0 { json.append(0x20) }
    let n = UInt64(json.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + json + data
}

/// Little-endian bytes of fixed-width integers.
func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}

/// Several tensors of different ranks, including the scalar and special values, and metadata.
let sampleContents = Safetensors.Contents(
    tensors: [
        ("layer.weight", Tensor(shape: [2, 3], scalars: [1.5, -2.25, 0, -0.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude])),
        ("layer.bias", Tensor(shape: [3], scalars: [.infinity, -.infinity, .nan])),
        ("a.scalar", Tensor(shape: [], scalars: [0.1])),
        ("z.cube", Tensor(shape: [2, 1, 2], scalars: [1, 2, 3, 4])),
        ("empty", Tensor(shape: [0, 4], scalars: [])),
    ],
    metadata: ["note": "quote \" backslash \\ newline \n ünïcode ✓", "empty": "", "number": "42"])

@Suite("safetensors")
struct SafetensorsTests {
    @Test("encode then decode gives back every tensor bit for bit, in order, with the metadata")
    func roundTrip() throws {
        let decoded = try Safetensors.decode(try Safetensors.encode(sampleContents), path: "memory")
        #expect(decoded.tensors.map(\.name) == sampleContents.tensors.map(\.name))
        for (original, back) in zip(sampleContents.tensors, decoded.tensors) {
            #expect(back.tensor.shape == original.tensor.shape, "\(original.name)")
            #expect(bits(back.tensor.scalars) == bits(original.tensor.scalars), "\(original.name)")
        }
        #expect(decoded.metadata == sampleContents.metadata)
        #expect(decoded["z.cube"]?.scalars == [1, 2, 3, 4])
        #expect(decoded["nope"] == nil)
    }

    @Test("integer tensors (U8, U16, I64) round-trip as bytes after the float tensors, with the dtype in the header")
    func integerRoundTrip() throws {
        var contents = sampleContents
        contents.integers = [("bits", Safetensors.IntegerTensor(shape: [3], bytes: [0, 0x80, 0xFF]))]
        let u16 = try #require(Safetensors.decode(Data(safetensorsBytes(
            header: #"{"i":{"dtype":"U16","shape":[2],"data_offsets":[0,4]},"l":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}"#,
            data: [1, 2, 3, 4] + littleEndian([UInt64(7)]))), path: "memory").integer("i"))
        #expect(u16.dtype == "U16" && u16.shape == [2] && u16.bytes == [1, 2, 3, 4])
        let decoded = try Safetensors.decode(try Safetensors.encode(contents), path: "memory")
        #expect(decoded.tensors.map(\.name) == sampleContents.tensors.map(\.name))
        #expect(decoded.integer("bits") == contents.integers[0].tensor)
        #expect(decoded["bits"] == nil)
        let bytes = try Safetensors.encode(contents)
        let length = Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropFirst(8).prefix(length))) as? [String: Any])
        let entry = try #require(header["bits"] as? [String: Any])
        #expect(entry["dtype"] as? String == "U8")
    }

    #if !(os(macOS) && arch(x86_64))
    @Test("tensors written as F16 read back as the nearest Float16, ties to even; overflow, NaN, zeros and subnormals too")
    func halfPrecision() throws {
        var values: [Float] = [0, -0, 1, -2.5, 65504, 65520, 1e6, -1e6, .infinity, -.infinity, 0x1p-24, 0x1p-25, 0x1.8p-25,
                               0x1p-14, 0x1.ffcp-15, 1.0009765625, 1.00048828125, 1.00146484375, 3.14159265, -0.1]
        var rng = SeededGenerator(seed: 3)
        values += (0..<2000).map { _ in Float.random(in: -70000...70000, using: &rng) }
        values += (0..<2000).map { _ in Float.random(in: -1e-4...1e-4, using: &rng) }
        let tensor = Tensor(shape: [values.count], scalars: values)
        let contents = Safetensors.Contents(tensors: [("h", tensor), ("f", tensor)], halfPrecision: ["h"])
        let bytes = try Safetensors.encode(contents)
        let alone = try Safetensors.encode(Safetensors.Contents(tensors: [("f", tensor)])).count
        #expect(bytes.count > alone + 2 * values.count && bytes.count <= alone + 2 * values.count + 80, "2 bytes per value plus one header entry")
        let back = try Safetensors.decode(bytes, path: "memory")
        let h = try #require(back["h"])
        for (i, v) in values.enumerated() {
            let expected = Float(Float16(v))
            #expect(h.scalars[i].bitPattern == expected.bitPattern, "\(v) → \(h.scalars[i]), expected \(expected)")
        }
        #expect(back["f"]?.scalars.map(\.bitPattern) == values.map(\.bitPattern))
        let nan = try Safetensors.decode(try Safetensors.encode(Safetensors.Contents(tensors: [("n", Tensor(shape: [1], scalars: [.nan]))],
                                                                                     halfPrecision: ["n"])), path: "memory")
        #expect(nan["n"]?.scalars[0].isNaN == true)
    }
    #endif

    @Test("write then read through a file is exact")
    func fileRoundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("t.safetensors")
        let big = randomTensor([64, 33], seed: 7)
        try Safetensors.write(Safetensors.Contents(tensors: [("big", big)], metadata: ["k": "v"]), to: path)
        let read = try Safetensors.read(path)
        #expect(read.tensors.count == 1)
        #expect(read["big"]?.shape == [64, 33])
        #expect(bits(try #require(read["big"]).scalars) == bits(big.scalars))
        #expect(read.metadata == ["k": "v"])
    }

    @Test("the encoded header follows the spec: LE length, F32 entries, contiguous offsets, 8-aligned data")
    func headerMatchesSpec() throws {
        let bytes = [UInt8](try Safetensors.encode(sampleContents))
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(n > 0 && 8 + n <= bytes.count)
        #expect((8 + n) % 8 == 0, "the data section must start at a multiple of 8")
        let headerData = Data(bytes[8..<(8 + n)])
        #expect(headerData.first == UInt8(ascii: "{"))
        let header = try #require(try JSONSerialization.jsonObject(with: headerData) as? [String: Any])
        #expect(Set(header.keys) == Set(sampleContents.tensors.map(\.name) + ["__metadata__"]))
        let metadata = try #require(header["__metadata__"] as? [String: String])
        #expect(metadata == sampleContents.metadata)

        let dataSize = bytes.count - 8 - n
        var expectedBegin = 0
        for (name, tensor) in sampleContents.tensors {
            let entry = try #require(header[name] as? [String: Any], "\(name)")
            #expect(Set(entry.keys) == ["dtype", "shape", "data_offsets"])
            #expect(entry["dtype"] as? String == "F32")
            #expect((entry["shape"] as? [NSNumber])?.map(\.intValue) == tensor.shape, "\(name)")
            let offsets = try #require((entry["data_offsets"] as? [NSNumber])?.map(\.intValue))
            #expect(offsets == [expectedBegin, expectedBegin + 4 * tensor.count], "\(name) offsets are not contiguous")
            // The bytes at the offsets are the little-endian IEEE bits of the scalars.
            let start = 8 + n + offsets[0]
            #expect(Array(bytes[start..<(8 + n + offsets[1])]) == littleEndian(bits(tensor.scalars)), "\(name)")
            expectedBegin = offsets[1]
        }
        #expect(expectedBegin == dataSize, "the offsets must cover the data section exactly")
    }

    @Test("without metadata the header has no __metadata__ entry")
    func noMetadata() throws {
        let bytes = [UInt8](try Safetensors.encode(Safetensors.Contents(tensors: [("x", Tensor(shape: [1], scalars: [2]))])))
        let n = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        #expect(Array(header.keys) == ["x"])
        #expect(try Safetensors.decode(Data(bytes), path: "m").metadata.isEmpty)
    }

    @Test("encode rejects the reserved and the empty tensor name")
    func rejectsBadNames() {
        for name in ["__metadata__", ""] {
            #expect(throws: FormatError.self) {
                try Safetensors.encode(Safetensors.Contents(tensors: [(name, Tensor(shape: [1], scalars: [1]))]))
            }
        }
    }

    @Test("encode rejects two tensors with one name (the header could describe only one of them)")
    func rejectsDuplicateNames() {
        let one = Tensor(shape: [1], scalars: [1])
        let error = formatError {
            _ = try Safetensors.encode(Safetensors.Contents(tensors: [("w", one), ("b", one), ("w", one)]))
        }
        #expect(error?.path == "w")
    }

    @Test("F16 tensors decode exactly, including subnormals, infinities, signed zero and NaN")
    func decodesF16() throws {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x03FF, 0x0400, 0x8000, 0x7C00, 0xFC00, 0x3555]
        let expected: [Float] = [1, -2, 0.5, 65504, 0x1p-24, 0x1.FF8p-15, 0x1p-14, -0.0, .infinity, -.infinity,
                                 0x1.554p-2]
        let header = #"{"h":{"dtype":"F16","shape":[11],"data_offsets":[0,22]},"n":{"dtype":"F16","shape":[1],"data_offsets":[22,24]}}"#
        let bytes = safetensorsBytes(header: header, data: littleEndian(halves) + littleEndian([UInt16(0x7E00)]))
        let decoded = try Safetensors.decode(Data(bytes), path: "f16")
        let h = try #require(decoded["h"])
        #expect(h.shape == [11])
        #expect(bits(h.scalars) == bits(expected))
        let nan = try #require(decoded["n"]).scalars[0]
        #expect(nan.isNaN)
    }

    @Test("F64 tensors decode to the nearest Float")
    func decodesF64() throws {
        let doubles: [Double] = [3.141592653589793, -1e-3, 1e300, 0, 2.5, -7]
        let header = #"{"d":{"dtype":"F64","shape":[2,3],"data_offsets":[0,48]},"__metadata__":{"from":"hand"}}"#
        let bytes = safetensorsBytes(header: header, data: littleEndian(doubles.map(\.bitPattern)))
        let decoded = try Safetensors.decode(Data(bytes), path: "f64")
        let d = try #require(decoded["d"])
        #expect(d.shape == [2, 3])
        #expect(bits(d.scalars) == bits(doubles.map { Float($0) }))
        #expect(d.scalars[2] == .infinity)
        #expect(decoded.metadata == ["from": "hand"])
    }

    @Test("tensors stored out of order come back ordered by their offsets, and unaligned data decodes")
    func decodesOutOfOrderUnaligned() throws {
        let header = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let bytes = safetensorsBytes(header: header, data: littleEndian([Float(1).bitPattern, Float(2).bitPattern]), pad: false)
        let decoded = try Safetensors.decode(Data(bytes), path: "order")
        #expect(decoded.tensors.map(\.name) == ["a", "b"])
        #expect(decoded.tensors.map(\.tensor.scalars) == [[1], [2]])
    }

    // MARK: Rejection

    /// Malformed safetensors bytes and the words the error must contain.
    struct BadFile: CustomStringConvertible, Sendable {
        var description: String
        var bytes: [UInt8]
        var words: [String]
    }

    static let badFiles: [BadFile] = [
        BadFile(description: "fewer than 8 bytes", bytes: [1, 0, 0], words: ["too short", "3 bytes"]),
        BadFile(description: "header length larger than the file",
                bytes: littleEndian([UInt64(64)]) + Array("{}".utf8), words: ["header length 64", "exceeds"]),
        BadFile(description: "header length near UInt64.max", bytes: littleEndian([UInt64.max]) + [0, 0], words: ["exceeds"]),
        BadFile(description: "header not JSON", bytes: safetensorsBytes(header: "not json at all", data: []),
                words: ["not a JSON object"]),
        BadFile(description: "header a JSON array", bytes: safetensorsBytes(header: "[1, 2]", data: []),
                words: ["not a JSON object"]),
        BadFile(description: "offsets past the end",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 8)),
                words: ["'w'", "past the data section", "truncated"]),
        BadFile(description: "offsets not matching shape × dtype",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, data: [UInt8](repeating: 0, count: 24)),
                words: ["'w'", "needs 24 bytes", "offsets give 20"]),
        BadFile(description: "offsets reversed",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: [UInt8](repeating: 0, count: 8)),
                words: ["'w'"]),
        BadFile(description: "negative offset",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: [UInt8](repeating: 0, count: 8)),
                words: ["'w'", "invalid data offsets"]),
        BadFile(description: "unsupported dtype I8",
                bytes: safetensorsBytes(header: #"{"q":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]),
                words: ["'q'", "I8", "supported: F32, F16, BF16, F64, U8"]),
        BadFile(description: "negative dimension",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                words: ["'w'", "invalid shape"]),
        BadFile(description: "entry without data_offsets",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0]),
                words: ["'w'", "malformed"]),
        BadFile(description: "shape whose byte size overflows Int",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F64","shape":[1099511627776,2097152],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                words: ["'w'"]),
        BadFile(description: "shape whose element count overflows Int",
                bytes: safetensorsBytes(header: #"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                words: ["'w'", "overflows"]),
        BadFile(description: "__metadata__ with a number",
                bytes: safetensorsBytes(header: #"{"__metadata__":{"epochs":10}}"#, data: []), words: ["__metadata__", "strings"]),
        BadFile(description: "__metadata__ not an object",
                bytes: safetensorsBytes(header: #"{"__metadata__":"v1"}"#, data: []), words: ["__metadata__"]),
    ]

    @Test("malformed files throw a FormatError naming the file and the problem", arguments: badFiles)
    func rejectsBadFile(_ bad: BadFile) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(bad.bytes, to: "bad.safetensors")
        expectError(formatError { _ = try Safetensors.read(path) }, path: path, mentions: bad.words)
    }

    @Test("reading a missing file says so")
    func rejectsMissingFile() {
        let path = "/nonexistent-prune-test/m.safetensors"
        expectError(formatError { _ = try Safetensors.read(path) }, path: path, mentions: ["no such file"])
    }

    // MARK: Atomic writes

    @Test("writing into a missing folder throws and creates nothing")
    func atomicWriteMissingFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("missing/m.safetensors")
        expectError(formatError { try AtomicFile.write(Data([1, 2, 3]), to: path) }, path: path,
                    mentions: ["does not exist", folder.file("missing")])
        #expect(try folder.contents() == [])
        #expect(!FileManager.default.fileExists(atPath: folder.file("missing")))
    }

    @Test("a successful write leaves only the target file, and overwriting keeps the new content")
    func atomicWriteLeavesNoTemporary() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("m.safetensors")
        try AtomicFile.write(Data([1, 2, 3]), to: path)
        #expect(try folder.contents() == ["m.safetensors"])
        #expect(FileManager.default.contents(atPath: path) == Data([1, 2, 3]))

        try AtomicFile.write(Data([9, 8]), to: path)
        #expect(try folder.contents() == ["m.safetensors"], "no .m.safetensors.tmp-* may remain")
        #expect(FileManager.default.contents(atPath: path) == Data([9, 8]))

        try Safetensors.write(sampleContents, to: path)
        #expect(try folder.contents() == ["m.safetensors"])
        #expect(try Safetensors.read(path).metadata == sampleContents.metadata)
    }

    @Test("writing over a folder fails, keeps the folder and leaves no temporary file")
    func atomicWriteOverFolder() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try FileManager.default.createDirectory(atPath: folder.file("sub"), withIntermediateDirectories: false)
        try folder.write([7], to: "sub/inside")
        let path = folder.file("sub")
        expectError(formatError { try AtomicFile.write(Data([1]), to: path) }, path: path, mentions: ["cannot"])
        #expect(try folder.contents() == ["sub"])
        #expect(FileManager.default.contents(atPath: folder.file("sub/inside")) == Data([7]))
    }
}
