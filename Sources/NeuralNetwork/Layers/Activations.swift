import RealModule
import TensorCore

/// `y = max(x, 0)`; `dx = dy · [y > 0]`.
public final class ReLU: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .relu) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = relu(x)
        if training { output = y }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor { reluBackward(output: output, gradient: dy) }
}

/// `y = x` for `x > 0`, else `slope · x`.
public final class LeakyReLU: Layer {
    public var name: String
    /// The slope for negative inputs.
    public let negativeSlope: Float
    private var input = Tensor.zeros([0])
    /// Creates the layer with a negative slope (default 0.01).
    public init(name: String, negativeSlope: Float = 0.01) { self.name = name; self.negativeSlope = negativeSlope }
    public var spec: LayerSpec { var s = LayerSpec(kind: .leakyRelu); s.negativeSlope = negativeSlope; return s }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { input = x }
        let a = negativeSlope
        return x.map { $0 > 0 ? $0 : a * $0 }
    }
    public func backward(_ dy: Tensor) -> Tensor {
        let a = negativeSlope
        return input.zipMap(dy) { $0 > 0 ? $1 : a * $1 }
    }
}

/// `y = tanh(x)`; `dx = dy · (1 − y²)`.
public final class Tanh: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .tanh) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = x.map { Float.tanh($0) }
        if training { output = y }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor { output.zipMap(dy) { (1 - $0 * $0) * $1 } }
}

/// `y = 1 / (1 + e^(−x))`; `dx = dy · y(1 − y)`.
public final class Sigmoid: Layer {
    public var name: String
    private var output = Tensor.zeros([0])
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .sigmoid) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let y = x.map { 1 / (1 + Float.exp(-$0)) }
        if training { output = y }
        return y
    }
    public func backward(_ dy: Tensor) -> Tensor { output.zipMap(dy) { $0 * (1 - $0) * $1 } }
}

/// `y = x·Φ(x) = x/2 · (1 + erf(x/√2))` (exact GELU); `dx = dy · (Φ(x) + x·φ(x))`.
///
/// With `approximation` `.tanh`, GPT-2's `y = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`
/// (PyTorch's `approximate='tanh'`, Hugging Face's `gelu_new`).
public final class GELU: Layer {
    /// How Φ is computed.
    public enum Approximation: String, Sendable {
        /// The exact Gaussian CDF through erf.
        case none
        /// The tanh approximation.
        case tanh
    }
    public var name: String
    /// How Φ is computed.
    public let approximation: Approximation
    private var input = Tensor.zeros([0])
    /// Creates the layer (exact unless told otherwise).
    public init(name: String, approximation: Approximation = .none) {
        self.name = name; self.approximation = approximation
    }
    public var spec: LayerSpec {
        var s = LayerSpec(kind: .gelu)
        if approximation == .tanh { s.approximation = Approximation.tanh.rawValue }
        return s
    }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { input = x }
        return gelu(x, form: form)
    }
    public func backward(_ dy: Tensor) -> Tensor { geluBackward(input: input, gradient: dy, form: form) }
    private var form: GELUForm { approximation == .tanh ? .tanh : .exact }
}

/// Reshapes `[N, d1, d2, …]` to `[N, d1·d2·…]`.
public final class Flatten: Layer {
    public var name: String
    private var inputShape: [Int] = []
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .flatten) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ModelError.notOneInput(layer: name, got: inputShapes.count) }
        return [inputShapes[0].product]
    }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { inputShape = x.shape }
        return x.reshaped([x.shape[0], x.count / max(x.shape[0], 1)])
    }
    public func backward(_ dy: Tensor) -> Tensor { dy.reshaped(inputShape) }
}

/// Inverted dropout: in training, zeroes each activation with probability `rate` and
/// scales the rest by `1/(1 − rate)`; the identity at evaluation.
public final class Dropout: Layer {
    public var name: String
    /// The probability of dropping an activation.
    public let rate: Float
    /// The seed the layer's generator started from (saved in the spec).
    public let seed: UInt64
    private var rng: SeededGenerator
    private var keep = Tensor.zeros([0])

    /// Creates the layer with its own seeded generator.
    public init(name: String, rate: Float, seed: UInt64) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
        self.name = name; self.rate = rate; self.seed = seed
        rng = SeededGenerator(seed: seed)
    }
    public var spec: LayerSpec { var s = LayerSpec(kind: .dropout); s.rate = rate; s.seed = seed; return s }
    /// Restarts the layer's generator from `seed` (the spec keeps the original seed).
    public func reseed(_ seed: UInt64) { rng = SeededGenerator(seed: seed) }
    /// The layer's generator where it stands (a checkpoint saves and restores it, so the
    /// masks drawn after a resume are the ones an uninterrupted run draws).
    public var generator: SeededGenerator {
        get { rng }
        set { rng = newValue }
    }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try sameShape(inputShapes, name) }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, rate > 0 else { return x }
        let scale = 1 / (1 - rate)
        var mask = Tensor.zeros(x.shape)
        for i in 0..<mask.count { mask.scalars[i] = rng.nextUnitFloat() < rate ? 0 : scale }
        keep = mask
        return x * mask
    }
    public func backward(_ dy: Tensor) -> Tensor { rate > 0 ? dy * keep : dy }
}

/// Adds its inputs elementwise (a residual connection); each input receives the gradient unchanged.
public final class Add: MergeLayer {
    public var name: String
    private var inputCount = 2
    /// Creates the layer.
    public init(name: String) { self.name = name }
    public var spec: LayerSpec { LayerSpec(kind: .add) }
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        guard let first = inputShapes.first, inputShapes.count >= 2 else {
            throw ModelError.tooFewInputs(layer: name, minimum: 2, got: inputShapes.count)
        }
        for s in inputShapes where s != first {
            throw ModelError.mismatchedInputs(layer: name, shapes: inputShapes)
        }
        return first
    }
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        inputCount = inputs.count
        var sum = inputs[0]
        for x in inputs.dropFirst() { sum.add(x) }
        return sum
    }
    public func backward(_ gradient: Tensor) -> [Tensor] { Array(repeating: gradient, count: inputCount) }
}

func sameShape(_ shapes: [[Int]], _ name: String) throws -> [Int] {
    guard shapes.count == 1 else { throw ModelError.notOneInput(layer: name, got: shapes.count) }
    return shapes[0]
}

