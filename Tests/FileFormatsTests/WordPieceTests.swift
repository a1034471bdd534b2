import FileFormats
import Foundation
import Testing

/// The WordPiece algorithm on a hand-made vocabulary, the vocabulary file's rules, a model
/// folder's settings, and Hugging Face's character classes. Every expected id list here
/// was checked against Hugging Face `tokenizers` 0.23.3 built with the same vocabulary
/// (`BertNormalizer`, `BertPreTokenizer`, `WordPiece`, `[CLS] $A [SEP]`).
@Suite("WordPiece tokenizer")
struct WordPieceTests {
    /// A vocabulary small enough to follow by hand (ids are the indices).
    static let handTokens = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "run", "##n", "##ing", "runn", "want", "##want",
        "##ed", ",", "!", "a", "ab", "##bc", "e", "\u{E9}", "e\u{301}", "cafe", "##s", "\u{7684}",
    ]

    static func tokenizer(_ options: BertTokenizer.Options = .init()) throws -> BertTokenizer {
        try BertTokenizer(vocabulary: WordPieceVocabulary(tokens: handTokens), options: options)
    }

    @Test("a word is spelled greedily with the longest token that fits, later pieces with ##")
    func longestMatchFirst() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("unaffable") == [2, 5, 6, 7, 3])
        #expect(tokenizer.tokens("unaffable") == ["[CLS]", "un", "##aff", "##able", "[SEP]"])
        #expect(tokenizer.encode("running") == [2, 11, 10, 3])   // runn ##ing, not run ##n ##ing
        #expect(tokenizer.encode("runs") == [2, 8, 24, 3])
        #expect(tokenizer.encode("unwanted") == [2, 5, 13, 14, 3])
        #expect(tokenizer.encode("UNAFFABLE, Running!") == [2, 5, 6, 7, 15, 11, 10, 16, 3])
    }

    @Test("a word that cannot be spelled to its end is one [UNK], with no backtracking and no ## at its start")
    func unknownWords() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("unaffablex") == [2, 1, 3])
        #expect(tokenizer.encode("xunaffable") == [2, 1, 3])
        #expect(tokenizer.encode("aff") == [2, 1, 3])   // ##aff continues a word, never starts one
        #expect(tokenizer.encode("abc") == [2, 1, 3])   // ab, then no ##c; a ##bc is never tried
        #expect(tokenizer.encode("un\u{A0}\u{200B}aff\u{2028}able\u{0}run") == [2, 5, 1, 1, 3])
        #expect(tokenizer.encode("") == [2, 3])
        #expect(tokenizer.encode("  \t\n ") == [2, 3])
    }

    @Test("a word longer than maxCharactersPerWord scalars is [UNK]")
    func longWords() throws {
        let tokenizer = try Self.tokenizer(.init(maxCharactersPerWord: 9))
        #expect(tokenizer.encode("unaffable unaffables") == [2, 5, 6, 7, 1, 3])
    }

    @Test("accents are stripped when lowercasing unless told otherwise; tokens are compared as bytes")
    func accentsAndBytes() throws {
        #expect(try Self.tokenizer().encode("Café CAFÉS") == [2, 23, 23, 24, 3])
        let keepAccents = try Self.tokenizer(.init(stripAccents: false))
        #expect(keepAccents.encode("é É e\u{301}") == [2, 21, 21, 22, 3])   // precomposed é twice, then e + U+0301
        let cased = try Self.tokenizer(.init(lowercase: false))
        #expect(cased.encode("Un é un") == [2, 1, 21, 5, 3])
        let vocabulary = try WordPieceVocabulary(tokens: Self.handTokens)
        #expect(vocabulary.id(of: "\u{E9}") == 21 && vocabulary.id(of: "e\u{301}") == 22)   // equal as Strings, two tokens
        #expect(vocabulary.id(of: "##") == nil && vocabulary.id(of: "") == nil && vocabulary.id(of: "cafes") == nil)
        #expect(vocabulary.token(for: 22).map { Array($0.utf8) } == Array("e\u{301}".utf8))
        #expect(vocabulary.token(for: 26) == nil && vocabulary.token(for: -1) == nil)
        #expect(vocabulary.count == 26)
    }

    @Test("special tokens written in the text are those tokens; CJK ideographs are words of their own")
    func specialTokensAndIdeographs() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.encode("[MASK]un") == [2, 4, 5, 3])
        #expect(tokenizer.encode("[mask]") == [2, 1, 1, 1, 3])   // lowercase is text: [ mask ]
        #expect(tokenizer.encode("un\u{7684}un") == [2, 5, 25, 5, 3])
        let special = try WordPieceVocabulary(tokens: Self.handTokens).specialTokens()
        #expect(special == .init(classifier: 2, separator: 3, padding: 0, unknown: 1, mask: 4))
    }

    @Test("encodings are cut to maxLength tokens, [CLS] and [SEP] included")
    func truncation() throws {
        #expect(try Self.tokenizer(.init(maxLength: 4)).encode("unaffable running") == [2, 5, 6, 3])
        #expect(try Self.tokenizer(.init(maxLength: 3)).encode("[MASK] running") == [2, 4, 3])
        #expect(try Self.tokenizer(.init(maxLength: 2)).encode("running") == [2, 3])
    }

    @Test("a batch is padded with [PAD] to its longest encoding, with a mask of the real tokens")
    func batch() throws {
        let batch = try Self.tokenizer().encodeBatch(["running", "unaffable!", ""])
        #expect(batch.count == 3 && batch.length == 6)
        #expect(batch.ids == [2, 11, 10, 3, 0, 0, 2, 5, 6, 7, 16, 3, 2, 3, 0, 0, 0, 0])
        #expect(batch.attentionMask == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
        let empty = try Self.tokenizer().encodeBatch([])
        #expect(empty.count == 0 && empty.length == 0 && empty.ids.isEmpty)
    }

    @Test("vocab.txt: LF or CRLF, last line break optional, trailing whitespace not part of a token")
    func vocabularyFile() throws {
        let text = "[PAD]\r\n[UNK]\n[CLS] \n[SEP]\t\r\nun\n##aff\n\u{E9}"
        let vocabulary = try WordPieceVocabulary.decode(Data(text.utf8), path: "v.txt")
        #expect(vocabulary.tokens.map { Array($0.utf8) } == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "\u{E9}"].map { Array($0.utf8) })
        #expect(vocabulary.id(of: "[CLS]") == 2 && vocabulary.id(of: "##aff") == 5 && vocabulary.path == "v.txt")
        let withBreak = try WordPieceVocabulary.decode(Data((text + "\n").utf8), path: "v.txt")
        #expect(withBreak.tokens == vocabulary.tokens)

        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write(Array(text.utf8), to: "vocab.txt")
        #expect(try WordPieceVocabulary.read(path).tokens == vocabulary.tokens)
        let missing = formatError { _ = try WordPieceVocabulary.read(folder.file("none.txt")) }
        #expect(missing?.kind == .missingFile)
    }

    @Test("an empty line, a repeated token, bytes that are not UTF-8 or a missing special token are refused, naming the line or token")
    func badVocabularies() throws {
        let empty = formatError { _ = try WordPieceVocabulary.decode(Data("[PAD]\n[UNK]\n\n[CLS]\n".utf8), path: "v.txt") }
        expectError(empty, path: "v.txt", mentions: ["line 3", "empty"])
        #expect(empty?.kind == .invalidVocabulary(line: 3, problem:
            "the line is empty; every line holds one token and its id is the line's index, so remove the line or put the token back"))
        let blank = formatError { _ = try WordPieceVocabulary.decode(Data("a\r\nb\r\n  \r\nc".utf8), path: "v.txt") }
        expectError(blank, path: "v.txt", mentions: ["line 3", "empty"])
        let repeated = formatError { _ = try WordPieceVocabulary.decode(Data("a\nb\nc\nb \n".utf8), path: "v.txt") }
        expectError(repeated, path: "v.txt", mentions: ["line 4", "'b'", "line 2"])
        let binary = formatError { _ = try WordPieceVocabulary.decode(Data([0x61, 0x0A, 0xFF, 0xFE, 0x0A]), path: "v.txt") }
        expectError(binary, path: "v.txt", mentions: ["line 2", "UTF-8"])
        let nothing = formatError { _ = try WordPieceVocabulary.decode(Data(), path: "v.txt") }
        expectError(nothing, path: "v.txt", mentions: ["no tokens"])

        let noUnknown = try WordPieceVocabulary.decode(Data("[PAD]\n[CLS]\n[SEP]\nun\n".utf8), path: "v.txt")
        let unknown = formatError { _ = try BertTokenizer(vocabulary: noUnknown) }
        expectError(unknown, path: "v.txt", mentions: ["'[UNK]'"])
        let noSeparator = formatError { _ = try WordPieceVocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]"]).specialTokens() }
        expectError(noSeparator, path: "<tokens>", mentions: ["'[SEP]'"])
        #expect(try WordPieceVocabulary(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]).specialTokens().mask == nil)
    }

    @Test("a model folder's tokenizer_config.json and sentence_bert_config.json set case, accents and length")
    func folderSettings() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        try folder.write(Array(Self.handTokens.joined(separator: "\n").utf8), to: "vocab.txt")
        #expect(try BertTokenizer(folder: folder.path).options == BertTokenizer.Options())

        try folder.write(Array(#"{"do_lower_case": false, "strip_accents": null, "model_max_length": 512}"#.utf8), to: "tokenizer_config.json")
        try folder.write(Array(#"{"max_seq_length": 4, "do_lower_case": false}"#.utf8), to: "sentence_bert_config.json")
        let cased = try BertTokenizer(folder: folder.path)
        #expect(cased.options == .init(lowercase: false, stripAccents: nil, maxLength: 4))
        #expect(cased.encode("Un é unaffable") == [2, 1, 21, 3])

        try folder.write(Array(#"{"do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false}"#.utf8), to: "tokenizer_config.json")
        try folder.write(Array(#"{"max_seq_length": 4, "do_lower_case": true}"#.utf8), to: "sentence_bert_config.json")
        #expect(try BertTokenizer(folder: folder.path).options
                == .init(lowercase: true, stripAccents: true, handleChineseCharacters: false, maxLength: 4))

        try folder.write(Array(#"{"max_seq_length": 1}"#.utf8), to: "sentence_bert_config.json")
        let short = formatError { _ = try BertTokenizer(folder: folder.path) }
        expectError(short, path: folder.file("sentence_bert_config.json"), mentions: ["max_seq_length", "at least 2", "it is 1"])
        try folder.write(Array(#"{"max_seq_length": "256"}"#.utf8), to: "sentence_bert_config.json")
        let text = formatError { _ = try BertTokenizer(folder: folder.path) }
        expectError(text, path: folder.file("sentence_bert_config.json"), mentions: ["max_seq_length", "an integer"])
        try folder.write(Array(#"{"do_lower_case": "yes"}"#.utf8), to: "tokenizer_config.json")
        let flag = formatError { _ = try BertTokenizer(folder: folder.path) }
        expectError(flag, path: folder.file("tokenizer_config.json"), mentions: ["do_lower_case", "true, false"])
        try folder.write(Array("[1, 2]".utf8), to: "tokenizer_config.json")
        let notObject = formatError { _ = try BertTokenizer(folder: folder.path) }
        expectError(notObject, path: folder.file("tokenizer_config.json"), mentions: ["not a JSON object"])
        try FileManager.default.removeItem(atPath: folder.file("vocab.txt"))
        let noVocabulary = formatError { _ = try BertTokenizer(folder: folder.path) }
        #expect(noVocabulary?.kind == .missingFile && noVocabulary?.path == folder.file("vocab.txt"))
    }

    @Test("the fuzz seed Tests/FuzzCorpus/vocab.txt is a complete vocabulary, so fuzzing starts inside the tokenizer")
    func fuzzSeed() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus/vocab.txt").path
        let tokenizer = try BertTokenizer(vocabulary: WordPieceVocabulary.read(path))
        #expect(tokenizer.vocabulary.count == 18)
        let lastLine = try #require(tokenizer.vocabulary.token(for: 17))
        #expect(tokenizer.encode(lastLine) == [2, 5, 6, 7, 8, 12, 14, 4, 13, 1, 3])   // É: stripped to e, not in the vocabulary
    }

    /// The size and FNV-1a checksum (over the sorted scalars' little-endian UInt32 bytes) of
    /// the scalars for which `member` holds.
    static func census(_ member: (Unicode.Scalar) -> Bool) -> (count: Int, checksum: UInt64) {
        var count = 0, hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value), member(scalar) else { continue }
            count += 1
            for shift in stride(from: 0, to: 32, by: 8) { hash = (hash ^ UInt64((value >> UInt32(shift)) & 0xFF)) &* 0x100_0000_01b3 }
        }
        return (count, hash)
    }

    @Test("control, punctuation and nonspacing-mark classes are those of the unicode_categories crate 0.1.1 (Unicode 8.0)")
    func characterClasses() {
        // Sizes and checksums computed from the crate's tables (src/tables.rs): ASCII
        // punctuation with P*; Mn; Cc, Cf and the private-use planes, less tab, LF and CR.
        let punctuation = Self.census(BertCharacterClass.isPunctuation)
        #expect(punctuation.count == 726 && punctuation.checksum == 0x44cc_3f6f_89db_db6f, "\(punctuation)")
        let marks = Self.census(BertCharacterClass.isNonspacingMark)
        #expect(marks.count == 1567 && marks.checksum == 0xbb1b_649f_8814_7b1f, "\(marks)")
        let controls = Self.census(BertCharacterClass.isControl)
        #expect(controls.count == 137_680 && controls.checksum == 0xc2bd_414d_1c1e_b542, "\(controls)")
    }
}
