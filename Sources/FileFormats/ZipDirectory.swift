import CGzip
import Foundation

/// The members of a ZIP archive as its central directory lists them, every offset and size
/// checked against the file (PKWARE APPNOTE 6.3: end record, ZIP64 end record, central
/// directory headers, local headers). Only stored (0) and deflated (8) members, unencrypted.
/// https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT
enum ZipDirectory {
    /// One member: its name, how its bytes are stored, and where they are.
    struct Member {
        var name: String
        var deflated: Bool
        var crc: UInt32
        /// The inflated size the archive declares.
        var size: Int
        /// The stored bytes' range in the file.
        var data: Range<Int>
    }

    /// Lists the members of the ZIP archive in `bytes`.
    /// - Throws: `FormatError` naming `path` for anything out of range, an unsupported
    ///   method, encryption, or multi-disk archives.
    static func members(of bytes: [UInt8], path: String) throws -> [Member] {
        func corrupt(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: "ZIP archive: \(what)")) }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) throws -> Int {
            let high = u32(at + 4)
            guard high < 1 << 30 else { throw corrupt("a 64-bit size or offset is implausibly large") }
            return u32(at) | high << 32
        }
        // The end record: the last signature whose comment ends the file.
        guard let end = stride(from: bytes.count - 22, through: 0, by: -1).first(where: {
            u32($0) == 0x0605_4B50 && $0 + 22 + u16($0 + 20) == bytes.count
        }) else { throw corrupt("no end-of-central-directory record (truncated?)") }
        guard u16(end + 4) == 0, u16(end + 6) == 0 else { throw corrupt("multi-disk archives are not supported") }
        var count = u16(end + 10), directorySize = u32(end + 12), directoryOffset = u32(end + 16)
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a locator just before the end record points at the ZIP64 end record.
            guard end >= 20, u32(end - 20) == 0x0706_4B50 else { throw corrupt("ZIP64 sizes without a ZIP64 locator") }
            let record = try u64(end - 12)
            guard record >= 0, record + 56 <= end - 20, u32(record) == 0x0606_4B50 else { throw corrupt("bad ZIP64 end record offset") }
            count = try u64(record + 32); directorySize = try u64(record + 40); directoryOffset = try u64(record + 48)
        }
        guard directoryOffset <= end, directorySize <= end - directoryOffset else {
            throw corrupt("the central directory (\(directorySize) bytes at \(directoryOffset)) lies outside the file")
        }
        guard count <= directorySize / 46 else { throw corrupt("\(count) members cannot fit in a \(directorySize)-byte directory") }
        let directoryEnd = directoryOffset + directorySize
        var members: [Member] = []
        var p = directoryOffset
        for _ in 0..<count {
            guard p + 46 <= directoryEnd, u32(p) == 0x0201_4B50 else { throw corrupt("bad central directory header at \(p)") }
            let flags = u16(p + 8), method = u16(p + 10)
            let nameLength = u16(p + 28), extraLength = u16(p + 30), commentLength = u16(p + 32)
            guard p + 46 + nameLength + extraLength + commentLength <= directoryEnd else { throw corrupt("a header runs past the directory") }
            let name = String(decoding: bytes[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            guard flags & 1 == 0 else { throw corrupt("member '\(name)' is encrypted") }
            guard method == 0 || method == 8 else { throw corrupt("member '\(name)' uses compression method \(method) (only stored and deflate are read)") }
            var size = u32(p + 24), stored = u32(p + 20), local = u32(p + 42)
            // ZIP64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = u16(e), length = u16(e + 2)
                guard e + 4 + length <= extraEnd else { throw corrupt("member '\(name)' has a malformed extra field") }
                if id == 1 {
                    var q = e + 4
                    for field in [0, 1, 2] where [size, stored, local][field] == 0xFFFF_FFFF {
                        guard q + 8 <= e + 4 + length else { throw corrupt("member '\(name)' has a short ZIP64 field") }
                        let v = try u64(q)
                        if field == 0 { size = v } else if field == 1 { stored = v } else { local = v }
                        q += 8
                    }
                }
                e += 4 + length
            }
            // The local header repeats the name and may have another extra field.
            guard local + 30 <= directoryOffset, u32(local) == 0x0403_4B50 else { throw corrupt("member '\(name)' has no local header at \(local)") }
            let start = local + 30 + u16(local + 26) + u16(local + 28)
            guard start <= directoryOffset, stored <= directoryOffset - start else {
                throw corrupt("member '\(name)' (\(stored) bytes at \(start)) lies outside the file")
            }
            guard method == 8 || stored == size else { throw corrupt("stored member '\(name)' declares \(size) bytes but holds \(stored)") }
            members.append(Member(name: name, deflated: method == 8, crc: UInt32(u32(p + 16)), size: size, data: start..<(start + stored)))
            p += 46 + nameLength + extraLength + commentLength
        }
        return members
    }

    /// The CRC-32 of `data` (zlib's).
    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw in
            UInt32(CGzip.crc32(0, raw.bindMemory(to: Bytef.self).baseAddress, uInt(raw.count)))
        }
    }
}
