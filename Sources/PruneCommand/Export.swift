import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune export`: rewrite a model file for shipping: packed masks and, optionally, half precision.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model file: pruned weights packed (bitmask + kept values), as CSR for sparse inference, or dense; optionally in Float16.",
        discussion: """
            The model files prune writes are PyTorch state dicts (dense, pruned entries zero); \
            export makes the compact forms to ship. --format packed stores each pruned weight as a bitmask and its kept values (docs/FORMATS.md); \
            --format sparse stores each pruned Dense weight keeping at most 30% of its entries in the smaller \
            of CSR arrays (values, 16-bit column indices, row starts) and the packed form; `prune eval` \
            and the library (`ModelFile.load(path, sparse: true)`) run those layers through the sparse \
            kernels straight from either, without densifying; --format dense writes the state-dict form every command \
            writes. --fp16 halves the bytes of the weights (rounded to the nearest \
            Float16; running statistics stay Float32). Loading any of these gives a model prune can \
            evaluate, prune further or fine-tune.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case packed, sparse, dense

        /// How `ModelFile.save` writes this format.
        var storage: ModelFile.Storage {
            switch self {
            case .packed: return .packed
            case .sparse: return .sparse
            case .dense: return .dense
            }
        }
    }

    @OptionGroup var source: ModelFileArgument

    @Option(help: "packed, sparse or dense.")
    var format: Format = .packed

    @Flag(help: "Store weights as Float16.")
    var fp16 = false

    @Option(help: "Where to write the exported model (safetensors).")
    var out: String

    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var output: OutputOptions

    @Flag(help: "Evaluate the original and the exported model on the test set.")
    var evaluate = false

    func validate() throws {
        try validateOutputPath(out, option: "--out")
    }

    struct Summary: Encodable {
        var bytesBefore: Int, bytesAfter: Int, denseFloat32Bytes: Int
        var csrParameters: [String]
        /// Layers that run sparse when the file is loaded for inference.
        var sparseLayers: [String]
        var accuracyBefore: Float?, accuracyAfter: Float?
        var output: String
    }

    func run() throws {
        let loaded = try ModelFile.load(source.modelPath)
        try ModelFile.save(loaded.model, to: out, metadata: loaded.metadata.filter { !$0.key.hasPrefix("prune.") },
                           storage: format.storage, halfPrecision: fp16)
        // Read the written file once: its CSR list, and the model as inference loads it.
        let written = try Safetensors.read(out)
        let csr = try ModelFile.shapeMap(ModelFile.csrKey, in: written, path: out)
        let exported = try ModelFile.decode(written, path: out, sparse: true).model
        let size = { (path: String) in fileSize(path) ?? 0 }
        var before: Float?, after: Float?
        if evaluate {
            let test = try dataOptions.test()
            try Trainer.check(test, fits: loaded.model)
            before = Trainer.evaluate(loaded.model, on: test).accuracy
            after = Trainer.evaluate(exported, on: test).accuracy
        }
        let summary = Summary(bytesBefore: size(source.modelPath), bytesAfter: size(out),
                              denseFloat32Bytes: 4 * loaded.model.parameters.reduce(0) { $0 + $1.parameter.count },
                              csrParameters: csr.keys.sorted(),
                              sparseLayers: exported.nodes.compactMap { ($0.module as? SparseDense)?.name },
                              accuracyBefore: before, accuracyAfter: after, output: out)
        if output.json {
            try printJSON(summary)
            return
        }
        print(String(format: "%@: %@ bytes → %@ bytes (%.1f%% of the %@ bytes of dense Float32 parameters)", out,
                     grouped(summary.bytesBefore), grouped(summary.bytesAfter),
                     100 * Double(summary.bytesAfter) / Double(max(summary.denseFloat32Bytes, 1)), grouped(summary.denseFloat32Bytes)))
        if !summary.sparseLayers.isEmpty {
            print("runs sparse when loaded: " + summary.sparseLayers.joined(separator: ", ")
                  + (summary.csrParameters.isEmpty ? "" : " (stored as CSR: " + summary.csrParameters.joined(separator: ", ") + ")"))
        }
        if let before, let after { print(String(format: "accuracy %.2f%% before, %.2f%% after", 100 * before, 100 * after)) }
    }
}
