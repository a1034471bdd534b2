import Foundation
import Testing
import TensorCore
import TestSupport

/// A matrix stored inside a larger buffer: `rows × columns` at `offset`, row stride `ld`,
/// surrounded by sentinel values that a product must not touch.
private struct StridedMatrix {
    static let sentinel: Float = 12345
    var storage: [Float]
    var offset: Int, ld: Int, rows: Int, columns: Int

    /// Random entries in [-1, 1] (or `fill`), with `padding` extra floats per row and a few before.
    init(rows: Int, columns: Int, padding: Int, seed: UInt64, fill: Float? = nil) {
        self.rows = rows; self.columns = columns
        ld = max(1, columns + padding)
        offset = padding > 0 ? 3 : 0
        let values = randomTensor([max(1, offset + rows * ld)], seed: seed).scalars
        storage = [Float](repeating: Self.sentinel, count: offset + rows * ld + 2)
        for i in 0..<rows {
            for j in 0..<columns { storage[offset + i * ld + j] = fill ?? values[offset + i * ld + j] }
        }
    }

    /// The matrix as a dense `[rows, columns]` tensor.
    var dense: Tensor {
        Tensor(shape: [rows, columns], scalars: (0..<rows).flatMap { i in storage[(offset + i * ld)..<(offset + i * ld + columns)] })
    }

    /// Whether every float outside the matrix still holds the sentinel.
    var sentinelsIntact: Bool {
        storage.indices.allSatisfy { index in
            let p = index - offset
            let inside = p >= 0 && p / ld < rows && p % ld < columns
            return inside || storage[index] == Self.sentinel
        }
    }
}

/// Runs `packedGEMM` on strided operands and returns the largest error against
/// `alpha·naiveMatmul + beta·C₀`, relative to max(1, |expected|), and whether C's padding was
/// left alone.
private func packedError(_ tile: GEMMTile, _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int,
                         alpha: Float = 1, beta: Float = 0, padding: Int = 0, initialC: Float? = nil)
    -> (error: Double, intact: Bool) {
    let a = StridedMatrix(rows: ta == .none ? m : k, columns: ta == .none ? k : m, padding: padding, seed: 1)
    let b = StridedMatrix(rows: tb == .none ? k : n, columns: tb == .none ? n : k, padding: padding + 1, seed: 2)
    var c = StridedMatrix(rows: m, columns: n, padding: padding + 2, seed: 3, fill: initialC)
    let c0 = c.dense
    a.storage.withUnsafeBufferPointer { pa in
        b.storage.withUnsafeBufferPointer { pb in
            c.storage.withUnsafeMutableBufferPointer { pc in
                packedGEMM(tile: tile, ta, tb, m: m, n: n, k: k, alpha: alpha,
                           a: pa.baseAddress! + a.offset, lda: a.ld, b: pb.baseAddress! + b.offset, ldb: b.ld,
                           beta: beta, c: pc.baseAddress! + c.offset, ldc: c.ld)
            }
        }
    }
    let product = naiveMatmul(a.dense, ta, b.dense, tb)
    var worst = 0.0
    for (index, got) in c.dense.scalars.enumerated() {
        var expected = Double(alpha) * Double(product.scalars[index])
        if beta != 0 { expected += Double(beta) * Double(c0.scalars[index]) }
        let error = got.isFinite ? abs(Double(got) - expected) / max(1, abs(expected)) : .infinity
        worst = max(worst, error)
    }
    return (worst, c.sentinelsIntact)
}

/// The tolerance for a k-term Float sum of products of numbers in [-1, 1]: 1e-5, scaled by k
/// past 128 terms.
private func tolerance(_ k: Int) -> Double { 1e-5 * max(1, Double(k) / 128) }

private let transposes: [(Transpose, Transpose)] = [(.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed)]

@Suite("The packed GEMM matches the naive product")
struct PackedGEMMTests {
    @Test("every tile and transpose case, odd sizes with tails in every dimension", arguments: GEMMTile.allCases)
    func oddSizes(_ tile: GEMMTile) {
        // (m, n, k): single elements, tails below one tile, several tiles plus a tail, more
        // than one depth block (k > 384), row block (m > 384) and column block (n > 384); one
        // row or one column (the matrix-vector path), with and without SIMD tails.
        let sizes = [(1, 1, 1), (3, 17, 33), (17, 3, 255), (33, 255, 17), (255, 33, 3), (13, 45, 400),
                     (400, 37, 5), (5, 800, 9), (12, 32, 384), (24, 64, 1),
                     (1, 45, 400), (1, 64, 32), (37, 1, 50), (70, 1, 3), (1, 1, 70), (1, 5, 1)]
        for (ta, tb) in transposes {
            for (m, n, k) in sizes {
                let (error, intact) = packedError(tile, ta, tb, m: m, n: n, k: k)
                #expect(error <= tolerance(k), "\(tile) \(ta)·\(tb) \(m)×\(n)×\(k): error \(error)")
                #expect(intact)
            }
        }
    }

    @Test("sub-matrices: row strides wider than the rows, and offsets; nothing outside C is written",
          arguments: GEMMTile.allCases)
    func strided(_ tile: GEMMTile) {
        for (ta, tb) in transposes {
            for (m, n, k) in [(7, 9, 11), (29, 70, 50), (1, 40, 30), (40, 1, 30)] {
                let (error, intact) = packedError(tile, ta, tb, m: m, n: n, k: k, padding: 5)
                #expect(error <= tolerance(k), "\(tile) \(ta)·\(tb) \(m)×\(n)×\(k): error \(error)")
                #expect(intact, "\(tile) \(ta)·\(tb) \(m)×\(n)×\(k) wrote outside C")
            }
        }
    }

    @Test("alpha and beta as in cblas_sgemm: beta 0 ignores NaN in C, beta 1 accumulates, both scale",
          arguments: GEMMTile.allCases)
    func alphaBeta(_ tile: GEMMTile) {
        for (ta, tb) in transposes {
            for (m, n, k) in [(13, 35, 20), (30, 70, 400), (1, 35, 20), (35, 1, 20)] {
                let garbage = packedError(tile, ta, tb, m: m, n: n, k: k, alpha: 1, beta: 0, padding: 1, initialC: .nan)
                #expect(garbage.error <= tolerance(k), "beta 0 over NaN: \(garbage.error)")
                let accumulate = packedError(tile, ta, tb, m: m, n: n, k: k, alpha: 1, beta: 1, padding: 1)
                #expect(accumulate.error <= tolerance(k), "beta 1: \(accumulate.error)")
                let scaled = packedError(tile, ta, tb, m: m, n: n, k: k, alpha: -0.5, beta: 2, padding: 1)
                #expect(scaled.error <= tolerance(k), "alpha -0.5, beta 2: \(scaled.error)")
                let zeroAlpha = packedError(tile, ta, tb, m: m, n: n, k: k, alpha: 0, beta: 0.5)
                #expect(zeroAlpha.error <= tolerance(k), "alpha 0: \(zeroAlpha.error)")
            }
        }
    }

    @Test("empty products: k = 0 gives beta·C (zeros over NaN for beta 0); m = 0 or n = 0 writes nothing",
          arguments: GEMMTile.allCases)
    func empty(_ tile: GEMMTile) {
        #expect(packedError(tile, .none, .none, m: 5, n: 7, k: 0, beta: 0, padding: 1, initialC: .nan) == (0, true))
        let scaled = packedError(tile, .transposed, .transposed, m: 5, n: 40, k: 0, beta: 3, padding: 1)
        #expect(scaled.error <= 1e-7 && scaled.intact)
        #expect(packedError(tile, .none, .none, m: 0, n: 7, k: 4, beta: 0) == (0, true))
        #expect(packedError(tile, .none, .transposed, m: 6, n: 0, k: 4, beta: 0, padding: 2) == (0, true))
    }

    @Test("products of few rows and many columns run transposed (the weights read in place) and still match, with alpha, beta and strides",
          arguments: GEMMTile.allCases)
    func thinProducts(_ tile: GEMMTile) {
        let sizes = [(2, 40, 50), (tile.columns + 1, 5 * tile.columns, 70), (2 * tile.columns, 8 * tile.columns, 20), (20, 100, 400)]
        for (m, n, _) in sizes { #expect(thinProductIsTransposed(tile: tile, m: m, n: n), "\(m)×\(n) should run transposed") }
        #expect(!thinProductIsTransposed(tile: tile, m: 2 * tile.columns + 1, n: 4096), "too many rows to run transposed")
        #expect(!thinProductIsTransposed(tile: tile, m: 20, n: 79), "columns fewer than 4 times the rows")
        for (ta, tb) in transposes {
            for (m, n, k) in sizes {
                for (alpha, beta) in [(Float(1), Float(0)), (-0.5, 2)] {
                    let (error, intact) = packedError(tile, ta, tb, m: m, n: n, k: k, alpha: alpha, beta: beta, padding: 3)
                    #expect(error <= tolerance(k), "\(tile) \(ta)·\(tb) \(m)×\(n)×\(k) alpha \(alpha) beta \(beta): error \(error)")
                    #expect(intact, "\(tile) \(ta)·\(tb) \(m)×\(n)×\(k) wrote outside C")
                }
            }
        }
    }

    @Test("a row's result does not depend on which rows share the call, nor on whether a call of few rows ran transposed (so split products match whole ones)",
          arguments: GEMMTile.allCases)
    func rowSplitsAreExact(_ tile: GEMMTile) {
        let (m, n, k) = (50, 70, 500)
        let a = randomTensor([m, k], seed: 4), b = randomTensor([n, k], seed: 5)
        func product(_ rows: Range<Int>) -> [Float] {
            var c = [Float](repeating: 0, count: rows.count * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        packedGEMM(tile: tile, .none, .transposed, m: rows.count, n: n, k: k,
                                   a: pa.baseAddress! + rows.lowerBound * k, lda: k, b: pb.baseAddress!, ldb: k,
                                   c: pc.baseAddress!, ldc: n)
                    }
                }
            }
            return c
        }
        #expect(product(0..<m) == product(0..<17) + product(17..<m))
    }

    @Test("BLAS.gemv on the calibrated backend matches the naive product, both ways, with alpha and beta")
    func gemv() {
        let (rows, columns) = (37, 53)
        let a = randomTensor([rows, columns], seed: 6)
        for trans in [Transpose.none, .transposed] {
            let (inputs, outputs) = trans == .none ? (columns, rows) : (rows, columns)
            let x = randomTensor([inputs, 1], seed: 7)
            var y = randomTensor([outputs], seed: 8)
            let y0 = y
            a.withUnsafeBufferPointer { pa in
                x.withUnsafeBufferPointer { px in
                    y.withUnsafeMutableBufferPointer { py in
                        BLAS.gemv(trans, rows: rows, columns: columns, alpha: 2, a: pa.baseAddress!, lda: columns,
                                  x: px.baseAddress!, beta: -1, y: py.baseAddress!)
                    }
                }
            }
            let product = naiveMatmul(a, trans, x, .none).scalars
            let expected = (0..<outputs).map { 2 * product[$0] - y0.scalars[$0] }
            #expect(maxRelativeError(y.scalars, expected) < 1e-5, "\(trans)")
        }
    }

    @Test("the calibration's rule: packed when its faster tile beats BLAS; the wide tile unless the narrow one is 10% faster")
    func calibrationRule() {
        let faster = GEMMCalibration(blas: 25, packed: [90, 60], seconds: 0.01)
        #expect(faster.backend == .packed && faster.tile == .wide)
        let narrow = GEMMCalibration(blas: 25, packed: [20, 30], seconds: 0.01)
        #expect(narrow.backend == .packed && narrow.tile == .narrow)
        let close = GEMMCalibration(blas: 25, packed: [45, 48], seconds: 0.01)
        #expect(close.backend == .packed && close.tile == .wide)
        let slower = GEMMCalibration(blas: 95, packed: [90, 60], seconds: 0.01)
        #expect(slower.backend == .blas)
        #expect(slower.description == "packed 12×32 90.0, 6×16 60.0, BLAS 95.0 GFLOP/s in 10 ms")
        let measured = BLAS.calibration
        #expect(measured.blas > 0 && measured.packed.allSatisfy { $0 > 0 }, "\(measured)")
        #expect(BLAS.backendDescription.contains("GFLOP/s"))
    }

    @Test("GEMM choices as PRUNE_GEMM spells them: a backend, and for the packed kernel a tile; anything else is nil")
    func choiceSpellings() throws {
        #expect(GEMMChoice("blas") == GEMMChoice(backend: .blas))
        #expect(GEMMChoice("packed") == GEMMChoice(backend: .packed, tile: nil))
        #expect(GEMMChoice("packed-6x16") == GEMMChoice(backend: .packed, tile: .narrow))
        #expect(GEMMChoice("packed 12×32") == GEMMChoice(backend: .packed, tile: .wide))
        #expect(GEMMChoice(backend: .blas, tile: .wide).tile == nil, "BLAS has no tile")
        for bad in ["", "fast", "blas-6x16", "packed-8x8", "packed-6x16-6x16"] { #expect(GEMMChoice(bad) == nil, "\(bad)") }
        #expect(GEMMChoice.spellings == "blas, packed, packed-12x32 or packed-6x16")
        // Its description reads back; the choice in use names its tile whenever it is packed.
        for choice in [GEMMChoice(backend: .blas), GEMMChoice(backend: .packed, tile: .narrow)] {
            #expect(GEMMChoice(choice.description) == choice, "\(choice)")
        }
        let current = BLAS.choice
        #expect((current.backend == .packed) == (current.tile != nil), "\(current)")
        let coded = try JSONDecoder().decode(GEMMChoice.self, from: JSONEncoder().encode(current))
        #expect(coded == current)
    }
}
