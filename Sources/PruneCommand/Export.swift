import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork

/// `prune export`: rewrite a model file for shipping: packed masks and, optionally, half precision.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a model file: pruned weights packed (bitmask + kept values), as N:M or CSR for sparse inference, dense, or as ONNX; optionally in Float16.",
        discussion: """
            The model files prune writes are PyTorch state dicts (dense, pruned entries zero); \
            export makes the compact forms to ship. --format packed stores each pruned weight as a bitmask and its kept values (docs/FORMATS.md); \
            --format sparse stores each Dense weight pruned N:M (2:4, 4:8, …) as its kept values and 4-bit \
            positions, and each other pruned Dense weight keeping at most 30% of its entries in the smaller \
            of CSR arrays (values, 16-bit column indices, row starts) and the packed form; `prune eval` \
            and the library (`ModelFile.load(path, sparse: true)`) run those layers through the N:M and sparse \
            kernels straight from these arrays, without densifying; --format dense writes the state-dict form every command \
            writes. --format onnx writes an ONNX model (operator set 17, or 20 when it \
            has a GELU or transformer layers) that ONNX Runtime runs: pruned weights as exact zeros, or with --sparse-initializers \
            as COO sparse initializers. A transformer (a BERT model folder, gpt-tiny) reads INT64 token ids [N, T]. --fp16 halves the bytes of the weights (rounded to the nearest \
            Float16; running statistics stay Float32). Loading any of these gives a model prune can \
            evaluate, prune further or fine-tune.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case packed, sparse, dense, onnx

        /// How `ModelFile.save` writes this format (ONNX is written by `ONNXFile`).
        var storage: ModelFile.Storage {
            switch self {
            case .packed: return .packed
            case .sparse: return .sparse
            case .dense, .onnx: return .dense
            }
        }
    }

    @OptionGroup var source: ModelFileArgument

    @Option(help: "packed, sparse, dense or onnx.")
    var format: Format = .packed

    @Flag(help: "With --format onnx: write weights that keep fewer than a third of their entries as COO sparse initializers (smaller than dense there).")
    var sparseInitializers = false

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
        if format == .onnx && fp16 { throw ValidationError("--fp16 applies to safetensors formats, not --format onnx") }
        if sparseInitializers && format != .onnx { throw ValidationError("--sparse-initializers needs --format onnx") }
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
        if format == .onnx { return try exportONNX(loaded) }
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

extension Export {
    /// What `--format onnx --json` prints.
    struct ONNXSummary: Encodable {
        var bytesBefore: Int, bytesAfter: Int, denseFloat32Bytes: Int
        var sparseInitializers: Bool
        var accuracyBefore: Float?, accuracyAfter: Float?
        var output: String
    }

    /// Writes the model as ONNX (densified; pruned weights as exact zeros or sparse
    /// initializers) and reads it back to check it.
    func exportONNX(_ loaded: ModelFile.Loaded) throws {
        let model = try loaded.model.densified()
        let bytes = try ONNXFile.encode(model, metadata: loaded.metadata.filter { !$0.key.hasPrefix("prune.") },
                                        options: .init(sparseInitializers: sparseInitializers), path: out)
        // Read back before anything is written. Prune's importer does not read transformer graphs
        // back (ONNX Runtime runs them: tools/onnx-reference/check.py), so those are checked as
        // ONNX protobuf only.
        let exported = model.takesSequences ? nil : try ONNXFile.decode(bytes, path: out).model
        if model.takesSequences { try ONNXFile.checkDecodes(bytes, path: out) }
        try AtomicFile.write(bytes, to: out)
        var before: Float?, after: Float?
        if evaluate {
            let test = try dataOptions.test()
            try Trainer.check(test, fits: model)
            before = Trainer.evaluate(model, on: test).accuracy
            after = exported.map { Trainer.evaluate($0, on: test).accuracy }
        }
        let summary = ONNXSummary(bytesBefore: fileSize(source.modelPath) ?? 0, bytesAfter: fileSize(out) ?? 0,
                                  denseFloat32Bytes: 4 * model.parameters.reduce(0) { $0 + $1.parameter.count },
                                  sparseInitializers: sparseInitializers, accuracyBefore: before, accuracyAfter: after, output: out)
        if output.json { return try printJSON(summary) }
        print(String(format: "%@: ONNX, %@ bytes (%.1f%% of the %@ bytes of dense Float32 parameters)", out,
                     grouped(summary.bytesAfter), 100 * Double(summary.bytesAfter) / Double(max(summary.denseFloat32Bytes, 1)),
                     grouped(summary.denseFloat32Bytes)))
        if let before, let after { print(String(format: "accuracy %.2f%% before, %.2f%% after", 100 * before, 100 * after)) }
        if let before, after == nil {
            print(String(format: "accuracy %.2f%% before; ONNX Runtime runs the file (tools/onnx-reference/check.py compares it)", 100 * before))
        }
    }
}
