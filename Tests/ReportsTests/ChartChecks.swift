import Foundation
import Reports
import Testing

/// Parses a chart's SVG and checks what every chart must have: the SVG namespace, its id and
/// `chart` class, `role="img"` labelled by its first child (a `<title>` with the chart's
/// title), a viewBox as large as its size, a visible title, no script or external reference,
/// no text under 11 px and no coordinate that is not a finite number.
func parsedChart(_ chart: some Chart, sourceLocation: SourceLocation = #_sourceLocation) throws -> SVGNode {
    let text = chart.svg()
    let root = try SVGNode.parse(text)
    #expect(root.name == "svg" && root.attributes["xmlns"] == "http://www.w3.org/2000/svg", sourceLocation: sourceLocation)
    #expect(root.attributes["id"] == chart.id && root.attributes["class"] == "chart" && root.attributes["role"] == "img",
            sourceLocation: sourceLocation)
    #expect(root.attributes["aria-labelledby"] == "\(chart.id)-title", sourceLocation: sourceLocation)
    let first = try #require(root.children.first, sourceLocation: sourceLocation)
    #expect(first.name == "title" && first.attributes["id"] == "\(chart.id)-title" && first.text == chart.title,
            sourceLocation: sourceLocation)
    let viewBox = "0 0 \(root.attributes["width"] ?? "?") \(root.attributes["height"] ?? "?")"
    #expect(root.attributes["viewBox"] == viewBox, sourceLocation: sourceLocation)
    #expect(root.elements(class: "chart-title").map(\.text) == [chart.title], sourceLocation: sourceLocation)
    #expect(root.elements("script").isEmpty && !text.contains("javascript:"), sourceLocation: sourceLocation)
    for node in root.all {
        if let href = node.attributes["href"] { #expect(href.hasPrefix("data:image/png;base64,"), sourceLocation: sourceLocation) }
        if let size = node.number("font-size") { #expect(size >= 11, "font-size \(size)", sourceLocation: sourceLocation) }
        for (key, value) in node.attributes where ["x", "y", "width", "height", "cx", "cy", "r", "d", "transform", "viewBox"].contains(key) {
            let lower = value.lowercased()
            #expect(!lower.contains("nan") && !lower.contains("inf"), "\(node.name) \(key)=\"\(value)\"", sourceLocation: sourceLocation)
        }
    }
    return root
}

/// The numbers in an SVG path's `d` that follow `command` (`V`, `H`, …), in order.
func pathArguments(_ d: String, after command: Character) -> [Double] {
    var values: [Double] = []
    var index = d.startIndex
    while let found = d[index...].firstIndex(of: command) {
        let rest = d[d.index(after: found)...]
        let number = rest.prefix { $0.isNumber || $0 == "." || $0 == "-" }
        if let value = Double(number) { values.append(value) }
        index = d.index(after: found)
    }
    return values
}

/// Every number in an SVG path's `d`, in order.
func numbers(in d: String) -> [Double] {
    d.split { !($0.isNumber || $0 == "." || $0 == "-") }.compactMap { Double($0) }
}

/// The plot area's rectangle: left, top, width, height.
func plotArea(_ root: SVGNode) throws -> (x: Double, y: Double, width: Double, height: Double) {
    let rect = try #require(root.elements(class: "plot-area").first)
    return (try #require(rect.number("x")), try #require(rect.number("y")), try #require(rect.number("width")),
            try #require(rect.number("height")))
}
