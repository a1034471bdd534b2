import Foundation
import NeuralNetwork

/// Reader for IDX files, the format of MNIST and Fashion-MNIST (gzip or raw).
///
/// Layout: two zero bytes, a type byte (0x08 = unsigned byte), the number of
/// dimensions, then each dimension as a big-endian `UInt32`, then the data.
/// http://yann.lecun.com/exdb/mnist/
public enum IDX {
    /// The dimensions and bytes of an unsigned-byte IDX file.
    public struct File: Equatable {
        /// The extent of each dimension, e.g. `[60000, 28, 28]`.
        public var dimensions: [Int]
        /// The data, row-major.
        public var bytes: [UInt8]
    }

    /// Reads an unsigned-byte IDX file (gzip-compressed or raw).
    /// - Throws: `FormatError` naming the file and the problem (missing, corrupt,
    ///   truncated, wrong type, sizes that disagree).
    public static func read(_ path: String) throws -> File {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError(path: path, .missingFile) }
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, .unreadable) }
        return try decode(data, path: path)
    }

    /// Parses IDX bytes that may be gzip-compressed; `path` names the source in errors.
    public static func decode(_ data: Data, path: String) throws -> File {
        try parse(Gzip.isCompressed(data) ? try Gzip.decompress(data, path: path) : data, path: path)
    }

    /// Parses IDX bytes already in memory.
    public static func parse(_ data: Data, path: String) throws -> File {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else { throw FormatError(path: path, .corrupt(what: "too short to be an IDX file (\(bytes.count) bytes)")) }
        guard bytes[0] == 0, bytes[1] == 0 else { throw FormatError(path: path, .corrupt(what: "not an IDX file (bad magic number)")) }
        guard bytes[2] == 0x08 else {
            throw FormatError(path: path, .corrupt(what: "IDX element type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes, 0x08)"))
        }
        let rank = Int(bytes[3])
        guard rank >= 1, rank <= 4 else { throw FormatError(path: path, .corrupt(what: "IDX rank \(rank) is outside 1...4")) }
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else { throw FormatError(path: path, .corrupt(what: "truncated IDX header")) }
        var dims: [Int] = []
        var total = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let v = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dims.append(v)
            let (product, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, product <= 1 << 34 else { throw FormatError(path: path, .corrupt(what: "IDX dimensions \(dims) are implausibly large")) }
            total = product
        }
        guard bytes.count - headerSize == total else {
            let verb = bytes.count - headerSize < total ? "truncated" : "too long"
            throw FormatError(path: path, .corrupt(what: "\(verb): header \(dims) needs \(total) data bytes, file has \(bytes.count - headerSize)"))
        }
        return File(dimensions: dims, bytes: Array(bytes[headerSize...]))
    }

    /// Loads an images file and a labels file into a dataset with pixels scaled to [0, 1].
    /// - Throws: `FormatError` when a file is bad or the two do not match.
    public static func loadDataset(images imagesPath: String, labels labelsPath: String) throws -> Dataset {
        let images = try read(imagesPath)
        let labels = try read(labelsPath)
        guard images.dimensions.count == 3 else {
            throw FormatError(path: imagesPath, .unexpectedContent(expected: "[count, rows, columns] images", found: "dimensions \(images.dimensions)"))
        }
        guard labels.dimensions.count == 1 else {
            throw FormatError(path: labelsPath, .unexpectedContent(expected: "a vector of labels", found: "dimensions \(labels.dimensions)"))
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw FormatError(path: labelsPath, .unexpectedContent(
                expected: "one label for each of the \(images.dimensions[0]) images in \(imagesPath)", found: "\(labels.dimensions[0]) labels"))
        }
        do {
            return try Dataset(bytes: images.bytes, scale: 1 / 255, sampleShape: [1, images.dimensions[1], images.dimensions[2]],
                               labels: labels.bytes.map { Int32($0) })
        } catch {
            throw FormatError(path: imagesPath, .other("\(error)"))
        }
    }
}

/// The MNIST-style dataset files in one folder (Fashion-MNIST by default).
public struct DatasetFolder {
    /// The default folder: Debian's `dataset-fashion-mnist` package.
    public static let defaultPath = "/usr/share/datasets/fashion-mnist"
    /// The folder.
    public let path: String

    /// Names a folder.
    public init(_ path: String = DatasetFolder.defaultPath) { self.path = path }

    /// Loads the training split (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`).
    public func training() throws -> Dataset {
        try IDX.loadDataset(images: try locate("train-images-idx3-ubyte"), labels: try locate("train-labels-idx1-ubyte"))
    }

    /// Loads the test split (`t10k-…`).
    public func test() throws -> Dataset {
        try IDX.loadDataset(images: try locate("t10k-images-idx3-ubyte"), labels: try locate("t10k-labels-idx1-ubyte"))
    }

    private func locate(_ stem: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(path: path, .missingDataFolder)
        }
        for candidate in ["\(path)/\(stem).gz", "\(path)/\(stem)"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw FormatError(path: path, .missingDataFile(stem))
    }
}
