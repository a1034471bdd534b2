import Foundation
import NeuralNetwork

/// A folder of images with one subfolder per class: `ROOT/CLASS/IMAGE.png|jpg|jpeg`.
///
/// Class indices are the subfolders' names in sorted order. Every image must have the size
/// of the first (checked from the headers, before any pixel is decoded). When any image is
/// in color all become RGB, else all stay grayscale; samples are channels-first
/// (`[1, H, W]` or `[3, H, W]`) with pixels scaled to [0, 1] as IDX images are.
public enum ImageFolder {
    /// The file extensions read as images (case-insensitive).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The images of one folder as a dataset.
    public struct Loaded {
        /// `[C, H, W]` samples, labels the class indices.
        public var dataset: Dataset
        /// The class names, in index order.
        public var classNames: [String]
        /// The path of each sample's file.
        public var files: [String]
    }

    /// The class subfolders of `root`, sorted (hidden folders skipped).
    /// - Throws: `FormatError` when `root` is not a folder or has no class subfolders.
    public static func classNames(in root: String) throws -> [String] {
        let names = try listing(root).filter { isFolder("\(root)/\($0)") }
        guard !names.isEmpty else {
            throw FormatError(path: root, .unexpectedContent(expected: "one subfolder of images per class", found: "no subfolders"))
        }
        return names
    }

    /// Loads every image under `root`'s class folders.
    /// - Parameters:
    ///   - classNames: the classes in index order (default: `root`'s subfolders, sorted). A test
    ///     folder passes the training folder's classes so the indices agree; each must exist.
    ///   - channels: 1 or 3 to force grayscale or RGB; nil decides from the images.
    ///   - skippingMissing: skip a class whose folder does not exist (a test split may lack one).
    /// - Throws: `FormatError` naming the file for an image that cannot be read, has another
    ///   size than the first, or a file that is not a PNG or JPEG; naming the folder for an
    ///   empty class.
    public static func load(_ root: String, classNames given: [String]? = nil, channels forced: Int? = nil,
                            skippingMissing: Bool = false) throws -> Loaded {
        let classes = try given ?? classNames(in: root)
        var files: [String] = [], labels: [Int32] = []
        for (index, name) in classes.enumerated() {
            let folder = "\(root)/\(name)"
            if skippingMissing && !isFolder(folder) { continue }
            guard isFolder(folder) else {
                throw FormatError(path: folder, .unexpectedContent(expected: "a folder of images for class '\(name)'", found: "no such folder"))
            }
            let images = try listing(folder).filter { !isFolder("\(folder)/\($0)") }
            guard !images.isEmpty else {
                throw FormatError(path: folder, .unexpectedContent(expected: "PNG or JPEG images of class '\(name)'", found: "an empty folder"))
            }
            for image in images {
                let file = "\(folder)/\(image)"
                guard extensions.contains((image as NSString).pathExtension.lowercased()) else {
                    throw FormatError(path: file, .unexpectedContent(expected: "a PNG or JPEG image (.png, .jpg, .jpeg)", found: "another kind of file"))
                }
                files.append(file)
                labels.append(Int32(index))
            }
        }
        // Headers first: sizes and colors agree before anything is allocated.
        var contents: [Data] = []
        var size: (width: Int, height: Int)?, color = false
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { throw FormatError(path: file, .unreadable) }
            let header = try ImageDecoder.header(data, path: file)
            if let size, size != (header.width, header.height) {
                throw FormatError(path: file, .unexpectedContent(
                    expected: "\(size.width)×\(size.height) pixels like \(files[0]) (all images must have one size)",
                    found: "\(header.width)×\(header.height)"))
            }
            size = (header.width, header.height)
            color = color || header.channels == 3
            contents.append(data)
        }
        guard let size else { throw FormatError(path: root, .unexpectedContent(expected: "images", found: "none")) }
        let channels = forced ?? (color ? 3 : 1)
        let plane = size.width * size.height
        guard plane.multipliedReportingOverflow(by: channels * files.count).partialValue <= 1 << 34 else {
            throw FormatError(path: root, .corrupt(what: "\(files.count) images of \(size.width)×\(size.height) are too many to hold in memory"))
        }
        var bytes = [UInt8](repeating: 0, count: plane * channels * files.count)
        for (i, (file, data)) in zip(files, contents).enumerated() {
            let image = try ImageDecoder.decode(data, path: file, channels: channels)
            let base = i * plane * channels
            // Interleaved HWC → channels-first CHW.
            for p in 0..<plane {
                for c in 0..<channels { bytes[base + c * plane + p] = image.pixels[p * channels + c] }
            }
        }
        do {
            let dataset = try Dataset(bytes: bytes, scale: 1 / 255, sampleShape: [channels, size.height, size.width], labels: labels)
            return Loaded(dataset: dataset, classNames: classes, files: files)
        } catch {
            throw FormatError(path: root, .other("\(error)"))
        }
    }

    /// The visible entries of a folder, sorted.
    static func listing(_ folder: String) throws -> [String] {
        guard isFolder(folder), let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw FormatError(path: folder, .unexpectedContent(expected: "a folder", found: "no such folder"))
        }
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
