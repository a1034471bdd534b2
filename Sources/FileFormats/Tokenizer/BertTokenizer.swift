import Foundation

/// BERT's WordPiece tokenizer: text to token ids, exactly as Hugging Face's `tokenizers`
/// encodes it for BERT models such as sentence-transformers' all-MiniLM-L6-v2.
///
/// The steps, each as `tokenizers` does them:
/// 1. the vocabulary's special tokens (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`, `[MASK]`) written
///    in the text, case and all, are taken as those tokens and cut the text around them;
/// 2. `BertNormalizer`: drop control characters, spaces for whitespace, spaces around CJK
///    ideographs, strip accents, lowercase (see `Options`);
/// 3. the pre-tokenizer: words are runs between whitespace, each punctuation character a
///    word of its own;
/// 4. WordPiece: each word is spelled greedily with the longest token that fits, pieces
///    after the first with a `##` prefix; a word with a position no token starts, or
///    longer than `Options.maxCharactersPerWord`, becomes `[UNK]`;
/// 5. truncation to `maxLength - 2` pieces, then `[CLS]` before and `[SEP]` after.
///
/// ```swift
/// let tokenizer = try BertTokenizer(folder: "all-MiniLM-L6-v2")
/// tokenizer.encode("Don't panic!")   // [101, 2123, 1005, 1056, 6634, 999, 102]
/// tokenizer.tokens("Don't panic!")   // ["[CLS]", "don", "'", "t", "panic", "!", "[SEP]"]
/// ```
public struct BertTokenizer: Sendable {
    /// How text is normalized and how long an encoding may be.
    public struct Options: Equatable, Sendable {
        /// Lowercase the text, scalar by scalar (uncased models; `do_lower_case`).
        public var lowercase: Bool
        /// Strip accents: decompose (NFD) and drop nonspacing marks; nil strips exactly when
        /// lowercasing, as `tokenizers` does for `strip_accents: null`.
        public var stripAccents: Bool?
        /// Put spaces around CJK ideographs, so each is a word (`tokenize_chinese_chars`).
        public var handleChineseCharacters: Bool
        /// The most tokens an encoding holds, `[CLS]` and `[SEP]` included (sentence-transformers'
        /// `max_seq_length`); longer texts are cut. At least 2.
        public var maxLength: Int
        /// A word longer than this, in Unicode scalars after normalization, becomes `[UNK]`.
        public var maxCharactersPerWord: Int

        /// Options with BERT's uncased defaults: lowercase, strip accents, split CJK ideographs,
        /// 256 tokens, words of up to 100 scalars.
        public init(lowercase: Bool = true, stripAccents: Bool? = nil, handleChineseCharacters: Bool = true,
                    maxLength: Int = 256, maxCharactersPerWord: Int = 100) {
            self.lowercase = lowercase
            self.stripAccents = stripAccents
            self.handleChineseCharacters = handleChineseCharacters
            self.maxLength = maxLength
            self.maxCharactersPerWord = maxCharactersPerWord
        }
    }

    /// A batch of encodings padded to one length, as a model takes them.
    public struct Batch: Equatable, Sendable {
        /// Token ids, row-major `[count, length]`; rows shorter than `length` end in `[PAD]`.
        public var ids: [Int32]
        /// 1 where `ids` holds a token of the text (its `[CLS]` and `[SEP]` included), 0 at
        /// padding; `[count, length]`.
        public var attentionMask: [Int32]
        /// The number of texts (rows).
        public var count: Int
        /// The length of every row: the longest encoding's.
        public var length: Int
    }

    /// The vocabulary the ids index.
    public let vocabulary: WordPieceVocabulary
    /// The options the tokenizer was made with.
    public let options: Options
    /// The ids of `[CLS]`, `[SEP]`, `[PAD]`, `[UNK]` and `[MASK]`.
    public let specialTokens: WordPieceVocabulary.SpecialTokens
    /// The normalizer the options describe.
    let normalizer: BertNormalizer
    /// The special tokens recognized in raw text, as scalars, with their ids.
    let textSpecialTokens: [(scalars: [Unicode.Scalar], id: Int32)]

    /// Makes a tokenizer over `vocabulary`.
    /// - Precondition: `options.maxLength >= 2` (room for `[CLS]` and `[SEP]`).
    /// - Throws: `FormatError` when the vocabulary lacks `[CLS]`, `[SEP]`, `[PAD]` or `[UNK]`.
    public init(vocabulary: WordPieceVocabulary, options: Options = Options()) throws {
        precondition(options.maxLength >= 2, "maxLength \(options.maxLength) leaves no room for [CLS] and [SEP]")
        precondition(options.maxCharactersPerWord >= 0, "maxCharactersPerWord \(options.maxCharactersPerWord) is negative")
        self.vocabulary = vocabulary
        self.options = options
        specialTokens = try vocabulary.specialTokens()
        normalizer = BertNormalizer(handleChineseCharacters: options.handleChineseCharacters,
                                    stripAccents: options.stripAccents ?? options.lowercase, lowercase: options.lowercase)
        textSpecialTokens = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"].compactMap { token in
            vocabulary.id(of: token).map { (Array(token.unicodeScalars), $0) }
        }
    }

    /// Encodes `text`: `[CLS]`, the WordPiece ids of at most `maxLength - 2` pieces, `[SEP]`.
    /// - Complexity: O(n) in the length of `text`, for pieces of bounded length (each piece
    ///   is one walk down the vocabulary's trie).
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = [specialTokens.classifier]
        ids.reserveCapacity(min(options.maxLength, text.utf8.count / 3 + 8))
        appendPieces(of: text, to: &ids, limit: options.maxLength - 2)
        ids.append(specialTokens.separator)
        return ids
    }

    /// The tokens `encode(_:)` gives `text`, as strings (`[CLS]` and `[SEP]` included), for
    /// reading what the tokenizer did.
    public func tokens(_ text: String) -> [String] {
        encode(text).map { vocabulary.tokens[Int($0)] }
    }

    /// Encodes every text and pads the encodings with `[PAD]` to the longest one.
    /// - Complexity: O(total length of the texts + count × longest encoding).
    public func encodeBatch(_ texts: [String]) -> Batch {
        let encodings = texts.map(encode)
        let length = encodings.map(\.count).max() ?? 0
        var batch = Batch(ids: [], attentionMask: [], count: texts.count, length: length)
        batch.ids.reserveCapacity(texts.count * length)
        batch.attentionMask.reserveCapacity(texts.count * length)
        for encoding in encodings {
            batch.ids += encoding
            batch.ids += repeatElement(specialTokens.padding, count: length - encoding.count)
            batch.attentionMask += repeatElement(1 as Int32, count: encoding.count)
            batch.attentionMask += repeatElement(0 as Int32, count: length - encoding.count)
        }
        return batch
    }

    /// What the normalizer makes of `text` (the special tokens in it are not set apart):
    /// `tokenizers`' `normalizer.normalize_str`, for tests and debugging.
    package func normalized(_ text: String) -> String {
        var output: [Unicode.Scalar] = []
        normalizer.normalize(Array(text.unicodeScalars)[...], into: &output)
        return String(String.UnicodeScalarView(output))
    }

    /// Appends the ids of at most `limit` pieces of `text` to `ids`.
    private func appendPieces(of text: String, to ids: inout [Int32], limit: Int) {
        let stop = ids.count + limit
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars { scalars.append(scalar) }   // Array(_:) would decode twice: count, then copy
        var workspace = Workspace()
        var segmentStart = 0, i = 0
        while i < scalars.count && ids.count < stop {
            guard scalars[i] == "[", let (length, id) = specialToken(at: i, in: scalars) else {
                i += 1
                continue
            }
            appendPieces(ofSegment: scalars[segmentStart..<i], to: &ids, stop: stop, workspace: &workspace)
            if ids.count < stop { ids.append(id) }
            i += length
            segmentStart = i
        }
        if segmentStart < scalars.count {
            appendPieces(ofSegment: scalars[segmentStart...], to: &ids, stop: stop, workspace: &workspace)
        }
    }

    /// Buffers reused across the segments and words of one text.
    private struct Workspace {
        /// The normalized scalars of the current segment.
        var normalized: [Unicode.Scalar] = []
        /// The UTF-8 bytes of the current word.
        var word: [UInt8] = []
    }

    /// Normalizes a segment of text free of special tokens, splits it into words and
    /// appends their pieces to `ids`, stopping once `ids` holds `stop` ids.
    private func appendPieces(ofSegment segment: ArraySlice<Unicode.Scalar>, to ids: inout [Int32], stop: Int,
                              workspace: inout Workspace) {
        guard !segment.isEmpty, ids.count < stop else { return }
        workspace.normalized.removeAll(keepingCapacity: true)
        normalizer.normalize(segment, into: &workspace.normalized)
        BertNormalizer.forEachWord(in: workspace.normalized) { range in
            if range.count > options.maxCharactersPerWord {
                ids.append(specialTokens.unknown)
            } else {
                workspace.word.removeAll(keepingCapacity: true)
                for scalar in workspace.normalized[range] {
                    if scalar.value < 0x80 {
                        workspace.word.append(UInt8(scalar.value))
                    } else {
                        UTF8.encode(scalar) { workspace.word.append($0) }
                    }
                }
                if !vocabulary.appendPieces(of: workspace.word, to: &ids) { ids.append(specialTokens.unknown) }
            }
            return ids.count < stop
        }
        if ids.count > stop { ids.removeSubrange(stop...) }
    }

    /// The special token written at `scalars[position...]`, if any: its length in scalars
    /// and id (the longest, should two match).
    private func specialToken(at position: Int, in scalars: [Unicode.Scalar]) -> (length: Int, id: Int32)? {
        var best: (length: Int, id: Int32)?
        for (token, id) in textSpecialTokens where token.count > (best?.length ?? 0) && position + token.count <= scalars.count {
            if scalars[position..<position + token.count].elementsEqual(token) { best = (token.count, id) }
        }
        return best
    }
}
