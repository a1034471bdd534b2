import TensorCore

/// How weights and biases are drawn at construction.
public enum Initializer: String, NamedChoice, Sendable {
    /// He (Kaiming) uniform for ReLU networks: weights `U(±√(6/fanIn))`, biases 0.
    /// https://arxiv.org/abs/1502.01852
    case heUniform = "he-uniform"
    /// PyTorch's default for Linear/Conv2d: weights and biases `U(±1/√fanIn)`
    /// (kaiming_uniform with a = √5).
    case torch

    /// Prune's default.
    public static let `default`: Initializer = .heUniform

    func weight(shape: [Int], fanIn: Int, rng: inout SeededGenerator) -> Tensor {
        let bound: Float
        switch self {
        case .heUniform: bound = (6 / Float(fanIn)).squareRoot()
        case .torch: bound = 1 / Float(fanIn).squareRoot()
        }
        return Tensor.uniform(shape, low: -bound, high: bound, using: &rng)
    }

    func bias(count: Int, fanIn: Int, rng: inout SeededGenerator) -> Tensor {
        switch self {
        case .heUniform: return Tensor.zeros([count])
        case .torch:
            let bound = 1 / Float(fanIn).squareRoot()
            return Tensor.uniform([count], low: -bound, high: bound, using: &rng)
        }
    }
}
