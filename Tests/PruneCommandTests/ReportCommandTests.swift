import FileFormats
import Foundation
import Testing
import TestSupport

/// A model pruned to 90% by AGP during 2 epochs of training, with the report `prune train` wrote.
struct PrunedWithReport {
    let folder: URL
    let model: String, report: String
    let result: PruneResult

    static let shared: Result<PrunedWithReport, Error> = Result {
        let folder = try temporaryFolder()
        let model = folder.appendingPathComponent("agp90.safetensors").path
        let result = try prune("train", "--model", "lenet300", "--epochs", "2", "--prune-to", "0.9", "--prune-start-epoch", "0",
                               "--prune-end-epoch", "2", "--prune-every", "50", "--quiet", "--out", model)
        return PrunedWithReport(folder: folder, model: model, report: folder.appendingPathComponent("agp90.report.html").path, result: result)
    }
}

/// The charts a report on a LeNet-300-100 run draws.
let runCharts = ["accuracy-sparsity", "layer-sparsity", "pixel-connections", "costs", "time", "loss-sparsity", "schedule",
                 "weights", "removed-units", "class-means", "saliency"]

@Suite("prune report")
struct ReportCommandTests {
    @Test("a pruning run writes its report beside the model and prints the path; --no-report writes none")
    func writtenBesideTheOutput() throws {
        let run = try PrunedWithReport.shared.get()
        #expect(run.result.status == 0, "\(run.result)")
        #expect(run.result.stdout.contains("report: \(run.report)"), "\(run.result.stdout)")
        let page = try String(contentsOfFile: run.report, encoding: .utf8)
        for id in runCharts { #expect(page.contains("id=\"\(id)\""), "chart \(id) is missing") }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: run.report)[.size] as? Int)
        #expect(size < 2_000_000, "\(size) bytes")
        let quiet = run.folder.appendingPathComponent("no-report.safetensors").path
        let r = try prune("prune", run.model, "--sparsity", "0.95", "--no-report", "--quiet", "--out", quiet)
        #expect(r.status == 0 && !r.stdout.contains("report:"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: run.folder.appendingPathComponent("no-report.report.html").path))
    }

    @Test("the page is well-formed XHTML, needs no network, and headless Chromium draws every chart with its title")
    func renderedAsAPersonSeesIt() throws {
        let run = try PrunedWithReport.shared.get()
        try #require(run.result.status == 0, "\(run.result)")
        let page = try String(contentsOfFile: run.report, encoding: .utf8)
        // Well-formed: xmllint parses the whole page, SVG included, as XML.
        let lint = try runProgram("/usr/bin/xmllint", ["--noout", run.report])
        #expect(lint.status == 0, "xmllint: \(lint.stderr)")
        // Offline: nothing is fetched. The only addresses are the XML namespaces; every href is inline data.
        let addresses = page.matches(of: try Regex("https?://[^\"\\s]*")).map { String(page[$0.range]) }
        #expect(Set(addresses).isSubset(of: ["http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg"]), "\(Set(addresses))")
        #expect(!page.contains("src=") && !page.contains("@import"))
        #expect(page.components(separatedBy: "url(").dropFirst().allSatisfy { $0.hasPrefix("#") }, "url() only for the page's own clip paths and patterns")
        let hrefs = page.matches(of: try Regex("href=\"([^\"]*)\"")).map { page[$0.range].dropFirst(6) }
        #expect(hrefs.allSatisfy { $0.hasPrefix("data:image/png;base64,") })
        // Chromium, with every network request sent to a closed port, draws the page at 1280×800.
        let chromium = try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                    "headless Chromium is needed (Debian: apt-get install chromium; `make test` installs it)")
        let shot = run.folder.appendingPathComponent("report.png").path
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--proxy-server=127.0.0.1:9",
                     "--window-size=1280,800", "--user-data-dir=\(run.folder.appendingPathComponent("chromium").path)"]
        let drawn = try runProgram(chromium, flags + ["--screenshot=\(shot)", "file://\(run.report)"])
        #expect(drawn.status == 0, "\(drawn.stderr)")
        let image = try ImageDecoder.read(shot, channels: 3)
        #expect(image.width == 1280 && image.height == 800)
        // Not blank: a good share of the screen is drawn, and the palette's blue and vermillion are on it.
        var inked = 0, blue = 0, vermillion = 0
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            let (r, g, b) = (Int(image.pixels[i]), Int(image.pixels[i + 1]), Int(image.pixels[i + 2]))
            if r + g + b < 700 { inked += 1 }
            if abs(r - 0x00) < 24 && abs(g - 0x72) < 24 && abs(b - 0xB2) < 24 { blue += 1 }
            if abs(r - 0xD5) < 24 && abs(g - 0x5E) < 24 && abs(b - 0x00) < 24 { vermillion += 1 }
        }
        #expect(Double(inked) / Double(1280 * 800) > 0.03 && blue > 200 && vermillion > 200, "inked \(inked), blue \(blue), vermillion \(vermillion)")
        // Every chart is in the rendered document, as an SVG with a non-empty title.
        let dom = try runProgram(chromium, flags + ["--dump-dom", "file://\(run.report)"])
        #expect(dom.status == 0, "\(dom.stderr)")
        for id in runCharts {
            let title = dom.stdout.firstMatch(of: try Regex("<svg[^>]*id=\"\(id)\"[^>]*>\\s*<title[^>]*>([^<]+)</title>"))
            #expect(title != nil, "chart \(id) is not drawn with a title")
        }
    }

    @Test("`prune report` of a model file: sensitivity curves, another run overlaid, the data as JSON, the page read back")
    func fromAModelFile() throws {
        let run = try PrunedWithReport.shared.get()
        try #require(run.result.status == 0, "\(run.result)")
        let out = run.folder.appendingPathComponent("again.html").path
        let r = try prune("report", run.model, "--sensitivity", "--compare", run.report, "--out", out, "--json")
        #expect(r.status == 0, "\(r)")
        let json = try singleJSONObject(r.stdout)
        let sensitivity = try #require(json["sensitivity"] as? [String: Any])
        let layers = try #require(sensitivity["layers"] as? [[String: Any]])
        #expect(layers.map { $0["path"] as? String } == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(layers.allSatisfy { ($0["levels"] as? [Any])?.count == 12 } && sensitivity["split"] as? String == "validation")
        #expect((json["compared"] as? [[String: Any]])?.map { $0["name"] as? String } == ["agp90.report.html"])
        let page = try String(contentsOfFile: out, encoding: .utf8)
        #expect(page.contains("id=\"sensitivity\"") && page.contains("agp90.report.html: test"))
        // A report reads back from its page: the same data, drawn again.
        let again = try prune("report", out, "--json", "--out", run.folder.appendingPathComponent("third.html").path)
        #expect(again.status == 0, "\(again)")
        let back = try singleJSONObject(again.stdout)
        #expect((back["sensitivity"] as? [String: Any])?["layers"] as? [[String: Any]] != nil)
        #expect((back["accuracy"] as? [Any])?.count == (json["accuracy"] as? [Any])?.count)
    }

    @Test("a page that is not a report, a missing file, and --sensitivity on a report are refused, naming the problem")
    func refusals() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fake = folder.appendingPathComponent("fake.html").path
        try "<html><body>hello</body></html>".write(toFile: fake, atomically: true, encoding: .utf8)
        let notReport = try prune("report", fake)
        #expect(notReport.status == 1 && notReport.stderr.contains(fake) && notReport.stderr.contains("report-data"), "\(notReport)")
        let missing = try prune("report", folder.appendingPathComponent("none.safetensors").path)
        #expect(missing.status == 1 && missing.stderr.contains("none.safetensors"), "\(missing)")
        let misuse = try prune("report", fake, "--sensitivity")
        #expect(misuse.status == 2, "\(misuse)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("fake.report.html").path))
    }
}
