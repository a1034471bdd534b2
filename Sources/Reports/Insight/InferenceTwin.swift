import NeuralNetwork
import TensorCore

/// A graph of `model`'s layers whose training forward pass (the one that caches what backward
/// needs) computes the inference function, so `backward` differentiates what `predict` runs.
///
/// Layers are shared with `model`, except those whose training pass differs from inference:
/// each `BatchNorm` is wrapped to normalize with its running statistics (a constant per-channel
/// affine map), each `Dropout` becomes an identity (rate 0), and inference-only sparse layers
/// are densified (they have no backward pass). Nothing of `model` changes but the shared
/// layers' caches and gradients, which a backward pass overwrites.
/// - Throws: `ModelError.unsupportedModule` for a module that is neither a layer nor a merge layer.
func inferenceTwin(of model: Graph) throws -> Graph {
    try model.mappingModules { module in
        switch module {
        case let norm as BatchNorm: FrozenBatchNorm(norm)
        case let dropout as Dropout: Dropout(name: dropout.name, rate: 0, seed: 0)
        case let sparse as SparseDense: sparse.densified()
        case let sparse as SparseConv2D: sparse.densified()
        default: module
        }
    }
}

/// A batch normalization frozen at its running statistics in every pass:
/// `y = γ·(x − μ_running)/√(σ²_running + ε) + β`, so `dx = dy · γ/√(σ²_running + ε)` per channel.
/// Its parameters are not exposed: nothing trains them through it.
final class FrozenBatchNorm: Layer {
    var name: String
    let base: BatchNorm

    /// Wraps `base`, which keeps its statistics (its training forward pass is never called).
    init(_ base: BatchNorm) { self.base = base; name = base.name }

    var spec: LayerSpec { base.spec }
    func outputShape(for inputShapes: [[Int]]) throws -> [Int] { try base.outputShape(for: inputShapes) }
    func forward(_ x: Tensor, training: Bool) -> Tensor { base.forward(x, training: false) }

    func backward(_ dy: Tensor) -> Tensor {
        let c = base.features
        let gain = (0..<c).map { ch in
            base.scale.value[flat: ch] / (base.runningVariance.value[flat: ch] + base.epsilon).squareRoot()
        }
        var dx = dy
        scaleAndShiftChannels(&dx, scale: Tensor(shape: [c], scalars: gain), shift: Tensor.zeros([c]))
        return dx
    }
}
