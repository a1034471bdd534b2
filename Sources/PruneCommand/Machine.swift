import Foundation

/// The CPU this process runs on, as speed figures must name it: its model and the vector
/// features that decide which kernels are fast (from /proc/cpuinfo on Linux, sysctl on macOS).
struct Machine: Equatable {
    /// The CPU's model name (`"AMD EPYC 9R14 96-Core Processor"`), or the architecture when unknown.
    var model: String
    /// Vector features present, among those the kernels care about (`avx2`, `fma`, `avx512f`, …, `neon`).
    var features: [String]
    /// Logical cores.
    var cores: Int

    /// The features Prune reports when present.
    static let reported = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "asimd", "sve"]

    /// This machine.
    static let current: Machine = {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #if os(Linux)
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            var model: String?, flags = Set<String>()
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { continue }
                switch parts[0] {
                case "model name", "Model name", "Processor": model = model ?? parts[1]
                case "flags", "Features": flags.formUnion(parts[1].split(separator: " ").map(String.init))
                default: break
                }
            }
            return Machine(model: model ?? architecture, features: reported.filter(flags.contains), cores: cores)
        }
        #elseif os(macOS)
        var size = 0
        if sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 {
            var bytes = [CChar](repeating: 0, count: size)
            if sysctlbyname("machdep.cpu.brand_string", &bytes, &size, nil, 0) == 0 {
                #if arch(arm64)
                let features = ["asimd"]
                #else
                let features: [String] = []
                #endif
                return Machine(model: String(cString: bytes), features: features, cores: cores)
            }
        }
        #endif
        return Machine(model: architecture, features: [], cores: cores)
    }()

    private static var architecture: String {
        #if arch(x86_64)
        "x86_64"
        #elseif arch(arm64)
        "arm64"
        #else
        "unknown CPU"
        #endif
    }

    /// `model (features, N cores)`, as output and caches record it.
    var description: String { "\(model) (\(features.isEmpty ? "no reported vector features" : features.joined(separator: " ")), \(cores) cores)" }
}
