import TensorCore

/// The size and cost of one layer of a model, per sample.
public struct LayerComplexity: Codable, Equatable, Sendable {
    /// The node name.
    public var name: String
    /// The layer kind.
    public var kind: LayerKind
    /// The shape of the layer's weight, or its output shape for layers without weights.
    public var shape: [Int]
    /// The per-sample output shape.
    public var outputShape: [Int]
    /// Trainable scalars (weights and biases; BatchNorm's γ and β).
    public var parameters: Int
    /// Trainable scalars that are not zero.
    public var nonZeros: Int
    /// `1 − nonZeros/parameters` (0 for layers without parameters).
    public var sparsity: Double
    /// Floating-point operations of one forward pass of one sample, counting a
    /// multiply-add as 2, as a dense kernel computes it.
    public var flops: Int
    /// The same, counting only non-zero weights: what a sparse kernel would compute.
    public var sparseFlops: Int
    /// Bytes of the parameters stored densely as Float32.
    public var bytes: Int
}

/// The complexity of a whole model: one row per node and the totals.
public struct ModelComplexity: Codable, Equatable, Sendable {
    /// One row per node, in graph order.
    public var layers: [LayerComplexity]
    /// Sums over all layers (sparsity is recomputed from the sums).
    public var totals: Totals

    /// Summed figures.
    public struct Totals: Codable, Equatable, Sendable {
        /// Trainable scalars in the model; those that are not zero; `1 − nonZeros/parameters`.
        public var parameters: Int, nonZeros: Int, sparsity: Double
        /// Forward FLOPs per sample: dense, and counting only non-zero weights.
        public var flops: Int, sparseFlops: Int
        /// Bytes of the parameters stored densely as Float32.
        public var bytes: Int
    }

    /// Measures `model`.
    /// - Complexity: O(parameters).
    public init(_ model: Graph) {
        layers = model.nodes.enumerated().map { i, node in
            let module = node.module
            let trainable = module.namedParameters.filter { $0.1.isTrainable }
            let parameters = trainable.reduce(0) { $0 + $1.1.count }
            let nonZeros = trainable.reduce(0) { $0 + $1.1.value.nonZeroCount() }
            let inputs = model.inputShapes(ofNode: i)
            let weightShape = module.namedParameters.first { $0.0 == "weight" }?.1.value.shape
            return LayerComplexity(
                name: module.name, kind: module.spec.kind,
                shape: weightShape ?? model.shapes[i], outputShape: model.shapes[i],
                parameters: parameters, nonZeros: nonZeros,
                sparsity: parameters == 0 ? 0 : 1 - Double(nonZeros) / Double(parameters),
                flops: 2 * module.multiplyAdds(for: inputs, nonZeroOnly: false),
                sparseFlops: 2 * module.multiplyAdds(for: inputs, nonZeroOnly: true),
                bytes: 4 * parameters)
        }
        let p = layers.reduce(0) { $0 + $1.parameters }
        let nz = layers.reduce(0) { $0 + $1.nonZeros }
        totals = Totals(parameters: p, nonZeros: nz, sparsity: p == 0 ? 0 : 1 - Double(nz) / Double(p),
                        flops: layers.reduce(0) { $0 + $1.flops }, sparseFlops: layers.reduce(0) { $0 + $1.sparseFlops },
                        bytes: 4 * p)
    }
}
