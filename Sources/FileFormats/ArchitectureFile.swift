import Foundation
import NeuralNetwork

/// Architecture files: a model's structure as JSON, the `GraphSpec` Prune stores in model
/// files (`prune.architecture`), written by hand for `--model SPEC.json` or a recipe's
/// `model:`. docs/FORMATS.md documents the fields with a full example.
///
/// ```json
/// {"inputShape": [784],
///  "nodes": [{"name": "fc1", "layer": {"kind": "dense", "inFeatures": 784, "outFeatures": 10}, "inputs": ["input"]}]}
/// ```
public enum ArchitectureFile {
    /// The largest file read (a spec of thousands of nodes is a few hundred KB).
    static let maximumSize = 16 << 20
    /// The most nodes a spec may have.
    public static let maximumNodes = 10_000
    /// The deepest nesting of JSON arrays and objects accepted (a spec needs 4).
    static let maximumDepth = 32

    /// Reads and checks the architecture file at `path`.
    /// - Throws: `FormatError` naming the file and the field (`nodes[2] 'conv1'.layer.kind`)
    ///   or layer that is wrong: not JSON, a missing or mistyped field, an unknown layer
    ///   kind or field, a node that reads an unknown node, sizes that do not fit.
    public static func read(_ path: String) throws -> GraphSpec {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        if let size = attributes[.size] as? Int, size > maximumSize {
            throw FormatError(path: path, .invalidArchitecture(field: nil, problem: "the file is \(size) bytes; an architecture file is at most \(maximumSize)"))
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, .unreadable) }
        return try decode(data, path: path)
    }

    /// Decodes and checks architecture JSON; `path` names the source in errors. The spec is
    /// built once (and dropped) so that every layer's sizes are known to fit.
    /// - Throws: `FormatError` as `read(_:)`.
    public static func decode(_ data: Data, path: String) throws -> GraphSpec {
        func fail(_ field: String?, _ problem: String) -> FormatError { FormatError(path: path, .invalidArchitecture(field: field, problem: problem)) }
        guard data.count <= maximumSize else { throw fail(nil, "\(data.count) bytes is more than an architecture file may have (\(maximumSize))") }
        guard nestingDepth(data) <= maximumDepth else { throw fail(nil, "JSON nested deeper than \(maximumDepth) levels") }
        guard let object = try? JSONSerialization.jsonObject(with: data), let top = object as? [String: Any] else {
            throw fail(nil, "not a JSON object; see docs/FORMATS.md for the format")
        }
        try checkFields(top, path: path)
        let spec: GraphSpec
        do {
            spec = try JSONDecoder().decode(GraphSpec.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, in: top, path: path)
        }
        guard spec.inputShape.count >= 1, spec.inputShape.count <= 3, spec.inputShape.allSatisfy({ (1...(1 << 20)).contains($0) }) else {
            throw fail("inputShape", "must be 1 to 3 sizes, each between 1 and \(1 << 20) ([features] or [channels, height, width]), got \(spec.inputShape)")
        }
        guard !spec.nodes.isEmpty else { throw fail("nodes", "must list at least one node") }
        guard spec.nodes.count <= maximumNodes else { throw fail("nodes", "has \(spec.nodes.count) nodes, more than \(maximumNodes)") }
        do {
            _ = try spec.makeGraph()
        } catch {
            throw fail(nil, "\(error)")
        }
        return spec
    }

    /// Unknown keys are typos (`kernel_size` for `kernelSize`), which decoding alone would
    /// ignore: name them with the field list.
    static func checkFields(_ top: [String: Any], path: String) throws {
        func refuse(_ field: String, _ key: String, _ known: [String]) -> FormatError {
            FormatError(path: path, .invalidArchitecture(field: field, problem: "unknown field '\(key)'; the fields are \(known.joined(separator: ", "))"))
        }
        let topKeys = ["inputShape", "nodes"], nodeKeys = ["name", "layer", "inputs"]
        // LayerSpec's coding keys are its property names: read them from the type, so new fields count.
        let layerKeys = Mirror(reflecting: LayerSpec(kind: .dense)).children.compactMap(\.label)
        if let key = top.keys.sorted().first(where: { !topKeys.contains($0) }) { throw refuse(key, key, topKeys) }
        for (i, node) in ((top["nodes"] as? [Any]) ?? []).enumerated() {
            guard let node = node as? [String: Any] else { continue }
            let place = "nodes[\(i)]" + ((node["name"] as? String).map { " '\($0)'" } ?? "")
            if let key = node.keys.sorted().first(where: { !nodeKeys.contains($0) }) { throw refuse("\(place).\(key)", key, nodeKeys) }
            if let layer = node["layer"] as? [String: Any], let key = layer.keys.sorted().first(where: { !layerKeys.contains($0) }) {
                throw refuse("\(place).layer.\(key)", key, layerKeys)
            }
        }
    }

    /// A decoding error as the field it is about (`nodes[2] 'conv1'.layer.kind`) and what is wrong.
    static func describe(_ error: DecodingError, in top: [String: Any], path: String) -> FormatError {
        func field(_ keys: [CodingKey]) -> String {
            var text = "", nodes: [Any]? = nil
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                    if let node = nodes?[safe: index] as? [String: Any], let name = node["name"] as? String { text += " '\(name)'" }
                    nodes = nil
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                    if key.stringValue == "nodes", text == "nodes" { nodes = top["nodes"] as? [Any] }
                }
            }
            return text.isEmpty ? "(top level)" : text
        }
        let kinds = LayerKind.allCases.map(\.rawValue).joined(separator: ", ")
        let (place, problem): (String, String)
        switch error {
        case let .keyNotFound(key, context):
            (place, problem) = (field(context.codingPath + [key]), "is missing")
        case let .typeMismatch(type, context):
            (place, problem) = (field(context.codingPath), "must be \(type == String.self ? "a string" : type == [Any].self ? "a list" : type == Bool.self ? "true or false" : "a \(type)")")
        case let .valueNotFound(_, context):
            (place, problem) = (field(context.codingPath), "must not be null")
        case let .dataCorrupted(context):
            let isKind = context.codingPath.last?.stringValue == "kind"
            (place, problem) = (field(context.codingPath), isKind ? "is not a layer kind; use one of \(kinds)" : context.debugDescription)
        @unknown default:
            (place, problem) = ("(unknown)", "\(error)")
        }
        return FormatError(path: path, .invalidArchitecture(field: place, problem: problem))
    }

    /// The deepest nesting of arrays and objects in JSON `data` (outside strings), counted
    /// without parsing, so hostile nesting is refused before a recursive parser sees it.
    static func nestingDepth(_ data: Data) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in data {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}

extension Array {
    /// The element at `index`, or nil when it is out of range.
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
