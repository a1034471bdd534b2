import FileFormats
import Foundation
import NeuralNetwork
import Pruning

/// The latency profile of a model file's layers on this machine, kept beside the file
/// (`NAME.latency.json`): timing takes seconds, and a plan run again on the same machine
/// must weigh its layers the same way to cut the same weights. Used only when the model
/// file's bytes, the machine and the levels match.
enum LatencyCache {
    struct Cached: Codable {
        var modelBytes: Int, modelHash: String
        var machine: String, levels: [Double]
        var profile: LatencyProfile
    }

    /// `NAME.latency.json` beside the model.
    static func path(for model: String) -> String { (model as NSString).deletingPathExtension + ".latency.json" }

    /// The profile of `model` (loaded from the file at `path`) for `plan`'s layers: the cached
    /// one when it matches, else measured now and cached. Returns it with a note for output.
    static func profile(model: Graph, file path: String, plan: PruningPlan) throws -> (LatencyProfile, note: String) {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, "cannot be read") }
        let cachePath = Self.path(for: path)
        let selected = try Pruner.selectParameters(plan, in: model).map { String($0.path[..<($0.path.lastIndex(of: ".") ?? $0.path.endIndex)]) }
        let layers = LatencyProfile.timedLayers(of: model, among: selected)   // what a profile can time of them
        let key = (bytes: data.count, hash: Sensitivity.fnv1a(data), machine: Machine.current.description, levels: SensitivityAnalysis.defaultLevels)
        if let cached = FileManager.default.contents(atPath: cachePath).flatMap({ try? JSONDecoder().decode(Cached.self, from: $0) }),
           cached.modelBytes == key.bytes, cached.modelHash == key.hash, cached.machine == key.machine, cached.levels == key.levels,
           Set(cached.profile.layers.map(\.name)).isSuperset(of: layers) {
            return (cached.profile, "latency profile: \(cachePath)")
        }
        let clock = ContinuousClock(), start = clock.now
        let profile = LatencyProfile(measuring: model, layers: layers, levels: key.levels)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(Cached(modelBytes: key.bytes, modelHash: key.hash, machine: key.machine, levels: key.levels,
                                                       profile: profile)), to: cachePath)
        return (profile, String(format: "latency profile: %@ (timed in %.1f s on %@)", cachePath, (clock.now - start).seconds, key.machine))
    }
}
