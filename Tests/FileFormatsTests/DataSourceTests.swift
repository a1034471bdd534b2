import FileFormats
import Foundation
import NeuralNetwork
import Testing

@Suite("CSV data")
struct CSVDataTests {
    @Test("with a header: the 'label' column is the label wherever it is; features keep their order")
    func header() throws {
        let t = try CSVData.decode(Data("a,label,b\n1.5,2,-3\n\n4,0,5e-1\r\n".utf8), path: "d.csv")
        #expect(t.header == ["a", "label", "b"] && t.labelColumn == 1)
        #expect(t.features == [1.5, -3, 4, 0.5] && t.labels == [2, 0] && t.rowNumbers == [2, 4])
    }

    @Test("without a header: the first column is the label; quoted fields are parsed")
    func noHeader() throws {
        let t = try CSVData.decode(Data("1,\"0.25\",2\n0,3,4\n".utf8), path: "d.csv")
        #expect(t.header == nil && t.labels == [1, 0] && t.features == [0.25, 2, 3, 4] && t.featureCount == 2)
        let last = try CSVData.decode(Data("0.5,1\n2,3\n".utf8), path: "d.csv", labelColumn: .index(1))
        #expect(last.labels == [1, 3] && last.features == [0.5, 2])
    }

    @Test("a ragged row, a non-number, a negative or fractional label are errors naming the file and row", arguments: [
        ("label,a,b\n1,2,3\n0,4\n", ["row 3", "2 fields", "header has 3"]),
        ("1,2,3\n0,4,5,6\n", ["row 2", "4 fields", "first row"]),
        ("label,a\n1,2\n0,x\n", ["row 3", "'a'", "not a finite number"]),
        ("label,a\n1,2\n-1,3\n", ["row 3", "negative"]),
        ("1,2\n0.5,3\n", ["row 2", "not an integer"]),
        ("label,a\n", ["no data rows"]),
        ("3\n4\n", ["at least one feature"]),
    ])
    func bad(text: String, words: [String]) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(Array(text.utf8), to: "data.csv")
        expectError(formatError { _ = try CSVData.read(path) }, path: path, mentions: words)
    }
}

@Suite("PNG and JPEG images")
struct ImageTests {
    let single = "\(fixtures)/images/single"

    @Test("PNGs written by Pillow decode to Pillow's pixels: gray, RGB, RGBA (alpha dropped), 16-bit, palette")
    func png() throws {
        let gray = try expectedFixtureValues("images", "gray").map { UInt8($0) }
        let rgb = try expectedFixtureValues("images", "rgb_hwc").map { UInt8($0) }
        #expect(try ImageDecoder.read("\(single)/gray.png", channels: 1) == .init(width: 5, height: 4, channels: 1, pixels: gray))
        #expect(try ImageDecoder.read("\(single)/rgb.png", channels: 3).pixels == rgb)
        #expect(try ImageDecoder.read("\(single)/rgba.png", channels: 3).pixels == rgb)
        #expect(try ImageDecoder.read("\(single)/gray16.png", channels: 1).pixels == gray)
        let header = try ImageDecoder.header(Data(contentsOf: URL(fileURLWithPath: "\(single)/palette.png")), path: "p")
        #expect(header == .init(format: .png, width: 5, height: 4, channels: 3))
        // Gray expands to RGB as three equal channels.
        let expanded = try ImageDecoder.read("\(single)/gray.png", channels: 3).pixels
        #expect(expanded == gray.flatMap { [$0, $0, $0] })
    }

    @Test("JPEGs written by Pillow decode to the pixels Pillow decodes (within 2 levels: IDCT rounding)")
    func jpeg() throws {
        let gray = try expectedFixtureValues("images", "gray_jpg_pillow")
        let rgb = try expectedFixtureValues("images", "rgb_jpg_pillow")
        let g = try ImageDecoder.read("\(single)/gray.jpg", channels: 1)
        #expect(g.width == 5 && g.height == 4 && g.channels == 1)
        #expect(zip(g.pixels, gray).map { abs(Double($0) - $1) }.max()! <= 2)
        let c = try ImageDecoder.read("\(single)/rgb.jpg", channels: 3)
        #expect(try ImageDecoder.header(Data(contentsOf: URL(fileURLWithPath: "\(single)/rgb.jpg")), path: "j").channels == 3)
        #expect(zip(c.pixels, rgb).map { abs(Double($0) - $1) }.max()! <= 2)
    }

    @Test("truncated and foreign files are errors naming the file")
    func unreadable() throws {
        for name in ["truncated.png", "truncated.jpg"] {
            let path = "\(single)/\(name)"
            expectError(formatError { _ = try ImageDecoder.read(path, channels: 3) }, path: path, mentions: ["unreadable"])
        }
        expectError(formatError { _ = try ImageDecoder.decode(Data("GIF89a....".utf8), path: "x.gif", channels: 1) },
                    path: "x.gif", mentions: ["not a PNG or JPEG"])
    }
}

@Suite("Data sources: every layout into training and test splits")
struct DataSourceTests {
    @Test("an .npz with x_train/y_train/x_test/y_test gives those splits; classes from the labels")
    func npzSplits() throws {
        let data = try DataSource("\(fixtures)/numpy/dataset.npz").load()
        let x = try expectedFixtureValues("numpy", "dataset_x").map(Float.init)
        #expect(data.training.count == 30 && data.test.count == 10 && data.training.sampleShape == [4] && data.classes == 2)
        #expect(data.training.batch(0..<30).inputs.scalars == Array(x[0..<120]))
        #expect(data.test.batch(0..<10).inputs.scalars == Array(x[120...]))
        #expect(data.testSource.contains("x_test"))
    }

    @Test("an .npz with x and y holds out a fixed 20% as the test split, the same every time")
    func heldOut() throws {
        let path = "\(fixtures)/numpy/dataset_compressed.npz"
        let a = try DataSource(path).load(), b = try DataSource(path).load()
        #expect(a.training.count == 32 && a.test.count == 8 && a.test.labels == b.test.labels)
        let all = try expectedFixtureValues("numpy", "dataset_x").map(Float.init)
        let rows = Set((0..<40).map { Array(all[($0 * 4)..<($0 * 4 + 4)]) })
        let testRows = (0..<8).map { Array(a.test.batch([$0]).inputs.scalars) }
        let trainRows = (0..<32).map { Array(a.training.batch([$0]).inputs.scalars) }
        #expect(Set(testRows + trainRows) == rows)   // a partition of the file's samples
        #expect(a.testSource.contains("20%"))
    }

    @Test("uint8 images [N, H, W] become [1, H, W] scaled by 1/255; channels-last RGB becomes channels-first")
    func imagesInNumPy() throws {
        let gray = try DataSource("\(fixtures)/numpy/images_u1.npz").load()
        #expect(gray.training.sampleShape == [1, 5, 4] && gray.classes == 3)
        let pixels = try expectedFixtureValues("numpy", "images_u1")
        let first = gray.training.batch(0..<6).inputs.scalars
        #expect(zip(first, pixels).allSatisfy { abs(Double($0) - $1 / 255) < 1e-6 })
        let nhwc = try DataSource("\(fixtures)/numpy/images_nhwc.npz").load(classes: 2)
        #expect(nhwc.training.sampleShape == [3, 4, 5] && nhwc.training.count + nhwc.test.count == 5)
        let scale: Float = 1 / 255   // as datasets scale bytes
        let chw = try expectedFixtureValues("numpy", "nhwc_chw").map { Float($0) * scale }
        let expected = Set((0..<5).map { Array(chw[($0 * 60)..<($0 * 60 + 60)]) })
        let read = (0..<4).map { Array(nhwc.training.batch([$0]).inputs.scalars) } + [Array(nhwc.test.batch([0]).inputs.scalars)]
        #expect(Set(read) == expected)
    }

    @Test("a folder of .npy pairs, and a folder of train.csv + test.csv")
    func folders() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try NPY.write(NPY.Array(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6]), to: folder.file("x_train.npy"))
        try NPY.write(NPY.Array(shape: [3], integers: [0, 1, 2]), to: folder.file("y_train.npy"))
        try NPY.write(NPY.Array(shape: [1, 2], floats: [7, 8]), to: folder.file("x_test.npy"))
        try NPY.write(NPY.Array(shape: [1], integers: [1]), to: folder.file("y_test.npy"))
        let npy = try DataSource(folder.path)
        #expect(npy.kind == .npy)
        let data = try npy.load()
        #expect(data.training.count == 3 && data.test.batch([0]).inputs.scalars == [7, 8] && data.classes == 3)

        let csv = try TemporaryFolder()
        defer { csv.remove() }
        try csv.write(Array("f1,f2,label\n0.5,1,1\n2,3,0\n".utf8), to: "train.csv")
        try csv.write(Array("f1,f2,label\n9,9,1\n".utf8), to: "test.csv")
        let c = try DataSource(csv.path).load()
        #expect(c.training.labels == [1, 0] && c.test.batch([0]).inputs.scalars == [9, 9] && c.classes == 2)
    }

    @Test("an image folder with train/ and test/: classes are the sorted folder names, RGB becomes [3, H, W]")
    func imageFolder() throws {
        let data = try DataSource("\(fixtures)/images/shapes").load()
        #expect(data.classNames == ["bottom", "top"] && data.classes == 2)
        #expect(data.training.sampleShape == [3, 32, 32] && data.training.count == 16 && data.test.count == 6)
        #expect(data.training.labels == Array(repeating: 0, count: 8) + Array(repeating: 1, count: 8))
        // Class "top" is bright in the top half of every channel: channels-first kept rows in place.
        let top = data.training.batch([8]).inputs.scalars
        for c in 0..<3 {
            let plane = Array(top[(c * 1024)..<((c + 1) * 1024)])
            let upper: Float = plane[0..<512].reduce(0, +), lower: Float = plane[512...].reduce(0, +)
            #expect(upper > lower + 200)
        }
    }

    @Test("images of two sizes, an empty class, a stray file and an unreadable image are errors naming the file")
    func badImageFolders() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let single = "\(fixtures)/images/single"
        func copy(_ name: String, to target: String) throws {
            try FileManager.default.createDirectory(atPath: folder.file((target as NSString).deletingLastPathComponent), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(single)/\(name)", toPath: folder.file(target))
        }
        try copy("gray.png", to: "a/1.png")
        try copy("truncated.png", to: "b/2.png")
        expectError(formatError { _ = try DataSource(folder.path).load() }, path: folder.file("b/2.png"), mentions: ["unreadable"])
        try FileManager.default.removeItem(atPath: folder.file("b/2.png"))
        expectError(formatError { _ = try DataSource(folder.path).load() }, path: folder.file("b"), mentions: ["empty"])
        try folder.write([1, 2, 3], to: "b/notes.txt")
        expectError(formatError { _ = try DataSource(folder.path).load() }, path: folder.file("b/notes.txt"), mentions: ["PNG or JPEG"])
        try FileManager.default.removeItem(atPath: folder.file("b/notes.txt"))
        let big = try ImageDecoder.read("\(fixtures)/images/shapes/train/top/00.png", channels: 3)
        #expect(big.width == 32)
        try FileManager.default.copyItem(atPath: "\(fixtures)/images/shapes/train/top/00.png", toPath: folder.file("b/3.png"))
        expectError(formatError { _ = try DataSource(folder.path).load() }, path: folder.file("b/3.png"), mentions: ["5×4", "32×32"])
    }

    @Test("a stray label (200 among 0…9) is an error naming the file and row before anything trains; --classes accepts real gaps")
    func strayLabel() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var text = "label,a\n"
        for i in 0..<20 { text += "\(i == 13 ? 200 : i % 10),\(i)\n" }
        let path = try folder.write(Array(text.utf8), to: "data.csv")
        let error = formatError { _ = try DataSource(path).load() }
        expectError(error, path: path, mentions: ["row 15", "label 200", "skips classes 10..<200"])
        #expect(try DataSource(path).load(classes: 201).classes == 201)
        expectError(formatError { _ = try DataSource(path).load(classes: 10) }, path: path, mentions: ["row 15", "label 200", "0..<10"])
        // A loaded model's outputs bound the labels the same way.
        let data = try DataSource(path).load(classes: 201)
        expectError(formatError { try data.checkLabels(below: 10) }, path: path, mentions: ["row 15", "outside 0..<10"])
    }

    @Test("negative and non-integer labels in NumPy files are errors naming the array and index")
    func badNumPyLabels() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.file("d.npz")
        try NPZ.write([("x", NPY.Array(shape: [3, 1], floats: [1, 2, 3])), ("y", NPY.Array(shape: [3], integers: [0, -4, 1]))], to: path)
        expectError(formatError { _ = try DataSource(path).load() }, path: path, mentions: ["y[1]", "negative"])
        try NPZ.write([("x", NPY.Array(shape: [3, 1], floats: [1, 2, 3])), ("y", NPY.Array(shape: [3], floats: [0, 1, 1]))], to: path)
        expectError(formatError { _ = try DataSource(path).load() }, path: path, mentions: ["'y'", "integers"])
        try NPZ.write([("x", NPY.Array(shape: [3, 1], floats: [1, 2, 3])), ("y", NPY.Array(shape: [2], integers: [0, 1]))], to: path)
        expectError(formatError { _ = try DataSource(path).load() }, path: path, mentions: ["'y'", "[3]"])
        let extra = "\(fixtures)/numpy/extra_array.npz"
        expectError(formatError { _ = try DataSource(extra).load() }, path: extra, mentions: ["x, y, z"])
    }

    @Test("paths with no known layout are errors that say what is accepted")
    func unknownLayouts() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        expectError(formatError { _ = try DataSource(folder.path) }, path: folder.path, mentions: ["train.npz", "train.csv"])
        let lone = try folder.write([1], to: "x.npy")
        expectError(formatError { _ = try DataSource(lone) }, path: lone, mentions: ["x_train.npy", "folder"])
    }
}
