import Foundation

/// A WordPiece vocabulary, as BERT's `vocab.txt` stores it: one token a line, its id the
/// line's index (0-based), pieces that continue a word written with a `##` prefix.
///
/// Tokens are compared by their UTF-8 bytes, never as `String`s (whose `==` is canonical
/// equivalence, so "é" and "e\u{301}" would be one token). Lookups walk a byte trie, which
/// also gives WordPiece's longest-match-first search in one pass.
///
/// ```swift
/// let vocabulary = try WordPieceVocabulary.read("all-MiniLM-L6-v2/vocab.txt")
/// vocabulary.id(of: "hello")   // 7592
/// vocabulary.token(for: 102)    // "[SEP]"
/// ```
public struct WordPieceVocabulary: Sendable {
    /// The ids of the tokens BERT adds around and between texts.
    public struct SpecialTokens: Equatable, Sendable {
        /// `[CLS]`, which starts every encoded text.
        public var classifier: Int32
        /// `[SEP]`, which ends every encoded text.
        public var separator: Int32
        /// `[PAD]`, which fills a batch's shorter rows.
        public var padding: Int32
        /// `[UNK]`, which stands for a word the vocabulary cannot spell.
        public var unknown: Int32
        /// `[MASK]`, if the vocabulary has it (masked-language-model training).
        public var mask: Int32?

        /// Special token ids as given.
        public init(classifier: Int32, separator: Int32, padding: Int32, unknown: Int32, mask: Int32?) {
            self.classifier = classifier
            self.separator = separator
            self.padding = padding
            self.unknown = unknown
            self.mask = mask
        }
    }

    /// The tokens, by id.
    public let tokens: [String]
    /// Where the tokens came from (a file's path), for messages.
    public let path: String
    /// The tokens' UTF-8 bytes, as a trie whose nodes carry the ids.
    let trie: ByteTrie
    /// The trie node reached by `##`, where continuation pieces are looked up (nil when no
    /// token starts with `##`).
    let continuation: Int32?

    /// The number of tokens (ids run from 0 to `count - 1`).
    public var count: Int { tokens.count }

    /// Makes a vocabulary of `tokens`, token `i` having id `i`.
    /// - Parameter path: names the source in errors.
    /// - Throws: `FormatError.Kind.invalidVocabulary` for an empty token (naming its 1-based
    ///   entry as the line), a token given twice (naming both), or no tokens at all.
    /// - Complexity: O(total bytes of the tokens).
    public init(tokens: [String], path: String = "<tokens>") throws {
        guard !tokens.isEmpty else { throw FormatError(path: path, .invalidVocabulary(line: nil, problem: "the vocabulary has no tokens")) }
        guard tokens.count <= Int(Int32.max) else {
            throw FormatError(path: path, .invalidVocabulary(line: nil, problem: "\(tokens.count) tokens are more than 32-bit ids can number"))
        }
        if let empty = tokens.firstIndex(where: \.isEmpty) {
            throw FormatError(path: path, .invalidVocabulary(line: empty + 1, problem:
                "the line is empty; every line holds one token and its id is the line's index, so remove the line or put the token back"))
        }
        do {
            trie = try ByteTrie(keys: tokens)
        } catch {
            throw FormatError(path: path, .invalidVocabulary(line: error.again + 1, problem:
                "'\(tokens[error.again])' repeats the token of line \(error.first + 1); every token must appear once"))
        }
        self.tokens = tokens
        self.path = path
        self.continuation = trie.node(after: "##".utf8)
    }

    /// Reads a `vocab.txt`.
    /// - Throws: `FormatError` naming the file: missing, unreadable, or as `decode(_:path:)`.
    public static func read(_ path: String) throws -> WordPieceVocabulary {
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError(path: path, .missingFile) }
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, .unreadable) }
        return try decode(data, path: path)
    }

    /// Parses the bytes of a `vocab.txt`; `path` names the source in errors.
    ///
    /// Lines end with LF or CRLF; the last line needs no line break. As in Hugging Face's
    /// reader, trailing whitespace is not part of a token.
    /// - Throws: `FormatError.Kind.invalidVocabulary` naming the line (1-based) of the first
    ///   line that is not UTF-8, is empty (or only whitespace), or repeats an earlier token.
    /// - Complexity: O(bytes).
    public static func decode(_ data: Data, path: String) throws -> WordPieceVocabulary {
        var tokens: [String] = []
        var lines = [UInt8](data).split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }   // the final line break ends the last line
        for (index, line) in lines.enumerated() {
            guard let text = String(validating: line, as: UTF8.self) else {
                throw FormatError(path: path, .invalidVocabulary(line: index + 1, problem: "the line is not UTF-8 text"))
            }
            var scalars = text.unicodeScalars
            while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
            tokens.append(String(scalars))
        }
        return try WordPieceVocabulary(tokens: tokens, path: path)
    }

    /// The id of `token`, compared byte for byte, or nil when the vocabulary lacks it.
    /// - Complexity: O(bytes of `token`).
    public func id(of token: String) -> Int32? {
        trie.node(after: token.utf8).flatMap { trie.id(at: $0) }
    }

    /// The token with `id`, or nil when `id` is outside `0..<count`.
    public func token(for id: Int32) -> String? {
        tokens.indices.contains(Int(id)) ? tokens[Int(id)] : nil
    }

    /// The ids of `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]` and (if present) `[MASK]`.
    /// - Throws: `FormatError.Kind.invalidVocabulary` naming the first of the four required
    ///   tokens the vocabulary lacks.
    public func specialTokens() throws -> SpecialTokens {
        func required(_ token: String) throws -> Int32 {
            guard let id = id(of: token) else {
                throw FormatError(path: path, .invalidVocabulary(line: nil, problem:
                    "the vocabulary has no '\(token)' token; BERT needs [CLS], [SEP], [PAD] and [UNK] (is this a WordPiece vocab.txt?)"))
            }
            return id
        }
        return SpecialTokens(classifier: try required("[CLS]"), separator: try required("[SEP]"), padding: try required("[PAD]"),
                             unknown: try required("[UNK]"), mask: id(of: "[MASK]"))
    }

    /// Appends the WordPiece ids of one normalized word, given as UTF-8 bytes, to `ids`:
    /// greedy longest-match-first, pieces after the first looked up with the `##` prefix.
    ///
    /// - Returns: false, with `ids` unchanged, when some position of the word starts no
    ///   token (the caller then writes `[UNK]` for the whole word, as BERT does).
    /// - Complexity: O(n · m) for a word of n bytes whose pieces are at most m bytes long.
    func appendPieces(of word: [UInt8], to ids: inout [Int32]) -> Bool {
        let mark = ids.count
        var start = 0
        while start < word.count {
            let from = start == 0 ? ByteTrie.root : continuation
            guard let from, let (id, end) = trie.longestMatch(in: word, from: start, startingAt: from) else {
                ids.removeSubrange(mark...)
                return false
            }
            ids.append(id)
            start = end
        }
        return true
    }
}

/// A trie over byte strings whose nodes may carry an id, laid out flat: the edges of each
/// node are contiguous and sorted by byte.
///
/// The flat layout replaced a dictionary keyed by (node, byte), whose hashing took a third
/// of the time: 1,000 fortunes (210 characters, 52 tokens on average) took 16.5 ms to
/// encode with it and take 10 ms now (with `BertTokenizer` decoding each text once).
struct ByteTrie: Sendable {
    /// Two keys that are the same bytes: the indices of the first and of the repeat.
    struct Repeat: Error {
        var first: Int
        var again: Int
    }

    /// The node of the empty string.
    static let root: Int32 = 0
    /// The first edge of each node in `edgeBytes` and `edgeTargets`, and one past the last
    /// node's last edge.
    private let edgeStart: [Int32]
    /// The byte of each edge.
    private let edgeBytes: [UInt8]
    /// The node each edge leads to.
    private let edgeTargets: [Int32]
    /// The id that ends at each node, or -1.
    private let ids: [Int32]

    /// Builds the trie of the UTF-8 bytes of `keys`, key `i` with id `i`.
    /// - Throws: `Repeat` for the first key that repeats an earlier one.
    init(keys: [String]) throws(Repeat) {
        var children: [[(byte: UInt8, node: Int32)]] = [[]]
        var ids: [Int32] = [-1]
        for (index, key) in keys.enumerated() {
            var node = 0
            for byte in key.utf8 {
                if let child = children[node].first(where: { $0.byte == byte }) {
                    node = Int(child.node)
                } else {
                    children[node].append((byte, Int32(ids.count)))
                    node = ids.count
                    children.append([])
                    ids.append(-1)
                }
            }
            guard ids[node] < 0 else { throw Repeat(first: Int(ids[node]), again: index) }
            ids[node] = Int32(index)
        }
        var edgeStart: [Int32] = [0], edgeBytes: [UInt8] = [], edgeTargets: [Int32] = []
        for edges in children {
            for edge in edges.sorted(by: { $0.byte < $1.byte }) {
                edgeBytes.append(edge.byte)
                edgeTargets.append(edge.node)
            }
            edgeStart.append(Int32(edgeBytes.count))
        }
        self.edgeStart = edgeStart
        self.edgeBytes = edgeBytes
        self.edgeTargets = edgeTargets
        self.ids = ids
    }

    /// The child of `node` along `byte`, if any.
    @inline(__always)
    private func child(of node: Int32, _ byte: UInt8) -> Int32? {
        var low = Int(edgeStart[Int(node)]), high = Int(edgeStart[Int(node) + 1])
        while high - low > 8 {   // binary search down to a short run, then scan
            let middle = (low + high) / 2
            if edgeBytes[middle] == byte { return edgeTargets[middle] }
            if edgeBytes[middle] < byte { low = middle + 1 } else { high = middle }
        }
        for edge in low..<high where edgeBytes[edge] == byte { return edgeTargets[edge] }
        return nil
    }

    /// The node reached from the root along `bytes`, or nil when no key starts so.
    func node(after bytes: some Sequence<UInt8>) -> Int32? {
        var node = Self.root
        for byte in bytes {
            guard let next = child(of: node, byte) else { return nil }
            node = next
        }
        return node
    }

    /// The id ending at `node`, if any.
    func id(at node: Int32) -> Int32? {
        let id = ids[Int(node)]
        return id >= 0 ? id : nil
    }

    /// The longest key that, appended to `node`'s string, matches `bytes` from `start` on,
    /// consuming at least one byte: its id and where it ends in `bytes`.
    func longestMatch(in bytes: [UInt8], from start: Int, startingAt node: Int32) -> (id: Int32, end: Int)? {
        var node = node
        var best: (id: Int32, end: Int)?
        var i = start
        while i < bytes.count, let next = child(of: node, bytes[i]) {
            node = next
            i += 1
            let id = ids[Int(node)]
            if id >= 0 { best = (id, i) }
        }
        return best
    }
}
