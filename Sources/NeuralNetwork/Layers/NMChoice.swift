import Synchronization
import TensorCore

/// At which row counts an `NMDense` layer runs through the N:M kernel rather than the dense
/// kernels. Which is faster depends on the CPU (the kernel gains 1.58× on a sentence at batch 1
/// on AVX-512 and loses 10% on an AVX2 Zen 3), the shape, the pattern and the rows (one row is
/// a matrix-vector product that both read at memory speed), so the choice is measured: both
/// products are timed at 1, 8, 32 and 64 rows, the median of 5 runs each, and the kernel keeps
/// the row counts where it was faster. A shape and pattern is timed once per process
/// (MiniLM's 36 layers have 3 shapes: about 0.1 s on load).
///
/// `mode` (the `prune` command's `PRUNE_NM`) pins the choice: `kernel` (every product up to
/// `largestKernelBatch` rows through the kernel), `dense` (none), `measured` (the default).
public enum NMChoice {
    /// The row counts timed, in order.
    static let probes = [1, 8, 32, NMDense.largestKernelBatch]

    /// How the choice is made.
    public enum Mode: String, CaseIterable, Sendable { case measured, kernel, dense }

    private static let chosenMode = Mutex(Mode.measured)

    /// How layers made from now on choose (default `measured`; the `prune` command sets it from
    /// `PRUNE_NM`).
    public static var mode: Mode {
        get { chosenMode.withLock { $0 } }
        set { chosenMode.withLock { $0 = newValue } }
    }

    /// Measured choices by shape and pattern: `rows×columns n:m` → the probes the kernel won.
    private static let measured = Mutex<[String: [Int]]>([:])

    /// The probes at which `layer` runs through the kernel.
    static func kernelProbes(for layer: NMDense) -> [Int] {
        guard NMDense.hasVectorKernel else { return [] }
        switch mode {
        case .kernel: return probes
        case .dense: return []
        case .measured:
            let key = "\(layer.weight.rows)×\(layer.weight.columns) \(layer.weight.n):\(layer.weight.m)"
            if let known = measured.withLock({ $0[key] }) { return known }
            let won = measure(layer)
            measured.withLock { $0[key] = won }
            return won
        }
    }

    /// Times both products of `layer` at each probe's rows; the probes the kernel won.
    static func measure(_ layer: NMDense) -> [Int] {
        probes.filter { probe in
            let count = probe * layer.weight.columns
            let x = Tensor(shape: [probe, layer.weight.columns], scalars: (0..<count).map { Float(($0 * 7919) % 97) / 97 - 0.5 })
            let kernel = median { _ = layer.kernelProduct(x) }
            let dense = median { _ = layer.denseProduct(x) }
            return kernel < dense
        }
    }

    /// The median of 5 timed runs of `body`, after one untimed.
    static func median(_ body: () -> Void) -> Duration {
        body()
        let clock = ContinuousClock()
        let times = (0..<5).map { _ in clock.measure(body) }.sorted()
        return times[2]
    }
}
