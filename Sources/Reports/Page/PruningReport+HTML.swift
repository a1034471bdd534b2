import Foundation
import Pruning

extension PruningReport {
    /// The report as one self-contained page: inline SVG charts and CSS, the report's data
    /// as JSON in a `<script type="application/json" id="report-data">` element, no network
    /// and no script to run. The page is well-formed XML (XHTML) as well as HTML.
    public func html() -> String {
        // The first screen (1280×800) answers the three questions at a glance: accuracy against
        // sparsity, where the cuts fell, and what the network still looks at.
        var glance = figureChart(loss: false)
        glance?.width = 380; glance?.height = 300
        var layers = layerSparsityChart()
        layers?.width = 380; layers?.height = 300
        let looks: Chart? = pixelChart() ?? filterChart()
        var body = [header()]
        body.append(section("At a glance", [glance?.svg(), layers?.svg(), looks?.svg()]))
        body.append(section("What it costs", [
            costTable(), costChart().svg(), timeChart()?.svg() ?? note("time"),
        ]))
        body.append(section("What it does to accuracy", [
            figureChart(loss: true)?.svg(), scheduleChart()?.svg() ?? note("schedule"),
            sensitivityChart()?.svg() ?? paragraph("No sensitivity analysis for this model (`prune sensitivity MODEL` runs one, and `prune report MODEL` then draws it)."),
        ]))
        if let search = searchSection() { body.append(section("How the plan was chosen", [search])) }
        body.append(section("The weights", [histogramChart()?.svg(), removedUnitsChart()?.svg()]))
        body.append(section("What the pruned network still looks at", [
            classMeansChart()?.svg(), pixels == nil ? nil : filterChart()?.svg(), saliencyChart()?.svg() ?? note("saliency"),
        ]))
        return """
            <!DOCTYPE html>
            <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
            <head>
            <meta charset="utf-8"/>
            <meta name="viewport" content="width=device-width, initial-scale=1"/>
            <title>\(escape(title)) — Prune report</title>
            <style>\(Self.css)</style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            <script type="application/json" id="report-data">\(json())</script>
            </body>
            </html>

            """
    }

    /// The report's data as JSON, with `<`, `>` and `&` written as `\\u` escapes so that
    /// it can sit inside a page.
    public func json(pretty: Bool = false) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let text = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return text.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }

    /// The heading, the one-line outcome and the plan.
    private func header() -> String {
        var facts: [String] = []
        if let final = accuracy.last(where: { $0.split == .test }) {
            facts.append(String(format: "test accuracy %.2f%% (%@)", 100 * final.accuracy, final.stage))
        }
        if let d = dense.first(where: { $0.split == .test }) ?? dense.first {
            facts.append(String(format: "dense %.2f%% (%@, %@)", 100 * d.accuracy, d.split.rawValue, d.stage))
        }
        let kept = weights.reduce(0.0) { $0 + (1 - $1.after) * Double($1.count) }, all = weights.reduce(0) { $0 + $1.count }
        if all > 0 { facts.append(String(format: "%.1f%% of the pruned weights are zero", 100 * (1 - kept / Double(all)))) }
        facts.append("\(Self.count(after.totals.nonZeros)) of \(Self.count(after.totals.parameters)) parameters non-zero")
        facts.append(String(format: "%.1f× smaller stored sparse", after.totals.compression))
        if let l = latency, let b = l.beforeMilliseconds {
            facts.append(String(format: "batch-1 latency %.3f → %.3f ms", b, l.afterMilliseconds))
        }
        var parts = ["<header>", "<h1>\(escape(title))</h1>", "<p class=\"facts\">\(escape(facts.joined(separator: " · ")))</p>"]
        if let source = beforeSource { parts.append("<p class=\"note\">“Before” is \(escape(source)).</p>") }
        if let why = notes["before"] { parts.append(paragraph("No “before” model: \(why).")) }
        if let plan = history?.plan {
            parts.append("<details><summary>The plan (resolved recipe)</summary><pre>\(escape(plan.yaml()))</pre></details>")
        }
        parts.append("</header>")
        return parts.joined(separator: "\n")
    }

    /// Before and after, as a table.
    private func costTable() -> String {
        func cell(_ v: Double, _ format: Axis.Format) -> String {
            guard v.isFinite else { return "—" }
            return switch format {
            case .bytes: v >= 1e6 ? String(format: "%.2f MB", v / 1e6) : String(format: "%.1f kB", v / 1e3)
            case .seconds: String(format: "%.4f ms", v * 1000)
            default: String(Int(v.rounded()))
            }
        }
        var rows = costRows().map { r in
            "<tr><th scope=\"row\">\(escape(r.name))</th><td>\(cell(r.before, r.format))</td><td>\(cell(r.after, r.format))</td>"
                + "<td>\(r.before.isFinite ? String(format: "%.1f%%", 100 * r.after / max(r.before, 1e-12)) : "—")</td></tr>"
        }
        if let bytes = fileBytes {
            rows.append("<tr><th scope=\"row\">model file on disk</th><td></td><td>\(cell(Double(bytes), .bytes))</td><td></td></tr>")
        }
        var caption = before == nil ? "No “before” model: the before column is the dense equivalent of this one." : "Before and after pruning."
        caption += " FLOPs count multiply-adds with non-zero weights; CSR bytes as the sparse runtime stores the weights"
        caption += latency.map { String(format: "; latency is the median of %d batch-%d forward passes.", $0.runs, $0.batch) } ?? "."
        return "<table class=\"costs\"><caption>\(escape(caption))</caption><thead><tr><th>measure</th><th>before</th><th>after</th><th>after / before</th></tr></thead><tbody>"
            + rows.joined() + "</tbody></table>"
    }

    private func section(_ heading: String, _ items: [String?]) -> String {
        let id = heading.lowercased().filter { $0.isLetter || $0 == " " }.replacingOccurrences(of: " ", with: "-")
        return "<section id=\"\(id)\"><h2>\(escape(heading))</h2><div class=\"grid\">"
            + items.compactMap { $0.map { "<figure>\($0)</figure>" } }.joined(separator: "\n") + "</div></section>"
    }

    private func note(_ key: String) -> String? { notes[key].map { paragraph("Not shown: \($0).") } }

    private func paragraph(_ text: String) -> String { "<p class=\"note\">\(escape(text))</p>" }

    private func escape(_ s: String) -> String { escapeXML(s) }

    static let css = """
        body{font-family:system-ui,sans-serif;margin:24px;color:#111;background:#fff;max-width:1280px}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}
        .facts{font-size:15px;margin:4px 0}.note{color:#555;font-size:13px}
        .grid{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0;max-width:100%}figure svg{max-width:100%;height:auto}
        table.costs,table.search{border-collapse:collapse;font-size:13px;align-self:flex-start}
        table.search td,table.search th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}
        table.costs td,table.costs th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
        table.costs th[scope=row]{text-align:left;font-weight:normal}caption{text-align:left;color:#555;padding-bottom:4px}
        pre{font-size:12px;background:#f6f6f6;padding:8px;overflow:auto}
        @media print{body{margin:0}figure{break-inside:avoid}h2{break-after:avoid}details{display:none}}
        """
}
