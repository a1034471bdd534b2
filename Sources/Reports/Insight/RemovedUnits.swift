import NeuralNetwork
import TensorCore

/// Per layer with a weight, how many of its output units (dense neurons, convolution
/// filters) are wholly cut: every weight of the unit zero.
public struct RemovedUnits: Codable, Equatable, Sendable {
    /// One layer's count.
    public struct Layer: Codable, Equatable, Sendable {
        /// The layer's name.
        public var name: String
        /// `"neuron"` (dense rows) or `"filter"` (convolution output channels).
        public var unit: String
        /// Its units, and those wholly cut.
        public var units: Int, removed: Int
    }
    /// The layers, in model order.
    public var layers: [Layer]

    /// Counts the cut units of every `Dense` and `Conv2D` of `model` (inference-only sparse
    /// layers count as the dense ones they store), in node order.
    ///
    /// A neuron is a row of a dense weight `[out, in]`; a filter is one output channel's
    /// `[in/groups, kh, kw]` block of a convolution's weight. Biases do not count: a unit whose
    /// weights are all zero no longer looks at its input, whatever its bias.
    /// - Complexity: O(weights).
    public init(_ model: Graph) {
        layers = model.nodes.compactMap { node in
            if let dense = denseLayer(node.module) {
                return Self.count(node.module.name, "neuron", dense.weight.value)
            }
            if let conv = convolutionLayer(node.module) {
                return Self.count(node.module.name, "filter", conv.weight.value)
            }
            return nil
        }
    }

    private static func count(_ name: String, _ unit: String, _ weight: Tensor) -> Layer {
        let units = weight.shape.first ?? 0
        let removed = nonZerosPerUnit(weight.scalars, units: units).filter { $0 == 0 }.count
        return Layer(name: name, unit: unit, units: units, removed: removed)
    }
}
