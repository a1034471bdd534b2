/// A problem reading or writing a file: names the file and what is wrong with it.
public struct FormatError: Error, CustomStringConvertible, Equatable {
    /// The file involved.
    public let path: String
    /// What is wrong, and what to do where that helps.
    public let problem: String

    /// Creates an error for `path`.
    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { "\(path): \(problem)" }
}
