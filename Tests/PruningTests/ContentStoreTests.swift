import FileFormats
import Foundation
import Pruning
import Testing

@Suite("Content store: a sweep's models and data named by their SHA-256")
struct ContentStoreTests {
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prune-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("digests: a file's is its SHA-256 (the FIPS 180-2 example); a folder's follows its files' names and bytes, not its place")
    func digests() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let abc = root.appendingPathComponent("abc.txt")
        try Data("abc".utf8).write(to: abc)
        #expect(try ContentStore.digest(of: abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("one".utf8).write(to: data.appendingPathComponent("a.bin"))
        try Data("two".utf8).write(to: data.appendingPathComponent("sub/b.bin"))
        let original = try ContentStore.digest(of: data)
        let copy = root.appendingPathComponent("elsewhere/data-copy")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: data, to: copy)
        #expect(try ContentStore.digest(of: copy) == original)
        try Data("twO".utf8).write(to: copy.appendingPathComponent("sub/b.bin"))
        #expect(try ContentStore.digest(of: copy) != original, "one byte changed")
        try Data("two".utf8).write(to: copy.appendingPathComponent("sub/b.bin"))
        try FileManager.default.moveItem(at: copy.appendingPathComponent("sub/b.bin"), to: copy.appendingPathComponent("sub/c.bin"))
        #expect(try ContentStore.digest(of: copy) != original, "a file renamed")
        #expect(throws: FormatError.self) { try ContentStore.digest(of: root.appendingPathComponent("missing")) }
    }

    @Test("a plan with a store names the data and model files by content; the jobs' ids do not depend on where the store is; a run resolves them")
    func planWithStore() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let data = root.appendingPathComponent("my-data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data("x,y\n1,0\n".utf8).write(to: data.appendingPathComponent("train.csv"))
        let sweep = """
            base:
              model: lenet300
              data: \(data.path)
              prune: {threshold: {sparsity: 0.5}}
            grid:
              seed: [1, 2]
            """
        let here = ContentStore(root.appendingPathComponent("store-a").path)
        let there = ContentStore(root.appendingPathComponent("store-b").path)
        let a = try SweepPlan(yaml: sweep, store: { try here.addIfPresent($0) }), b = try SweepPlan(yaml: sweep, store: { try there.addIfPresent($0) })
        let digest = try ContentStore.digest(of: data)
        let reference = "${store}/sha256/\(digest)/my-data"
        for job in a.jobs { #expect(job.recipe.contains("data: \(reference)\n"), "\(job.recipe)") }
        #expect(a.jobs.map(\.id) == b.jobs.map(\.id) && a.version == b.version)
        #expect(try SweepPlan(yaml: sweep).version != a.version, "a plan without a store names the folder by path")
        // The stored copy has the same content; the recipe resolves to it on this machine.
        let stored = here.url.appendingPathComponent("sha256/\(digest)/my-data")
        #expect(try ContentStore.digest(of: stored) == digest)
        let recipe = try Recipe(yaml: SweepPlan.resolve(a.jobs[0].recipe, folder: "/sweeps/s", store: there.path))
        #expect(recipe.data == there.path + "/sha256/\(digest)/my-data")
        #expect(SweepPlan.storeEntries(in: a.jobs[0].recipe) == ["sha256/\(digest)/my-data"])
        #expect(here.contains("sha256/\(digest)/my-data"))
        try FileManager.default.removeItem(at: stored)
        #expect(!here.contains("sha256/\(digest)/my-data"))
        // Built-in model names are not files: they stay as written.
        #expect(a.jobs[0].recipe.contains("model: lenet300\n"))
    }

    @Test("the same content under two names: two entries of one digest, neither removed; adding again changes nothing; a folder's symbolic links are stored as the files they name")
    func namesAndLinks() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let store = ContentStore(root.appendingPathComponent("store").path)
        let a = root.appendingPathComponent("a.npz"), b = root.appendingPathComponent("b.npz")
        try Data("weights".utf8).write(to: a)
        try Data("weights".utf8).write(to: b)
        let ra = try store.add(a.path), rb = try store.add(b.path)
        let digest = try ContentStore.digest(of: a)
        #expect(ra == "sha256/\(digest)/a.npz" && rb == "sha256/\(digest)/b.npz")
        #expect(try store.add(a.path) == ra)
        let entry = store.url.appendingPathComponent("sha256/\(digest)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: entry.path).sorted() == ["a.npz", "b.npz"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.path) == ["sha256"], "no staging folder left")

        let data = root.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: data.appendingPathComponent("train.npz").path, withDestinationPath: "../a.npz")
        let reference = try store.add(data.path)
        let stored = store.url.appendingPathComponent(reference).appendingPathComponent("train.npz")
        let attributes = try FileManager.default.attributesOfItem(atPath: stored.path)
        let bytes = try Data(contentsOf: stored)
        #expect(attributes[.type] as? FileAttributeType == .typeRegular && bytes == Data("weights".utf8))
        let original = try ContentStore.digest(of: data), copy = try ContentStore.digest(of: stored.deletingLastPathComponent())
        #expect(original == copy)
    }

    @Test("resolving a recipe puts a path with blanks, # and ': ' into one value")
    func awkwardPaths() throws {
        let recipe = "data: ${store}/sha256/ab/my data\nmodel: lenet300\noutput: ${sweep}/models/x.safetensors\n"
        let resolved = try Recipe(yaml: SweepPlan.resolve(recipe, folder: "/runs/it's here", store: "/tmp/a # b: c"))
        #expect(resolved.data == "/tmp/a # b: c/sha256/ab/my data")
        #expect(resolved.output == "/runs/it's here/models/x.safetensors")
        #expect(SweepPlan.storeEntries(in: recipe) == ["sha256/ab/my data"])
    }
}
