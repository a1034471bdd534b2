/// GELU, `x·Φ(x)`, and its derivative, sixteen lanes at a time: a transformer applies it to
/// every feed-forward activation (1,536 per token in MiniLM), where a libm call per entry
/// would cost as much as the matrix products around it.
///
/// Φ is either exact, through an erf with absolute error below 2e-7 (Abramowitz & Stegun
/// 7.1.26), or GPT-2's tanh approximation `½(1 + tanh(√(2/π)(x + 0.044715x³)))`. Both rest on
/// `vectorExp`, a Cody–Waite reduction with a degree-6 polynomial (relative error ≈ 1e-7).

/// Which Φ a GELU uses.
public enum GELUForm: Sendable {
    /// The Gaussian CDF through erf (BERT, PyTorch's default).
    case exact
    /// GPT-2's tanh approximation (PyTorch's `approximate='tanh'`).
    case tanh
}

/// `x·Φ(x)` for every entry.
/// - Complexity: O(count).
public func gelu(_ x: Tensor, form: GELUForm) -> Tensor {
    switch form {
    case .exact: elementwise(x, nil, ExactGELU.self)
    case .tanh: elementwise(x, nil, TanhGELU.self)
    }
}

/// The input gradient of `gelu`: `dy · (Φ(x) + x·Φ'(x))`.
/// - Precondition: `input` and `gradient` have the same shape.
/// - Complexity: O(count).
public func geluBackward(input x: Tensor, gradient dy: Tensor, form: GELUForm) -> Tensor {
    precondition(x.shape == dy.shape, "geluBackward: input \(x.shape) and gradient \(dy.shape) differ")
    switch form {
    case .exact: return elementwise(x, dy, ExactGELU.self)
    case .tanh: return elementwise(x, dy, TanhGELU.self)
    }
}

/// A GELU form as a type, so that `elementwise` is specialized for it and its arithmetic
/// inlined into the loop: passed as a closure, the tanh form ran out of line at about
/// 2.7 ns an entry (gpt-tiny's GELU took 11% of a training step).
private protocol GELUKernel {
    /// Φ(x) and Φ'(x) for sixteen lanes.
    static func cdfAndDensity(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>)
}

private enum ExactGELU: GELUKernel {
    @inline(__always)
    static func cdfAndDensity(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let z = x * 0.70710678118654752   // x/√2
        let density = vectorExp(-0.5 * x * x) * 0.39894228040143268   // φ(x) = e^(−x²/2)/√(2π)
        return (0.5 * (1 + vectorErf(z, gaussian: density * 2.5066282746310002)), density)
    }
}

private enum TanhGELU: GELUKernel {
    @inline(__always)
    static func cdfAndDensity(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
        let c: Float = 0.7978845608028654   // √(2/π)
        let square = x * x
        let u: SIMD16<Float> = c * (x + 0.044715 * square * x)
        let (t, oneMinusSquare) = vectorTanh(u)
        let slope: SIMD16<Float> = c * (1 + 0.134145 * square)     // du/dx
        let derivative: SIMD16<Float> = 0.5 * oneMinusSquare * slope
        return (0.5 * (1 + t), derivative)
    }
}

/// erf(z) from A&S 7.1.26, given `gaussian` = e^(−z²) (computed once for Φ and φ).
@inline(__always)
private func vectorErf(_ z: SIMD16<Float>, gaussian: SIMD16<Float>) -> SIMD16<Float> {
    let a = z.replacing(with: -z, where: z .< 0)
    let t = 1 / (1 + 0.3275911 * a)
    var p = SIMD16<Float>(repeating: 1.061405429)
    p = horner(p, t, -1.453152027)
    p = horner(p, t, 1.421413741)
    p = horner(p, t, -0.284496736)
    p = horner(p, t, 0.254829592)
    let magnitude = 1 - p * t * gaussian
    return magnitude.replacing(with: -magnitude, where: z .< 0)
}

/// tanh(u) = 1 − q with q = 2/(e^(2u) + 1), and 1 − tanh²(u) = q·(2 − q) (exact where tanh is
/// near ±1, unlike 1 − t·t); u is clamped to ±15, where tanh is ±1 and its slope 4e-13.
@inline(__always)
private func vectorTanh(_ u: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    let bound = SIMD16<Float>(repeating: 15)
    var clamped = u.replacing(with: -bound, where: u .< -bound)
    clamped.replace(with: bound, where: clamped .> bound)
    let q = 2 / (vectorExp(2 * clamped) + 1)
    return (1 - q, q * (2 - q))
}

/// One Horner step `p·x + c`, as a multiply and an add. The fused form,
/// `SIMD16(repeating: c).addingProduct(p, x)`, is sixteen scalar `fma`s for LLVM to put back
/// together, and in a chain of them it did not: lanes of `vectorExp` went through 128-bit and
/// scalar FMAs, 0.76 ns an entry on a Zen 4 against 0.30 for the two plain vector operations.
@inline(__always)
private func horner(_ p: SIMD16<Float>, _ x: SIMD16<Float>, _ c: Float) -> SIMD16<Float> {
    p * x + SIMD16<Float>(repeating: c)
}

/// e^x for sixteen lanes, for x in [−87, 88] (smaller arguments flush to 0).
///
/// n = round(x / ln 2) comes from adding 1.5·2²³, which leaves n in the low bits of the sum's
/// pattern (rounding to nearest even), so no lane-by-lane conversion is needed; 2ⁿ is then
/// built from its exponent bits.
@inline(__always)
package func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let low = SIMD16<Float>(repeating: -87.3), high = SIMD16<Float>(repeating: 88.3)
    var clamped = x.replacing(with: low, where: x .< low)
    clamped.replace(with: high, where: clamped .> high)
    let shifted = SIMD16<Float>(repeating: 12_582_912).addingProduct(clamped, 1.44269504088896341)   // 1.5·2²³
    let n = shifted - 12_582_912
    // r = x − n·ln 2, in two parts so that r keeps its low bits.
    let r = clamped.addingProduct(n, -0.693359375).addingProduct(n, 2.12194440e-4)
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = horner(p, r, 1.3981999507e-3)
    p = horner(p, r, 8.3334519073e-3)
    p = horner(p, r, 4.1665795894e-2)
    p = horner(p, r, 1.6666665459e-1)
    p = horner(p, r, 5.0000001201e-1)
    p = (r + 1).addingProduct(p * r, r)
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000   // n as an integer
    let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
    return (p * scale).replacing(with: 0, where: x .< low)
}

/// GELU (`y == nil`) or its input gradient with `y` the output gradient, sixteen entries at a
/// time; the tail is padded with zeros.
@inline(__always)
private func elementwise<K: GELUKernel>(_ x: Tensor, _ y: Tensor?, _: K.Type) -> Tensor {
    @inline(__always) func body(_ v: SIMD16<Float>, _ g: SIMD16<Float>?) -> SIMD16<Float> {
        let (phi, density) = K.cdfAndDensity(v)
        guard let g else { return v * phi }
        return g * (phi + v * density)
    }
    return Tensor(shape: x.shape) { out in
        x.withUnsafeBufferPointer { px in
            func run(_ py: UnsafeBufferPointer<Float>?) {
                let n = px.count
                guard n > 0 else { return }
                let source = UnsafeRawPointer(px.baseAddress!), target = UnsafeMutableRawPointer(out.baseAddress!)
                var i = 0
                if let py {
                    let other = UnsafeRawPointer(py.baseAddress!)
                    while i + 16 <= n {
                        let a = source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                        let b = other.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                        target.storeBytes(of: body(a, b), toByteOffset: 4 * i, as: SIMD16<Float>.self)
                        i += 16
                    }
                } else {
                    while i + 16 <= n {
                        let a = source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
                        target.storeBytes(of: body(a, nil), toByteOffset: 4 * i, as: SIMD16<Float>.self)
                        i += 16
                    }
                }
                guard i < n else { return }
                var a = SIMD16<Float>.zero, b = SIMD16<Float>.zero
                for j in 0..<(n - i) { a[j] = px[i + j]; b[j] = py?[i + j] ?? 0 }
                let r = body(a, py == nil ? nil : b)
                for j in 0..<(n - i) { out[i + j] = r[j] }
            }
            if let y { y.withUnsafeBufferPointer { run($0) } } else { run(nil) }
        }
    }
}
