import Foundation
import TensorCore

/// Reader and writer for safetensors files: F32 tensors (F16, BF16 and F64 read and
/// converted), integer tensors kept as raw bytes, and string metadata.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of JSON mapping each
/// tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative
/// to the data section) and an optional `"__metadata__"` object of strings, then the
/// data. https://github.com/huggingface/safetensors
public enum Safetensors {
    /// The largest header accepted when reading (the reference implementation's limit).
    static let maximumHeaderSize = 100_000_000

    /// The contents of a safetensors file.
    public struct Contents {
        /// Tensors in the order they appear in the data section.
        public var tensors: [(name: String, tensor: Tensor)]
        /// Integer tensors (U8, U16, U32, I32, I64), stored after the float tensors.
        public var integers: [(name: String, tensor: IntegerTensor)]
        /// The `__metadata__` strings.
        public var metadata: [String: String]
        /// Names of float tensors to write as F16 (half the bytes; values rounded to nearest
        /// even). Reading always gives Float32.
        public var halfPrecision: Set<String>
        /// The dtype each tensor had in the file it was read from (`"F32"`, `"F16"`, `"BF16"`,
        /// `"F64"`, `"I64"`, …); empty for contents built in memory. Writing ignores it.
        public var storedTypes: [String: String]

        /// Creates contents.
        public init(tensors: [(name: String, tensor: Tensor)], integers: [(name: String, tensor: IntegerTensor)] = [],
                    metadata: [String: String] = [:], halfPrecision: Set<String> = [], storedTypes: [String: String] = [:]) {
            self.tensors = tensors
            self.integers = integers
            self.metadata = metadata
            self.halfPrecision = halfPrecision
            self.storedTypes = storedTypes
        }

        /// The float tensor called `name`, or nil.
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }

        /// The integer tensor called `name`, or nil.
        public func integer(_ name: String) -> IntegerTensor? { integers.first { $0.name == name }?.tensor }
    }

    /// An integer tensor: its safetensors dtype, shape and little-endian bytes.
    public struct IntegerTensor: Equatable {
        /// The integer dtypes this reader and writer handle, with their element sizes.
        public static let elementSizes = ["U8": 1, "U16": 2, "U32": 4, "I32": 4, "I64": 8]

        /// The dtype name, a key of `elementSizes`.
        public var dtype: String
        /// The shape.
        public var shape: [Int]
        /// The elements, little-endian, `shape.product * elementSize` bytes.
        public var bytes: [UInt8]

        /// Creates a tensor of bytes (dtype U8).
        public init(shape: [Int], bytes: [UInt8]) {
            precondition(shape.product == bytes.count, "U8 tensor of shape \(shape) needs \(shape.product) bytes, got \(bytes.count)")
            self.dtype = "U8"
            self.shape = shape
            self.bytes = bytes
        }

        /// Creates a tensor of the given dtype from raw little-endian bytes.
        init(dtype: String, shape: [Int], bytes: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }
    }

    /// Serializes tensors and metadata to safetensors bytes.
    public static func encode(_ contents: Contents) throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        func add(_ name: String, dtype: String, shape: [Int], size: Int) throws {
            guard name != "__metadata__", !name.isEmpty else { throw FormatError(path: name, .invalidTensorName(tensor: name, reason: "invalid tensor name")) }
            guard header[name] == nil else { throw FormatError(path: name, .invalidTensorName(tensor: name, reason: "two tensors have this name")) }
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        for (name, tensor) in contents.tensors {
            let half = contents.halfPrecision.contains(name)
            try add(name, dtype: half ? "F16" : "F32", shape: tensor.shape, size: tensor.count * (half ? 2 : 4))
        }
        for (name, tensor) in contents.integers {
            guard let size = IntegerTensor.elementSizes[tensor.dtype], tensor.bytes.count == tensor.shape.product * size else {
                throw FormatError(path: name, .malformedTensor(tensor: name, problem: "of integer dtype \(tensor.dtype) and shape \(tensor.shape) has \(tensor.bytes.count) bytes"))
            }
            try add(name, dtype: tensor.dtype, shape: tensor.shape, size: tensor.bytes.count)
        }
        if !contents.metadata.isEmpty { header["__metadata__"] = contents.metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }   // pad with spaces so the data is 8-byte aligned
        var data = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        for (name, tensor) in contents.tensors {
            if contents.halfPrecision.contains(name) {
                for v in tensor.scalars {
                    let h = float16Bits(v)
                    data.append(UInt8(truncatingIfNeeded: h))
                    data.append(UInt8(truncatingIfNeeded: h >> 8))
                }
                continue
            }
            tensor.withUnsafeBufferPointer { p in
                #if _endian(big)
                for v in p { var le = v.bitPattern.littleEndian; withUnsafeBytes(of: &le) { data.append(contentsOf: $0) } }
                #else
                data.append(UnsafeBufferPointer(start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self),
                                                count: p.count * 4))
                #endif
            }
        }
        for (_, tensor) in contents.integers { data.append(contentsOf: tensor.bytes) }
        return data
    }

    /// Parses safetensors bytes. Accepts F32, F16, BF16 and F64 tensors (converted to Float32;
    /// F16 and BF16 exactly) and the integer dtypes of `IntegerTensor` (kept as bytes).
    /// - Throws: `FormatError` naming `path` and the problem for any malformed input.
    public static func decode(_ data: Data, path: String) throws -> Contents {
        guard data.count >= 8 else { throw FormatError(path: path, .corrupt(what: "too short to be a safetensors file (\(data.count) bytes)")) }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(maximumHeaderSize), Int(headerLength) <= data.count - 8 else {
            throw FormatError(path: path, .corrupt(what: "header length \(headerLength) exceeds the file size \(data.count); the file is truncated or not safetensors"))
        }
        let headerData = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + Int(headerLength)))
        guard let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw FormatError(path: path, .corrupt(what: "header is not a JSON object; the file is corrupt or not safetensors"))
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = data.count - dataStart
        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let strings = meta as? [String: String] else {
                throw FormatError(path: path, .corrupt(what: "__metadata__ must map strings to strings"))
            }
            metadata = strings
        }
        var entries: [(name: String, begin: Int, end: Int, shape: [Int], dtype: String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [Any],
                  let offsetValues = info["data_offsets"] as? [Any], offsetValues.count == 2 else {
                throw FormatError(path: path, .malformedTensor(tensor: name, problem: "has a malformed header entry"))
            }
            let shape = try shapeValues.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0, n <= 1 << 40 else {
                    throw FormatError(path: path, .malformedTensor(tensor: name, problem: "has an invalid shape \(shapeValues)"))
                }
                return n
            }
            let offsets = try offsetValues.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else {
                    throw FormatError(path: path, .malformedTensor(tensor: name, problem: "has invalid data offsets"))
                }
                return n
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F16", "BF16": elementSize = 2
            case "F64": elementSize = 8
            default:
                guard let size = IntegerTensor.elementSizes[dtype] else {
                    throw FormatError(path: path, .malformedTensor(tensor: name, problem: "has dtype \(dtype); supported: F32, F16, BF16, F64, U8, U16, U32, I32, I64"))
                }
                elementSize = size
            }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw FormatError(path: path, .malformedTensor(tensor: name, problem: "shape \(shape) overflows")) }
                count = p
            }
            let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: elementSize)
            guard !byteOverflow else { throw FormatError(path: path, .malformedTensor(tensor: name, problem: "shape \(shape) overflows")) }
            guard offsets[1] >= offsets[0], offsets[1] - offsets[0] == byteCount else {
                throw FormatError(path: path, .malformedTensor(tensor: name, problem: "of shape \(shape) and dtype \(dtype) needs \(byteCount) bytes, offsets give \(offsets[1] - offsets[0])"))
            }
            guard offsets[1] <= dataSize else {
                throw FormatError(path: path, .malformedTensor(tensor: name, problem: "ends at byte \(offsets[1]) past the data section (\(dataSize) bytes); the file is truncated"))
            }
            entries.append((name, offsets[0], offsets[1], shape, dtype))
        }
        entries.sort { $0.begin < $1.begin }
        var tensors: [(name: String, tensor: Tensor)] = []
        var integers: [(name: String, tensor: IntegerTensor)] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + dataStart
            for e in entries {
                if IntegerTensor.elementSizes[e.dtype] != nil {
                    let bytes = [UInt8](UnsafeRawBufferPointer(start: base + e.begin, count: e.end - e.begin))
                    integers.append((e.name, IntegerTensor(dtype: e.dtype, shape: e.shape, bytes: bytes)))
                    continue
                }
                let count = e.shape.product
                let t = Tensor(shape: e.shape) { out in
                    let src = base + e.begin
                    switch e.dtype {
                    case "F32":
                        for i in 0..<count {
                            out[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        }
                    case "F64":
                        for i in 0..<count {
                            out[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                        }
                    case "BF16":   // the high half of a Float32
                        for i in 0..<count {
                            out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                        }
                    default:
                        for i in 0..<count {
                            out[i] = Float(float16Bits: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                        }
                    }
                }
                tensors.append((e.name, t))
            }
        }
        var storedTypes: [String: String] = [:]
        for e in entries { storedTypes[e.name] = e.dtype }
        return Contents(tensors: tensors, integers: integers, metadata: metadata, storedTypes: storedTypes)
    }

    /// Reads a safetensors file.
    public static func read(_ path: String) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        return try decode(data, path: path)
    }

    /// Writes a safetensors file atomically (a temporary file in the same folder, then rename).
    public static func write(_ contents: Contents, to path: String) throws {
        try AtomicFile.write(try encode(contents), to: path)
    }
}

/// IEEE binary16 bits of `x`, rounded to nearest even; overflow gives ±infinity, NaN stays
/// NaN (portable; no Float16 type needed).
func float16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }
    let e = exponent - 127 + 15
    if e >= 31 { return sign | 0x7C00 }
    if e <= 0 {
        // Subnormal (or zero): shift the full mantissa right, rounding to nearest even.
        guard e >= -10 else { return sign }
        let full = mantissa | 0x80_0000
        let shift = UInt32(14 - e)
        var half = full >> shift
        let remainder = full & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
        if remainder > halfway || (remainder == halfway && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }
    var half = UInt32(e) << 10 | mantissa >> 13
    let remainder = mantissa & 0x1FFF
    if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) { half += 1 }   // may carry into the exponent: correct
    return sign | UInt16(half)
}

extension Float {
    /// Converts IEEE binary16 bits to Float (portable; no Float16 type needed).
    init(float16Bits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            self = (sign != 0 ? -1 : 1) * Float(mantissa) * 0x1p-24
        } else if exponent == 31 {
            self = Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        } else {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | mantissa << 13)
        }
    }
}

/// Atomic file writes: write a temporary file next to the target, then rename it.
public enum AtomicFile {
    /// Writes `data` to `path` so that readers see the old file or the whole new one, never a part.
    /// - Throws: `FormatError` naming the path when the folder is missing or not writable.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(path: path, .missingFolder(folder))
        }
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(nextTemporaryNumber())")
        do {
            try data.write(to: temporary)
            // Flush to disk before the rename, so a crash leaves the old file or the whole new one.
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(path: path, .cannotWrite(step: "write", reason: error.localizedDescription))
        }
        guard rename(temporary.path, path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: temporary)
            throw FormatError(path: path, .cannotWrite(step: "replace the file", reason: String(cString: strerror(code))))
        }
    }
}

private let temporaryCounter = NSLock()
nonisolated(unsafe) private var temporaryNumber = 0

/// A process-unique number for temporary file names.
private func nextTemporaryNumber() -> Int {
    temporaryCounter.lock()
    defer { temporaryCounter.unlock() }
    temporaryNumber += 1
    return temporaryNumber
}
