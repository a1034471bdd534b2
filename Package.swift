// swift-tools-version:6.0
// Prune: neural-network pruning in Swift. See docs and ../shared/DESIGN.md for the module map.
import PackageDescription

#if canImport(Darwin)
let blasDependencies: [Target.Dependency] = []
#else
let blasDependencies: [Target.Dependency] = ["CBLAS"]
#endif

let package = Package(
    name: "Prune",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "NeuralNetwork", targets: ["NeuralNetwork"]),
        .library(name: "Pruning", targets: ["Pruning"]),
        .library(name: "FileFormats", targets: ["FileFormats"]),
        .library(name: "Reports", targets: ["Reports"]),
        .executable(name: "prune", targets: ["PruneCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .systemLibrary(name: "CAllocator"),
        .target(
            name: "TensorCore",
            dependencies: blasDependencies + [.product(name: "RealModule", package: "swift-numerics")]
        ),
        .target(
            name: "NeuralNetwork",
            dependencies: ["TensorCore", .product(name: "RealModule", package: "swift-numerics")]
        ),
        .target(
            name: "Pruning",
            dependencies: ["NeuralNetwork", "TensorCore", .product(name: "RealModule", package: "swift-numerics"),
                           .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "Reports", dependencies: ["NeuralNetwork"]),
        .target(name: "FileFormats", dependencies: ["TensorCore", "NeuralNetwork", "CZlib"]),
        .executableTarget(
            name: "PruneCommand",
            dependencies: [
                "TensorCore", "NeuralNetwork", "Pruning", "FileFormats", "Reports", "CAllocator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The seed's example: train, score w·|w|, cut below 0.01, report.
        .executableTarget(name: "SeedExample", dependencies: ["NeuralNetwork", "Pruning", "TensorCore"],
                          path: "Examples/SeedExample"),
        // Fuzz target for the file readers (`make fuzz`); a plain build replays a corpus.
        // A developer tool, kept out of Sources/.
        .systemLibrary(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .executableTarget(name: "FuzzFileFormats", dependencies: ["FileFormats", "CFuzzer"], path: "Fuzz/FuzzFileFormats"),
        .target(name: "TestSupport", dependencies: ["TensorCore", "NeuralNetwork"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "NeuralNetworkTests", dependencies: ["NeuralNetwork", "FileFormats", "TestSupport"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NeuralNetwork", "FileFormats", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "NeuralNetwork", "Pruning"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "NeuralNetwork", "TestSupport"]),
        .testTarget(name: "PruneCommandTests", dependencies: ["PruneCommand", "SeedExample", "TestSupport", "FileFormats"],
                    exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
