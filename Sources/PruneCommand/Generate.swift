import ArgumentParser
import FileFormats
import Foundation
import NeuralNetwork
import TensorCore

/// `prune generate`: continue a text with a byte-level language model (gpt-tiny).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a byte-level language model (a gpt-tiny file from `prune train --model gpt-tiny`).",
        discussion: """
            The prompt's UTF-8 bytes are the first tokens; each new byte is drawn from the model's next-byte \
            distribution (temperature 0: always the most likely) and printed as it comes. Attention keys and \
            values are cached, so each byte costs one position's work.
            """)

    @OptionGroup var source: ModelFileArgument

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(help: "Bytes to generate.")
    var tokens = 200

    @Option(help: "Sampling temperature (0: the most likely byte each time).")
    var temperature: Float = 0.8

    @Option(help: "Draw among the K most likely bytes only (0: all).")
    var topK = 40

    @Option(help: "Seed of the sampling: the same seed and prompt give the same text.")
    var seed: UInt64 = 1

    @OptionGroup var output: OutputOptions

    func validate() throws {
        try requireAtLeast(1, tokens, for: "--tokens")
        try requireAtLeast(0, topK, for: "--top-k")
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0, got \(temperature)") }
        guard !prompt.isEmpty else { throw ValidationError("--prompt must not be empty") }
    }

    /// The `--json` summary.
    struct Summary: Encodable { var model: String, prompt: String, text: String, tokens: Int, seconds: Double, tokensPerSecond: Double }

    func run() throws {
        let model = try ModelFile.load(source.modelPath).model
        let generator: Generator
        do { generator = try Generator(model: model) } catch let error as ModelError {
            throw FormatError(path: source.modelPath, .other("\(error)"))
        }
        let vocabulary = model.outputShape.last ?? 0
        let ids = Array(prompt.utf8).map(Int.init)
        guard vocabulary >= 256 else {
            throw FormatError(path: source.modelPath, .other("the model has \(vocabulary) output tokens; byte-level text needs 256"))
        }
        let sampling = Generator.Sampling(temperature: temperature, topK: topK == 0 ? nil : topK, seed: seed)
        var bytes: [UInt8] = []
        var pending: [UInt8] = []   // bytes of a character not yet complete
        if !output.json { FileHandle.standardOutput.write(Data(prompt.utf8)) }
        let start = ContinuousClock.now
        _ = generator.generate(prompt: ids, count: tokens, sampling: sampling) { token in
            bytes.append(UInt8(token))
            guard !output.json else { return }
            pending.append(UInt8(token))
            if String(validating: pending, as: UTF8.self) != nil || pending.count >= 4 {
                FileHandle.standardOutput.write(Data(pending))
                pending.removeAll()
            }
        }
        let seconds = (ContinuousClock.now - start).seconds
        let text = String(decoding: bytes, as: UTF8.self)
        if output.json {
            return try printJSON(Summary(model: source.modelPath, prompt: prompt, text: text, tokens: tokens, seconds: seconds,
                                         tokensPerSecond: Double(tokens) / max(seconds, 1e-9)))
        }
        FileHandle.standardOutput.write(Data(pending + [10]))
        printError(String(format: "%d bytes in %.2f s (%.0f bytes/s, batch 1, cached keys and values)", tokens, seconds,
                          Double(tokens) / max(seconds, 1e-9)))
    }
}
