import Foundation

/// Any JSON value, kept as read (for results whose fields the sweep commands only pass on).
indirect enum JSONValue: Codable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n): try c.encode(n)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    var number: Double? {
        if case let .number(n) = self { return n }
        return nil
    }

    /// The value without the keys in `keys`, at any depth (times, paths).
    func removing(_ keys: Set<String>) -> JSONValue {
        switch self {
        case let .object(o):
            return .object(o.filter { !keys.contains($0.key) }.mapValues { $0.removing(keys) })
        case let .array(a):
            return .array(a.map { $0.removing(keys) })
        default:
            return self
        }
    }
}
