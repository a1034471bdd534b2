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
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        .systemLibrary(
            name: "CGzip",   // not "CZlib": ZIPFoundation's zlib module has that name
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .systemLibrary(name: "CAllocator"),
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .brew(["libpng"])]
        ),
        .systemLibrary(
            name: "CJPEG",
            providers: [.apt(["libjpeg62-turbo-dev"]), .brew(["jpeg-turbo"])]
        ),
        // Kernels that need CPU intrinsics (lane permutes by run-time indices), with run-time
        // dispatch by CPU features and a portable variant.
        .target(name: "CKernels"),
        .target(
            name: "TensorCore",
            dependencies: blasDependencies + ["CKernels", .product(name: "RealModule", package: "swift-numerics")]
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
        .target(name: "Reports", dependencies: ["TensorCore", "NeuralNetwork", "Pruning", "CGzip"]),
        .target(name: "FileFormats", dependencies: [
            "TensorCore", "NeuralNetwork", "CGzip", "CPNG", "CJPEG",
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "CSV", package: "CSV.swift"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
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
        .executableTarget(name: "FuzzFileFormats", dependencies: ["FileFormats", "NeuralNetwork", "CFuzzer"], path: "Fuzz/FuzzFileFormats"),
        .target(name: "TestSupport", dependencies: ["TensorCore", "NeuralNetwork"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "NeuralNetworkTests", dependencies: ["NeuralNetwork", "FileFormats", "TestSupport"]),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "NeuralNetwork", "FileFormats", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "NeuralNetwork", "Pruning", "FileFormats", "TestSupport"]),
        .testTarget(name: "FileFormatsTests", dependencies: ["FileFormats", "NeuralNetwork", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PruneCommandTests", dependencies: ["PruneCommand", "SeedExample", "TestSupport", "FileFormats", "Pruning",
                                                                     .product(name: "Yams", package: "Yams")], exclude: ["Snapshots"]),
    ],
    swiftLanguageModes: [.v5]
)
