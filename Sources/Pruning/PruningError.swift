/// A plan that cannot be carried out, with the place that is wrong: a plan field, a
/// parameter, a dependency group or a criterion.
public enum PruningError: Error, CustomStringConvertible, Equatable {
    /// A plan field (`prune.threshold.sparsity`) holds a value that cannot be used.
    /// `location` is where it was read (`recipe.yaml:7`), when it came from a file.
    case invalidField(field: String, problem: String, location: String?)
    /// Several fields at once (a whole recipe checked before running), in file order.
    case invalidFields([PruningError])
    /// The parameter patterns select nothing in the model.
    case noParameterMatches(patterns: [String], excluding: [String], available: [String])
    /// No prunable dependency group matches a structured cut.
    case noGroupMatches(unit: String, patterns: [String], excluding: [String], groups: [String])
    /// A parameter cannot be pruned (or rewound) as asked.
    case parameter(path: String, problem: String)
    /// A dependency group's scores cannot be used.
    case group(name: String, problem: String)
    /// A criterion gave unusable scores or cannot be computed here.
    case criterion(name: String, problem: String)

    /// Creates an `invalidField` error with no location.
    public static func field(_ field: String, _ problem: String) -> PruningError {
        .invalidField(field: field, problem: problem, location: nil)
    }

    /// The plan field this error is about, when it is about one.
    public var field: String? {
        if case let .invalidField(field, _, _) = self { return field }
        return nil
    }

    public var description: String {
        switch self {
        case let .invalidField(field, problem, location):
            return (location.map { "\($0): " } ?? "") + "\(field) \(problem)"
        case let .invalidFields(errors):
            return errors.map(\.description).joined(separator: "\n")
        case let .noParameterMatches(patterns, excluding, available):
            return "parameters \(patterns)\(excluding.isEmpty ? "" : " (excluding \(excluding))") match no prunable parameter; the model has \(available)"
        case let .noGroupMatches(unit, patterns, excluding, groups):
            return "no prunable group of \(unit) matches \(patterns)\(excluding.isEmpty ? "" : " excluding \(excluding)"); the model's groups: "
                + groups.joined(separator: " | ")
        case let .parameter(path, problem):
            return "'\(path)': \(problem)"
        case let .group(name, problem):
            return "group '\(name)': \(problem)"
        case let .criterion(name, problem):
            return "criterion \(name): \(problem)"
        }
    }
}
