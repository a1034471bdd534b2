import Yams

extension Recipe {
    /// Decodes and checks a recipe written in YAML (or JSON, which is YAML too). Unknown
    /// keys, wrong types, misspelled names and impossible values are reported with the
    /// field's path and its line in `source` before anything runs.
    /// - Parameters:
    ///   - text: the recipe's text.
    ///   - source: a name for messages, usually the file's path.
    /// - Throws: `PruningError.invalidField` (location `source:line`) for the first problem.
    public init(yaml text: String, source: String = "recipe") throws {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw PruningError.invalidField(field: "recipe", problem: "is empty", location: source)
            }
            root = node
        } catch let error as PruningError {
            throw error
        } catch {
            throw PruningError.invalidField(field: "recipe", problem: "is not valid YAML: \(error)", location: source)
        }
        try Self.checkKeys(root, Self.keys, source: source, prefix: "")
        do {
            self = try YAMLDecoder().decode(Recipe.self, from: text)
        } catch let error as DecodingError {
            let (codingPath, problem): ([CodingKey], String) = switch error {
            case let .typeMismatch(type, c): (c.codingPath, "expected \(type)")
            case let .valueNotFound(type, c): (c.codingPath, "missing a \(type) value")
            case let .keyNotFound(key, c): (c.codingPath + [key], "is required")
            case let .dataCorrupted(c): (c.codingPath, c.debugDescription)
            @unknown default: ([], "\(error)")
            }
            let keys = codingPath.map(\.stringValue)
            throw PruningError.invalidField(field: keys.isEmpty ? "recipe" : keys.joined(separator: "."), problem: problem,
                                            location: "\(source):\(Self.line(of: keys, in: root))")
        }
        if let first = problems().first, case let .invalidField(field, problem, _) = first {
            throw PruningError.invalidField(field: field, problem: problem,
                                            location: "\(source):\(Self.line(of: field.split(separator: ".").map(String.init), in: root))")
        }
    }

    /// Rejects keys the recipe format does not know, naming the path and line.
    static func checkKeys(_ node: Node, _ tree: KeyTree, source: String, prefix: String) throws {
        guard case let .map(allowed) = tree, let mapping = node.mapping else { return }
        for (key, value) in mapping {
            let name = key.string ?? "\(key)"
            let full = prefix.isEmpty ? name : "\(prefix).\(name)"
            guard let child = allowed[name] ?? allowed["*"] else {
                throw PruningError.invalidField(field: full, problem: "is not a known key; allowed here: \(allowed.keys.sorted().joined(separator: ", "))",
                                                location: "\(source):\(key.mark.map { "\($0.line)" } ?? "?")")
            }
            try checkKeys(value, child, source: source, prefix: full)
        }
    }

    /// The line of the deepest node found along `keys` (the document's first line when none).
    static func line(of keys: [String], in root: Node) -> Int {
        var node = root
        var line = root.mark?.line ?? 1
        for key in keys {
            guard let mapping = node.mapping, let (k, v) = mapping.first(where: { $0.key.string == key }) else { break }
            line = k.mark?.line ?? line
            node = v
        }
        return line
    }
}

extension Recipe {
    /// The recipe as YAML that `init(yaml:)` reads back to an equal recipe (fields left
    /// unset are left out).
    public func yaml() -> String {
        (try? YAMLEncoder().encode(self)) ?? "# the recipe could not be written as YAML"
    }
}
