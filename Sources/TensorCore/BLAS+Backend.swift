import Synchronization

/// Which implementation computes the dense products `BLAS.gemm` is asked for.
public enum GEMMBackend: String, CaseIterable, Codable, Sendable {
    /// The system BLAS: OpenBLAS on Linux, Accelerate on Apple platforms.
    case blas
    /// Prune's packed, cache-blocked kernel (`packedGEMM`), with the register tile the
    /// calibration found fastest.
    case packed
}

/// A GEMM backend and, for the packed kernel, its register tile: `"blas"`, `"packed 6×16"`.
///
/// Written `blas`, `packed` (the tile left to the calibration), `packed-6x16` or `packed-12x32`
/// (`PRUNE_GEMM`); `×` may stand for `x`, and a space for the dash.
public struct GEMMChoice: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The backend.
    public var backend: GEMMBackend
    /// The packed kernel's tile (nil: the calibrated one; always nil for BLAS).
    public var tile: GEMMTile?

    /// Creates a choice; a tile only counts for the packed kernel.
    public init(backend: GEMMBackend, tile: GEMMTile? = nil) {
        self.backend = backend; self.tile = backend == .packed ? tile : nil
    }

    /// Reads `blas`, `packed`, `packed-6x16`, `packed 12×32`, …; nil for anything else.
    public init?(_ text: String) {
        let parts = String(text.lowercased().map { $0 == "x" ? "×" : $0 }).split(whereSeparator: { $0 == "-" || $0 == " " })
        guard let first = parts.first, let backend = GEMMBackend(rawValue: String(first)), parts.count <= 2 else { return nil }
        if parts.count == 2 {
            guard backend == .packed, let tile = GEMMTile(rawValue: String(parts[1])) else { return nil }
            self.init(backend: .packed, tile: tile)
        } else {
            self.init(backend: backend)
        }
    }

    /// The values `init?(_:)` reads, for messages: `"blas, packed, packed-12x32 or packed-6x16"`.
    public static var spellings: String {
        let all = ["blas", "packed"] + GEMMTile.allCases.map { "packed-" + String($0.rawValue.map { $0 == "×" ? "x" : $0 }) }
        return all.dropLast().joined(separator: ", ") + " or " + all.last!
    }

    public var description: String { tile.map { "\(backend.rawValue) \($0.rawValue)" } ?? backend.rawValue }
}

/// What the one-time calibration of `BLAS.gemm` measured, and what it chose.
///
/// The rule: time the system BLAS and the packed kernel with each register tile on the same
/// products (a 256³ GEMM and a 64×384×384 `x·Wᵀ`) in interleaved rounds, each candidate's time
/// taken relative to the others' in the same round (10–20 ms in all); the packed kernel runs
/// when its tile (see `tile`) beats BLAS over the two products together. The choice covers
/// `gemv` too.
package struct GEMMCalibration: Sendable, CustomStringConvertible {
    /// GFLOP/s of the system BLAS over the calibration products (relative to the first tile's
    /// rate in the same rounds, so ratios between candidates are what counts).
    package var blas: Double
    /// GFLOP/s of the packed kernel with each register tile, in `GEMMTile.allCases` order.
    package var packed: [Double]
    /// Seconds the calibration took.
    package var seconds: Double

    /// Records measured rates.
    package init(blas: Double, packed: [Double], seconds: Double) {
        self.blas = blas; self.packed = packed; self.seconds = seconds
    }

    /// The packed kernel's tile: the wide one (more accumulators per load) unless the narrow
    /// one ran at least 10% faster. Timing noise should not demote the wide tile: under a busy
    /// host both once measured within 4% of each other, where a quiet machine gives the wide
    /// tile 1.5× the narrow one's rate; where SIMD16 spills (AVX2) the narrow tile wins 2×.
    package var tile: GEMMTile {
        let (wide, narrow) = (packed[GEMMTile.allCases.firstIndex(of: .wide)!], packed[GEMMTile.allCases.firstIndex(of: .narrow)!])
        return narrow > 1.1 * wide ? .narrow : .wide
    }

    /// The backend that ran faster: the packed kernel with `tile`, or BLAS.
    package var backend: GEMMBackend { packed[GEMMTile.allCases.firstIndex(of: tile)!] > blas ? .packed : .blas }

    /// `"packed 12×32 98.0, 6×16 61.2, BLAS 25.9 GFLOP/s in 11 ms"`.
    package var description: String {
        func rate(_ x: Double) -> String {
            let tenths = Int((x * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)"
        }
        let tiles = GEMMTile.allCases.enumerated().map { "\($1.rawValue) \(rate(packed[$0]))" }
        return "packed \(tiles.joined(separator: ", ")), BLAS \(rate(blas)) GFLOP/s in \(Int((seconds * 1000).rounded())) ms"
    }
}

extension BLAS {
    /// The backend `gemm` uses: the one set with `setBackend`, or else the faster one by the
    /// calibration run at first use (see `GEMMCalibration`).
    public static var backend: GEMMBackend {
        switch override.load(ordering: .relaxed) {
        case 1: .blas
        case 2: .packed
        default: calibration.backend
        }
    }

    /// Makes every later `gemm` run on `backend`, or, with nil, on the calibrated choice
    /// (the packed kernel's tile stays as it was: see `setChoice(_:)`).
    ///
    /// For benchmarks and reproducibility: the two backends sum in different orders, so their
    /// results differ in the last bits, and the calibrated choice can differ between machines
    /// (or between runs on a machine where the two are close).
    public static func setBackend(_ backend: GEMMBackend?) {
        override.store(backend.map { $0 == .blas ? 1 : 2 } ?? 0, ordering: .relaxed)
    }

    /// The packed kernel's register tile: the one set with `setChoice`, or the calibrated one.
    public static var tile: GEMMTile {
        switch tileOverride.load(ordering: .relaxed) {
        case 1: .wide
        case 2: .narrow
        default: calibration.tile
        }
    }

    /// What decides the bits of every product: the backend and, for the packed kernel, its tile.
    public static var choice: GEMMChoice { GEMMChoice(backend: backend, tile: backend == .packed ? tile : nil) }

    /// Makes every later product run as `choice` says (a nil tile leaves the packed kernel's
    /// tile to the calibration), or, with nil, as the calibration chose. Two processes give
    /// the same bits only with the same choice: a run resumed from a checkpoint sets the one
    /// it was taken with.
    public static func setChoice(_ choice: GEMMChoice?) {
        setBackend(choice?.backend)
        tileOverride.store(choice?.tile.map { $0 == .wide ? 1 : 2 } ?? 0, ordering: .relaxed)
    }

    /// `backend`, the packed kernel's tile and the calibration's figures, in words:
    /// `"packed 12×32 (calibrated: packed 12×32 98.0, 6×16 61.2, BLAS 25.9 GFLOP/s in 11 ms)"`,
    /// or `"blas (set explicitly; calibration: …)"`.
    public static var backendDescription: String {
        let how = override.load(ordering: .relaxed) == 0 ? "calibrated" : "set explicitly; calibration"
        return "\(choice) (\(how): \(calibration))"
    }

    /// 0: calibrated, 1: BLAS, 2: packed.
    private static let override = Atomic<UInt8>(0)
    /// 0: calibrated, 1: wide, 2: narrow.
    private static let tileOverride = Atomic<UInt8>(0)

    /// The calibration, run once at first use (10–20 ms).
    package static let calibration = calibrate()

    /// Times BLAS and each tile of the packed kernel on two products (see `GEMMCalibration`).
    private static func calibrate() -> GEMMCalibration {
        let clock = ContinuousClock(), start = clock.now
        // (m, n, k, op(B)): a square product and a fully connected layer's x·Wᵀ.
        let shapes: [(m: Int, n: Int, k: Int, transB: Transpose)] = [(256, 256, 256, .none), (64, 384, 384, .transposed)]
        let size = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max()!
        let a = UnsafeMutablePointer<Float>.allocate(capacity: size)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: size)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: size)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<size {
            a[i] = Float(i % 17) / 17 - 0.5
            b[i] = Float(i % 13) / 13 - 0.5
        }
        // Candidate 0 is BLAS, then the packed tiles. A round runs each shape on every candidate
        // back to back (in alternating order), so the candidates of one round share the host's
        // conditions: comparisons are made within rounds. Minima over separate rounds were not
        // enough here: two calibrations on a busy host timed the wide tile 14% and 30% below
        // the narrow one (quiet, it runs 1.5× faster). BLAS takes part in the first three of
        // five rounds, as Prescott-kernel BLAS costs four times the tiles' time.
        let candidates = 1 + GEMMTile.allCases.count, rounds = 5, blasRounds = 3
        var totals = [[Double]](repeating: [], count: candidates)   // [candidate][round] seconds
        for round in 0..<rounds {
            let active = (0..<candidates).filter { $0 > 0 || round < blasRounds }
            var total = [Double](repeating: 0, count: candidates)
            for shape in shapes {
                let (m, n, k) = (shape.m, shape.n, shape.k)
                let ldb = shape.transB == .none ? n : k
                for candidate in round % 2 == 0 ? active : active.reversed() {
                    let t0 = clock.now
                    if candidate == 0 {
                        systemGEMM(.none, shape.transB, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: ldb,
                                   beta: 0, c: c, ldc: n)
                    } else {
                        packedGEMM(tile: GEMMTile.allCases[candidate - 1], .none, shape.transB, m: m, n: n, k: k,
                                   a: a, lda: k, b: b, ldb: ldb, c: c, ldc: n)
                    }
                    total[candidate] += (clock.now - t0).seconds
                }
            }
            for candidate in active { totals[candidate].append(total[candidate]) }
        }
        // Each candidate's time relative to the first tile's in the same rounds (median), on the
        // scale of that tile's fastest round.
        func median(_ x: [Double]) -> Double { let y = x.sorted(); return (y[(y.count - 1) / 2] + y[y.count / 2]) / 2 }
        let reference = totals[1], fastest = reference.min()!
        let times = totals.map { own in fastest * median(zip(own, reference).map { $0 / $1 }) }
        let flops = shapes.reduce(0.0) { $0 + 2 * Double($1.m * $1.n * $1.k) }
        let rates = times.map { flops / $0 / 1e9 }
        return GEMMCalibration(blas: rates[0], packed: Array(rates.dropFirst()), seconds: (clock.now - start).seconds)
    }
}

extension Duration {
    /// The duration in seconds.
    fileprivate var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
