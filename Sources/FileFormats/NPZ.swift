import Foundation
import ZIPFoundation

/// Reader and writer for NumPy's `.npz` archives (`np.savez`, `np.savez_compressed`): a ZIP
/// file of `.npy` members, one per array, named `NAME.npy`.
///
/// The reader checks the archive before it inflates anything: at most `maximumEntries`
/// members, each a regular file named `*.npy`, no name twice, stored sizes inside the
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
        guard data.count >= 22, data.prefix(2) == Data([0x50, 0x4B]) else {
            throw corrupt("not a NumPy .npz file (not a ZIP archive)")
        }
        let archive: Archive
        do {
            archive = try Archive(data: data, accessMode: .read)
        } catch {
            throw corrupt("not a readable ZIP archive (\(error))")
        }
        var entries: [(name: String, entry: Entry)] = []
        var seen = Set<String>(), declared = 0
        for entry in archive {
            guard entries.count < maximumEntries else { throw corrupt("more than \(maximumEntries) members") }
            let member = entry.path
            guard entry.type == .file else { throw corrupt("member '\(member)' is not a regular file") }
            guard member.hasSuffix(".npy"), member.count > 4 else {
                throw corrupt("member '\(member)' is not an .npy array (an .npz holds only NAME.npy members)")
            }
            let name = String(member.dropLast(4))
            guard seen.insert(name).inserted else { throw corrupt("array '\(name)' is stored twice") }
            let stored = entry.isCompressed ? entry.compressedSize : entry.uncompressedSize
            guard stored <= UInt64(data.count) else {
                throw corrupt("member '\(member)' claims \(stored) stored bytes, more than the whole file")
            }
            let size = entry.uncompressedSize
            guard size <= UInt64(maximumBytes), declared + Int(size) <= maximumBytes else {
                throw corrupt("the arrays take more than \(maximumBytes) bytes once inflated (member '\(member)' declares \(size))")
            }
            declared += Int(size)
            entries.append((name, entry))
        }
        var arrays: [String: NPY.Array] = [:]
        for (name, entry) in entries {
            let limit = Int(entry.uncompressedSize)
            var bytes = Data()
            bytes.reserveCapacity(limit)
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    guard bytes.count + chunk.count <= limit else { throw NPZInflateError.tooLong }
                    bytes.append(chunk)
                }
            } catch NPZInflateError.tooLong {
                throw corrupt("member '\(name).npy' inflates past its declared \(limit) bytes")
            } catch {
                throw corrupt("member '\(name).npy' cannot be read (\(error))")
            }
            guard bytes.count == limit else {
                throw corrupt("member '\(name).npy' inflates to \(bytes.count) bytes, its header declares \(limit)")
            }
            do {
                arrays[name] = try NPY.decode(bytes, path: "\(path)[\(name)]")
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

/// Thrown from inside ZIPFoundation's consumer to stop an over-long member.
private enum NPZInflateError: Error { case tooLong }
