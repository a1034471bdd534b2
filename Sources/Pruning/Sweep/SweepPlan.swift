import Yams

/// A grid of plans: a base recipe and, for some of its fields, lists of values. Every
/// combination of values is one job, a whole recipe of its own, so that any machine can run
/// any job with nothing but the job's text (`prune sweep plan` writes them, `prune sweep run`
/// runs a shard of them, `prune sweep merge` gathers the results in plan order).
///
/// ```yaml
/// base:                                   # a recipe, as `prune run` reads it
///   model: lenet300
///   prune: {threshold: {sparsity: 0.5}}
/// grid:                                   # dotted recipe paths, each with its values
///   prune.threshold.sparsity: [0.5, 0.7, 0.9]
///   prune.criterion: [magnitude, taylor]
///   seed: [1, 2, 3]
/// ```
///
/// Jobs come in the order of the grid's values, the last path varying fastest. A job's
/// id is a hash of its recipe's text: the same plan always gives the same ids, and a change
/// to the base or the grid gives new ones.
public struct SweepPlan: Sendable {
    /// One field of the grid and the values it takes.
    public struct Axis: Codable, Equatable, Sendable {
        /// The dotted recipe path (`prune.threshold.sparsity`).
        public var path: String
        /// The values as written (YAML), in order.
        public var values: [String]
    }

    /// One combination: a recipe of its own.
    public struct Job: Codable, Equatable, Sendable {
        /// The job's place in the plan (0-based).
        public var index: Int
        /// A hash of `recipe` (16 hexadecimal digits).
        public var id: String
        /// The value of each axis, in the grid's order.
        public var values: [String]
        /// Whether the recipe keeps checkpoints, so that an attempt resumes a killed one's.
        public var resumes: Bool
        /// The job's whole recipe (YAML), which `Recipe(yaml:)` reads once a store's
        /// `${store}` is resolved. Not in a plan's JSON: each job's file holds it.
        public var recipe: String

        enum CodingKeys: String, CodingKey { case index, id, values, resumes }

        public init(index: Int, id: String, values: [String], resumes: Bool, recipe: String) {
            self.index = index; self.id = id; self.values = values; self.resumes = resumes; self.recipe = recipe
        }

        /// Reads a job as a plan's JSON lists it, without its recipe.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            index = try c.decode(Int.self, forKey: .index)
            id = try c.decode(String.self, forKey: .id)
            values = try c.decode([String].self, forKey: .values)
            resumes = try c.decodeIfPresent(Bool.self, forKey: .resumes) ?? false
            recipe = ""
        }
    }

    /// The grid's fields, in order.
    public var axes: [Axis]
    /// Every combination, in plan order.
    public var jobs: [Job]
    /// A hash of every job's id, in order: results of another version of the plan are refused.
    public var version: String { Self.hash(jobs.map(\.id).joined(separator: "\n")) }

    /// Reads a sweep file and expands its grid, checking every job's recipe.
    /// - Parameters:
    ///   - text: the sweep (YAML or JSON) with `base` and `grid`.
    ///   - source: a name for messages, usually the file's path.
    ///   - store: when given, names the files and folders the recipes name (model, data,
    ///     calibration, teacher) by content: given a path, its entry in a content store
    ///     (`sha256/HEX/NAME`, `FileFormats.ContentStore.addIfPresent`), or nil when nothing is
    ///     there; the recipe then reads `${store}/sha256/HEX/NAME`.
    ///   - output: where each job's model goes when the base recipe saves one, given the job's
    ///     id (nil: jobs save nothing, whatever the base says); usually under `${sweep}`.
    /// - Throws: `PruningError.invalidField` naming the key and line, or, for a combination
    ///   that makes a bad recipe, the job's values and the recipe's problem.
    public init(yaml text: String, source: String = "sweep", store: ((String) throws -> String?)? = nil,
                output: ((String) -> String)? = nil) throws {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw Self.problem("sweep", "is empty", source) }
            root = node
        } catch let error as PruningError {
            throw error
        } catch {
            throw Self.problem("sweep", "is not valid YAML: \(error)", source)
        }
        guard let mapping = root.mapping else { throw Self.problem("sweep", "must be a mapping with base and grid", source, root) }
        for (key, value) in mapping where !["base", "grid"].contains(key.string ?? "") {
            throw Self.problem(key.string ?? "\(key)", "is not a known key; allowed here: base, grid", source, value)
        }
        guard var base = mapping["base"], base.mapping != nil else {
            throw Self.problem("base", "is required: a recipe (a mapping)", source, mapping["base"] ?? root)
        }
        guard let grid = mapping["grid"]?.mapping, !grid.isEmpty else {
            throw Self.problem("grid", "is required: recipe paths, each with a list of values", source, mapping["grid"] ?? root)
        }
        // Each job's output (and so its checkpoint) is its own: the sweep sets it.
        base = Self.removing("output", from: base)
        if let path = base.mapping?["checkpoint"]?.mapping?["path"] {
            throw Self.problem("base.checkpoint.path", "cannot be shared by the jobs: leave it out (a job's checkpoint goes beside its output)", source, path)
        }

        var axes: [(path: [String], values: [Node])] = []
        for (key, value) in grid {
            let path = key.string ?? "\(key)"
            guard let values = value.sequence, !values.isEmpty else {
                throw Self.problem("grid.\(path)", "must be a list of one or more values", source, value)
            }
            let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !parts.contains(where: \.isEmpty) else { throw Self.problem("grid.\(path)", "is not a dotted recipe path", source, key) }
            guard !["output", "checkpoint"].contains(parts[0]) else {
                throw Self.problem("grid.\(path)", "cannot vary: each job's \(parts[0]) is set by the sweep", source, key)
            }
            guard !axes.contains(where: { $0.path == parts }) else { throw Self.problem("grid.\(path)", "is given twice", source, key) }
            axes.append((parts, Array(values)))
        }
        self.axes = axes.map { Axis(path: $0.path.joined(separator: "."), values: $0.values.map(Self.text)) }

        var jobs: [Job] = []
        var stored: [String: String?] = [:]
        let count = axes.reduce(1) { $0 * $1.values.count }
        for index in 0..<count {
            var node = base
            var rest = index, chosen: [Node] = []
            for axis in axes.reversed() {
                chosen.insert(axis.values[rest % axis.values.count], at: 0)
                rest /= axis.values.count
            }
            for (axis, value) in zip(axes, chosen) {
                node = try Self.setting(axis.path, to: value, in: node, source: source)
            }
            if let store { node = try Self.storing(node, in: store, known: &stored, source: source) }
            let values = chosen.map(Self.text)
            let described = zip(self.axes, values).map { "\($0.path)=\($1)" }.joined(separator: ", ")
            var recipeText = try Yams.serialize(node: node, sortKeys: true)
            let id = Self.hash(recipeText)
            if let output {
                node = try Self.setting(["output"], to: Node(output(id)), in: node, source: source)
                recipeText = try Yams.serialize(node: node, sortKeys: true)
            }
            let recipe: Recipe
            do {
                recipe = try Recipe(yaml: Self.resolve(recipeText, folder: "sweep", store: "store"), source: source)
            } catch let PruningError.invalidField(field, problem, _) {
                throw PruningError.invalidField(field: field, problem: "\(problem) (in job \(index): \(described))", location: source)
            }
            jobs.append(Job(index: index, id: id, values: values, resumes: recipe.checkpoint != nil, recipe: recipeText))
        }
        let ids = Set(jobs.map(\.id))
        if ids.count < jobs.count {
            throw Self.problem("grid", "gives the same recipe twice (a value repeated?)", source, mapping["grid"]!)
        }
        self.jobs = jobs
    }

    /// What a job's recipe writes for the sweep's folder (its output and checkpoint are there),
    /// so that the folder can be anywhere on the machine that runs the job.
    public static let folderPlaceholder = "${sweep}"

    /// What a job's recipe writes for the content store's folder.
    public static let storePlaceholder = "${store}"

    /// The recipe fields that name files or folders, as dotted paths.
    public static let fileFields: [[String]] = [
        ["model"], ["data"], ["prune", "calibration", "file"], ["train", "distill", "teacher"], ["fine_tune", "distill", "teacher"],
    ]

    /// A job's recipe as a machine runs it: `${sweep}` and `${store}` replaced, inside its
    /// values, by where the sweep's folder and the content store are on it.
    public static func resolve(_ recipe: String, folder: String, store: String?) -> String {
        let text = replacing(folderPlaceholder, with: folder, inValuesOf: recipe)
        return store.map { replacing(storePlaceholder, with: $0, inValuesOf: text) } ?? text
    }

    /// The content-store entries a recipe names (`sha256/HEX/NAME` of each `${store}/…` value).
    public static func storeEntries(in recipe: String) -> [String] {
        values(of: recipe).compactMap { value in
            value.hasPrefix(storePlaceholder + "/") ? String(value.dropFirst(storePlaceholder.count + 1)) : nil
        }
    }

    /// `yaml` with `placeholder` replaced by `value` inside its scalars, written again as YAML
    /// (so a path with `#`, `: ` or quotes stays one value); `yaml` unchanged when it has none.
    static func replacing(_ placeholder: String, with value: String, inValuesOf yaml: String) -> String {
        guard yaml.contains(placeholder), let node = try? Yams.compose(yaml: yaml) else { return yaml }
        func walk(_ node: Node) -> Node {
            switch node {
            case let .scalar(scalar) where scalar.string.contains(placeholder):
                return Node(scalar.string.replacing(placeholder, with: value))
            case let .mapping(mapping):
                return .mapping(Node.Mapping(mapping.map { ($0.key, walk($0.value)) }))
            case let .sequence(sequence):
                return .sequence(Node.Sequence(sequence.map(walk)))
            default:
                return node
            }
        }
        return (try? Yams.serialize(node: walk(node), sortKeys: true)) ?? yaml
    }

    /// Every scalar value of a recipe (YAML), at any depth.
    static func values(of yaml: String) -> [String] {
        guard let node = try? Yams.compose(yaml: yaml) else { return [] }
        func walk(_ node: Node) -> [String] {
            if let scalar = node.scalar { return [scalar.string] }
            if let mapping = node.mapping { return mapping.flatMap { walk($0.value) } }
            if let sequence = node.sequence { return sequence.flatMap(walk) }
            return []
        }
        return walk(node)
    }

    /// The jobs of shard `shard` of `count` (0-based): every `count`-th job from the
    /// `shard`-th, so that shards of a grid get a like mix of cheap and costly jobs.
    public func jobs(shard: Int, of count: Int) -> [Job] {
        jobs.filter { $0.index % count == shard }
    }

    // MARK: Helpers

    /// 64-bit FNV-1a of the UTF-8 bytes, as 16 hexadecimal digits: an identifier, not a
    /// defence against anyone crafting collisions.
    static func hash(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let digits = String(h, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// A value as written: a scalar's text, or a collection in YAML's flow style.
    static func text(_ node: Node) -> String {
        if let scalar = node.scalar { return scalar.string }
        if let sequence = node.sequence { return "[" + sequence.map(text).joined(separator: ", ") + "]" }
        if let mapping = node.mapping { return "{" + mapping.map { "\(text($0.key)): \(text($0.value))" }.joined(separator: ", ") + "}" }
        return "\(node)"
    }

    /// `node` with `path` set to `value`, mappings made on the way where missing.
    static func setting(_ path: [String], to value: Node, in node: Node, source: String, whole: [String]? = nil) throws -> Node {
        guard let first = path.first else { return value }
        guard var mapping = node.mapping else {
            throw problem((whole ?? path).joined(separator: "."), "cannot be set: the base recipe has a value that is not a mapping on its way", source, node)
        }
        let child = mapping[first] ?? Node.mapping(Node.Mapping([]))
        mapping[first] = try setting(Array(path.dropFirst()), to: value, in: child, source: source, whole: whole ?? path)
        return .mapping(mapping)
    }

    /// `node` with each file field that names a file or folder named by content instead, as
    /// `store` names it (`known`: paths already asked about, with their entries).
    static func storing(_ node: Node, in store: (String) throws -> String?, known: inout [String: String?], source: String) throws -> Node {
        var node = node
        for field in fileFields {
            guard let path = value(at: field, in: node), !path.hasPrefix(storePlaceholder) else { continue }
            let entry: String?
            if let seen = known[path] {
                entry = seen
            } else {
                entry = try store(path)
                known[path] = entry
            }
            guard let entry else { continue }
            node = try setting(field, to: Node("\(storePlaceholder)/\(entry)"), in: node, source: source)
        }
        return node
    }

    /// The scalar at `path` in `node`, if any.
    static func value(at path: [String], in node: Node) -> String? {
        var node = node
        for key in path {
            guard let child = node.mapping?[key] else { return nil }
            node = child
        }
        return node.scalar?.string
    }

    /// `node` (a mapping) without `key`.
    static func removing(_ key: String, from node: Node) -> Node {
        guard let mapping = node.mapping else { return node }
        return .mapping(Node.Mapping(mapping.filter { $0.key.string != key }.map { ($0.key, $0.value) }))
    }

    static func problem(_ field: String, _ problem: String, _ source: String, _ node: Node? = nil) -> PruningError {
        .invalidField(field: field, problem: problem, location: "\(source):\(node?.mark.map { "\($0.line)" } ?? "1")")
    }
}
