import NeuralNetwork





extension Granularity: Codable {
    /// The valid spellings, for messages.
    public static let validNames = "weight, neuron, filter (or channel), head or N:M with 0 ≤ N ≤ M (e.g. 2:4)"

    /// Decodes `weight`, `neuron`, `filter`, `channel`, `head` or `N:M`; anything else is an error
    /// listing the valid spellings.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Granularity(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not one of \(Self.validNames)")
        }
        self = value
    }

    /// Encodes the spelling `description` gives.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
