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

/// Headless Chromium, or a failed requirement saying how to install it.
func chromium() throws -> String {
    try #require(["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) },
                 "headless Chromium is needed (Debian: apt-get install chromium; `make test` installs it)")
}

/// Chromium's flags: headless, 1280×800, every network request sent to a closed port.
func chromiumFlags(profile folder: URL) -> [String] {
    ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--proxy-server=127.0.0.1:9",
     "--window-size=1280,800", "--user-data-dir=\(folder.appendingPathComponent("chromium").path)"]
}

/// The document Chromium builds from the page at `path`.
func renderedDocument(_ path: String, in folder: URL) throws -> String {
    let dom = try runProgram(try chromium(), chromiumFlags(profile: folder) + ["--dump-dom", "file://\(path)"])
    try #require(dom.status == 0, "\(dom.stderr)")
    return dom.stdout
}

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
        let shot = run.folder.appendingPathComponent("report.png").path
        let drawn = try runProgram(try chromium(), chromiumFlags(profile: run.folder) + ["--screenshot=\(shot)", "file://\(run.report)"])
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
        let dom = try renderedDocument(run.report, in: run.folder)
        for id in runCharts {
            let title = dom.firstMatch(of: try Regex("<svg[^>]*id=\"\(id)\"[^>]*>\\s*<title[^>]*>([^<]+)</title>"))
            #expect(title != nil, "chart \(id) is not drawn with a title")
        }
    }

    @Test("`prune report` of a model file: a baseline, its sensitivity curves, another run overlaid, the data as JSON, the page read back")
    func fromAModelFile() throws {
        let run = try PrunedWithReport.shared.get(), dense = try TrainedModel.shared.get()
        try #require(run.result.status == 0 && dense.train.status == 0, "\(run.result)\n\(dense.train)")
        let out = run.folder.appendingPathComponent("again.html").path
        let r = try prune("report", run.model, "--baseline", dense.path, "--sensitivity", "--compare", run.report, "--out", out, "--json")
        #expect(r.status == 0, "\(r)")
        let json = try singleJSONObject(r.stdout)
        // The sensitivity of the dense baseline: each tensor alone reaches every level exactly,
        // and cutting 99% of one costs more than cutting 10% of it.
        let sensitivity = try #require(json["sensitivity"] as? [String: Any])
        let layers = try #require(sensitivity["layers"] as? [[String: Any]])
        #expect(layers.map { $0["path"] as? String } == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(sensitivity["split"] as? String == "validation" && sensitivity["samples"] as? Int == 6000)
        for layer in layers {
            let levels = try #require(layer["levels"] as? [[String: Any]])
            let sparsity = levels.compactMap { $0["sparsity"] as? Double }, accuracy = levels.compactMap { $0["accuracy"] as? Double }
            // The default levels: 10% … 90%, then 95, 98, 99 and 99.5%.
            #expect(levels.count == 13 && abs(sparsity[0] - 0.1) < 1e-3 && abs(sparsity[12] - 0.995) < 1e-3, "\(sparsity)")
            #expect(accuracy[12] < accuracy[0], "\(layer["path"] ?? ""): \(accuracy)")
        }
        // The baseline is the dense line, measured on the test images.
        let denseFigures = try #require(json["dense"] as? [[String: Any]])
        #expect(denseFigures.contains { $0["stage"] as? String == "baseline" && $0["split"] as? String == "test" }, "\(denseFigures)")
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

    @Test("`prune prune` of a convolution net writes a report with its first filters, under 2 MB, that Chromium draws")
    func convolutionNet() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let dense = folder.appendingPathComponent("l5.safetensors").path, pruned = folder.appendingPathComponent("l5-90.safetensors").path
        #expect(try prune("train", "--model", "lenet5", "--epochs", "1", "--quiet", "--out", dense).status == 0)
        let r = try prune("prune", dense, "--sparsity", "0.9", "--quiet", "--out", pruned)
        let report = folder.appendingPathComponent("l5-90.report.html").path
        #expect(r.status == 0 && r.stdout.contains("report: \(report)"), "\(r)")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: report)[.size] as? Int)
        #expect(size < 2_000_000, "\(size) bytes")
        let page = try String(contentsOfFile: report, encoding: .utf8)
        #expect(!page.contains("id=\"pixel-connections\""), "LeNet-5 starts with a convolution")
        let dom = try renderedDocument(report, in: folder)
        for id in ["first-filters", "accuracy-sparsity", "layer-sparsity", "costs", "weights", "removed-units", "saliency"] {
            #expect(dom.firstMatch(of: try Regex("<svg[^>]*id=\"\(id)\"[^>]*>\\s*<title[^>]*>([^<]+)</title>")) != nil, "chart \(id)")
        }
        // One-shot from a loaded model: the dense line is the model as loaded, on the test split.
        let json = try singleJSONObject(try prune("report", report, "--json", "--out", folder.appendingPathComponent("again.html").path).stdout)
        #expect((json["dense"] as? [[String: Any]])?.map { $0["stage"] as? String } == ["as loaded"])
        #expect(((json["filters"] as? [String: Any])?["filters"] as? [Any])?.count == 6)
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
        // A report whose data contradicts itself (a pixel map one count short) is refused, not drawn.
        let run = try PrunedWithReport.shared.get()
        let json = try prune("report", run.report, "--json", "--out", folder.appendingPathComponent("ok.html").path)
        var object = try singleJSONObject(json.stdout)
        var pixels = try #require(object["pixels"] as? [String: Any])
        pixels["surviving"] = (pixels["surviving"] as? [Int]).map { Array($0.dropLast()) }
        object["pixels"] = pixels
        let damaged = folder.appendingPathComponent("damaged.json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: damaged))
        let refused = try prune("report", damaged, "--out", folder.appendingPathComponent("d.html").path)
        #expect(refused.status == 1 && refused.stderr.contains(damaged) && refused.stderr.contains("pixels"), "\(refused)")
        let misuse = try prune("report", fake, "--sensitivity")
        #expect(misuse.status == 2, "\(misuse)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("fake.report.html").path))
    }
}

@Suite("prune sensitivity")
struct SensitivityCommandTests {
    @Test("`prune sensitivity` measures each tensor alone on held-out data, caches the curves beside the model, and the report draws them")
    func curvesCachedAndDrawn() throws {
        let dense = try TrainedModel.shared.get()
        try #require(dense.train.status == 0, "\(dense.train)")
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("d.safetensors").path
        try FileManager.default.copyItem(atPath: dense.path, toPath: model)
        let first = try prune("sensitivity", model, "--levels", "0.5", "0.99", "--samples", "500", "--json")
        #expect(first.status == 0, "\(first)")
        let json = try singleJSONObject(first.stdout)
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(layers.map { $0["path"] as? String } == ["fc1.weight", "fc2.weight", "fc3.weight"])
        #expect(json["samples"] as? Int == 500 && json["split"] as? String == "validation")
        for layer in layers {
            let levels = try #require(layer["levels"] as? [[String: Any]])
            let sparsity = levels.compactMap { $0["sparsity"] as? Double }, accuracy = levels.compactMap { $0["accuracy"] as? Double }
            #expect(sparsity.count == 2 && abs(sparsity[0] - 0.5) < 0.01 && abs(sparsity[1] - 0.99) < 0.01, "\(sparsity)")
            #expect(accuracy[1] < accuracy[0], "\(layer["path"] ?? "")")
        }
        let cache = folder.appendingPathComponent("d.sensitivity.json").path
        #expect(FileManager.default.fileExists(atPath: cache))
        // The same question again is answered from the cache, with the same figures.
        let again = try prune("sensitivity", model, "--levels", "0.5", "0.99", "--samples", "500")
        #expect(again.status == 0 && again.stdout.contains("cached in \(cache)") && !again.stdout.contains(" s; cached"), "\(again)")
        #expect(again.stdout.contains(String(format: "%.2f", 100 * (((layers[0]["levels"] as? [[String: Any]])?[1]["accuracy"] as? Double) ?? -1))))
        // The report of the model draws the cached curves.
        let page = folder.appendingPathComponent("d.html").path
        #expect(try prune("report", model, "--out", page).status == 0)
        #expect(try String(contentsOfFile: page, encoding: .utf8).contains("id=\"sensitivity\""))
        // A changed model file is measured afresh; other settings too.
        let pruned = folder.appendingPathComponent("p.safetensors").path
        #expect(try prune("prune", model, "--sparsity", "0.5", "--no-report", "--quiet", "--out", pruned).status == 0)
        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: pruned, toPath: model)
        let changed = try prune("sensitivity", model, "--levels", "0.5", "0.99", "--samples", "500")
        #expect(changed.status == 0 && changed.stdout.contains(" s; cached in"), "\(changed)")
        let bad = try prune("sensitivity", model, "--levels", "1.5")
        #expect(bad.status == 2 && bad.stderr.contains("--levels"), "\(bad)")
    }
}
