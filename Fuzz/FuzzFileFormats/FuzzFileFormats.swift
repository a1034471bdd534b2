import CFuzzer
import FileFormats
import Foundation

// A fuzz target for the readers of untrusted files: IDX (raw and gzip), safetensors,
// and Prune model files and checkpoints built from safetensors. Every input must end in a value or a
// thrown FormatError: never a crash, a trap or a sanitizer report.
//
// `make fuzz` builds it with `-sanitize=fuzzer,address -parse-as-library -DFUZZING`:
// SwiftPM links executables with `--defsym main=FuzzFileFormats_main`, so the entry
// point is the C function below, which hands control to libFuzzer's driver
// (`LLVMFuzzerRunDriver`, declared weak in the CFuzzer shim). Built normally, the
// program replays the files and folders named on its command line instead: a
// regression run over a corpus.

/// Feeds one input to every reader.
func fuzz(_ data: Data) {
    _ = try? IDX.decode(data, path: "fuzz-input")
    if let contents = try? Safetensors.decode(data, path: "fuzz-input") {
        _ = try? ModelFile.decode(contents, path: "fuzz-input")
        _ = try? ModelFile.decode(contents, path: "fuzz-input", sparse: true)
        _ = try? CheckpointFile.decode(contents, path: "fuzz-input")
    }
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
