import Foundation
import SwiftProtobuf
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading an ONNX file without copying its weights: the file is memory-mapped, the
/// protobuf wire format is scanned just deep enough to find each initializer's raw bytes,
/// swift-protobuf decodes everything else (the graph without its initializers, each
/// initializer without its raw bytes), and the weights are converted straight from the
/// mapping into tensors, releasing the mapped pages as it goes. Peak memory stays near
/// the size of the weights rather than three copies of them.
extension ONNXFile {
    /// One field of a protobuf message: its number, wire type, the bytes of the whole field
    /// (tag included) and of its payload.
    struct WireField {
        var number: Int, wireType: Int
        var whole: Range<Int>, payload: Range<Int>
    }

    /// The fields of the message in `range` of `bytes`, checked against the range's end.
    /// - Throws: `FormatError` on a malformed varint, a length past the end, or a group.
    static func scanFields(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, path: String) throws -> [WireField] {
        func corrupt(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: "not an ONNX model: \(what)")) }
        func varint(_ at: inout Int) throws -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 70, by: 7) {
                guard at < range.upperBound else { throw corrupt("a varint runs past the end at byte \(at)") }
                let byte = bytes[at]
                at += 1
                guard shift < 64 else { throw corrupt("a varint is longer than 10 bytes at byte \(at)") }
                value |= UInt64(byte & 0x7F) << UInt64(shift)
                if byte & 0x80 == 0 { return value }
            }
            throw corrupt("a varint is longer than 10 bytes at byte \(at)")
        }
        var fields: [WireField] = []
        var at = range.lowerBound
        while at < range.upperBound {
            let start = at
            let tag = try varint(&at)
            let (number, wireType) = (Int(truncatingIfNeeded: tag >> 3), Int(tag & 7))
            guard number > 0 else { throw corrupt("field number 0 at byte \(start)") }
            let payloadStart: Int
            switch wireType {
            case 0:
                payloadStart = at
                _ = try varint(&at)
            case 1, 5:
                payloadStart = at
                let size = wireType == 1 ? 8 : 4
                guard range.upperBound - at >= size else { throw corrupt("a fixed-size field runs past the end at byte \(start)") }
                at += size
            case 2:
                let length = try varint(&at)
                guard length <= UInt64(range.upperBound - at) else {
                    throw corrupt("field \(number) at byte \(start) declares \(length) bytes, past the end of its message")
                }
                payloadStart = at
                at += Int(length)
            default:
                throw corrupt("wire type \(wireType) (groups) at byte \(start)")
            }
            fields.append(WireField(number: number, wireType: wireType, whole: start..<at, payload: payloadStart..<at))
        }
        return fields
    }

    /// The tag and length prefix of a length-delimited field.
    static func lengthPrefix(field: Int, length: Int) -> [UInt8] {
        var out: [UInt8] = []
        for var value in [UInt64(field << 3 | 2), UInt64(length)] {
            while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
            out.append(UInt8(value))
        }
        return out
    }

    /// Imports the model in `bytes`; `release` (when given) is told which byte ranges are
    /// no longer needed, so a mapping can drop their pages.
    static func importModel(_ bytes: UnsafeRawBufferPointer, path: String, release: ((Range<Int>) -> Void)?) throws -> Imported {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = 64
        options.discardUnknownFields = true
        func decode<M: Message>(_ type: M.Type, _ slim: [UInt8], _ what: String) throws -> M {
            do { return try M(serializedBytes: slim, options: options) } catch {
                throw FormatError(path: path, .corrupt(what: "not an ONNX model (\(what): the protobuf decoder says \(error))"))
            }
        }
        // ModelProto.graph is field 7; GraphProto.initializer is field 5; TensorProto.raw_data is field 9.
        var model: [UInt8] = [], graph: [UInt8] = [], initializers: [Range<Int>] = []
        var hasGraph = false
        for field in try scanFields(bytes, 0..<bytes.count, path: path) {
            guard field.number == 7, field.wireType == 2 else { model += bytes[field.whole]; continue }
            hasGraph = true
            for g in try scanFields(bytes, field.payload, path: path) {
                if g.number == 5, g.wireType == 2 { initializers.append(g.payload) } else { graph += bytes[g.whole] }
            }
        }
        if hasGraph { model += lengthPrefix(field: 7, length: graph.count) + graph }
        let proto = try decode(Onnx_ModelProto.self, model, "the model")
        guard hasGraph else { throw FormatError(path: path, .corrupt(what: "not an ONNX model: it has no graph")) }

        var floats: [(String, Tensor)] = [], others: [Onnx_TensorProto] = []
        for range in initializers {
            var header: [UInt8] = [], raw: Range<Int>?
            for f in try scanFields(bytes, range, path: path) {
                if f.number == 9, f.wireType == 2 { raw = f.payload } else { header += bytes[f.whole] }
            }
            var tensor = try decode(Onnx_TensorProto.self, header, "an initializer")
            if tensor.dataLocation == .external { throw FormatError(path: path, .externalData(tensor: tensor.name)) }
            let isFloat = [ElementType.float, .float16, .bfloat16, .double].map(\.rawValue).contains(tensor.dataType)
            if isFloat {
                let rawBytes = raw.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) }
                floats.append((tensor.name, try floatTensor(tensor, raw: rawBytes, path: path) { chunk in
                    if let raw { release?(raw.lowerBound + chunk.lowerBound..<raw.lowerBound + chunk.upperBound) }
                }))
            } else {
                if let raw { tensor.rawData = Data(bytes[raw]) }
                others.append(tensor)
            }
        }
        var importer = try ONNXImporter(proto, path: path, floatInitializers: floats, otherInitializers: others)
        return try importer.run()
    }
}

/// A read-only memory mapping of a whole file whose pages can be given back early.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Maps `path`.
    /// - Throws: `FormatError` when the file is missing, unreadable or empty.
    init(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError(path: path, errno == ENOENT ? .missingFile : .unreadable) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError(path: path, .unreadable) }
        let size = Int(info.st_size)
        guard size > 0 else { throw FormatError(path: path, .corrupt(what: "not an ONNX model: the file is empty")) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw FormatError(path: path, .unreadable)
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Drops the whole pages inside `range` from memory (they would be read again from
    /// the file if touched).
    func release(_ range: Range<Int>) {
        let first = (range.lowerBound + pageSize - 1) / pageSize * pageSize
        let end = range.upperBound / pageSize * pageSize
        guard end > first, let base = bytes.baseAddress else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, Int32(MADV_DONTNEED))
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}
