import ArgumentParser

/// `prune bench`: speed measurements (never part of the tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and inference throughput, GEMM speed and pruning cost.",
        subcommands: [BenchTrain.self, BenchGEMM.self, BenchLayers.self, BenchPrune.self, BenchInfer.self, BenchSpMM.self, BenchNM.self])
}
