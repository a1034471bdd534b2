import FileFormats
import Foundation
import NeuralNetwork
import TensorCore
import Testing
import TestSupport

@Suite("Checkpoint files")
struct CheckpointFileTests {
    static func contents() throws -> CheckpointFile.Contents {
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [4], sequential: [Dense(name: "fc", inFeatures: 4, outFeatures: 3, rng: &rng)])
        // Values whose bits must survive: a negative zero, a subnormal, the largest float.
        let odd = Tensor(shape: [2, 3], scalars: [-0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1 / 3, -2.5, 0])
        return CheckpointFile.Contents(state: #"{"position":{"afterTraining":{}},"stepsDone":12}"#, architecture: model.spec,
                                       tensors: ["model/fc.weight": randomTensor([3, 4], seed: 1), "optimizer/fc.weight": odd,
                                                 "model/fc.bias": Tensor.zeros([3])],
                                       metadata: ["model": "lenet300", "pruning.history": "[]"])
    }

    @Test("a checkpoint reads back with every tensor bit for bit, the state text, the architecture and the caller's metadata")
    func roundTrip() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let written = try Self.contents()
        try CheckpointFile.write(written, to: folder.file("c.safetensors"))
        let read = try CheckpointFile.read(folder.file("c.safetensors"))
        #expect(read.state == written.state && read.architecture == written.architecture && read.metadata == written.metadata)
        #expect(read.tensors.keys.sorted() == written.tensors.keys.sorted())
        for (name, tensor) in written.tensors {
            #expect(read.tensors[name]?.shape == tensor.shape)
            #expect(read.tensors[name]?.scalars.map(\.bitPattern) == tensor.scalars.map(\.bitPattern), "\(name)")
        }
        // Written twice, the same bytes (tensors in name order), and no temporary file left.
        try CheckpointFile.write(written, to: folder.file("d.safetensors"))
        #expect(FileManager.default.contents(atPath: folder.file("c.safetensors")) == FileManager.default.contents(atPath: folder.file("d.safetensors")))
        #expect(try folder.contents() == ["c.safetensors", "d.safetensors"])
    }

    @Test("a model file, a checkpoint without its state and reserved metadata are refused naming the file and the entry")
    func refused() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [4], sequential: [Dense(name: "fc", inFeatures: 4, outFeatures: 3, rng: &rng)])
        try ModelFile.save(model, to: folder.file("m.safetensors"))
        let notCheckpoint = formatError { _ = try CheckpointFile.read(folder.file("m.safetensors")) }
        #expect(notCheckpoint?.description == "\(folder.file("m.safetensors")): expected a Prune checkpoint (prune.format checkpoint-1), got prune.format 1")

        var contents = try Self.contents()
        try CheckpointFile.write(contents, to: folder.file("c.safetensors"))
        var file = try Safetensors.read(folder.file("c.safetensors"))
        file.metadata["prune.checkpoint"] = nil
        let missing = formatError { _ = try CheckpointFile.decode(file, path: "c.safetensors") }
        #expect(missing?.kind == .missingMetadata(key: "prune.checkpoint"))

        contents.metadata["prune.mine"] = "x"
        let reserved = formatError { try CheckpointFile.write(contents, to: folder.file("e.safetensors")) }
        #expect(reserved?.kind == .reservedMetadataKey("prune.mine"))
        #expect(!FileManager.default.fileExists(atPath: folder.file("e.safetensors")))
    }

    @Test("temporary files of killed writers are removed; those of running processes and other files stay")
    func staleTemporaries() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let finished = try runProgram("/bin/sh", ["-c", "echo $$"])   // a process that has exited
        let dead = try #require(Int32(finished.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let mine = ProcessInfo.processInfo.processIdentifier
        for name in [".c.safetensors.tmp-\(dead)-3", ".c.safetensors.tmp-\(mine)-1", ".d.safetensors.tmp-\(dead)-1", "c.safetensors"] {
            try folder.write([1, 2, 3], to: name)
        }
        let removed = AtomicFile.removeStaleTemporaries(of: folder.file("c.safetensors"))
        #expect(removed == [folder.file(".c.safetensors.tmp-\(dead)-3")])
        #expect(try folder.contents() == [".c.safetensors.tmp-\(mine)-1", ".d.safetensors.tmp-\(dead)-1", "c.safetensors"])
    }
}
