import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An element of a parsed XML document: what the chart tests look into.
final class SVGNode {
    let name: String
    let attributes: [String: String]
    private(set) var children: [SVGNode] = []
    /// The element's own text (not its children's).
    fileprivate(set) var text = ""

    init(name: String, attributes: [String: String]) { self.name = name; self.attributes = attributes }

    /// This element and every element under it, in document order.
    var all: [SVGNode] { [self] + children.flatMap(\.all) }

    /// The elements (this one included) named `name`.
    func elements(_ name: String) -> [SVGNode] { all.filter { $0.name == name } }

    /// The elements whose class list holds `cls`.
    func elements(class cls: String) -> [SVGNode] {
        all.filter { ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(cls)) }
    }

    /// The text of a `<title>` child, or nil.
    var hover: String? { children.first { $0.name == "title" }?.text }

    /// The attribute `key` as a number.
    func number(_ key: String) -> Double? { attributes[key].flatMap(Double.init) }

    fileprivate func add(_ child: SVGNode) { children.append(child) }

    /// Parses `xml`; throws when it is not well-formed.
    static func parse(_ xml: String) throws -> SVGNode {
        let parser = XMLParser(data: Data(xml.utf8))
        let builder = Builder()
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            throw ParseError(description: "not well-formed: \(parser.parserError.map(String.init(describing:)) ?? "no root element")")
        }
        return root
    }

    struct ParseError: Error, CustomStringConvertible { var description: String }

    private final class Builder: NSObject, XMLParserDelegate {
        var root: SVGNode?
        var stack: [SVGNode] = []

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let node = SVGNode(name: name, attributes: attributes)
            if let parent = stack.last { parent.add(node) } else { root = node }
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
    }
}
