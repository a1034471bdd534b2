import CJPEG
import CPNG
import Foundation

/// PNG and JPEG decoding through the system's libpng (its simplified `png_image` API) and
/// libjpeg-turbo. Both report errors as values here: libpng's simplified API never
/// longjmps into Swift, and the JPEG decoder keeps libjpeg's longjmp inside one C function
/// (Sources/CJPEG/shim.h).
public enum ImageDecoder {
    /// The most pixels (width × height) one image may have before anything is allocated.
    public static let maximumPixels = 1 << 26

    /// The container of an image file, told by its first bytes.
    public enum Format: String, Sendable {
        case png, jpeg
    }

    /// What an image's header says.
    public struct Header: Equatable, Sendable {
        /// The container.
        public var format: Format
        /// Width and height in pixels.
        public var width: Int, height: Int
        /// 1 for grayscale, 3 for color (an alpha channel is not counted: it is dropped).
        public var channels: Int

        /// A header's fields.
        public init(format: Format, width: Int, height: Int, channels: Int) {
            self.format = format; self.width = width; self.height = height; self.channels = channels
        }
    }

    /// A decoded image: `height × width × channels` bytes, interleaved (HWC), 8 bits each.
    public struct Image: Equatable, Sendable {
        /// Width and height in pixels.
        public var width: Int, height: Int
        /// 1 (gray) or 3 (RGB).
        public var channels: Int
        /// The pixels, row by row, channels interleaved.
        public var pixels: [UInt8]

        /// An image of `pixels` (`height × width × channels`, interleaved).
        public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
            self.width = width; self.height = height; self.channels = channels; self.pixels = pixels
        }
    }

    /// Reads only the header of PNG or JPEG bytes.
    /// - Throws: `FormatError` naming `path` when the bytes are not a PNG or JPEG image, the
    ///   header is corrupt, or the image is larger than `maximumPixels`.
    public static func header(_ data: Data, path: String) throws -> Header {
        let header: Header
        switch format(of: data) {
        case .png?: header = try pngHeader(data, path: path)
        case .jpeg?: header = try jpegHeader(data, path: path)
        case nil: throw FormatError(path: path, .corrupt(what: "not a PNG or JPEG image (unknown leading bytes)"))
        }
        guard header.width > 0, header.height > 0, header.width.multipliedReportingOverflow(by: header.height).partialValue <= maximumPixels,
              header.width <= maximumPixels, header.height <= maximumPixels else {
            throw FormatError(path: path, .corrupt(what: "image of \(header.width)×\(header.height) pixels is empty or larger than \(maximumPixels) pixels"))
        }
        return header
    }

    /// Decodes PNG or JPEG bytes to `channels` (1: grayscale, 3: RGB; color is converted
    /// either way, alpha dropped). 16-bit PNGs are reduced to 8 bits, palettes expanded.
    /// - Throws: `FormatError` naming `path` when the data is corrupt or truncated.
    public static func decode(_ data: Data, path: String, channels: Int) throws -> Image {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3, got \(channels)")
        let header = try header(data, path: path)
        var pixels = [UInt8](repeating: 0, count: header.width * header.height * channels)
        switch header.format {
        case .png: try decodePNG(data, path: path, channels: channels, into: &pixels)
        case .jpeg: try decodeJPEG(data, path: path, channels: channels, into: &pixels)
        }
        return Image(width: header.width, height: header.height, channels: channels, pixels: pixels)
    }

    /// Reads and decodes an image file (see `decode(_:path:channels:)`).
    public static func read(_ path: String, channels: Int) throws -> Image {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        return try decode(data, path: path, channels: channels)
    }

    /// The format told by the leading bytes, or nil.
    static func format(of data: Data) -> Format? {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func pngHeader(_ data: Data, path: String) throws -> Header {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        defer { png_image_free(&image) }
        guard ok != 0 else { throw FormatError(path: path, .corrupt(what: "unreadable PNG: \(pngMessage(&image))")) }
        return Header(format: .png, width: Int(image.width), height: Int(image.height),
                      channels: image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0 ? 3 : 1)
    }

    private static func decodePNG(_ data: Data, path: String, channels: Int, into pixels: inout [UInt8]) throws {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        // 16-bit files are read as they are stored (libpng calls that "linear") and rounded to
        // 8 bits here, and an alpha channel is read and dropped here, so pixels keep their
        // stored values (as Pillow's `convert("RGB")` keeps them) rather than being
        // gamma-converted or composited onto a background.
        var components = 0, wide = false
        var buffer: [UInt8] = []
        let ok = data.withUnsafeBytes { raw -> Bool in
            guard png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) != 0 else { return false }
            wide = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
            let alpha = !wide && image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
            image.format = (channels == 3 ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0) | (alpha ? UInt32(PNG_FORMAT_FLAG_ALPHA) : 0)
                | (wide ? UInt32(PNG_FORMAT_FLAG_LINEAR) : 0)
            components = channels + (alpha ? 1 : 0)
            guard pixels.count == Int(image.width) * Int(image.height) * channels else { return false }
            buffer = [UInt8](repeating: 0, count: pixels.count / channels * components * (wide ? 2 : 1))
            return buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) } != 0
        }
        defer { png_image_free(&image) }
        guard ok else { throw FormatError(path: path, .corrupt(what: "unreadable PNG: \(pngMessage(&image))")) }
        let pixelCount = pixels.count / channels
        for p in 0..<pixelCount {
            for c in 0..<channels {
                let k = p * components + c
                if wide {
                    let v = Int(buffer[2 * k]) | Int(buffer[2 * k + 1]) << 8   // native (little-endian) UInt16
                    pixels[p * channels + c] = UInt8((v + 128) / 257)
                } else {
                    pixels[p * channels + c] = buffer[k]
                }
            }
        }
    }

    private static func jpegHeader(_ data: Data, path: String) throws -> Header {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var message = [CChar](repeating: 0, count: 200)
        let failed = data.withUnsafeBytes { raw in
            prune_jpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), 0, nil, 0,
                              &width, &height, &channels, &message, message.count)
        }
        guard failed == 0 else { throw FormatError(path: path, .corrupt(what: "unreadable JPEG: \(String(cString: message))")) }
        return Header(format: .jpeg, width: Int(width), height: Int(height), channels: Int(channels))
    }

    private static func decodeJPEG(_ data: Data, path: String, channels: Int, into pixels: inout [UInt8]) throws {
        var width: Int32 = 0, height: Int32 = 0, found: Int32 = 0
        var message = [CChar](repeating: 0, count: 200)
        let capacity = pixels.count
        let failed = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBufferPointer { out in
                prune_jpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), Int32(channels),
                                  out.baseAddress, capacity, &width, &height, &found, &message, message.count)
            }
        }
        guard failed == 0 else { throw FormatError(path: path, .corrupt(what: "unreadable JPEG: \(String(cString: message))")) }
    }
}
