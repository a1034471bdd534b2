import Foundation
import NeuralNetwork

/// A folder of plain-text files read as bytes for a byte-level language model, split by file:
/// every `heldOutEvery`-th file in sorted order (the first, the 11th, …) is held out, the rest is
/// the training text. Debian's `fortunes` package is the corpus Prune's docs and tests use
/// (`/usr/share/games/fortunes`, the data alias `fortunes`).
///
/// Only regular files are read: symbolic links (fortune's `.u8` twins) and strfile indexes
/// (`.dat`) are skipped. Files are concatenated as they are, byte for byte.
public struct TextCorpus: Sendable {
    /// Where Debian's `fortunes` package puts its text.
    public static let fortunesPath = "/usr/share/games/fortunes"

    /// The folder.
    public let path: String
    /// The files read, in order, and which of them are held out.
    public let files: [String], heldOutFiles: [String]
    /// The training text and the held-out text.
    public let training: [UInt8], heldOut: [UInt8]

    /// Reads the folder. `fortunes` names Debian's fortunes folder.
    /// - Throws: `FormatError` when the folder is missing (saying how to install fortunes) or
    ///   holds fewer than two text files.
    public init(path: String, heldOutEvery: Int = 10) throws {
        let folder = path == "fortunes" ? Self.fortunesPath : path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(path: folder, folder == Self.fortunesPath
                ? .other("the fortunes text is not installed; install it with `sudo apt-get install fortunes`")
                : .missingFolder(folder))
        }
        let names = try Self.textFiles(in: folder)
        guard names.count >= 2 else {
            throw FormatError(path: folder, .unexpectedContent(expected: "at least two text files (one held out)", found: "\(names.count)"))
        }
        var training: [UInt8] = [], heldOut: [UInt8] = [], held: [String] = []
        for (i, name) in names.enumerated() {
            guard let data = FileManager.default.contents(atPath: "\(folder)/\(name)") else {
                throw FormatError(path: "\(folder)/\(name)", .unreadable)
            }
            if i % max(heldOutEvery, 1) == 0 { heldOut += data; held.append(name) } else { training += data }
        }
        self.path = folder
        files = names
        heldOutFiles = held
        self.training = training
        self.heldOut = heldOut
    }

    /// The regular files of `folder` other than `.dat` indexes, sorted by name (byte order).
    static func textFiles(in folder: String) throws -> [String] {
        let manager = FileManager.default
        let names = try manager.contentsOfDirectory(atPath: folder)
        return names.filter { name in
            guard !name.hasPrefix("."), !name.hasSuffix(".dat"),
                  let attributes = try? manager.attributesOfItem(atPath: "\(folder)/\(name)") else { return false }
            return attributes[.type] as? FileAttributeType == .typeRegular
        }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Next-byte data: every window of `length` bytes of the training text (shuffled epochs
    /// draw them without replacement), and the held-out text in non-overlapping windows, each
    /// byte after the first predicted once (`Dataset(text:length:stride:)`).
    public func datasets(length: Int) throws -> (training: Dataset, heldOut: Dataset) {
        (try Dataset(text: training, length: length), try Dataset(text: heldOut, length: length, stride: length))
    }
}
