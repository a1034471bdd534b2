import CGzip
import Foundation

/// gzip and zlib decompression through the system zlib.
enum Gzip {
    /// Whether `data` starts with the gzip magic bytes.
    static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Inflates a whole gzip (or zlib) stream, or with `raw` a headerless deflate stream.
    /// - Parameter limit: the most bytes the output may have (nil: no limit).
    /// - Throws: `FormatError` when the stream is corrupt or truncated, or inflates past `limit`.
    static func decompress(_ data: Data, path: String, raw: Bool = false, limit: Int? = nil) throws -> Data {
        var stream = z_stream()
        guard (raw ? prune_inflate_init_raw(&stream) : prune_inflate_init_auto(&stream)) == Z_OK else {
            throw FormatError(path: path, .other("zlib could not start decompression"))
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        let chunk = min(1 << 20, (limit ?? (1 << 20)) + 1)
        var buffer = [UInt8](repeating: 0, count: chunk)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunk)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let reason = status == Z_DATA_ERROR ? "corrupt compressed data"
                            : status == Z_BUF_ERROR ? "the compressed data is truncated" : "zlib error \(status)"
                        throw FormatError(path: path, .corrupt(what: "cannot decompress: \(reason)"))
                    }
                    output.append(out.baseAddress!, count: chunk - Int(stream.avail_out))
                    if let limit, output.count > limit {
                        throw FormatError(path: path, .corrupt(what: "inflates past its declared \(limit) bytes"))
                    }
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
