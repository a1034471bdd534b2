import Foundation

/// BERT's text normalization and word splitting, as Hugging Face's `tokenizers` does it
/// (`BertNormalizer` then `BertPreTokenizer`), on arrays of Unicode scalars.
///
/// The normalizer runs four steps in this order, the last three optional:
/// 1. clean: drop U+0000, U+FFFD and control characters (tab, line feed and carriage
///    return excepted); turn every whitespace character into a space;
/// 2. Chinese characters: put a space on either side of every CJK ideograph;
/// 3. strip accents: canonical decomposition (NFD), then drop nonspacing marks (Mn);
/// 4. lowercase: each scalar by its full lowercase mapping, with no context (so a final
///    capital sigma becomes σ, never ς).
///
/// The pre-tokenizer then splits on whitespace (dropped) and makes every punctuation
/// character a word of its own.
///
/// Sources: `tokenizers/src/normalizers/bert.rs` and `pre_tokenizers/bert.rs`.
/// Hugging Face's control, punctuation and nonspacing-mark tests come from the
/// `unicode_categories` crate 0.1.1, whose tables are Unicode 8.0, and its NFD from
/// `unicode-normalization-alignments`, whose tables are Unicode 9.0; whitespace and lowercase
/// follow current Unicode (Rust's standard library). `BertCharacterClass` reproduces the
/// Unicode 8.0 sets, and `appendStripped` the Unicode 9.0 decomposition.
struct BertNormalizer: Sendable {
    /// Step 2: surround CJK ideographs with spaces.
    var handleChineseCharacters = true
    /// Step 3: NFD, then drop nonspacing marks.
    var stripAccents = true
    /// Step 4: lowercase.
    var lowercase = true

    /// Appends the normalized form of `text` to `output`.
    ///
    /// - Complexity: O(n) in the scalars of `text`. ASCII text never leaves the fast path;
    ///   text with other scalars is decomposed once through Foundation.
    func normalize(_ text: ArraySlice<Unicode.Scalar>, into output: inout [Unicode.Scalar]) {
        let start = output.count
        var allASCII = true
        for scalar in text {
            let v = scalar.value
            if v < 0x80 {
                if v == 0x09 || v == 0x0A || v == 0x0D {
                    output.append(" ")
                } else if v >= 0x20 && v != 0x7F {   // other C0 controls and DEL are dropped
                    output.append(scalar)
                }
                continue
            }
            allASCII = false
            if v == 0xFFFD || BertCharacterClass.isControl(scalar) { continue }
            if scalar.properties.isWhitespace {
                output.append(" ")
                continue
            }
            if handleChineseCharacters && BertCharacterClass.isChinese(scalar) {
                output.append(" ")
                output.append(scalar)
                output.append(" ")
                continue
            }
            output.append(scalar)
        }
        if allASCII {
            if lowercase {
                for i in start..<output.count where (0x41...0x5A).contains(output[i].value) {
                    output[i] = Unicode.Scalar(output[i].value + 0x20)!
                }
            }
            return
        }
        if stripAccents {
            let text = Array(output[start...])
            output.removeSubrange(start...)
            var run = 0
            for (i, scalar) in text.enumerated() where scalar.value >= 0x80 && !BertCharacterClass.isAssigned(scalar, by: (9, 0)) {
                Self.appendStripped(text[run..<i], to: &output)
                output.append(scalar)
                run = i + 1
            }
            Self.appendStripped(text[run...], to: &output)
        }
        if lowercase { lowercaseTail(of: &output, from: start) }
    }

    /// Appends the canonical decomposition (NFD) of `text` to `output`, less its nonspacing
    /// marks.
    ///
    /// `tokenizers` decomposes with Unicode 9.0's tables, where a scalar assigned later has
    /// no decomposition and combining class 0; the caller keeps such scalars out of `text`,
    /// which is equivalent, as canonical reordering never crosses a scalar of class 0.
    private static func appendStripped(_ text: ArraySlice<Unicode.Scalar>, to output: inout [Unicode.Scalar]) {
        guard !text.isEmpty else { return }
        if text.allSatisfy({ $0.value < 0x80 }) {
            output.append(contentsOf: text)
            return
        }
        let decomposed = String(String.UnicodeScalarView(text)).decomposedStringWithCanonicalMapping
        for scalar in decomposed.unicodeScalars where !BertCharacterClass.isNonspacingMark(scalar) {
            output.append(scalar)
        }
    }

    /// Replaces `output[start...]` by its per-scalar full lowercase mapping.
    private func lowercaseTail(of output: inout [Unicode.Scalar], from start: Int) {
        guard let first = output[start...].firstIndex(where: { $0.value >= 0x80 || (0x41...0x5A).contains($0.value) }) else {
            return
        }
        let tail = Array(output[first...])
        output.removeSubrange(first...)
        for scalar in tail {
            if scalar.value < 0x80 {
                output.append((0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar)
            } else if scalar.properties.changesWhenLowercased {
                output.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            } else {
                output.append(scalar)
            }
        }
    }

    /// Calls `body` with the range of each word of normalized `text`, in order, until `body`
    /// returns false: words are runs between whitespace, with every punctuation character a
    /// word of its own.
    ///
    /// - Complexity: O(n).
    static func forEachWord(in text: [Unicode.Scalar], _ body: (Range<Int>) -> Bool) {
        var wordStart = 0
        for (i, scalar) in text.enumerated() {
            let space: Bool, punctuation: Bool
            if scalar.value < 0x80 {
                space = scalar == " " || (0x09...0x0D).contains(scalar.value)
                punctuation = !space && BertCharacterClass.isASCIIPunctuation(scalar.value)
            } else {
                space = scalar.properties.isWhitespace
                punctuation = !space && BertCharacterClass.isPunctuation(scalar)
            }
            guard space || punctuation else { continue }
            if wordStart < i && !body(wordStart..<i) { return }
            if punctuation && !body(i..<i + 1) { return }
            wordStart = i + 1
        }
        if wordStart < text.count { _ = body(wordStart..<text.count) }
    }
}

/// The character classes of Hugging Face's BERT normalizer and pre-tokenizer.
///
/// `tokenizers` tests controls, punctuation and nonspacing marks with the
/// `unicode_categories` crate 0.1.1, generated from Unicode 8.0's UnicodeData.txt. Those sets
/// are the scalars of the category that Unicode 8.0 had assigned (`age` ≤ 8.0), except seven
/// scalars whose category Unicode changed later; the exceptions below were found by
/// comparing every scalar against the crate with Swift 6.3's Unicode data, and the tests pin
/// each set's size and checksum.
package enum BertCharacterClass {
    /// Scalars the crate counts as punctuation although current Unicode does not:
    /// U+166D CANADIAN SYLLABICS CHI SIGN (now So) and U+111C9 SHARADA SANDHI MARK (now Mn).
    static let formerPunctuation: Set<UInt32> = [0x166D, 0x111C9]
    /// Scalars the crate counts as nonspacing marks although current Unicode does not:
    /// U+1734 HANUNOO SIGN PAMUDPOD and U+1171E AHOM CONSONANT SIGN MEDIAL RA (now Mc).
    static let formerNonspacingMarks: Set<UInt32> = [0x1734, 0x1171E]
    /// Scalars current Unicode makes nonspacing marks that the crate does not: U+1885
    /// MONGOLIAN LETTER ALI GALI BALUDA and U+1886 ALI GALI THREE BALUDA (Lo then), U+A9BD
    /// JAVANESE CONSONANT SIGN KERET (Mc then) and U+111C9 SHARADA SANDHI MARK (Po then).
    static let laterNonspacingMarks: Set<UInt32> = [0x1885, 0x1886, 0xA9BD, 0x111C9]

    /// Whether Unicode `version` (major, minor) or an earlier one had assigned `scalar`.
    static func isAssigned(_ scalar: Unicode.Scalar, by version: (major: Int, minor: Int)) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return (age.major, age.minor) <= version
    }

    /// Hugging Face's `is_control`: categories Cc, Cf (as of Unicode 8.0) and Co, except tab,
    /// line feed and carriage return (which count as whitespace).
    package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        case 0..<0x20, 0x7F...0x9F: return true
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .privateUse: return true
        case .format: return isAssigned(scalar, by: (8, 0))
        default: return false
        }
    }

    /// Hugging Face's BERT punctuation: ASCII punctuation (which includes `$ + < = > ^ ` |`
    /// and `~`, symbols to Unicode) or a punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po) as
    /// of Unicode 8.0.
    package static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return isASCIIPunctuation(scalar.value) }
        if formerPunctuation.contains(scalar.value) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return isAssigned(scalar, by: (8, 0))
        default:
            return false
        }
    }

    /// Whether the ASCII code `value` is punctuation: `!` to `/`, `:` to `@`, `[` to `` ` ``, `{` to `~`.
    static func isASCIIPunctuation(_ value: UInt32) -> Bool {
        (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value) || (0x5B...0x60).contains(value)
            || (0x7B...0x7E).contains(value)
    }

    /// Whether `scalar` is a nonspacing mark (Mn) as of Unicode 8.0: what stripping accents drops.
    package static func isNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x300 { return false }
        if formerNonspacingMarks.contains(scalar.value) { return true }
        return scalar.properties.generalCategory == .nonspacingMark && isAssigned(scalar, by: (8, 0))
            && !laterNonspacingMarks.contains(scalar.value)
    }

    /// Whether `scalar` is a CJK ideograph: the blocks of `bert.rs`'s `is_chinese_char`
    /// (CJK Unified Ideographs and Extensions A to E, and the two Compatibility Ideographs blocks).
    static func isChinese(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
