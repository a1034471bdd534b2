import Foundation
import Pruning

extension PruningReport {
    /// The evidence of the plan's search (`criterion: auto`, `threshold: {auto: …}`): every
    /// probe in order, the strategies' ranking and what the search cost; nil without a search.
    func searchSection() -> String? {
        guard let search = history?.search else { return nil }
        let budget = search.maximumDrop.map {
            String(format: " Budget: %.2f points below the unpruned model's %.2f%%.", 100 * $0, 100 * search.baseline)
        } ?? String(format: " The unpruned model: %.2f%%.", 100 * search.baseline)
        let caption = String(format: "Every probe cut a copy of the model, fine-tuned it %d epoch(s) and measured it on the %@ split (never the test split).",
                             search.probeEpochs, search.split.rawValue) + budget
            + String(format: " Chosen: %@ at %.2f%% %@, after %d probes (%d epochs, %.1f s).", search.strategy.description,
                     100 * search.sparsity, search.sharedObjective.map { "of \($0.rawValue) removed" } ?? "sparsity",
                     search.probes.count, search.epochs, search.seconds)
        let objective = search.sharedObjective
        func row(_ p: SearchReport.Probe, _ first: String) -> String {
            let verdict = p.kept.map { $0 ? "within" : "over" } ?? ""
            return "<tr><td>\(first)</td><td>\(escapeXML(p.stage))</td><td>\(escapeXML(p.label))</td>"
                + (objective == nil ? "" : String(format: "<td>%.2f%%</td>", 100 * p.target))
                + String(format: "<td>%.2f%%</td><td>%.2f%%</td><td>%.4f</td>", 100 * p.sparsity, 100 * p.accuracy, p.loss)
                + "<td>\(verdict)</td>" + String(format: "<td>%.1f s</td></tr>", p.seconds)
        }
        let removed = objective.map { "<th>\($0.rawValue) removed</th>" } ?? ""
        let head = "<thead><tr><th>#</th><th>stage</th><th>strategy</th>\(removed)<th>sparsity</th><th>\(search.split.rawValue) accuracy</th><th>loss</th><th>budget</th><th>time</th></tr></thead>"
        var parts = ["<table class=\"search\" id=\"search-probes\"><caption>\(escapeXML(caption))</caption>\(head)<tbody>"
                     + search.probes.enumerated().map { row($1, String($0 + 1)) }.joined() + "</tbody></table>"]
        if !search.ranking.isEmpty {
            parts.append("<table class=\"search\" id=\"search-ranking\"><caption>The strategies at the same sparsity, best first.</caption>\(head)<tbody>"
                         + search.ranking.enumerated().map { row($1, String($0 + 1)) }.joined() + "</tbody></table>")
        }
        if !search.schedules.isEmpty {
            let epochs = search.scheduleEpochs.map { " (\($0) epochs each)" } ?? ""
            parts.append("<table class=\"search\" id=\"search-schedules\"><caption>The schedules at the same target and budget\(epochs), best first; the first runs with the fine-tuning epochs.</caption>\(head)<tbody>"
                         + search.schedules.enumerated().map { row($1, String($0 + 1)) }.joined() + "</tbody></table>")
        }
        return parts.joined(separator: "\n")
    }
}
