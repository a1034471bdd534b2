import CKernels

/// An N:M matrix (`NMMatrix`) laid out for products with a batch of rows, `X·Aᵀ`: the form an
/// inference-only N:M layer (`NMDense`) computes from.
///
/// Rows go in panels of 16, one row per SIMD lane. For each group of `m` columns a panel holds
/// `n` vectors of kept values and one vector of their positions (4 bits per slot). The product
/// (`prune_nm_product`, a C kernel: Swift has no lane permute by run-time indices) broadcasts a
/// token's `m` inputs of the group across a register, lets each lane pick its input with a
/// permute by the slot's positions, and adds value · input with one fused multiply-add per
/// slot: the arithmetic of the kept weights only (half the dense product's at 2:4). Values and
/// positions are loaded once per group for up to 24 tokens, whose accumulators stay in
/// registers. The permute and the multiply-add share a port on Intel cores, so the product
/// runs at about one multiply-add per cycle where the dense kernel reaches more: at 2:4 it
/// gains from doing half the work, not from a faster loop (see `prune bench nm`).
///
/// Variants: AVX-512, AVX2 with FMA, and portable scalar code, chosen at run time by the CPU's
/// features (`variant`).
public struct NMPanels: Sendable {
    /// The matrix height and width; kept entries per group and the group length.
    public let rows: Int, columns: Int, n: Int, m: Int
    /// Rows per panel (lanes of the widest variant).
    static let height = 16
    /// Values: panel by panel, group by group, slot by slot, 16 rows side by side (padding
    /// rows are zero).
    let values: [Float]
    /// Positions: panel by panel, group by group, 16 rows side by side, slot s in bits 4s..<4s+4.
    let positions: [Int32]

    /// The kernel variants, best first as `CKernels` numbers them.
    public enum Variant: Int, Sendable, CaseIterable, CustomStringConvertible {
        case scalar = 0, avx2 = 1, avx512 = 2
        public var description: String { ["scalar", "AVX2", "AVX-512"][rawValue] }
        /// The best variant this CPU runs.
        public static let best = Variant(rawValue: Int(prune_nm_best_variant().rawValue)) ?? .scalar
        var c: PruneNMVariant { PruneNMVariant(rawValue: UInt32(rawValue)) }
    }

    /// Number of row panels.
    var panels: Int { (rows + Self.height - 1) / Self.height }

    /// Whether matrices of this pattern and width have a panel form: `m` of 4 or 8 (the
    /// kernel reads a group's inputs as one 128- or 256-bit piece) dividing `columns`.
    public static func supports(n: Int, m: Int, columns: Int) -> Bool {
        (m == 4 || m == 8) && n >= 1 && n <= m && columns % m == 0
    }

    /// The panel layout of `matrix`, or nil when `supports` says it has none.
    public init?(_ matrix: NMMatrix) {
        guard Self.supports(n: matrix.n, m: matrix.m, columns: matrix.columns) else { return nil }
        rows = matrix.rows; columns = matrix.columns; n = matrix.n; m = matrix.m
        let h = Self.height, groups = matrix.groups, panels = (rows + h - 1) / h
        var values = [Float](repeating: 0, count: panels * groups * n * h)
        var positions = [Int32](repeating: 0, count: panels * groups * h)
        for r in 0..<rows {
            let (p, lane) = (r / h, r % h)
            for g in 0..<groups {
                var packed: Int32 = 0
                for s in 0..<n {
                    let i = (r * groups + g) * n + s
                    values[((p * groups + g) * n + s) * h + lane] = matrix.values[i]
                    packed |= Int32(matrix.position(i)) << (4 * s)
                }
                positions[(p * groups + g) * h + lane] = packed
            }
        }
        self.values = values; self.positions = positions
    }

    /// Bytes of the values and positions.
    public var bytes: Int { 4 * values.count + 4 * positions.count }

    /// `X·Aᵀ` for a batch `x` whose last axis is `columns`: the same leading axes, then `rows`.
    /// Panels are shared among `pool`'s threads when given and the product is large enough.
    /// - Parameter variant: the kernel (default: the best this CPU runs); tests pin the others.
    /// - Precondition: `x.count` is a multiple of `columns`; `variant` runs on this CPU.
    /// - Complexity: O(tokens · rows · columns · n / m).
    public func multiplyTransposed(batch x: Tensor, pool: WorkerPool? = nil, variant: Variant = .best) -> Tensor {
        precondition(x.count % columns == 0, "N:M product: \(x.shape) does not have rows of \(columns)")
        precondition(variant.rawValue <= Variant.best.rawValue, "N:M product: this CPU does not run the \(variant) kernel")
        let tokens = x.count / columns
        let shape = (x.rank >= 2 ? Array(x.shape.dropLast()) : [tokens]) + [rows]
        return Tensor(shape: shape) { y in
            x.withUnsafeBufferPointer { px in
                values.withUnsafeBufferPointer { v in
                    positions.withUnsafeBufferPointer { pos in
                        let (xp, yp, vp, pp) = (px.baseAddress!, y.baseAddress!, v.baseAddress!, pos.baseAddress!)
                        let work = { (lo: Int, hi: Int) in
                            let status = prune_nm_product(variant.c, Int32(rows), Int32(columns), Int32(n), Int32(m), vp, pp,
                                             xp, columns, Int32(tokens), yp, rows, Int32(lo), Int32(hi))
                            precondition(status == 0, "N:M product: out of memory for a chunk of inputs")
                        }
                        if let pool, tokens * rows * columns * n / m >= 65_536 {
                            pool.forEachRange(panels, minimum: 2, work)
                        } else {
                            work(0, panels)
                        }
                    }
                }
            }
        }
    }
}
