import CGzip

/// Writes 8-bit grayscale or RGB pixels as the bytes of a PNG file (PNG specification, 2nd
/// edition, W3C 2003): the signature, an `IHDR` chunk, one `IDAT` chunk holding the zlib stream
/// of the scanlines (each with filter type 0, none), and `IEND`. Chunk CRCs and compression
/// come from the system's zlib.
package enum PNGEncoder {
    /// The eight bytes every PNG file starts with.
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The PNG file of a `width × height` image with `channels` 8-bit samples per pixel
    /// (1: gray, 3: RGB), `pixels` row by row, channels interleaved.
    /// - Complexity: O(`pixels.count`).
    package static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNGEncoder: channels must be 1 or 3, got \(channels)")
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels,
                     "PNGEncoder: a \(width)×\(height)×\(channels) image needs \(width * height * channels) bytes, got \(pixels.count)")
        let rowBytes = width * channels
        var scanlines = [UInt8]()
        scanlines.reserveCapacity(height * (rowBytes + 1))
        for row in 0..<height {
            scanlines.append(0)   // filter type: none
            scanlines += pixels[(row * rowBytes)..<((row + 1) * rowBytes)]
        }
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, channels == 3 ? 2 : 0, 0, 0, 0]   // bit depth, colour type (RGB or gray), deflate, adaptive filters, no interlace
        return signature + chunk("IHDR", header) + chunk("IDAT", deflate(scanlines)) + chunk("IEND", [])
    }

    /// A chunk: the data's length, the type, the data, and the CRC-32 of type and data.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(UInt32(truncatingIfNeeded: crc32(0, typed, uInt(typed.count))))
    }

    /// `bytes` as a zlib stream (RFC 1950), compressed at zlib's best level.
    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&out, &length, bytes, uLong(bytes.count), Z_BEST_COMPRESSION)
        // compressBound's room means zlib can fail only when out of memory.
        precondition(status == Z_OK, "zlib compress2 failed with status \(status)")
        return Array(out.prefix(Int(length)))
    }

    /// The four bytes of `value`, most significant first.
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
