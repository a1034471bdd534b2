import Foundation

extension BertTokenizer {
    /// Reads a tokenizer from a model folder as sentence-transformers saves it: `vocab.txt`,
    /// and when present `tokenizer_config.json` and `sentence_bert_config.json`.
    ///
    /// From `tokenizer_config.json`: `do_lower_case` (default true), `strip_accents` (true,
    /// false, or null to follow `do_lower_case`) and `tokenize_chinese_chars` (default true).
    /// From `sentence_bert_config.json`: `max_seq_length` (default 256) and `do_lower_case`,
    /// which when true lowercases as well, scalar by scalar (sentence-transformers lowercases
    /// with Python's `str.lower`, which differs only in writing a word-final capital sigma as ς).
    ///
    /// - Throws: `FormatError` naming the file: `vocab.txt` missing or invalid (see
    ///   `WordPieceVocabulary.decode(_:path:)`), a special token missing, a configuration that
    ///   is not JSON or has a value of the wrong type, or `max_seq_length` below 2.
    public init(folder: String) throws {
        let vocabulary = try WordPieceVocabulary.read((folder as NSString).appendingPathComponent("vocab.txt"))
        var options = Options()
        let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        if let config = try Self.config(TokenizerConfig.self, at: tokenizerPath) {
            options.lowercase = config.doLowerCase ?? true
            options.stripAccents = config.stripAccents
            options.handleChineseCharacters = config.tokenizeChineseChars ?? true
        }
        let sentencePath = (folder as NSString).appendingPathComponent("sentence_bert_config.json")
        if let config = try Self.config(SentenceConfig.self, at: sentencePath) {
            if let length = config.maxSeqLength {
                guard length >= 2 else {
                    throw FormatError(path: sentencePath, .invalidMetadata(key: "max_seq_length",
                        expected: "an integer of at least 2 ([CLS] and [SEP] take two tokens)", detail: "it is \(length)"))
                }
                options.maxLength = length
            }
            if config.doLowerCase == true {
                options.stripAccents = options.stripAccents ?? options.lowercase   // the tokenizer's own choice stands
                options.lowercase = true
            }
        }
        try self.init(vocabulary: vocabulary, options: options)
    }

    /// The settings of `tokenizer_config.json` the tokenizer follows.
    private struct TokenizerConfig: Decodable {
        var doLowerCase: Bool?
        var stripAccents: Bool?
        var tokenizeChineseChars: Bool?

        enum CodingKeys: String, CodingKey {
            case doLowerCase = "do_lower_case", stripAccents = "strip_accents", tokenizeChineseChars = "tokenize_chinese_chars"
        }
    }

    /// The settings of `sentence_bert_config.json` the tokenizer follows.
    private struct SentenceConfig: Decodable {
        var maxSeqLength: Int?
        var doLowerCase: Bool?

        enum CodingKeys: String, CodingKey {
            case maxSeqLength = "max_seq_length", doLowerCase = "do_lower_case"
        }
    }

    /// Decodes the JSON file at `path`, or returns nil when there is none.
    private static func config<Config: Decodable>(_ type: Config.Type, at path: String) throws -> Config? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(path: path, .unreadable) }
        do {
            return try JSONDecoder().decode(Config.self, from: data)
        } catch let error as DecodingError {
            let codingPath: [CodingKey]
            switch error {
            case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context): codingPath = context.codingPath
            case let .keyNotFound(_, context): codingPath = context.codingPath
            @unknown default: codingPath = []
            }
            guard let key = codingPath.last?.stringValue else {
                throw FormatError(path: path, .corrupt(what: "not a JSON object"))
            }
            let expected = key == "max_seq_length" ? "an integer" : "true, false" + (key == "strip_accents" ? " or null" : "")
            throw FormatError(path: path, .invalidMetadata(key: key, expected: expected, detail: nil))
        } catch {
            throw FormatError(path: path, .corrupt(what: "not a JSON object (\(error))"))
        }
    }
}
