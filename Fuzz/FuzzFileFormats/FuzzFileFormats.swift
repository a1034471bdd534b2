import CFuzzer
import FileFormats
import Foundation
import NeuralNetwork

// A fuzz target for the readers of untrusted files: IDX (raw and gzip), safetensors,
// Prune model files and checkpoints built from safetensors (masks in the metadata, BatchNorm batch
// counts included), PyTorch state dicts loaded into a small graph, architecture JSON,
// ONNX models, NumPy .npy and .npz (and the datasets built from them), CSV, PNG/JPEG
// images, and WordPiece vocabularies (the bytes also tokenized as text). Every input must end in a value or a thrown FormatError: never a crash, a trap
// or a sanitizer report.
//
// `make fuzz` builds it with `-sanitize=fuzzer,address -parse-as-library -DFUZZING`:
// SwiftPM links executables with `--defsym main=FuzzFileFormats_main`, so the entry
// point is the C function below, which hands control to libFuzzer's driver
// (`LLVMFuzzerRunDriver`, declared weak in the CFuzzer shim). Built normally, the
// program replays the files and folders named on its command line instead: a
// regression run over a corpus.

/// The graph state dicts are loaded into: Dense 4→3, BatchNorm, ReLU, Dense 3→2 (the
/// tensors of Tests/FuzzCorpus/statedict.safetensors).
let stateDictSpec = GraphSpec(inputShape: [4], nodes: [
    .init(name: "fc1", layer: { var s = LayerSpec(kind: .dense); s.inFeatures = 4; s.outFeatures = 3; return s }(), inputs: ["input"]),
    .init(name: "bn", layer: { var s = LayerSpec(kind: .batchNorm); s.features = 3; return s }(), inputs: ["fc1"]),
    .init(name: "relu", layer: LayerSpec(kind: .relu), inputs: ["bn"]),
    .init(name: "fc2", layer: { var s = LayerSpec(kind: .dense); s.inFeatures = 3; s.outFeatures = 2; return s }(), inputs: ["relu"]),
])

/// Tokenizers over a small fixed vocabulary (uncased, and cased keeping accents), for the
/// `vocab` reader to encode every input as text.
let fuzzTokenizers: [BertTokenizer] = {
    let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "##b", "é", "e\u{301}", "##é", "中", "!"]
    let vocabulary = try! WordPieceVocabulary(tokens: tokens)
    return [try! BertTokenizer(vocabulary: vocabulary),
            try! BertTokenizer(vocabulary: vocabulary, options: .init(lowercase: false, maxLength: 8, maxCharactersPerWord: 4))]
}()

/// Each reader under fuzz, by the name `make fuzz-NAME` and `PRUNE_FUZZ_READER` use.
let readers: [(name: String, read: (Data) -> Void)] = [
    ("idx", { data in _ = try? IDX.decode(data, path: "fuzz-input") }),
    ("modelfile", { data in
        guard let contents = try? Safetensors.decode(data, path: "fuzz-input") else { return }
        _ = try? ModelFile.decode(contents, path: "fuzz-input")
        _ = try? ModelFile.decode(contents, path: "fuzz-input", sparse: true)
    }),
    ("statedict", { data in
        guard let contents = try? Safetensors.decode(data, path: "fuzz-input"), let graph = try? stateDictSpec.makeGraph() else { return }
        _ = try? StateDict.load(contents, into: graph, path: "fuzz-input")
    }),
    ("checkpoint", { data in
        guard let contents = try? Safetensors.decode(data, path: "fuzz-input") else { return }
        _ = try? CheckpointFile.decode(contents, path: "fuzz-input")
    }),
    ("npy", { data in
        guard let array = try? NPY.decode(data, path: "fuzz-input") else { return }
        _ = array.floats()
        _ = array.integers()
        _ = try? array.inputs(path: "fuzz-input")
    }),
    ("npz", { data in
        // A small inflation budget: a bomb is refused, not inflated into the fuzzer's memory.
        guard let arrays = try? NPZ.decode(data, path: "fuzz-input", maximumBytes: 1 << 22), let x = arrays["x"], let y = arrays["y"] else { return }
        _ = try? DataSource.dataset(x: x, y: y, file: "fuzz-input", names: ("x", "y"))
    }),
    ("csv", { data in _ = try? CSVData.decode(data, path: "fuzz-input") }),
    ("image", { data in
        guard let header = try? ImageDecoder.header(data, path: "fuzz-input"), header.width * header.height <= 1 << 20 else { return }
        _ = try? ImageDecoder.decode(data, path: "fuzz-input", channels: 1)
        _ = try? ImageDecoder.decode(data, path: "fuzz-input", channels: 3)
    }),
    ("architecture", { data in _ = try? ArchitectureFile.decode(data, path: "fuzz-input") }),
    ("vocab", { data in
        let text = String(decoding: data, as: UTF8.self)
        for tokenizer in fuzzTokenizers { _ = tokenizer.encode(text) }
        guard let vocabulary = try? WordPieceVocabulary.decode(data, path: "fuzz-input") else { return }
        _ = vocabulary.id(of: text)
        _ = try? BertTokenizer(vocabulary: vocabulary).encode(text)   // when the four special tokens are there
    }),
    ("onnx", { data in
        guard let imported = try? ONNXFile.decode(data, path: "fuzz-input") else { return }
        _ = try? ONNXFile.encode(imported.model)   // what was read can be written back
    }),
]

/// The readers `PRUNE_FUZZ_READER` names (all when unset): one libFuzzer target per reader.
let selectedReaders: [(name: String, read: (Data) -> Void)] = {
    guard let name = ProcessInfo.processInfo.environment["PRUNE_FUZZ_READER"], !name.isEmpty else { return readers }
    let chosen = readers.filter { $0.name == name }
    if chosen.isEmpty {
        FileHandle.standardError.write(Data("unknown PRUNE_FUZZ_READER '\(name)'; one of \(readers.map(\.name).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return chosen
}()

/// Feeds one input to the selected readers.
func fuzz(_ data: Data) {
    for reader in selectedReaders { reader.read(data) }
}

#if FUZZING
@_cdecl("FuzzFileFormats_main")
func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return prune_run_fuzzer(&count, &arguments) { bytes, size in
        fuzz(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
enum FuzzFileFormats {
    static func main() {
        // Replay mode: run every file (or every file in every folder) given.
        var replayed = 0
        for path in CommandLine.arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("no such file: \(path)\n".utf8))
                exit(1)
            }
            let files = isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                fuzz(data)
                replayed += 1
            }
        }
        print("replayed \(replayed) inputs without a crash")
    }
}
#endif
