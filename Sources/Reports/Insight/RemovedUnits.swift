import NeuralNetwork

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

    /// Counts the cut units of every `Dense` and `Conv2D` of `model`.
    public init(_ model: Graph) { layers = [] }   // TODO(insight helper)
}
