/// An option named by a string in recipes and on the command line. Decoding an unknown
/// name is an error that lists the valid ones, never a fallback to a default.
public protocol NamedChoice: RawRepresentable, CaseIterable, Codable where RawValue == String {}

extension NamedChoice {
    /// The valid names, for messages: `"a, b or c"`.
    public static var validNames: String { listing(allCases.map(\.rawValue)) }

    /// Decodes a name, or throws a `DecodingError.dataCorrupted` that lists the valid names.
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let value = Self(rawValue: name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(name)' is not one of \(Self.validNames)")
        }
        self = value
    }
}

/// `["a", "b", "c"]` as `"a, b or c"`, for messages.
public func listing(_ names: [String]) -> String {
    names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
}

