import Foundation
import TensorCore

/// Reader and writer for NumPy's `.npy` format (versions 1.0, 2.0 and 3.0).
///
/// Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
/// (little-endian `UInt16` in version 1, `UInt32` in 2 and 3), then the header: a Python
/// dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with
/// spaces and a newline, then the data.
/// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
///
/// The reader is strict: exactly the three keys, a plain numeric dtype (`b1`, `i1`…`i8`,
/// `u1`…`u8`, `f2`, `f4`, `f8`, either byte order), a shape whose element count cannot
/// overflow, and exactly as many data bytes as the shape needs. Big-endian data is
/// swapped and Fortran-order data is reordered, so `NPY.Array` always holds
/// little-endian, C-order (row-major) bytes.
public enum NPY {
    /// The longest header the reader accepts (NumPy itself refuses more than 10,000 bytes
    /// by default).
    public static let maximumHeaderLength = 65_536
    /// The most dimensions an array may have.
    public static let maximumRank = 32

    /// The element types the reader and writer know.
    public enum ScalarType: String, CaseIterable, Equatable, Sendable {
        case bool = "b1", int8 = "i1", uint8 = "u1", int16 = "i2", uint16 = "u2", int32 = "i4", uint32 = "u4"
        case int64 = "i8", uint64 = "u8", float16 = "f2", float32 = "f4", float64 = "f8"

        /// Bytes per element.
        public var size: Int { Int(rawValue.dropFirst())! }
        /// Whether the type is an integer (or boolean) type.
        public var isInteger: Bool { !rawValue.hasPrefix("f") }
    }

    /// An n-dimensional array: little-endian, C-order bytes of one scalar type.
    public struct Array: Equatable, Sendable {
        /// The extent of each dimension (`[]` for a scalar).
        public var shape: [Int]
        /// The element type.
        public var scalarType: ScalarType
        /// The elements' bytes: little-endian, row-major.
        public var bytes: [UInt8]

        /// The number of elements (the product of the shape).
        public var count: Int { shape.reduce(1, *) }

        /// An array of `bytes` (already little-endian, row-major) of `scalarType`.
        /// - Precondition: `bytes.count` is `shape`'s product times the type's size.
        public init(shape: [Int], scalarType: ScalarType, bytes: [UInt8]) {
            precondition(shape.allSatisfy { $0 >= 0 } && bytes.count == shape.reduce(1, *) * scalarType.size,
                         "\(bytes.count) bytes do not make a \(scalarType) array of shape \(shape)")
            self.shape = shape; self.scalarType = scalarType; self.bytes = bytes
        }

        /// A `float32` array.
        /// - Precondition: `values.count` is the product of `shape`.
        public init(shape: [Int], floats values: [Float]) {
            var bytes = [UInt8](); bytes.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            self.init(shape: shape, scalarType: .float32, bytes: bytes)
        }

        /// An `int64` array.
        /// - Precondition: `values.count` is the product of `shape`.
        public init(shape: [Int], integers values: [Int64]) {
            var bytes = [UInt8](); bytes.reserveCapacity(values.count * 8)
            for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
            self.init(shape: shape, scalarType: .int64, bytes: bytes)
        }

        /// A `uint8` array.
        /// - Precondition: `values.count` is the product of `shape`.
        public init(shape: [Int], bytes values: [UInt8]) {
            self.init(shape: shape, scalarType: .uint8, bytes: values)
        }

        /// The elements as `Float` (integers converted exactly where they fit in 24 bits).
        /// - Complexity: O(count).
        public func floats() -> [Float] {
            let n = count
            var out = [Float](repeating: 0, count: n)
            switch scalarType {
            case .float32: for i in 0..<n { out[i] = Float(bitPattern: load(UInt32.self, i)) }
            case .float64: for i in 0..<n { out[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
            case .float16: for i in 0..<n { out[i] = Float(float16Bits: load(UInt16.self, i)) }
            default: for (i, v) in integers().enumerated() { out[i] = Float(v) }
            }
            return out
        }

        /// The elements of an integer (or boolean) array as `Int64`; `uint64` values above
        /// `Int64.max` become `Int64.max`. A float array gives its values truncated toward zero
        /// (NaN and out-of-range values become 0): check `scalarType` first when that matters.
        /// - Complexity: O(count).
        public func integers() -> [Int64] {
            let n = count
            switch scalarType {
            case .bool, .uint8: return bytes.map { Int64($0) }
            case .int8: return bytes.map { Int64(Int8(bitPattern: $0)) }
            case .int16: return (0..<n).map { Int64(Int16(bitPattern: load(UInt16.self, $0))) }
            case .uint16: return (0..<n).map { Int64(load(UInt16.self, $0)) }
            case .int32: return (0..<n).map { Int64(Int32(bitPattern: load(UInt32.self, $0))) }
            case .uint32: return (0..<n).map { Int64(load(UInt32.self, $0)) }
            case .int64: return (0..<n).map { Int64(bitPattern: load(UInt64.self, $0)) }
            case .uint64: return (0..<n).map { Int64(clamping: load(UInt64.self, $0)) }
            case .float16, .float32, .float64:
                return floats().map { $0.isFinite && abs($0) < 9e18 ? Int64($0) : 0 }
            }
        }

        /// Element `i` read as a little-endian `T` (an unsigned integer of the type's size).
        private func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            var v = T.zero
            let size = MemoryLayout<T>.size, base = i * size
            for k in 0..<size { v |= T(bytes[base + k]) << (8 * k) }
            return v
        }
    }

    /// Reads an `.npy` file.
    /// - Throws: `FormatError` naming the file: missing, unreadable, or not a valid array
    ///   (see `decode(_:path:)`).
    public static func read(_ path: String) throws -> Array {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        return try decode(data, path: path)
    }

    /// Parses `.npy` bytes; `path` names the source in errors.
    /// - Throws: `FormatError.corrupt` for a bad magic, version, header, dtype or shape, or
    ///   a data size that differs from what the header declares.
    /// - Complexity: O(bytes); a Fortran-order array takes O(count · rank) to reorder.
    public static func decode(_ data: Data, path: String) throws -> Array {
        let bytes = [UInt8](data)
        func corrupt(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: what)) }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else {
            throw corrupt("not a NumPy .npy file (no \\x93NUMPY magic at the start)")
        }
        let major = bytes[6]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw corrupt("truncated .npy preamble") }
            headerStart = 12
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        default:
            throw corrupt(".npy format version \(major).\(bytes[7]) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard headerLength <= maximumHeaderLength else {
            throw corrupt(".npy header length \(headerLength) exceeds \(maximumHeaderLength) bytes")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw corrupt("truncated .npy header: it declares \(headerLength) bytes, the file has \(bytes.count - headerStart) after the preamble")
        }
        guard let text = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw corrupt(".npy header is not text")
        }
        let header = try Header.parse(text, path: path)
        var (count, overflow) = (1, false)
        for d in header.shape where !overflow {
            (count, overflow) = count.multipliedReportingOverflow(by: d)
        }
        let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: header.scalarType.size)
        guard !overflow, !byteOverflow else { throw corrupt(".npy shape \(header.shape) has too many elements") }
        let dataStart = headerStart + headerLength
        guard bytes.count - dataStart == byteCount else {
            let verb = bytes.count - dataStart < byteCount ? "truncated" : "too long"
            throw corrupt("\(verb): shape \(header.shape) of \(header.descr) needs \(byteCount) data bytes, the file has \(bytes.count - dataStart)")
        }
        var payload = Swift.Array(bytes[dataStart...])
        if header.bigEndian && header.scalarType.size > 1 {
            let size = header.scalarType.size
            for start in stride(from: 0, to: payload.count, by: size) { payload[start..<(start + size)].reverse() }
        }
        if header.fortranOrder && header.shape.count > 1 {
            payload = rowMajor(fromColumnMajor: payload, shape: header.shape, elementSize: header.scalarType.size)
        }
        return Array(shape: header.shape, scalarType: header.scalarType, bytes: payload)
    }

    /// The `.npy` bytes of `array` (format 1.0, little-endian, C order; the header padded so
    /// the data starts at a multiple of 64 bytes, as NumPy writes it).
    public static func encode(_ array: Array) -> Data {
        let shape = array.shape.count == 1 ? "(\(array.shape[0]),)" : "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        let order = array.scalarType.size == 1 ? "|" : "<"
        var header = "{'descr': '\(order)\(array.scalarType.rawValue)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let length = header.utf8.count
        if length > 0xFFFF {   // only for absurd ranks; version 2.0 has a 4-byte length
            data[6] = 2
            data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24 & 0xFF)])
        } else {
            data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        }
        data.append(contentsOf: Swift.Array(header.utf8))
        data.append(contentsOf: array.bytes)
        return data
    }

    /// Writes `array` to `path` atomically (a temporary file in the same folder, then rename).
    /// - Throws: `FormatError` naming the path when it cannot be written.
    public static func write(_ array: Array, to path: String) throws {
        try AtomicFile.write(encode(array), to: path)
    }

    /// Reorders column-major (Fortran) elements of `shape` into row-major order.
    static func rowMajor(fromColumnMajor bytes: [UInt8], shape: [Int], elementSize: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count)
        let count = shape.reduce(1, *)
        // Column-major strides (in elements): the first index varies fastest.
        var strides = [Int](repeating: 1, count: shape.count)
        for d in 1..<shape.count { strides[d] = strides[d - 1] * shape[d - 1] }
        var index = [Int](repeating: 0, count: shape.count)   // row-major counter
        for target in 0..<count {
            var source = 0
            for d in 0..<shape.count { source += index[d] * strides[d] }
            for k in 0..<elementSize { out[target * elementSize + k] = bytes[source * elementSize + k] }
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// The three fields of an `.npy` header.
    struct Header {
        var descr: String
        var scalarType: ScalarType
        var bigEndian: Bool
        var fortranOrder: Bool
        var shape: [Int]

        /// Parses the header's dict literal: exactly the keys `descr`, `fortran_order` and
        /// `shape` (each once), a plain numeric dtype, non-negative dimensions.
        static func parse(_ text: String, path: String) throws -> Header {
            func corrupt(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: ".npy header \(what)")) }
            var scanner = Scanner(text: Swift.Array(text.unicodeScalars))
            var descr: String?, fortran: Bool?, shape: [Int]?
            guard scanner.take("{") else { throw corrupt("does not start with '{'") }
            while !scanner.take("}") {
                guard let key = scanner.quoted() else { throw corrupt("has a malformed key near character \(scanner.position)") }
                guard scanner.take(":") else { throw corrupt("has no ':' after '\(key)'") }
                switch key {
                case "descr":
                    guard descr == nil else { throw corrupt("repeats 'descr'") }
                    guard let value = scanner.quoted() else { throw corrupt("'descr' is not a plain dtype string (structured dtypes are not supported)") }
                    descr = value
                case "fortran_order":
                    guard fortran == nil else { throw corrupt("repeats 'fortran_order'") }
                    if scanner.take("True") { fortran = true } else if scanner.take("False") { fortran = false } else {
                        throw corrupt("'fortran_order' is not True or False")
                    }
                case "shape":
                    guard shape == nil else { throw corrupt("repeats 'shape'") }
                    guard let dims = scanner.tuple() else { throw corrupt("'shape' is not a tuple of non-negative integers") }
                    guard dims.count <= NPY.maximumRank else { throw corrupt("'shape' has \(dims.count) dimensions (at most \(NPY.maximumRank))") }
                    shape = dims
                default:
                    throw corrupt("has an unknown key '\(key)'")
                }
                if !scanner.take(",") {
                    guard scanner.take("}") else { throw corrupt("has no ',' or '}' near character \(scanner.position)") }
                    break
                }
            }
            guard scanner.atEnd else { throw corrupt("has text after the closing '}'") }
            guard let descr, let fortran, let shape else {
                throw corrupt("lacks \(["descr": descr == nil, "fortran_order": fortran == nil, "shape": shape == nil].filter(\.value).keys.sorted().joined(separator: ", "))")
            }
            guard descr.count >= 3, let order = descr.first, "<>|=".contains(order),
                  let type = ScalarType(rawValue: String(descr.dropFirst())) ?? (descr.dropFirst() == "?1" ? .bool : nil) else {
                throw corrupt("dtype '\(descr)' is not supported: use bool, (u)int8-64 or float16/32/64")
            }
            if order == "|" && type.size > 1 { throw corrupt("dtype '\(descr)' has no byte order") }
            return Header(descr: descr, scalarType: type, bigEndian: order == ">", fortranOrder: fortran, shape: shape)
        }
    }

    /// A cursor over the header text that skips spaces between tokens.
    struct Scanner {
        let text: [Unicode.Scalar]
        var position = 0

        init(text: [Unicode.Scalar]) { self.text = text }

        var atEnd: Bool { mutating get { skipSpace(); return position == text.count } }

        mutating func skipSpace() {
            while position < text.count, text[position] == " " || text[position] == "\n" || text[position] == "\t" { position += 1 }
        }

        /// Consumes `token` if it comes next.
        mutating func take(_ token: String) -> Bool {
            skipSpace()
            let scalars = Swift.Array(token.unicodeScalars)
            guard position + scalars.count <= text.count, Swift.Array(text[position..<(position + scalars.count)]) == scalars else { return false }
            position += scalars.count
            return true
        }

        /// A single- or double-quoted string without escapes.
        mutating func quoted() -> String? {
            skipSpace()
            guard position < text.count, text[position] == "'" || text[position] == "\"" else { return nil }
            let quote = text[position]
            var end = position + 1
            while end < text.count, text[end] != quote {
                if text[end] == "\\" { return nil }
                end += 1
            }
            guard end < text.count else { return nil }
            var s = String.UnicodeScalarView()
            s.append(contentsOf: text[(position + 1)..<end])
            position = end + 1
            return String(s)
        }

        /// A tuple of non-negative integers: `()`, `(3,)`, `(2, 3)`, `(2, 3,)`.
        mutating func tuple() -> [Int]? {
            guard take("(") else { return nil }
            var values: [Int] = []
            while true {
                if take(")") { return values }
                guard let v = integer() else { return nil }
                values.append(v)
                if take(")") { return values.count == 1 ? nil : values }   // `(3)` is not a tuple
                guard take(",") else { return nil }
            }
        }

        /// A decimal integer of at most 18 digits (Python may write `3L` in old files).
        mutating func integer() -> Int? {
            skipSpace()
            var v = 0, digits = 0
            while position < text.count, (48...57).contains(text[position].value) {
                let d = Int(text[position].value) - 48
                guard digits < 18 else { return nil }
                v = v * 10 + d
                digits += 1
                position += 1
            }
            guard digits > 0 else { return nil }
            if position < text.count, text[position] == "L" { position += 1 }
            return v
        }
    }
}

extension NPY.Array {
    /// A `float32` array of the tensor's shape and values.
    public init(_ tensor: Tensor) {
        self.init(shape: tensor.shape, floats: tensor.scalars)
    }

    /// The array as model inputs, the way datasets read it: float arrays as they are,
    /// `uint8` scaled by 1/255 (like IDX images and `.npz` datasets).
    /// - Throws: `FormatError` naming `path` for other integer types, NaN or infinity, or a
    ///   shape without a batch axis.
    public func inputs(path: String) throws -> Tensor {
        guard shape.count >= 1, count > 0 else {
            throw FormatError(path: path, .unexpectedContent(expected: "inputs [N, …] with at least one sample", found: "shape \(shape)"))
        }
        switch scalarType {
        case .uint8:
            let scale: Float = 1 / 255   // as Dataset scales bytes
            return Tensor(shape: shape, scalars: bytes.map { Float($0) * scale })
        case .float16, .float32, .float64:
            let values = floats()
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw FormatError(path: path, .unexpectedContent(expected: "finite inputs", found: "NaN or infinity at element \(bad)"))
            }
            return Tensor(shape: shape, scalars: values)
        default:
            throw FormatError(path: path, .unexpectedContent(expected: "float or uint8 inputs (x.astype(np.float32))", found: scalarType.rawValue))
        }
    }
}
