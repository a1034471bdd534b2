import Foundation
import Testing
import TensorCore
import TestSupport

@Suite("Layer normalization and attention kernels match their Double twins")
struct TransformerKernelTests {
    /// LayerNorm over the last axis in Double.
    func naiveLayerNorm(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ eps: Double) -> [Float] {
        let d = w.count
        var out = [Float](repeating: 0, count: x.count)
        for r in 0..<(x.count / d) {
            let row = (0..<d).map { Double(x.scalars[r * d + $0]) }
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            for j in 0..<d {
                out[r * d + j] = Float((row[j] - mean) / (variance + eps).squareRoot() * Double(w.scalars[j]) + Double(b.scalars[j]))
            }
        }
        return out
    }

    @Test("LayerNorm rows, with a large offset (centred variance) and several ε", arguments: [1e-12, 1e-5, 0.1] as [Float])
    func layerNorm(_ eps: Float) {
        var x = randomTensor([2, 5, 24], seed: 1)
        for i in 0..<24 { x.scalars[i] += 1000 }   // one row far from 0: E[x²] − E[x]² would cancel
        let w = randomTensor([24], low: 0.5, high: 1.5, seed: 2), b = randomTensor([24], seed: 3)
        let y = layerNormalize(x, weight: w, bias: b, epsilon: eps)
        #expect(y.shape == x.shape)
        #expect(maxRelativeError(y.scalars, naiveLayerNorm(x, w, b, Double(eps))) < 2e-4)
        let (trained, cache) = layerNormalizeForTraining(x, weight: w, bias: b, epsilon: eps)
        #expect(trained == y)
        #expect(cache.inverseStd.count == 10)
    }

    @Test("LayerNorm backward: input, weight and bias gradients by central differences")
    func layerNormBackward() {
        let x = randomTensor([3, 7], seed: 4)
        let w = randomTensor([7], low: 0.5, high: 1.5, seed: 5), b = randomTensor([7], seed: 6)
        let r = randomTensor([3, 7], seed: 7)
        let (_, cache) = layerNormalizeForTraining(x, weight: w, bias: b, epsilon: 1e-5)
        let (dx, dw, db) = layerNormalizeBackward(r, cache: cache, weight: w)
        func objective(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Double {
            doubleDot(Tensor(shape: x.shape, scalars: naiveLayerNorm(x, w, b, 1e-5)), r)
        }
        let h: Float = 1e-2
        func numeric(_ f: (Float) -> Double) -> Double { (f(h) - f(-h)) / Double(2 * h) }
        for i in 0..<x.count {
            let g = numeric { e in var p = x; p.scalars[i] += e; return objective(p, w, b) }
            #expect(abs(Double(dx.scalars[i]) - g) < 3e-3, "dx[\(i)]")
        }
        for j in 0..<7 {
            let gw = numeric { e in var p = w; p.scalars[j] += e; return objective(x, p, b) }
            let gb = numeric { e in var p = b; p.scalars[j] += e; return objective(x, w, p) }
            #expect(abs(Double(dw.scalars[j]) - gw) < 3e-3 && abs(Double(db.scalars[j]) - gb) < 3e-3, "dw/db[\(j)]")
        }
    }

    static let shapes = [
        AttentionShape(batch: 2, length: 5, heads: 3, headDimension: 4, causal: false),
        AttentionShape(batch: 3, length: 7, heads: 2, headDimension: 8, causal: true),
        AttentionShape(batch: 1, length: 1, heads: 4, headDimension: 2, causal: true),
        // Several 8×32 tiles with partial edges: dₕ of two vectors (MiniLM's, gpt-tiny's) and of one and a part.
        AttentionShape(batch: 2, length: 37, heads: 2, headDimension: 32, causal: false),
        AttentionShape(batch: 2, length: 40, heads: 2, headDimension: 20, causal: true),
        // Three 32-row blocks on BLAS, the last partial; rows of 70 keys (a stride not a multiple of 16).
        AttentionShape(batch: 2, length: 70, heads: 2, headDimension: 32, causal: true),
    ]

    /// The per-head products run on each backend, whatever the calibration picks here.
    static let backends = GEMMBackend.allCases

    @Test("cached keys: the last queries of a causal sequence, probabilities not kept, equal the whole sequence's last rows",
          arguments: backends)
    func cachedKeys(_ backend: GEMMBackend) {
        let whole = AttentionShape(batch: 2, length: 40, heads: 2, headDimension: 16, causal: true)
        let last = AttentionShape(batch: 2, length: 5, keyLength: 40, heads: 2, headDimension: 16, causal: true)
        let d = whole.features
        let (q, k, v) = (randomTensor([2, 40, d], seed: 40), randomTensor([2, 40, d], seed: 41), randomTensor([2, 40, d], seed: 42))
        var tail = Tensor.zeros([2, 5, d])
        for n in 0..<2 { for r in 0..<(5 * d) { tail.scalars[n * 5 * d + r] = q.scalars[(n * 40 + 35) * d + r] } }
        let reference = naiveAttention(query: q, key: k, value: v, shape: whole)
        let y = attention(query: AttentionOperand(tail), key: AttentionOperand(k), value: AttentionOperand(v), shape: last,
                          backend: backend).output
        var expected: [Float] = []
        for n in 0..<2 {
            let first = (n * 40 + 35) * d, end = (n * 40 + 40) * d
            expected += reference.scalars[first..<end]
        }
        #expect(y.shape == [2, 5, d])
        #expect(maxRelativeError(y.scalars, expected) < 1e-5)
    }

    @Test("separate Q, K, V; with and without a padding mask", arguments: shapes, backends)
    func separate(_ shape: AttentionShape, _ backend: GEMMBackend) {
        let d = shape.features
        let q = randomTensor([shape.batch, shape.length, d], seed: 10)
        let k = randomTensor([shape.batch, shape.length, d], seed: 11)
        let v = randomTensor([shape.batch, shape.length, d], seed: 12)
        // Sample 0 keeps every token; the others lose their last ones (at least one stays).
        var mask = Tensor(shape: [shape.batch, shape.length], repeating: 1)
        for n in 1..<shape.batch { for t in max(1, shape.length - n * 2)..<shape.length { mask.scalars[n * shape.length + t] = 0 } }
        for m in [nil, mask] {
            let (y, p) = attention(query: AttentionOperand(q), key: AttentionOperand(k), value: AttentionOperand(v),
                                   shape: shape, keyMask: m, keepProbabilities: true, backend: backend)
            let reference = naiveAttention(query: q, key: k, value: v, shape: shape, keyMask: m)
            #expect(maxRelativeError(y.scalars, reference.scalars) < 1e-5)
            // Probabilities: rows sum to 1, masked and future keys get exactly 0.
            let t = shape.length
            for n in 0..<shape.batch {
                for h in 0..<shape.heads {
                    for i in 0..<t {
                        let row = (0..<t).map { p!.scalars[((n * shape.heads + h) * t + i) * t + $0] }
                        #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                        for j in 0..<t where (shape.causal && j > i) || (m != nil && m!.scalars[n * t + j] == 0) {
                            #expect(row[j] == 0)
                        }
                    }
                }
            }
        }
    }

    @Test("a fused QKV tensor read in place equals separate operands, forward and backward", arguments: shapes, backends)
    func fused(_ shape: AttentionShape, _ backend: GEMMBackend) {
        let d = shape.features, (n, t) = (shape.batch, shape.length)
        let qkv = randomTensor([n, t, 3 * d], seed: 20)
        func slice(_ part: Int) -> Tensor {
            var out = Tensor.zeros([n, t, d])
            for r in 0..<(n * t) { for j in 0..<d { out.scalars[r * d + j] = qkv.scalars[r * 3 * d + part * d + j] } }
            return out
        }
        let (q, k, v) = (slice(0), slice(1), slice(2))
        let fusedOperands = (AttentionOperand(qkv, column: 0), AttentionOperand(qkv, column: d), AttentionOperand(qkv, column: 2 * d))
        let (yf, pf) = attention(query: fusedOperands.0, key: fusedOperands.1, value: fusedOperands.2, shape: shape, keepProbabilities: true,
                               backend: backend)
        let (ys, ps) = attention(query: AttentionOperand(q), key: AttentionOperand(k), value: AttentionOperand(v), shape: shape,
                                 keepProbabilities: true, backend: backend)
        #expect(yf == ys && pf == ps)
        let dy = randomTensor([n, t, d], seed: 21)
        let separate = attentionBackward(dy, probabilities: ps!, query: AttentionOperand(q), key: AttentionOperand(k),
                                         value: AttentionOperand(v), shape: shape, backend: backend)
        let together = attentionBackward(dy, probabilities: pf!, query: fusedOperands.0, key: fusedOperands.1,
                                         value: fusedOperands.2, shape: shape, fusedWidth: 3 * d, backend: backend)
        #expect(together.query.shape == [n, t, 3 * d])
        for r in 0..<(n * t) {
            for j in 0..<d {
                #expect(together.query.scalars[r * 3 * d + j] == separate.query.scalars[r * d + j])
                #expect(together.query.scalars[r * 3 * d + d + j] == separate.key.scalars[r * d + j])
                #expect(together.query.scalars[r * 3 * d + 2 * d + j] == separate.value.scalars[r * d + j])
            }
        }
    }

    @Test("attention backward: Q, K and V gradients by central differences of the naive twin, with a mask",
          arguments: [AttentionShape(batch: 2, length: 4, heads: 2, headDimension: 3, causal: false),
                      // Three 8-row blocks, the last partial, and heads of one and a part vectors.
                      AttentionShape(batch: 2, length: 19, heads: 2, headDimension: 20, causal: true),
                      // Two 32-row blocks on BLAS, the second partial.
                      AttentionShape(batch: 2, length: 45, heads: 1, headDimension: 5, causal: true),
                      // Three 32-row blocks, the last partial.
                      AttentionShape(batch: 2, length: 70, heads: 1, headDimension: 4, causal: true)], backends)
    func backward(_ shape: AttentionShape, _ backend: GEMMBackend) {
        let (d, t) = (shape.features, shape.length)
        var inputs = (0..<3).map { randomTensor([2, t, d], seed: 30 + UInt64($0)) }
        var mask = Tensor(shape: [2, t], repeating: 1)
        mask.scalars[2 * t - 1] = 0
        let r = randomTensor([2, t, d], seed: 33)
        let (_, p) = attention(query: AttentionOperand(inputs[0]), key: AttentionOperand(inputs[1]),
                               value: AttentionOperand(inputs[2]), shape: shape, keyMask: mask, keepProbabilities: true,
                               backend: backend)
        let g = attentionBackward(r, probabilities: p!, query: AttentionOperand(inputs[0]), key: AttentionOperand(inputs[1]),
                                  value: AttentionOperand(inputs[2]), shape: shape, backend: backend)
        let analytic = [g.query, g.key, g.value]
        func objective() -> Double {
            doubleDot(naiveAttention(query: inputs[0], key: inputs[1], value: inputs[2], shape: shape, keyMask: mask), r)
        }
        var worst = 0.0
        for which in 0..<3 {
            for i in 0..<inputs[which].count {
                let saved = inputs[which].scalars[i]
                inputs[which].scalars[i] = saved + 1e-2; let up = objective()
                inputs[which].scalars[i] = saved - 1e-2; let down = objective()
                inputs[which].scalars[i] = saved
                worst = max(worst, abs(Double(analytic[which].scalars[i]) - (up - down) / 2e-2))
            }
        }
        #expect(worst < 1e-3)
        // The masked key of sample 1 (its last position) gets no gradient.
        for j in 0..<d { #expect(g.key.scalars[(2 * t - 1) * d + j] == 0 && g.value.scalars[(2 * t - 1) * d + j] == 0) }
    }
}

@Suite("GELU kernels (sixteen lanes) match libm in Double")
struct GELUKernelTests {
    /// Every 1/64 from −12 to 12, plus a tail that is not a multiple of 16.
    static let points = Tensor(shape: [1539], scalars: (0..<1539).map { Float($0 - 768) / 64 })

    @Test("exact (erf) and tanh forms, values and derivatives", arguments: [GELUForm.exact, .tanh])
    func values(_ form: GELUForm) {
        let x = Self.points
        let y = gelu(x, form: form)
        let dy = geluBackward(input: x, gradient: Tensor(shape: x.shape, repeating: 1), form: form)
        var worstValue = 0.0, worstSlope = 0.0
        for (i, v) in x.scalars.enumerated() {
            let d = Double(v)
            let (phi, slope): (Double, Double)
            switch form {
            case .exact:
                phi = 0.5 * (1 + erf(d / 2.0.squareRoot()))
                slope = phi + d * exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
            case .tanh:
                let c = (2 / Double.pi).squareRoot(), t = tanh(c * (d + 0.044715 * d * d * d))
                phi = 0.5 * (1 + t)
                slope = phi + 0.5 * d * (1 - t * t) * c * (1 + 3 * 0.044715 * d * d)
            }
            worstValue = max(worstValue, abs(Double(y.scalars[i]) - d * phi))
            worstSlope = max(worstSlope, abs(Double(dy.scalars[i]) - slope))
        }
        #expect(worstValue < 2e-6, "worst |Δ| of the values \(worstValue)")
        #expect(worstSlope < 2e-6, "worst |Δ| of the derivatives \(worstSlope)")
    }

    @Test("e^x within 2e-7 relative over the whole range, 0 below it")
    func exponential() {
        var worst = 0.0
        for i in stride(from: -870, through: 880, by: 16) {
            let lanes = SIMD16<Float>((0..<16).map { Float(i + $0) / 10 })
            let e = vectorExp(lanes)
            for j in 0..<16 where lanes[j] >= -87 && lanes[j] <= 88 {
                worst = max(worst, abs(Double(e[j]) / exp(Double(lanes[j])) - 1))
            }
        }
        #expect(worst < 2e-7, "\(worst)")
        #expect(vectorExp(SIMD16(repeating: -100))[0] == 0)
    }
}
