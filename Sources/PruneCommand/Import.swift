import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune import`: a PyTorch state dict (safetensors) as a Prune model file.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a PyTorch state dict (safetensors; F32, F16 or BF16) into a prune model file.",
        discussion: """
            The state dict's keys must be the architecture's parameter paths (fc1.weight [out, in], conv1.weight \
            [out, in, kh, kw], bn1.running_mean, bn1.num_batches_tracked, …): name the PyTorch module's attributes \
            as prune's layers (tools/pytorch-reference/modules.py has the built-ins). Every missing, unexpected or \
            mis-shaped tensor is reported at once. Save one from PyTorch with \
            `safetensors.torch.save_file(model.state_dict(), "state.safetensors")`.
            """)

    @Argument(help: "The state dict (safetensors).")
    var statePath: String

    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")), or an architecture file SPEC.json.")
    var arch: ModelChoice

    @Option(help: "Classes (outputs) of a built-in architecture.")
    var classes: Int = 10

    @Option(help: "Per-sample input shape of a built-in architecture, e.g. 1,28,28 or 3,32,32.")
    var inputShape: String = "1,28,28"

    @Option(help: "Layer sizes for --arch mlp, e.g. 784,300,100,10.")
    var layers: String?

    @Option(help: "Where to write the model file (safetensors).")
    var out: String

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try validateOutputPath(out, option: "--out")
        try requireAtLeast(1, classes, for: "--classes")
        _ = try parsedInputShape()
        if arch.architecture == nil {
            for (option, given) in [("--classes", classes != 10), ("--input-shape", inputShape != "1,28,28"), ("--layers", layers != nil)] where given {
                throw ValidationError("\(option) applies to built-in architectures; an architecture file gives the shapes itself")
            }
        } else if layers != nil, arch.architecture != .mlp {
            throw ValidationError("--layers applies only to --arch mlp")
        }
    }

    /// `--input-shape 1,28,28` as sizes.
    func parsedInputShape() throws -> [Int] {
        let sizes = inputShape.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...3).contains(sizes.count), sizes.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--input-shape must be 1 to 3 positive sizes separated by commas, got '\(inputShape)'")
        }
        return sizes.map { $0! }
    }

    struct Summary: Encodable {
        var source: String, architecture: String, tensors: Int, storedTypes: [String: Int], parameters: Int, output: String
    }

    func run() throws {
        let model: Graph
        if let architecture = arch.architecture {
            let sizes = try layers.map { text in
                try text.split(separator: ",").map { part -> Int in
                    guard let n = Int(part.trimmingCharacters(in: .whitespaces)), n > 0 else {
                        throw ValidationError("--layers must be positive integers separated by commas, got '\(text)'")
                    }
                    return n
                }
            }
            do {
                model = try architecture.build(inputShape: try parsedInputShape(), classes: classes, layers: sizes)
            } catch let error as ModelError {
                throw ValidationError("--arch \(arch): \(error)")
            }
        } else {
            model = try ArchitectureFile.read(arch.value).makeGraph()
        }
        let summary = try StateDict.read(statePath, into: model, architecture: arch.value)
        try ModelFile.save(model, to: out, metadata: ["model": arch.value, "imported.from": URL(fileURLWithPath: statePath).lastPathComponent])
        let result = Summary(source: statePath, architecture: arch.value, tensors: summary.tensors, storedTypes: summary.storedTypes,
                             parameters: model.parameters.reduce(0) { $0 + $1.parameter.count }, output: out)
        if output.json {
            try printJSON(result)
            return
        }
        let types = summary.storedTypes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("imported \(summary.tensors) tensors (\(types)) of \(arch.value) from \(statePath): \(grouped(result.parameters)) parameters")
        print(savedLine(out, model: model))
    }
}
