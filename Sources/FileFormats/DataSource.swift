import Foundation
import NeuralNetwork
import TensorCore

/// Where each sample of a dataset came from (a file and a place in it), so that a bad
/// label can be named: "data.csv: row 18", "data.npz: y_train[17]", "flowers/train/rose/3.png".
public struct SampleOrigins: Sendable {
    private let place: @Sendable (Int) -> (file: String, sample: String)
    private let indices: [Int]?

    /// Origins given by a function of the sample's index.
    public init(_ place: @escaping @Sendable (Int) -> (file: String, sample: String)) {
        self.place = place
        indices = nil
    }

    /// The file and the place in it of sample `i`.
    public func callAsFunction(_ i: Int) -> (file: String, sample: String) { place(indices?[i] ?? i) }

    /// The origins of `dataset.subset(indices)`.
    public func subset(_ picked: [Int]) -> SampleOrigins {
        SampleOrigins(place: place, indices: picked.map { indices?[$0] ?? $0 })
    }

    private init(place: @escaping @Sendable (Int) -> (file: String, sample: String), indices: [Int]) {
        self.place = place
        self.indices = indices
    }
}

/// A training and a test set read from files, with the number of classes and where every
/// sample came from.
public struct LabeledData {
    /// The training split.
    public var training: Dataset
    /// The test split (a file of its own, or held out from the training file: see `testSource`).
    public var test: Dataset
    /// Where each training sample came from.
    public var trainingOrigins: SampleOrigins
    /// Where each test sample came from.
    public var testOrigins: SampleOrigins
    /// The number of classes: declared, the number of class folders, or 1 + the largest label.
    public var classes: Int
    /// The class names (image folders), in index order.
    public var classNames: [String]?
    /// Where the test split came from, in words.
    public var testSource: String

    /// Checks every label of both splits against `0..<classes` (e.g. a loaded model's outputs).
    /// - Throws: `FormatError.invalidLabel` naming the file and the row of the first label outside.
    /// - Complexity: O(samples).
    public func checkLabels(below classes: Int) throws {
        for (data, origins) in [(training, trainingOrigins), (test, testOrigins)] {
            if let i = data.labels.firstIndex(where: { Int($0) >= classes }) {
                let (file, sample) = origins(i)
                throw FormatError(path: file, .invalidLabel(sample: sample, problem:
                    "label \(data.labels[i]) is outside 0..<\(classes) (the model has \(classes) outputs); fix the label or use a model with more outputs"))
            }
        }
    }
}

extension LabeledData {
    /// Splits one source into training and a held-out test split: `DataSource.heldOutTestFraction`
    /// of the samples, drawn with `DataSource.heldOutSeed`, so every command holds out the same ones.
    /// - Throws: `FormatError` naming `source` when it has too few samples to hold any out.
    public init(holdingOutFrom data: Dataset, origins: SampleOrigins, source: String) throws {
        let fraction = DataSource.heldOutTestFraction
        let held = Int((fraction * Double(data.count)).rounded())
        guard held >= 1, held < data.count else {
            throw FormatError(path: source, .unexpectedContent(expected: "enough samples to hold out \(Int(100 * fraction))% as a test split",
                                                               found: "\(data.count) sample\(data.count == 1 ? "" : "s")"))
        }
        var rng = SeededGenerator(seed: DataSource.heldOutSeed)
        var order = Array(0..<data.count)
        rng.shuffle(&order)
        var isHeld = [Bool](repeating: false, count: data.count)
        for i in order.prefix(held) { isHeld[i] = true }
        let trainIndices = (0..<data.count).filter { !isHeld[$0] }, testIndices = (0..<data.count).filter { isHeld[$0] }
        self.init(training: data.subset(trainIndices), test: data.subset(testIndices), trainingOrigins: origins.subset(trainIndices),
                  testOrigins: origins.subset(testIndices), classes: data.classCount, classNames: nil,
                  testSource: "\(Int(100 * fraction))% of \(source) held out (fixed seed)")
    }
}

/// Data named by one path, in any of the layouts Prune reads (docs/DATA.md):
///
/// | path | training | test |
/// |---|---|---|
/// | folder with `train-images-idx3-ubyte[.gz]` … | the IDX `train-` files | the `t10k-` files |
/// | `FILE.npz` with `x_train`, `y_train`, `x_test`, `y_test` | `x_train`, `y_train` | `x_test`, `y_test` |
/// | `FILE.npz` with `x`, `y` | `x`, `y` minus the held-out part | 20% held out |
/// | folder with `train.npz` [+ `test.npz`], each `x`, `y` | `train.npz` | `test.npz`, else held out |
/// | folder with `x_train.npy`, `y_train.npy` [+ `x_test.npy`, `y_test.npy`] | the `_train` pair | the `_test` pair, else held out |
/// | folder with `x.npy`, `y.npy` | the pair minus the held-out part | held out |
/// | `FILE.csv` / `FILE.tsv` | the file minus the held-out part | held out |
/// | folder with `train.csv` [+ `test.csv`] | `train.csv` | `test.csv`, else held out |
/// | folder with `train/` [+ `test/`], each with one subfolder per class | `train/` | `test/`, else held out |
/// | folder with one subfolder of images per class | the images minus the held-out part | held out |
///
/// "Held out" is `heldOutTestFraction` of the samples, drawn with a fixed seed, so every
/// run and every command sees the same test split.
public struct DataSource: Sendable {
    /// The layouts.
    public enum Kind: String, Sendable {
        case idx, npz, npy, csv, images
        /// A folder of plain-text files (`TextCorpus`), for a byte-level language model.
        case text
    }

    /// Windows of this many bytes when a text corpus is read through `load` (gpt-tiny's context).
    public static let textWindow = 128

    /// The share of a single-split source held out as the test split.
    public static let heldOutTestFraction = 0.2
    /// The seed that draws the held-out test split (fixed: the same split for every run).
    public static let heldOutSeed: UInt64 = 0x5445_5354   // "TEST"

    /// The path given.
    public let path: String
    /// The layout found there.
    public let kind: Kind

    /// Inspects `path` and decides its layout (nothing is read yet).
    /// - Throws: `FormatError` when the path does not exist or holds no layout Prune reads.
    public init(_ path: String) throws {
        if path == "fortunes" || path == TextCorpus.fortunesPath {
            self.path = path
            kind = .text
            return
        }
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(path: path, .missingDataFolder)
        }
        let ext = (path as NSString).pathExtension.lowercased()
        if !isDirectory.boolValue {
            switch ext {
            case "npz": kind = .npz
            case "csv", "tsv": kind = .csv
            case "npy":
                throw FormatError(path: path, .unexpectedContent(
                    expected: "a folder holding x_train.npy and y_train.npy (or x.npy and y.npy), or an .npz file",
                    found: "a single .npy file; put the inputs and labels side by side in a folder and pass the folder"))
            default:
                throw FormatError(path: path, .unexpectedContent(
                    expected: "a data folder, an .npz or a .csv file (see docs/DATA.md); a .txt file of sentences goes with a sentence-encoder model folder",
                    found: "a .\(ext) file"))
            }
            return
        }
        let has = { (name: String) in FileManager.default.fileExists(atPath: "\(path)/\(name)") }
        if has("train-images-idx3-ubyte") || has("train-images-idx3-ubyte.gz") { kind = .idx }
        else if has("train.npz") { kind = .npz }
        else if has("x_train.npy") || has("x.npy") { kind = .npy }
        else if has("train.csv") || has("train.tsv") { kind = .csv }
        else if (try? ImageFolder.listing(path))?.contains(where: { ImageFolder.isFolder("\(path)/\($0)") }) == true { kind = .images }
        else if has("t10k-images-idx3-ubyte") || has("t10k-images-idx3-ubyte.gz") { kind = .idx }   // IDX reports the missing file
        else {
            throw FormatError(path: path, .unexpectedContent(
                expected: "IDX files, train.npz, x_train.npy/y_train.npy, train.csv or one subfolder of images per class (see docs/DATA.md)",
                found: "none of these"))
        }
    }

    /// Reads the training and test splits.
    /// - Parameter classes: the number of classes when the caller knows it; nil takes it from
    ///   the data (class folders, or 1 + the largest label).
    /// - Throws: `FormatError` naming the file (and row) of the first problem: a malformed file,
    ///   splits whose sample shapes differ, a label at or above `classes`, or — when the classes
    ///   come from the data — labels that skip classes (a stray `200` among `0…9`).
    public func load(classes declared: Int? = nil) throws -> LabeledData {
        var data: LabeledData
        switch kind {
        case .idx: data = try loadIDX()
        case .npz: data = try loadNPZ()
        case .npy: data = try loadNPY()
        case .csv: data = try loadCSV()
        case .images: data = try loadImages()
        case .text: data = try loadText()
        }
        guard data.training.sampleShape == data.test.sampleShape else {
            throw FormatError(path: path, .unexpectedContent(expected: "test samples shaped like the training samples \(data.training.sampleShape)",
                                                             found: "\(data.test.sampleShape)"))
        }
        if let declared {
            data.classes = declared
            try data.checkLabels(below: declared)
        } else if data.classNames == nil && kind != .text {
            try checkContiguous(data)
        }
        return data
    }

    /// With classes taken from integer labels, every class below the largest must occur:
    /// a gap means a stray label, named with its file and row.
    private func checkContiguous(_ data: LabeledData) throws {
        var present = [Bool](repeating: false, count: data.classes)
        for label in data.training.labels { present[Int(label)] = true }
        for label in data.test.labels { present[Int(label)] = true }
        guard let gap = present.firstIndex(of: false) else { return }
        let next = present[gap...].firstIndex(of: true)!   // the largest label is present
        for (set, origins) in [(data.training, data.trainingOrigins), (data.test, data.testOrigins)] {
            if let i = set.labels.firstIndex(where: { Int($0) == next }) {
                let (file, sample) = origins(i)
                throw FormatError(path: file, .invalidLabel(sample: sample, problem:
                    "label \(next) skips classes \(gap)..<\(next), which no sample has; fix the label, or declare the number of classes (--classes, or `classes:` in a recipe) if they are really absent"))
            }
        }
    }

    // MARK: Layouts

    private func loadText() throws -> LabeledData {
        let corpus = try TextCorpus(path: path)
        let (training, test) = try corpus.datasets(length: Self.textWindow)
        let origin = SampleOrigins { (corpus.path, "window \($0)") }
        return LabeledData(training: training, test: test, trainingOrigins: origin, testOrigins: origin, classes: 256,
                           classNames: nil, testSource: "the held-out files \(corpus.heldOutFiles.joined(separator: ", "))")
    }

    private func loadIDX() throws -> LabeledData {
        let folder = DatasetFolder(path)
        let training = try folder.training(), test = try folder.test()
        let trainLabels = folder.labelFile(training: true), testLabels = folder.labelFile(training: false)
        return LabeledData(training: training, test: test,
                           trainingOrigins: SampleOrigins { (trainLabels, "label \($0)") },
                           testOrigins: SampleOrigins { (testLabels, "label \($0)") },
                           classes: max(training.classCount, test.classCount), classNames: nil,
                           testSource: "the t10k- files")
    }

    private func loadNPZ() throws -> LabeledData {
        if path.lowercased().hasSuffix(".npz") {
            let arrays = try NPZ.read(path)
            let keys = Set(arrays.keys)
            if keys == ["x_train", "y_train", "x_test", "y_test"] {
                let training = try Self.dataset(x: arrays["x_train"]!, y: arrays["y_train"]!, file: path, names: ("x_train", "y_train"))
                let test = try Self.dataset(x: arrays["x_test"]!, y: arrays["y_test"]!, file: path, names: ("x_test", "y_test"))
                return assemble(training, test, testSource: "x_test, y_test in \(path)")
            }
            guard keys == ["x", "y"] || keys == ["x_train", "y_train"] else {
                throw FormatError(path: path, .unexpectedContent(expected: "arrays x_train, y_train, x_test, y_test (or x, y)",
                                                                 found: "arrays \(keys.sorted().joined(separator: ", "))"))
            }
            let names = keys.contains("x") ? ("x", "y") : ("x_train", "y_train")
            return try holdOut(Self.dataset(x: arrays[names.0]!, y: arrays[names.1]!, file: path, names: names))
        }
        let training = try Self.npzPair("\(path)/train.npz")
        let testPath = "\(path)/test.npz"
        guard FileManager.default.fileExists(atPath: testPath) else { return try holdOut(training) }
        return assemble(training, try Self.npzPair(testPath), testSource: testPath)
    }

    private static func npzPair(_ file: String) throws -> (Dataset, SampleOrigins) {
        let arrays = try NPZ.read(file)
        guard Set(arrays.keys) == ["x", "y"] else {
            throw FormatError(path: file, .unexpectedContent(expected: "arrays x and y", found: "arrays \(arrays.keys.sorted().joined(separator: ", "))"))
        }
        return try dataset(x: arrays["x"]!, y: arrays["y"]!, file: file, names: ("x", "y"))
    }

    private func loadNPY() throws -> LabeledData {
        let has = { (name: String) in FileManager.default.fileExists(atPath: "\(path)/\(name)") }
        func pair(_ x: String, _ y: String) throws -> (Dataset, SampleOrigins) {
            guard has(y) else { throw FormatError(path: "\(path)/\(y)", .missingFile) }
            let inputs = try NPY.read("\(path)/\(x)"), labels = try NPY.read("\(path)/\(y)")
            let (set, _) = try Self.dataset(x: inputs, y: labels, file: "\(path)/\(x)", names: (x, y))
            let file = "\(path)/\(y)"
            return (set, SampleOrigins { (file, "\(y)[\($0)]") })
        }
        if has("x_train.npy") {
            let training = try pair("x_train.npy", "y_train.npy")
            guard has("x_test.npy") else { return try holdOut(training) }
            return assemble(training, try pair("x_test.npy", "y_test.npy"), testSource: "\(path)/x_test.npy, y_test.npy")
        }
        return try holdOut(pair("x.npy", "y.npy"))
    }

    private func loadCSV() throws -> LabeledData {
        func table(_ file: String) throws -> (Dataset, SampleOrigins) {
            let (set, table) = try CSVData.loadDataset(file)
            let rows = table.rowNumbers
            return (set, SampleOrigins { ("\(file)", "row \(rows[$0])") })
        }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        guard isDirectory.boolValue else { return try holdOut(table(path)) }
        let ext = FileManager.default.fileExists(atPath: "\(path)/train.csv") ? "csv" : "tsv"
        let training = try table("\(path)/train.\(ext)")
        let testPath = "\(path)/test.\(ext)"
        guard FileManager.default.fileExists(atPath: testPath) else { return try holdOut(training) }
        return assemble(training, try table(testPath), testSource: testPath)
    }

    private func loadImages() throws -> LabeledData {
        let split = ImageFolder.isFolder("\(path)/train")
        let root = split ? "\(path)/train" : path
        let names = try ImageFolder.classNames(in: root)
        let first = try ImageFolder.load(root, classNames: names)
        func origins(_ loaded: ImageFolder.Loaded) -> SampleOrigins {
            let files = loaded.files
            return SampleOrigins { (files[$0], "class '\(names[Int(loaded.dataset.labels[$0])])'") }
        }
        var data: LabeledData
        if split, ImageFolder.isFolder("\(path)/test") {
            let testNames = try ImageFolder.classNames(in: "\(path)/test")
            guard Set(testNames).isSubset(of: names) else {
                let extra = testNames.filter { !names.contains($0) }
                throw FormatError(path: "\(path)/test", .unexpectedContent(expected: "only the training classes \(names)", found: "classes \(extra) that train/ lacks"))
            }
            let channels = first.dataset.sampleShape[0]
            // Labels index the training classes; a class may have no test images.
            let test = try ImageFolder.load("\(path)/test", classNames: names, channels: channels, skippingMissing: true)
            data = assemble((first.dataset, origins(first)), (test.dataset, origins(test)), testSource: "\(path)/test")
        } else {
            data = try holdOut((first.dataset, origins(first)))
        }
        data.classes = names.count
        data.classNames = names
        return data
    }

    // MARK: Helpers

    private func assemble(_ training: (Dataset, SampleOrigins), _ test: (Dataset, SampleOrigins), testSource: String) -> LabeledData {
        LabeledData(training: training.0, test: test.0, trainingOrigins: training.1, testOrigins: test.1,
                    classes: max(training.0.classCount, test.0.classCount), classNames: nil, testSource: testSource)
    }

    /// Splits a single source into training and a held-out test split.
    private func holdOut(_ all: (Dataset, SampleOrigins)) throws -> LabeledData {
        try LabeledData(holdingOutFrom: all.0, origins: all.1, source: path)
    }

    /// A dataset from NumPy arrays: `x` float (any width) or uint8 (scaled by 1/255) `[N, …]`,
    /// `y` integer `[N]` or `[N, 1]`. `[N, H, W]` becomes `[N, 1, H, W]`; `[N, H, W, C]` with C of
    /// 1 or 3 (and the second axis not 1 or 3) is taken as channels-last and made channels-first.
    /// - Returns: the dataset, and origins naming `file` and `y[i]` for each sample.
    /// - Throws: `FormatError` naming `file` and the array: shapes that disagree, a negative or
    ///   too large label, float labels, integer inputs other than uint8, NaN or infinity.
    public static func dataset(x: NPY.Array, y: NPY.Array, file: String, names: (x: String, y: String)) throws -> (Dataset, SampleOrigins) {
        guard x.shape.count >= 2, x.shape[0] > 0 else {
            throw FormatError(path: file, .malformedTensor(tensor: names.x, problem: "has shape \(x.shape); inputs need [samples, features…] with at least one sample"))
        }
        let n = x.shape[0]
        guard y.shape == [n] || y.shape == [n, 1] else {
            throw FormatError(path: file, .malformedTensor(tensor: names.y, problem: "has shape \(y.shape); labels need [\(n)] (one per sample of \(names.x))"))
        }
        guard y.scalarType.isInteger else {
            throw FormatError(path: file, .malformedTensor(tensor: names.y, problem: "is \(y.scalarType.rawValue); labels must be integers (y.astype(np.int64))"))
        }
        let raw = y.integers()
        var labels = [Int32](); labels.reserveCapacity(n)
        for (i, v) in raw.enumerated() {
            guard v >= 0, v <= Int64(Int32.max) else {
                throw FormatError(path: file, .invalidLabel(sample: "\(names.y)[\(i)]", problem: "label \(v) is \(v < 0 ? "negative" : "too large"); classes are 0, 1, 2, …"))
            }
            labels.append(Int32(v))
        }
        var shape = Array(x.shape.dropFirst())
        var transpose = false
        if shape.count == 2 { shape = [1] + shape }
        if shape.count == 3, [1, 3].contains(shape[2]), ![1, 3].contains(shape[0]) {
            shape = [shape[2], shape[0], shape[1]]
            transpose = true
        }
        let dataset: Dataset
        do {
            switch x.scalarType {
            case .uint8:
                let bytes = transpose ? channelsFirst(x.bytes, samples: n, shape: shape) : x.bytes
                dataset = try Dataset(bytes: bytes, scale: 1 / 255, sampleShape: shape, labels: labels)
            case .float16, .float32, .float64:
                let values = x.floats()
                if let bad = values.firstIndex(where: { !$0.isFinite }) {
                    throw FormatError(path: file, .malformedTensor(tensor: names.x, problem: "holds NaN or infinity (sample \(bad / max(shape.reduce(1, *), 1)))"))
                }
                dataset = try Dataset(inputs: transpose ? channelsFirst(values, samples: n, shape: shape) : values,
                                      sampleShape: shape, labels: labels)
            default:
                throw FormatError(path: file, .malformedTensor(tensor: names.x, problem: "is \(x.scalarType.rawValue); inputs must be float or uint8 (x.astype(np.float32))"))
            }
        } catch let error as ModelError {
            throw FormatError(path: file, .other("\(error)"))
        }
        return (dataset, SampleOrigins { (file, "\(names.y)[\($0)]") })
    }

    /// `[N, H, W, C]` elements reordered to `[N, C, H, W]` (`shape` is the target `[C, H, W]`).
    static func channelsFirst<T>(_ values: [T], samples: Int, shape: [Int]) -> [T] {
        let (c, plane) = (shape[0], shape[1] * shape[2])
        var out = values
        for s in 0..<samples {
            let base = s * c * plane
            for p in 0..<plane {
                for k in 0..<c { out[base + k * plane + p] = values[base + p * c + k] }
            }
        }
        return out
    }
}

extension DatasetFolder {
    /// The path of the labels file of the training or test split (`.gz` if that is what exists).
    func labelFile(training: Bool) -> String {
        let stem = "\(path)/\(training ? "train" : "t10k")-labels-idx1-ubyte"
        return FileManager.default.fileExists(atPath: stem + ".gz") ? stem + ".gz" : stem
    }
}
