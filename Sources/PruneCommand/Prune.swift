import ArgumentParser
import CAllocator
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

/// The `prune` command: train, evaluate, inspect and benchmark models.
@main
struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Train, prune and inspect neural networks on the CPU.",
        discussion: "Data defaults to \(DatasetFolder.defaultPath) (Debian package dataset-fashion-mnist).",
        version: "0.1.0",
        subcommands: [Train.self, Eval.self, Info.self, PruneModel.self, Compact.self, Export.self, Import.self, Predict.self, Embed.self, Generate.self, Run.self, Report.self, Sensitivity.self, Auto.self, Sweep.self, Bench.self]
    )

    /// Runs the command; maps errors to one line on stderr and exit codes
    /// (2: bad arguments, 1: a failure while running).
    static func main() {
        tuneAllocator()
        let command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }   // --help, --version
            // One line: the problem, then where to read more.
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("error: \(message) (see 'prune --help')\n".utf8))
            Foundation.exit(2)
        }
        // PRUNE_GEMM=blas|packed|packed-6x16|packed-12x32 fixes the backend of every dense
        // product, and with a tile the packed kernel's register tile (default: calibrated).
        if let value = ProcessInfo.processInfo.environment["PRUNE_GEMM"], !value.isEmpty {
            guard let choice = GEMMChoice(value) else {
                FileHandle.standardError.write(Data("error: PRUNE_GEMM must be \(GEMMChoice.spellings), got '\(value)'\n".utf8))
                Foundation.exit(2)
            }
            BLAS.setChoice(choice)
        }
        // PRUNE_NM=measured|kernel|dense: how N:M layers choose between their kernel and the dense one.
        if let value = ProcessInfo.processInfo.environment["PRUNE_NM"], !value.isEmpty {
            guard let mode = NMChoice.Mode(rawValue: value) else {
                FileHandle.standardError.write(Data("error: PRUNE_NM must be \(NMChoice.Mode.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'\n".utf8))
                Foundation.exit(2)
            }
            NMChoice.mode = mode
        }
        do {
            var command = command
            try command.run()
        } catch let error as ValidationError {
            FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
            Foundation.exit(2)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch where exitCode(for: error) == .success {
            exit(withError: error)   // --help and `prune help`: the parser's help command throws from run()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// Keeps large tensors on the heap instead of fresh `mmap`s: otherwise every training
/// step maps, zero-fills and unmaps its activation buffers (about 5% of a LeNet-300-100
/// step on glibc). The heap is trimmed only past 1 GiB of free space.
private func tuneAllocator() {
    _ = prune_tune_allocator(256 << 20, 1 << 30)
}
