import FileFormats
import Foundation
import Testing

/// all-MiniLM-L6-v2's real vocabulary against Hugging Face's tokenizer.
///
/// The expected ids are what Hugging Face `tokenizers` 0.23.3 (Python, `Tokenizer.from_file`
/// on the model's tokenizer.json, truncation to 256, no padding) gives each text. Beyond these
/// cases, the tokenizer was compared with that reference on every Unicode scalar alone
/// (between "a" and "b"), on 49,000 random texts mixing scripts, marks, whitespace, controls
/// and special tokens, and on 1,000 fortunes: no id differed.
@Suite("WordPiece tokenizer on all-MiniLM-L6-v2's vocabulary")
struct WordPieceReferenceTests {
    /// `<repository>/.cache/models/all-MiniLM-L6-v2`, where `make models` puts the model.
    static let folder: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()   // FileFormatsTests
        url.deleteLastPathComponent()   // Tests
        url.deleteLastPathComponent()   // the repository
        return url.appendingPathComponent(".cache/models/all-MiniLM-L6-v2").path
    }()

    /// The model folder's tokenizer; fails the test (never skips it) when the folder is missing.
    static func tokenizer(sourceLocation: SourceLocation = #_sourceLocation) throws -> BertTokenizer {
        try #require(FileManager.default.fileExists(atPath: folder + "/vocab.txt"),
                     "all-MiniLM-L6-v2 is not in \(folder): run `make models` to fetch it", sourceLocation: sourceLocation)
        return try BertTokenizer(folder: folder)
    }

    /// Each case: what it tests, the text, and Hugging Face's ids.
    static let cases: [(name: String, text: String, ids: [Int32])] = [
        ("plain", "Hello, world! This is a test.",
         [101, 7592, 1010, 2088, 999, 2023, 2003, 1037, 3231, 1012, 102]),
        ("accents", "Café naïve résumé jalapeño Ångström",
         [101, 7668, 15743, 13746, 14855, 2721, 11837, 2080, 17076, 15687, 102]),
        ("dotted capital I", "İstanbul İİ",
         [101, 9960, 2462, 102]),
        ("Greek capitals", "ΟΔΟΣ Σίσυφος",
         [101, 1169, 29722, 29730, 29733, 1173, 18199, 29733, 29735, 29736, 15297, 102]),
        ("CJK", "我爱北京天安门, 東京タワー",
         [101, 1855, 100, 1781, 1755, 1811, 1820, 100, 1010, 1879, 1755, 1709, 30262, 30265, 102]),
        ("Korean", "안녕하세요 세계",
         [101, 1463, 30006, 30021, 29992, 30010, 30025, 30005, 30006, 29997, 30009, 29999, 30013, 100, 102]),
        ("contraction", "don't won't y'all",
         [101, 2123, 1005, 1056, 2180, 1005, 1056, 1061, 1005, 2035, 102]),
        ("money", "$5.00 costs 5€ or £3.50",
         [101, 1002, 1019, 1012, 4002, 5366, 1019, 30102, 2030, 28182, 1012, 2753, 102]),
        ("ASCII symbols", "$ ^ ` + < = > | ~ @ # % & * _ \\",
         [101, 1002, 1034, 1036, 1009, 1026, 1027, 1028, 1064, 1066, 1030, 1001, 1003, 1004, 1008, 1035, 1032, 102]),
        ("emoji", "I love 🍕 and 👍🏽 🥰",
         [101, 1045, 2293, 100, 1998, 100, 100, 102]),
        ("no-break space", "a\u{A0}b\u{202F}c",
         [101, 1037, 1038, 1039, 102]),
        ("line separator", "one\u{2028}two\u{2029}three",
         [101, 2028, 2048, 2093, 102]),
        ("zero-width", "zero\u{200B}width\u{200C}join\u{200D}end\u{FEFF}",
         [101, 5717, 9148, 11927, 2232, 5558, 21820, 2094, 102]),
        ("controls", "tab\there\nnew\rline\u{B}vt\u{C}ff\0nul\u{7F}del\u{85}nel\u{FFFD}repl",
         [101, 21628, 2182, 2047, 2240, 2615, 24475, 2546, 11231, 17920, 19666, 2884, 2890, 24759, 102]),
        ("101-char word", String(repeating: "a", count: 101) + " " + String(repeating: "b", count: 100),
         [101, 100, 22861] + Array(repeating: 10322, count: 49) + [102]),
        ("only spaces", "   ",
         [101, 102]),
        ("empty", "",
         [101, 102]),
        ("Arabic", "مَرْحَبًا بِالْعَالَم",
         [101, 1295, 17149, 29820, 29816, 25573, 1271, 25573, 23673, 29830, 25573, 23673, 22192, 102]),
        ("Hindi", "नमस्ते दुनिया",
         [101, 1327, 29867, 29874, 29859, 1325, 29863, 29877, 29868, 29876, 102]),
        ("full-width", "ＡＢＣ１２３！？",
         [101, 100, 1986, 1994, 102]),
        ("ligature and compatibility", "ﬁne ½ ² ℃ Ⅻ",
         [101, 1984, 2638, 1092, 1082, 100, 100, 102]),
        ("decomposed accents", "Cafe\u{301} n\u{303}",
         [101, 7668, 1050, 102]),
        ("special tokens in text", "[CLS] hello [MASK] world[SEP] [cls] [UNK",
         [101, 101, 7592, 103, 2088, 102, 1031, 18856, 2015, 1033, 1031, 4895, 2243, 102]),
        ("URL and e-mail", "https://example.com/a?b=c&d=e mail@example.org",
         [101, 16770, 1024, 1013, 1013, 2742, 1012, 4012, 1013, 1037, 1029, 1038, 1027, 1039, 1004, 1040, 1027, 1041, 5653, 1030, 2742, 1012, 8917, 102]),
        ("numbers", "3.14159 1,000,000 2023-10-05 10:30am",
         [101, 1017, 1012, 15471, 28154, 1015, 1010, 2199, 1010, 2199, 16798, 2509, 1011, 2184, 1011, 5709, 2184, 1024, 2382, 3286, 102]),
        ("mixed scripts", "Привет мир Ελληνικά עברית ไทย",
         [101, 1194, 16856, 10325, 25529, 15290, 22919, 1191, 10325, 16856, 1159, 29727, 29727, 24824, 16177, 18199, 29726, 14608, 1259, 29789, 29811, 29796, 29813, 100, 102]),
        ("private use and unassigned", "x\u{E000}y\u{F0000}z\u{378}w",
         [101, 100, 102]),
        ("Turkish and German", "ŞIKLIĞI ışık Straße STRASSE ẞ",
         [101, 9033, 2243, 3669, 5856, 1104, 2015, 11722, 2243, 2358, 27807, 2358, 8180, 3366, 1096, 102])
    ]

    @Test("every edge case encodes to Hugging Face's ids")
    func edgeCases() throws {
        let tokenizer = try Self.tokenizer()
        for (name, text, ids) in Self.cases {
            #expect(tokenizer.encode(text) == ids, "\(name): got \(tokenizer.tokens(text))")
        }
    }

    @Test("a text of more than 254 pieces keeps its first 254, between [CLS] and [SEP]")
    func truncation() throws {
        let tokenizer = try Self.tokenizer()
        let ids = tokenizer.encode(String(repeating: "hello world ", count: 150))   // 300 pieces
        #expect(ids.count == 256)
        let helloWorld: [Int32] = Array(repeating: [7592, 2088], count: 127).flatMap { $0 }
        #expect(ids == [101] + helloWorld + [102])
    }

    @Test("the folder's settings, the special tokens and the vocabulary are those of the model")
    func settings() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.options == .init(lowercase: true, stripAccents: nil, handleChineseCharacters: true, maxLength: 256))
        #expect(tokenizer.specialTokens == .init(classifier: 101, separator: 102, padding: 0, unknown: 100, mask: 103))
        #expect(tokenizer.vocabulary.count == 30522)
        #expect(tokenizer.vocabulary.id(of: "hello") == 7592 && tokenizer.vocabulary.token(for: 2088) == "world")
        #expect(tokenizer.tokens("Don't panic!") == ["[CLS]", "don", "'", "t", "panic", "!", "[SEP]"])
        let batch = tokenizer.encodeBatch(["hello", "Don't panic!", ""])
        #expect(batch.ids == [101, 7592, 102, 0, 0, 0, 0, 101, 2123, 1005, 1056, 6634, 999, 102, 101, 102, 0, 0, 0, 0, 0])
    }

    @Test("normalization: per-scalar lowercase after stripping accents, as tokenizers' normalize_str")
    func normalization() throws {
        let tokenizer = try Self.tokenizer()
        // Compared scalar by scalar: String's == is canonical equivalence, blind to NFD.
        func normalized(_ text: String) -> [Unicode.Scalar] { Array(tokenizer.normalized(text).unicodeScalars) }
        #expect(normalized("ΟΔΟΣ") == Array("οδοσ".unicodeScalars))           // no final ς: each scalar alone
        #expect(normalized("İ") == ["i"])                                        // NFD I + U+0307, the dot stripped, then lowercased
        #expect(normalized("ẞ Ⅻ") == Array("ß ⅻ".unicodeScalars))
        #expect(normalized("a\u{85}b\u{B}c\u{A0}d") == Array("abc d".unicodeScalars))   // NEL and VT are controls, dropped
        #expect(normalized("中文") == Array(" 中  文 ".unicodeScalars))
        #expect(normalized("Ç\u{1D165}\u{0EBA}") == ["c", "\u{1D165}", "\u{0EBA}"])     // U+0EBA (Unicode 12) is not reordered
        #expect(normalized("\u{11938}") == ["\u{11938}"])   // decomposes since Unicode 13; tokenizers' NFD is Unicode 9.0
    }
}
