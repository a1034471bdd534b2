import Foundation
import TensorCore

/// Reading and writing ONNX `TensorProto`s: shapes checked before anything is allocated,
/// F32, F16, BF16 and F64 values (raw bytes or typed fields) read as Float32, integers as
/// Int64.
extension ONNXFile {
    /// The largest element count Prune accepts in one tensor (2³¹, as model files).
    static let maximumElements = 1 << 31

    /// ONNX element types, as `TensorProto.DataType` numbers.
    enum ElementType: Int32 {
        case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7, float16 = 10, double = 11, bfloat16 = 16

        /// Bytes per element.
        var size: Int {
            switch self {
            case .uint8, .int8: return 1
            case .float16, .bfloat16: return 2
            case .float, .int32: return 4
            case .int64, .double: return 8
            }
        }
    }

    /// The shape of `t`, checked: no negative dimension, an element count that neither
    /// overflows nor exceeds `maximumElements`, data stored in the file.
    /// - Throws: `FormatError` naming the tensor.
    static func shape(of t: Onnx_TensorProto, path: String) throws -> [Int] {
        if t.dataLocation == .external { throw FormatError(path: path, .externalData(tensor: t.name)) }
        var count = 1
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(maximumElements) else {
                throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "has dimension \(d)"))
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= maximumElements else {
                throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "has shape \(t.dims), more than \(maximumElements) elements"))
            }
            count = product
            shape.append(Int(d))
        }
        return shape
    }

    /// The values of a floating-point tensor as Float32.
    /// - Throws: `FormatError` when the type is not a float type or the stored values do
    ///   not match the shape.
    static func floatTensor(_ t: Onnx_TensorProto, path: String) throws -> Tensor {
        if t.rawData.isEmpty { return try floatTensor(t, raw: nil, path: path) { _ in } }
        return try t.rawData.withUnsafeBytes { try floatTensor(t, raw: $0, path: path) { _ in } }
    }

    /// The values of a floating-point tensor whose raw bytes (if any) are `raw` rather than
    /// `t.rawData`; `converted` hears each range of `raw` once it has been read (in chunks of
    /// 4 MiB or so), so a mapping can release it.
    static func floatTensor(_ t: Onnx_TensorProto, raw: UnsafeRawBufferPointer?, path: String,
                            converted: (Range<Int>) -> Void) throws -> Tensor {
        let shape = try shape(of: t, path: path)
        let count = shape.reduce(1, *)
        guard let type = ElementType(rawValue: t.dataType), [.float, .float16, .bfloat16, .double].contains(type) else {
            throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "has data type \(t.dataType); weights must be FLOAT, FLOAT16, BFLOAT16 or DOUBLE"))
        }
        func mismatch(_ found: Int, _ field: String) -> FormatError {
            FormatError(path: path, .malformedTensor(tensor: t.name, problem: "of shape \(shape) holds \(found) \(field) instead of \(count)"))
        }
        if let raw, raw.count > 0 || count == 0 && t.floatData.isEmpty && t.int32Data.isEmpty && t.doubleData.isEmpty {
            guard raw.count == count * type.size else { throw mismatch(raw.count, "bytes of raw data for \(count * type.size)") }
            let chunk = 1 << 20
            return Tensor(shape: shape) { out in
                for start in stride(from: 0, to: count, by: chunk) {
                    for i in start..<min(start + chunk, count) {
                        switch type {
                        case .float: out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                        case .double: out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                        case .float16: out[i] = Float(float16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                        default: out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                        }
                    }
                    converted(start * type.size..<min(start + chunk, count) * type.size)
                }
            }
        }
        switch type {
        case .float:
            guard t.floatData.count == count else { throw mismatch(t.floatData.count, "float_data values") }
            return Tensor(shape: shape, scalars: t.floatData)
        case .double:
            guard t.doubleData.count == count else { throw mismatch(t.doubleData.count, "double_data values") }
            return Tensor(shape: shape, scalars: t.doubleData.map { Float($0) })
        default:   // FLOAT16 and BFLOAT16 keep their bits in int32_data
            guard t.int32Data.count == count else { throw mismatch(t.int32Data.count, "int32_data values") }
            let bf16 = type == .bfloat16
            return Tensor(shape: shape, scalars: t.int32Data.map { v in
                let bits = UInt16(truncatingIfNeeded: v)
                return bf16 ? Float(bitPattern: UInt32(bits) << 16) : Float(float16Bits: bits)
            })
        }
    }

    /// The values of an integer tensor (INT64, INT32, INT8, UINT8) as Int64; shapes and axes.
    /// - Throws: `FormatError` when the type is not an integer type or the count is wrong.
    /// `maximumCount` bounds shapes and axes (sparse indices pass `maximumElements`).
    static func integerTensor(_ t: Onnx_TensorProto, path: String, maximumCount: Int = 1 << 20) throws -> (shape: [Int], values: [Int64]) {
        let shape = try shape(of: t, path: path)
        let count = shape.reduce(1, *)
        guard count <= maximumCount else {
            throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "is an integer tensor of \(count) elements; Prune reads integers only as shapes and axes"))
        }
        guard let type = ElementType(rawValue: t.dataType), [.int64, .int32, .int8, .uint8].contains(type) else {
            throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "has data type \(t.dataType), not an integer type"))
        }
        if !t.rawData.isEmpty {
            guard t.rawData.count == count * type.size else {
                throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "of shape \(shape) holds \(t.rawData.count) bytes of raw data for \(count * type.size)"))
            }
            let values: [Int64] = t.rawData.withUnsafeBytes { raw in
                (0..<count).map { i in
                    switch type {
                    case .int64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                    case .int32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                    case .int8: return Int64(raw.load(fromByteOffset: i, as: Int8.self))
                    default: return Int64(raw.load(fromByteOffset: i, as: UInt8.self))
                    }
                }
            }
            return (shape, values)
        }
        let values = type == .int64 ? t.int64Data : t.int32Data.map(Int64.init)
        guard values.count == count else {
            throw FormatError(path: path, .malformedTensor(tensor: t.name, problem: "of shape \(shape) holds \(values.count) values instead of \(count)"))
        }
        return (shape, values)
    }

    /// A FLOAT tensor proto named `name` holding `tensor` as raw little-endian bytes.
    static func tensorProto(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = ElementType.float.rawValue
        t.dims = tensor.shape.map(Int64.init)
        t.rawData = tensor.withUnsafeBufferPointer { buffer in
            var data = Data(count: buffer.count * 4)
            data.withUnsafeMutableBytes { out in
                for i in 0..<buffer.count { out.storeBytes(of: buffer[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            }
            return data
        }
        return t
    }

    /// An INT64 tensor proto of `values` with `shape` (default: a vector).
    static func integerProto(_ name: String, _ values: [Int64], shape: [Int]? = nil) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = ElementType.int64.rawValue
        t.dims = (shape ?? [values.count]).map(Int64.init)
        t.int64Data = values
        return t
    }
}
