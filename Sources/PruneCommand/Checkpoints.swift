import FileFormats
import Foundation
import NeuralNetwork
import Pruning

/// Writes every checkpoint the engine takes to one file, atomically: a crash at any
/// moment leaves the previous checkpoint (or the new one) whole.
final class CheckpointWriter: RunObserver {
    let path: String
    let architecture: GraphSpec
    /// What the final model file will carry besides the run (kept for a resume).
    let metadata: [String: String]

    init(path: String, architecture: GraphSpec, metadata: [String: String]) {
        self.path = path; self.architecture = architecture; self.metadata = metadata
    }

    func run(didCheckpoint checkpoint: RunCheckpoint) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let state = String(decoding: try encoder.encode(checkpoint.state), as: UTF8.self)
        try CheckpointFile.write(CheckpointFile.Contents(state: state, architecture: architecture, tensors: checkpoint.tensors,
                                                         metadata: metadata), to: path)
    }
}

/// A run stopped by diverging training, with the last good model saved.
struct RunStopped: Error, CustomStringConvertible {
    var cause: RunError
    /// Where the last good model went (nil: the recipe has no output).
    var saved: String?

    var description: String {
        "\(cause)" + (saved.map { "; the last good model (before that step) is saved as \($0)" } ?? "; the recipe has no output, so nothing is saved")
    }
}

extension PlanExecution {
    /// The plan's checkpoint, with a model of its architecture to restore into and the
    /// metadata the output will carry; nil (and a note on stderr) when there is none yet.
    /// - Throws: `FormatError` for a file that is not a readable checkpoint.
    func restoredCheckpoint() throws -> (checkpoint: RunCheckpoint, model: Graph, metadata: [String: String])? {
        guard let path = recipe.checkpointPath else { return nil }
        guard FileManager.default.fileExists(atPath: path) else {
            if !quiet { printError("no checkpoint at \(path) yet: starting from the beginning") }
            return nil
        }
        let contents = try CheckpointFile.read(path)
        let state: RunCheckpoint.State
        do {
            state = try JSONDecoder().decode(RunCheckpoint.State.self, from: Data(contents.state.utf8))
        } catch {
            throw FormatError(path: path, .invalidMetadata(key: CheckpointFile.stateKey, expected: "a run's state", detail: "\(error)"))
        }
        let checkpoint = RunCheckpoint(state: state, tensors: contents.tensors)
        let model: Graph
        do {
            model = try contents.architecture.makeGraph()
        } catch {
            throw FormatError(path: path, .invalidMetadata(key: ModelFile.architectureKey, expected: "a buildable architecture", detail: "\(error)"))
        }
        if !quiet { printError("resuming from \(path): \(checkpoint.position)") }
        return (checkpoint, model, contents.metadata)
    }

    /// Saves the last good model of a diverged run beside the output
    /// (`NAME.last-good.safetensors`, with the run so far in its history) and returns the
    /// error to report.
    func stopped(_ model: Graph, phase: RunPhase, cause: TrainingError, history: RunHistory,
                 metadata: [String: String]) throws -> RunStopped {
        let error = RunError.diverged(phase: phase, cause: cause, history: history)
        guard let out = recipe.output else { return RunStopped(cause: error, saved: nil) }
        let path = Recipe.sibling(of: out, suffix: "last-good")
        var metadata = metadata
        metadata["stopped"] = "\(error)"
        try save(model, history: history, accuracy: nil, to: path, metadata: metadata)
        return RunStopped(cause: error, saved: path)
    }
}
