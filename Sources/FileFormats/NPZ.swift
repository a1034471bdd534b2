import Foundation
import ZIPFoundation

/// Reader and writer for NumPy's `.npz` archives (`np.savez`, `np.savez_compressed`): a ZIP
/// file of `.npy` members, one per array, named `NAME.npy`.
///
/// Writing goes through weichsel/ZIPFoundation. Reading is Prune's own (`ZipDirectory` and
/// the system zlib): fuzzing found ZIPFoundation 0.9.20's in-memory reader trapping on a
/// member whose offset lies past the end and leaking when the end record is missing. The
/// reader checks the archive before it inflates anything: at most `maximumEntries`
/// members, each named `*.npy`, no name twice, every offset and stored size inside the
/// file, and declared sizes that add up to at most the caller's byte budget. While
/// inflating it stops a member the moment it grows past its declared size (a zip bomb
/// that lies about its size) and checks every CRC.
public enum NPZ {
    /// The most members an archive may have.
    public static let maximumEntries = 4096
    /// The default budget of inflated bytes for one archive (4 GiB).
    public static let defaultMaximumBytes = 1 << 32

    /// Reads an `.npz` file into its arrays, keyed by name (the member's name without `.npy`).
    /// - Parameter maximumBytes: the most bytes the arrays may take once inflated.
    /// - Throws: `FormatError` naming the file (and the member) when the archive or an array
    ///   is malformed, a name repeats, or the arrays exceed `maximumBytes`.
    public static func read(_ path: String, maximumBytes: Int = defaultMaximumBytes) throws -> [String: NPY.Array] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        return try decode(data, path: path, maximumBytes: maximumBytes)
    }

    /// Parses `.npz` bytes; `path` names the source in errors (see `read(_:maximumBytes:)`).
    public static func decode(_ data: Data, path: String, maximumBytes: Int = defaultMaximumBytes) throws -> [String: NPY.Array] {
        func corrupt(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: what)) }
        let bytes = [UInt8](data)
        guard bytes.count >= 22, bytes[0] == 0x50, bytes[1] == 0x4B else {
            throw corrupt("not a NumPy .npz file (not a ZIP archive)")
        }
        let members = try ZipDirectory.members(of: bytes, path: path)
        guard members.count <= maximumEntries else { throw corrupt("more than \(maximumEntries) members") }
        var seen = Set<String>(), declared = 0
        for member in members {
            guard member.name.hasSuffix(".npy"), member.name.count > 4, !member.name.hasSuffix("/") else {
                throw corrupt("member '\(member.name)' is not an .npy array (an .npz holds only NAME.npy members)")
            }
            guard seen.insert(String(member.name.dropLast(4))).inserted else {
                throw corrupt("array '\(member.name.dropLast(4))' is stored twice")
            }
            guard member.size <= maximumBytes - declared else {
                throw corrupt("the arrays take more than \(maximumBytes) bytes once inflated (member '\(member.name)' declares \(member.size))")
            }
            declared += member.size
        }
        var arrays: [String: NPY.Array] = [:]
        for member in members {
            let name = String(member.name.dropLast(4))
            let stored = Data(bytes[member.data])
            let content: Data
            if member.deflated {
                do {
                    content = try Gzip.decompress(stored, path: path, raw: true, limit: member.size)
                } catch let error as FormatError {
                    throw corrupt("member '\(member.name)': \(error.problem)")
                }
            } else {
                content = stored
            }
            guard content.count == member.size else {
                throw corrupt("member '\(member.name)' holds \(content.count) bytes, its header declares \(member.size)")
            }
            guard ZipDirectory.crc32(content) == member.crc else { throw corrupt("member '\(member.name)' fails its CRC check") }
            do {
                arrays[name] = try NPY.decode(content, path: "\(path)[\(name)]")
            } catch let error as FormatError {
                throw FormatError(path: path, .malformedTensor(tensor: name, problem: error.problem))
            }
        }
        return arrays
    }

    /// The `.npz` bytes of `arrays` (members in the given order), deflated when `compressed`
    /// (as `np.savez_compressed` writes) or stored (as `np.savez`).
    /// - Throws: `FormatError` when a name repeats or cannot be a member name.
    public static func encode(_ arrays: [(name: String, array: NPY.Array)], compressed: Bool = true) throws -> Data {
        let archive: Archive
        do { archive = try Archive(accessMode: .create) } catch { throw FormatError(path: "<npz>", "cannot create a ZIP archive: \(error)") }
        var seen = Set<String>()
        for (name, array) in arrays {
            guard !name.isEmpty, !name.contains("/"), seen.insert(name).inserted else {
                throw FormatError(path: "<npz>", .invalidTensorName(tensor: name, reason: "array name '\(name)' is empty, contains '/' or repeats"))
            }
            let bytes = NPY.encode(array)
            do {
                try archive.addEntry(with: "\(name).npy", type: .file, uncompressedSize: Int64(bytes.count),
                                     modificationDate: Date(timeIntervalSince1970: 315_532_800),   // 1980-01-01: reproducible bytes
                                     compressionMethod: compressed ? .deflate : .none) { position, size in
                    bytes.subdata(in: Int(position)..<(Int(position) + size))
                }
            } catch {
                throw FormatError(path: "<npz>", .cannotWrite(step: "add \(name).npy", reason: "\(error)"))
            }
        }
        return archive.data ?? Data()
    }

    /// Writes `arrays` to `path` atomically (see `encode(_:compressed:)`).
    /// - Throws: `FormatError` naming the path when it cannot be written.
    public static func write(_ arrays: [(name: String, array: NPY.Array)], to path: String, compressed: Bool = true) throws {
        let data: Data
        do { data = try encode(arrays, compressed: compressed) } catch let error as FormatError {
            throw FormatError(path: path, error.kind)
        }
        try AtomicFile.write(data, to: path)
    }
}

