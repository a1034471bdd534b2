import Foundation

/// Builds SVG text one element at a time: attribute values and text are escaped, numbers are
/// written compactly, and elements close in the order they were opened.
struct SVGWriter {
    /// The text written so far.
    private(set) var text = ""
    private var open: [String] = []

    /// Opens `<name …>`; close it with `close()`.
    mutating func open(_ name: String, _ attributes: KeyValuePairs<String, String> = [:]) {
        text += "<\(name)\(Self.attributes(attributes))>"
        open.append(name)
    }

    /// Closes the innermost open element.
    mutating func close() {
        guard let name = open.popLast() else { preconditionFailure("SVGWriter.close() with no open element") }
        text += "</\(name)>"
    }

    /// Writes `<name …>text<title>hover</title></name>`, or `<name …/>` when it has neither.
    mutating func element(_ name: String, _ attributes: KeyValuePairs<String, String> = [:], text content: String? = nil,
                          hover: String? = nil) {
        let inner = (content.map(escapeXML) ?? "") + (hover.map { "<title>\(escapeXML($0))</title>" } ?? "")
        text += inner.isEmpty ? "<\(name)\(Self.attributes(attributes))/>" : "<\(name)\(Self.attributes(attributes))>\(inner)</\(name)>"
    }

    /// The finished SVG; every element must be closed.
    var finished: String {
        precondition(open.isEmpty, "SVGWriter: unclosed <\(open.joined(separator: ">, <"))>")
        return text
    }

    private static func attributes(_ attributes: KeyValuePairs<String, String>) -> String {
        attributes.map { " \($0.key)=\"\(escapeXML($0.value))\"" }.joined()
    }
}

/// `text` safe inside XML text and double- or single-quoted attributes: `&`, `<`, `>`, `"` and
/// `'` become entities, and characters XML 1.0 forbids (control characters other than tab,
/// newline and return) become U+FFFD.
func escapeXML(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        default:
            let forbidden = scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value)
            out.unicodeScalars.append(forbidden ? "\u{FFFD}" : scalar)
        }
    }
    return out
}

/// A coordinate as SVG wants it: at most two decimals, no trailing zeros, never `nan` or `inf`
/// (a non-finite value, which the charts never produce on purpose, is written as 0).
func svgNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let rounded = (value * 100).rounded() / 100
    if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int(rounded)) }
    var text = String(format: "%.2f", rounded)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}

/// A string shortened to `limit` characters with a trailing ellipsis when it is longer.
func truncated(_ text: String, to limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(max(1, limit - 1))) + "…"
}

/// The width of `text` in pixels at `fontSize`, estimated for a sans-serif face (no font metrics
/// are at hand; 0.6 em per character errs on the wide side, so labels do not collide).
func estimatedWidth(_ text: String, fontSize: Double) -> Double {
    Double(text.count) * fontSize * 0.6
}
