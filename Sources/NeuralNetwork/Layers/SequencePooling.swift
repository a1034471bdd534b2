import TensorCore

/// The mean of a sequence's token features: `[T, d]` (and optionally its `[T]` padding mask) in,
/// `[d]` out. With a mask, only real tokens count: `Σₜ mₜ·hₜ / max(Σₜ mₜ, 1e-9)`, as
/// sentence-transformers' mean pooling.
public final class MeanPooling: MergeLayer {
    public var name: String
    private var mask: Tensor?
    private var shape: [Int] = []
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .meanPooling) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard (1...2).contains(inputShapes.count) else {
            throw ModelError.sequenceInput(layer: name, problem: "takes [hidden] or [hidden, mask], got \(inputShapes.count) inputs")
        }
        guard inputShapes[0].count == 2 else {
            throw ModelError.inputRank(layer: name, rank: 2, expected: "token features [T, d]", shape: inputShapes[0])
        }
        if inputShapes.count == 2, inputShapes[1] != [inputShapes[0][0]] {
            throw ModelError.sequenceInput(layer: name, problem: "the padding mask \(inputShapes[1]) is not [\(inputShapes[0][0])]")
        }
        return [inputShapes[0][1]]
    }

    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0]
        let (n, t, d) = (x.shape[0], x.shape[1], x.shape[2])
        let mask = inputs.count == 2 ? inputs[1] : nil
        if training { self.mask = mask; shape = x.shape }
        return Tensor(shape: [n, d]) { out in
            out.initialize(repeating: 0)
            x.withUnsafeBufferPointer { px in
                for s in 0..<n {
                    let o = out.baseAddress! + s * d
                    var weight: Float = 0
                    for i in 0..<t {
                        let m = mask?.scalars[s * t + i] ?? 1
                        guard m != 0 else { continue }
                        weight += m
                        let row = px.baseAddress! + (s * t + i) * d
                        for j in 0..<d { o[j] += m * row[j] }
                    }
                    let inverse = 1 / max(weight, 1e-9)
                    for j in 0..<d { o[j] *= inverse }
                }
            }
        }
    }

    public func backward(_ gradient: Tensor) -> [Tensor] {
        let (n, t, d) = (shape[0], shape[1], shape[2])
        precondition(gradient.shape == [n, d], "\(name): backward without a matching training forward")
        var dx = Tensor.zeros(shape)
        for s in 0..<n {
            let weights = (0..<t).map { mask?.scalars[s * t + $0] ?? 1 }
            let inverse = 1 / max(weights.reduce(0, +), 1e-9)
            for i in 0..<t where weights[i] != 0 {
                for j in 0..<d { dx.scalars[(s * t + i) * d + j] = gradient.scalars[s * d + j] * weights[i] * inverse }
            }
        }
        return [dx] + (mask.map { [Tensor.zeros($0.shape)] } ?? [])
    }
}

/// Scales each row (the last axis) to unit Euclidean length: `x / max(‖x‖₂, 1e-12)`, as
/// PyTorch's `F.normalize`. Backward: `dx = (dy − y·(y·dy)) / ‖x‖` (`dy / 1e-12` for a row
/// shorter than that).
public final class L2Normalize: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    private var norms: [Float] = []
    /// The smallest norm divided by.
    public static let epsilon: Float = 1e-12
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .l2Normalize) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let d = x.shape.last ?? 1
        var y = x
        var norms = [Float](repeating: 0, count: x.count / max(d, 1))
        y.withUnsafeMutableBufferPointer { p in
            for r in norms.indices {
                let row = p.baseAddress! + r * d
                var squares = 0.0
                for j in 0..<d { squares += Double(row[j]) * Double(row[j]) }
                norms[r] = max(Float(squares.squareRoot()), Self.epsilon)
                let inverse = 1 / norms[r]
                for j in 0..<d { row[j] *= inverse }
            }
        }
        if training { output = y; self.norms = norms }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.shape == output.shape, "\(name): backward without a matching training forward")
        let d = dy.shape.last ?? 1
        var dx = dy
        for r in norms.indices {
            let base = r * d
            var dot: Float = 0
            for j in 0..<d { dot += output.scalars[base + j] * dy.scalars[base + j] }
            // At the floor the norm is a constant: the output is x/ε, a plain scaling.
            let projected = norms[r] > Self.epsilon
            for j in 0..<d {
                let g = dy.scalars[base + j] - (projected ? output.scalars[base + j] * dot : 0)
                dx.scalars[base + j] = g / norms[r]
            }
        }
        return dx
    }
}
