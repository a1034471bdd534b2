import Foundation
import TestSupport
import Testing

@Suite("prune bench")
struct BenchTests {
    /// The shapes of `prune bench gemm --json`, checked to be one JSON object with the given
    /// batch size and thread count.
    func gemmShapes(_ arguments: [String], batchSize: Int, threads: Int, backend: String? = nil,
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let result = try prune(["bench", "gemm", "--batch-size", String(batchSize), "--calls", "1", "--json"] + arguments,
                               environment: ["PRUNE_GEMM": backend ?? ""])
        try #require(result.status == 0, "\(result)", sourceLocation: sourceLocation)
        let json = try singleJSONObject(result.stdout, sourceLocation: sourceLocation)
        #expect(json["batchSize"] as? Int == batchSize, sourceLocation: sourceLocation)
        #expect(json["threads"] as? Int == threads, sourceLocation: sourceLocation)
        #expect(json["concurrent"] as? Int == 1, sourceLocation: sourceLocation)
        let named = json["backend"] as? String ?? ""
        #expect(backend.map { named.hasPrefix("\($0) ") && named.contains("set explicitly") } ?? named.contains("calibrated"),
                "\(named)", sourceLocation: sourceLocation)
        let shapes = try #require(json["shapes"] as? [[String: Any]], "\(json)", sourceLocation: sourceLocation)
        try #require(shapes.count == 25, "\(shapes)", sourceLocation: sourceLocation)
        for shape in shapes {
            #expect((shape["gflops"] as? Double ?? 0) > 0, "\(shape)", sourceLocation: sourceLocation)
            #expect((shape["blasGFLOPS"] as? Double ?? 0) > 0 && (shape["packedGFLOPS"] as? Double ?? 0) > 0,
                    "\(shape)", sourceLocation: sourceLocation)
            if backend == "blas" {
                #expect(shape["gflops"] as? Double == shape["blasGFLOPS"] as? Double, "\(shape)", sourceLocation: sourceLocation)
            }
            // A block of rows may take another kernel path than the whole product (the packed
            // backend picks by the row count), so the sums run in another order: up to 1,536
            // float32 terms, whose rounding reached 1.2e-5 of max(1, |entry|) in one CI run.
            #expect((shape["maxRelativeError"] as? Double ?? 1) < 1e-4, "\(shape)", sourceLocation: sourceLocation)
        }
        return shapes
    }

    @Test("`prune bench gemm --threads 3` splits each GEMM's rows between 3 threads (fewer when it has fewer rows), matching the whole product")
    func gemmThreads() throws {
        // Batch 2: the forward shapes have 2 rows, so they can use only 2 of the 3 threads.
        let split = try gemmShapes(["--threads", "3"], batchSize: 2, threads: 3)
        for shape in split {
            let m = try #require(shape["m"] as? Int)
            #expect(shape["threads"] as? Int == min(3, m), "\(shape)")
        }
        #expect(split.contains { $0["threads"] as? Int == 2 } && split.contains { $0["threads"] as? Int == 3 })
        // Without --threads every product runs whole, on one thread (here on the system BLAS).
        let whole = try gemmShapes([], batchSize: 2, threads: 1, backend: "blas")
        #expect(whole.allSatisfy { $0["threads"] as? Int == 1 && $0["maxRelativeError"] as? Double == 0 }, "\(whole)")
        #expect(whole.map { $0["label"] as? String } == split.map { $0["label"] as? String })
    }

    @Test("PRUNE_GEMM other than blas, packed or packed with a tile is an error that names the valid values")
    func gemmBackendVariable() throws {
        for bad in ["fast", "blas-6x16", "packed-8x8"] {
            let result = try prune(["bench", "gemm"], environment: ["PRUNE_GEMM": bad])
            #expect(result.status == 2 && result.stdout.isEmpty, "\(result)")
            #expect(result.stderrLines == ["error: PRUNE_GEMM must be blas, packed, packed-12x32 or packed-6x16, got '\(bad)'"], "\(result)")
        }
        // A tile fixes the packed kernel's register tile too, whatever the calibration found.
        for (value, named) in [("packed-6x16", "packed 6×16 (set explicitly"), ("packed-12x32", "packed 12×32 (set explicitly")] {
            let result = try prune(["bench", "gemm", "--batch-size", "2", "--calls", "1", "--json"], environment: ["PRUNE_GEMM": value])
            #expect(result.status == 0, "\(result)")
            let backend = try singleJSONObject(result.stdout)["backend"] as? String ?? ""
            #expect(backend.hasPrefix(named), "\(backend)")
        }
    }

    @Test("`prune bench gemm` rejects --threads with --concurrent, and a negative --calls", arguments: [
        ["--threads", "2", "--concurrent", "2"], ["--calls", "-1"],
    ])
    func gemmUsage(_ arguments: [String]) throws {
        let result = try prune(["bench", "gemm"] + arguments)
        #expect(result.status == 2, "\(result)")
        #expect(result.stderrLines.count == 1 && result.stdout.isEmpty, "\(result)")
    }

    @Test("`prune bench layers --json` prints one JSON object: every layer in order, its times, shares summing to 1")
    func layersJSON() throws {
        let result = try prune("bench", "layers", "--model", "lenet300", "--batch-size", "8", "--steps", "2", "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        #expect(json["model"] as? String == "lenet300")
        #expect(json["batch_size"] as? Int == 8)
        #expect(json["steps"] as? Int == 2)
        let layers = try #require(json["layers"] as? [[String: Any]], "\(json)")
        #expect(layers.map { $0["name"] as? String } == ["flatten", "fc1", "relu1", "fc2", "relu2", "fc3"])
        #expect(layers.map { $0["kind"] as? String } == ["flatten", "dense", "relu", "dense", "relu", "dense"])
        let forward = layers.map { $0["forward_us_per_sample"] as? Double ?? -1 }
        let backward = layers.map { $0["backward_us_per_sample"] as? Double ?? -1 }
        let shares = layers.map { $0["share"] as? Double ?? -1 }
        #expect(forward.allSatisfy { $0 >= 0 } && backward.allSatisfy { $0 >= 0 } && shares.allSatisfy { $0 >= 0 })
        #expect(abs(shares.reduce(0, +) - 1) < 1e-9, "\(shares)")
        // The total is the sum of the layers' times, and each share is the layer's part of it.
        let total = try #require(json["us_per_sample"] as? Double)
        #expect(total > 0 && abs(zip(forward, backward).map(+).reduce(0, +) - total) <= 1e-9 * total)
        for i in layers.indices { #expect(abs(shares[i] - (forward[i] + backward[i]) / total) < 1e-9) }
    }

    @Test("`prune bench layers` times a graph that is not a chain (gpt-tiny): every node, and the kinds' sums")
    func layersOfGraph() throws {
        let result = try prune("bench", "layers", "--model", "gpt-tiny", "--batch-size", "2", "--steps", "1", "--json")
        #expect(result.status == 0, "\(result)")
        let json = try singleJSONObject(result.stdout)
        let layers = try #require(json["layers"] as? [[String: Any]], "\(json)")
        let names = layers.compactMap { $0["name"] as? String }
        #expect(names.count == 44 && names.first == "tok_emb" && names.last == "head", "\(names)")
        #expect(names.contains("blocks.3.attn") && names.contains("blocks.0.mlp.residual"))
        let kinds = try #require(json["kinds"] as? [[String: Any]], "\(json)")
        let kindNames = Set(kinds.compactMap { $0["name"] as? String })
        #expect(kindNames == Set(layers.compactMap { $0["kind"] as? String }), "\(kindNames)")
        #expect(kindNames.isSuperset(of: ["dense", "selfAttention", "layerNorm", "gelu", "add", "embedding"]))
        // Each kind's time is the sum of its nodes' times.
        for kind in kinds {
            let name = try #require(kind["name"] as? String)
            let nodes = layers.filter { $0["kind"] as? String == name }
            let sum = nodes.map { ($0["forward_us_per_sample"] as? Double ?? 0) + ($0["backward_us_per_sample"] as? Double ?? 0) }.reduce(0, +)
            let own = (kind["forward_us_per_sample"] as? Double ?? -1) + (kind["backward_us_per_sample"] as? Double ?? -1)
            #expect(abs(own - sum) <= 1e-9 * max(sum, 1), "\(name): \(own) vs \(sum)")
        }
        let shares = kinds.compactMap { $0["share"] as? Double }
        #expect(abs(shares.reduce(0, +) - 1) < 1e-9 && shares == shares.sorted(by: >), "\(shares)")
    }
}
