import Synchronization
import TensorCore

/// At which row counts an `NMDense` layer runs through the N:M kernel rather than the dense
/// kernels. Which is faster depends on the CPU (the kernel gains 1.58× on a sentence at batch 1
/// on AVX-512 and loses 10% on an AVX2 Zen 3), the shape, the pattern and the rows (one row is
/// a matrix-vector product that both read at memory speed), so the choice is measured: both
/// products are timed at 1, 8, 32 and 64 rows (each sample repeats the product up to 64 rows'
/// worth, kernel and dense samples alternate, the median of 5 each), and the kernel keeps the
/// row counts where it was faster. The weights stay in cache between samples, so the timing
/// favours neither side's memory traffic: at one row it compares two cache-resident products.
/// A shape, pattern and thread count is timed once per process, at the first product of a
/// layer of that shape (MiniLM's 36 layers have 3 shapes: about 0.1 s), one measurement at a
/// time.
///
/// `mode` (the `prune` command's `PRUNE_NM`), read at each layer's first product, pins the
/// choice: `kernel` (every product up to `largestKernelBatch` rows through the kernel, on a CPU
/// with a vector variant of it), `dense` (none), `measured` (the default).
public enum NMChoice {
    /// The row counts timed, in order.
    static let probes = [1, 8, 32, NMDense.largestKernelBatch]

    /// How the choice is made.
    public enum Mode: String, CaseIterable, Sendable { case measured, kernel, dense }

    private static let chosenMode = Mutex(Mode.measured)

    /// How layers choose at their first product (default `measured`; the `prune` command sets
    /// it from `PRUNE_NM`).
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
            let key = "\(layer.weight.rows)×\(layer.weight.columns) \(layer.weight.n):\(layer.weight.m) ×\(layer.pool?.count ?? 1)"
            return measured.withLock { known in   // one measurement at a time: they would distort each other
                if let won = known[key] { return won }
                let won = measure(layer)
                known[key] = won
                return won
            }
        }
    }

    /// Times both products of `layer` at each probe's rows; the probes the kernel won.
    static func measure(_ layer: NMDense) -> [Int] {
        probes.filter { probe in
            let count = probe * layer.weight.columns
            let x = Tensor(shape: [probe, layer.weight.columns], scalars: (0..<count).map { Float(($0 * 7919) % 97) / 97 - 0.5 })
            let repeats = max(1, NMDense.largestKernelBatch / probe)
            let kernel = { for _ in 0..<repeats { _ = layer.kernelProduct(x) } }
            let dense = { for _ in 0..<repeats { _ = layer.denseProduct(x) } }
            kernel(); dense()   // the dense copy of the weights is built here, untimed
            let clock = ContinuousClock()
            var times: (kernel: [Duration], dense: [Duration]) = ([], [])
            for _ in 0..<5 {
                times.kernel.append(clock.measure(kernel))
                times.dense.append(clock.measure(dense))
            }
            return times.kernel.sorted()[2] < times.dense.sorted()[2]
        }
    }
}
