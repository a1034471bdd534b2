import Foundation
import TensorCore
import Testing

/// The PyTorch reference files (Tests/Reference/pytorch, written by
/// tools/pytorch-reference/make_reference.py).
enum PyTorchReference {
    /// The folder.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Reference/pytorch").path

    /// The path of `name` in the folder.
    static func file(_ name: String) -> String { "\(folder)/\(name)" }

    /// The committed key lists: architecture → [(name, shape, dtype)].
    static func keys() throws -> [String: [(name: String, shape: [Int], dtype: String)]] {
        let data = try #require(FileManager.default.contents(atPath: file("keys.json")))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [[String: Any]]])
        return try object.mapValues { entries in
            try entries.map { e in
                (try #require(e["name"] as? String), try #require(e["shape"] as? [Int]), try #require(e["dtype"] as? String))
            }
        }
    }
}

/// Reads a little-endian float32, C-order `.npy` file (version 1 or 2): the small subset
/// the reference files use. (Test-only: FileFormats' own NumPy reader lives elsewhere.)
func readNPY(_ path: String) throws -> Tensor {
    let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path), "cannot read \(path)"))
    try #require(bytes.count >= 10 && bytes[0] == 0x93 && Array(bytes[1...5]) == Array("NUMPY".utf8), "\(path) is not .npy")
    let wide = bytes[6] >= 2
    let length = wide ? Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24 : Int(bytes[8]) | Int(bytes[9]) << 8
    let start = (wide ? 12 : 10) + length
    let header = String(decoding: bytes[(wide ? 12 : 10)..<start], as: UTF8.self)
    try #require(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "\(path): \(header)")
    let inside = try #require(header.range(of: "'shape': (")).upperBound
    let shapeText = header[inside...].prefix { $0 != ")" }
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let count = shape.reduce(1, *)
    try #require(bytes.count - start == 4 * count, "\(path): \(bytes.count - start) data bytes for shape \(shape)")
    let scalars = (0..<count).map { i in
        Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + 4 * i + $1]) << (8 * UInt32($1)) })
    }
    return Tensor(shape: shape, scalars: scalars)
}

/// Writes a float32 tensor as a version-1 `.npy` file.
func writeNPY(_ tensor: Tensor, to path: String) throws {
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(tensor.shape.map(String.init).joined(separator: ", "))\(tensor.rank == 1 ? "," : "")), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
    bytes += Array(header.utf8)
    for v in tensor.scalars { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}
