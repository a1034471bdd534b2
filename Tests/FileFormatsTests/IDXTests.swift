import FileFormats
import Foundation
import NeuralNetwork
import TestSupport
import Testing

/// IDX bytes: magic `00 00`, type byte, rank, big-endian UInt32 dimensions, data.
func idxBytes(_ dimensions: [Int], _ data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
    for d in dimensions {
        bytes += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)]
    }
    return bytes + data
}

/// Three 2×3 images with distinct pixels 0, 15, 30, …, 255, and labels 2, 0, 1.
let sampleImages: [UInt8] = (0..<18).map { UInt8($0 * 15) }
let sampleImagesFile = idxBytes([3, 2, 3], sampleImages)
let sampleLabelsFile = idxBytes([3], [2, 0, 1])

@Suite("IDX files")
struct IDXTests {
    @Test("a raw IDX file parses to its dimensions and bytes")
    func parsesRaw() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(sampleImagesFile, to: "images-idx3-ubyte")
        let file = try IDX.read(path)
        #expect(file.dimensions == [3, 2, 3])
        #expect(file.bytes == sampleImages)
    }

    @Test("a gzip-compressed IDX file gives the same result as the raw one")
    func parsesGzip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let compressed = try gzipped(sampleImagesFile, in: folder)
        #expect(compressed.prefix(2) == [0x1F, 0x8B])
        let path = try folder.write(compressed, to: "images-idx3-ubyte.gz")
        let file = try IDX.read(path)
        #expect(file.dimensions == [3, 2, 3])
        #expect(file.bytes == sampleImages)
    }

    @Test("a large gzip file (more than one 1 MiB inflate chunk) decompresses completely")
    func parsesLargeGzip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let data = (0..<(2_500_000)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let path = try folder.write(try gzipped(idxBytes([2_500_000], data), in: folder), to: "big.gz")
        let file = try IDX.read(path)
        #expect(file.dimensions == [2_500_000])
        #expect(file.bytes == data)
    }

    @Test("images and labels load into a dataset with pixels scaled by 1/255", arguments: [false, true])
    func loadsSyntheticFolder(compressed: Bool) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let suffix = compressed ? ".gz" : ""
        for (name, bytes) in [("train-images-idx3-ubyte", sampleImagesFile), ("train-labels-idx1-ubyte", sampleLabelsFile),
                              ("t10k-images-idx3-ubyte", idxBytes([1, 2, 3], Array(sampleImages[6..<12]))),
                              ("t10k-labels-idx1-ubyte", idxBytes([1], [5]))] {
            try folder.write(compressed ? try gzipped(bytes, in: folder) : bytes, to: name + suffix)
        }
        let train = try DatasetFolder(folder.path).training()
        #expect(train.count == 3)
        #expect(train.sampleShape == [1, 2, 3])
        #expect(train.labels == [2, 0, 1])
        #expect(train.classCount == 3)
        let batch = train.batch([2, 0])
        #expect(batch.inputs.shape == [2, 1, 2, 3])
        #expect(batch.labels == [1, 2])
        let expected = (Array(sampleImages[12..<18]) + Array(sampleImages[0..<6])).map { Float($0) * (1 / 255) }
        #expect(batch.inputs.scalars == expected)

        let test = try DatasetFolder(folder.path).test()
        #expect(test.count == 1)
        #expect(test.labels == [5])
        #expect(test.classCount == 6)
        #expect(test.batch([0]).inputs.scalars == sampleImages[6..<12].map { Float($0) * (1 / 255) })
    }

    // MARK: Real data

    @Test("Fashion-MNIST training split: 60000 images of [1, 28, 28], 6000 per class, pixels in [0, 1]")
    func fashionTraining() throws {
        let train = try DatasetFolder().training()
        #expect(train.count == 60000)
        #expect(train.sampleShape == [1, 28, 28])
        #expect(train.classCount == 10)
        var histogram = [Int](repeating: 0, count: 10)
        for label in train.labels { histogram[Int(label)] += 1 }
        #expect(histogram == [Int](repeating: 6000, count: 10))
        #expect(train.labels.prefix(5) == [9, 0, 0, 3, 0])   // ankle boot, T-shirt, T-shirt, dress, T-shirt

        // Pixels of 2000 samples spread over the split lie in [0, 1] and reach both ends.
        let batch = train.batch(Array(Swift.stride(from: 0, to: 60000, by: 30)))
        #expect(batch.inputs.scalars.min() == 0)
        #expect(batch.inputs.scalars.max() == 1)
        #expect(batch.inputs.scalars.allSatisfy { $0 >= 0 && $0 <= 1 })

        // The first image equals the file's first 784 bytes divided by 255.
        let raw = try IDX.read("\(fashionMNISTPath)/train-images-idx3-ubyte.gz")
        #expect(raw.dimensions == [60000, 28, 28])
        #expect(train.batch([0]).inputs.scalars == raw.bytes[0..<784].map { Float($0) * (1 / 255) })
    }

    @Test("Fashion-MNIST test split: 10000 images, 1000 per class")
    func fashionTest() throws {
        let test = try DatasetFolder(fashionMNISTPath).test()
        #expect(test.count == 10000)
        #expect(test.sampleShape == [1, 28, 28])
        #expect(test.classCount == 10)
        var histogram = [Int](repeating: 0, count: 10)
        for label in test.labels { histogram[Int(label)] += 1 }
        #expect(histogram == [Int](repeating: 1000, count: 10))
        let pixels = test.batch(0..<500).inputs.scalars
        #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(pixels.max() == 1)
    }

    // MARK: Hostile input: a FormatError naming the file, never a crash

    /// A case of bad IDX bytes and the words its error must contain.
    struct BadFile: CustomStringConvertible, Sendable {
        var description: String
        var bytes: [UInt8]
        var words: [String]
    }

    static let badFiles: [BadFile] = [
        BadFile(description: "truncated data", bytes: Array(sampleImagesFile.dropLast(1)), words: ["truncated", "18", "17"]),
        BadFile(description: "truncated header", bytes: Array(sampleImagesFile.prefix(9)), words: ["truncated", "header"]),
        BadFile(description: "empty file", bytes: [], words: ["too short"]),
        BadFile(description: "bad magic", bytes: [0x50, 0x4B] + sampleImagesFile.dropFirst(2), words: ["magic"]),
        BadFile(description: "float type byte 0x0d", bytes: idxBytes([3, 2, 3], sampleImages, type: 0x0D),
                words: ["0xd", "not supported"]),
        BadFile(description: "too-long data", bytes: sampleImagesFile + [1, 2], words: ["too long", "18", "20"]),
        BadFile(description: "rank 0", bytes: [0, 0, 8, 0], words: ["rank 0"]),
        BadFile(description: "implausible dimensions",
                bytes: [0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                words: ["implausibly large"]),
    ]

    @Test("bad IDX bytes throw a FormatError naming the file and the problem", arguments: badFiles)
    func rejectsBadFile(_ bad: BadFile) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(bad.bytes, to: "bad-idx3-ubyte")
        expectError(formatError { _ = try IDX.read(path) }, path: path, mentions: bad.words)
    }

    @Test("corrupt gzip data throws a FormatError saying it is corrupt")
    func rejectsCorruptGzip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var bytes = try gzipped(sampleImagesFile, in: folder)
        // Byte 10 starts the deflate stream; 0xFF declares a block of reserved type 3.
        bytes[10] = 0xFF
        let path = try folder.write(bytes, to: "corrupt.gz")
        expectError(formatError { _ = try IDX.read(path) }, path: path, mentions: ["corrupt"])
    }

    @Test("a gzip file with a wrong checksum throws a FormatError saying it is corrupt")
    func rejectsGzipChecksum() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var bytes = try gzipped(sampleImagesFile, in: folder)
        bytes[bytes.count - 8] ^= 0x01   // CRC-32 of the uncompressed data
        let path = try folder.write(bytes, to: "crc.gz")
        expectError(formatError { _ = try IDX.read(path) }, path: path, mentions: ["corrupt"])
    }

    @Test("a truncated gzip file throws a FormatError saying it is truncated", arguments: [2, 12, 20])
    func rejectsTruncatedGzip(keep: Int) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bytes = try gzipped(sampleImagesFile, in: folder)
        try #require(bytes.count > keep + 8)
        let path = try folder.write(Array(bytes.prefix(keep)), to: "truncated.gz")
        expectError(formatError { _ = try IDX.read(path) }, path: path, mentions: ["truncated"])
    }

    @Test("a labels file whose count differs from the images count is rejected, naming both")
    func rejectsLabelCountMismatch() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let images = try folder.write(sampleImagesFile, to: "images")
        let labels = try folder.write(idxBytes([2], [0, 1]), to: "labels")
        let error = formatError { _ = try IDX.loadDataset(images: images, labels: labels) }
        expectError(error, path: labels, mentions: ["2 labels", "3 images", images])
    }

    @Test("labels with the wrong rank and images without rows/columns are rejected")
    func rejectsWrongRanks() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let images = try folder.write(sampleImagesFile, to: "images")
        let flatImages = try folder.write(idxBytes([18], sampleImages), to: "flat")
        let labels = try folder.write(sampleLabelsFile, to: "labels")
        let matrixLabels = try folder.write(idxBytes([3, 1], [0, 1, 2]), to: "matrix")
        expectError(formatError { _ = try IDX.loadDataset(images: flatImages, labels: labels) },
                    path: flatImages, mentions: ["[count, rows, columns]"])
        expectError(formatError { _ = try IDX.loadDataset(images: images, labels: matrixLabels) },
                    path: matrixLabels, mentions: ["vector of labels"])
    }

    @Test("a missing file throws 'no such file'")
    func rejectsMissingFile() throws {
        let path = "/nonexistent-prune-test/train-images-idx3-ubyte"
        expectError(formatError { _ = try IDX.read(path) }, path: path, mentions: ["no such file"])
    }

    @Test("a missing data folder tells how to install Fashion-MNIST")
    func rejectsMissingFolder() {
        let path = "/nonexistent-prune-test/fashion"
        expectError(formatError { _ = try DatasetFolder(path).training() }, path: path,
                    mentions: ["not found", "apt-get install dataset-fashion-mnist", "--data"])
        expectError(formatError { _ = try DatasetFolder(path).test() }, path: path, mentions: ["apt-get"])
    }

    @Test("a folder without the IDX files names the missing file")
    func rejectsFolderWithoutFiles() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write(sampleImagesFile, to: "train-images-idx3-ubyte")
        expectError(formatError { _ = try DatasetFolder(folder.path).training() }, path: folder.path,
                    mentions: ["missing", "train-labels-idx1-ubyte"])
    }
}
