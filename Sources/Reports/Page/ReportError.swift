/// What can stop a report from being built or read back.
public enum ReportError: Error, Equatable, CustomStringConvertible {
    /// The "before" model does not fit the pruned one (other input or output shapes).
    case baselineMismatch(String)
    /// A report's data contradicts itself (an image with the wrong number of pixels, a
    /// saliency sample without a map per model): a damaged or hand-edited report.
    case inconsistent(String)

    public var description: String {
        switch self {
        case let .baselineMismatch(why): "the baseline does not fit the pruned model: \(why)"
        case let .inconsistent(why): "the report's data is inconsistent: \(why)"
        }
    }
}

extension PruningReport {
    /// Checks that the data read back from a report agrees with itself, so that drawing it
    /// cannot fail: every image has its size's pixels, every sample a map per model.
    /// - Throws: `ReportError.inconsistent` naming the part.
    public func check() throws {
        func need(_ ok: Bool, _ what: @autoclosure () -> String) throws { if !ok { throw ReportError.inconsistent(what()) } }
        if let p = pixels { try need(p.height > 0 && p.width > 0 && p.surviving.count == p.height * p.width, "pixels: \(p.surviving.count) counts for \(p.height)×\(p.width)") }
        if let c = classMeans {
            try need(c.classes.count == c.images.count && c.images.allSatisfy { $0.count == c.height * c.width } && c.height > 0 && c.width > 0,
                     "classMeans: images do not match \(c.height)×\(c.width) or the classes")
        }
        if let f = filters {
            try need(f.kernelHeight > 0 && f.kernelWidth > 0 && f.filters.allSatisfy { $0.count == f.kernelHeight * f.kernelWidth }
                     && f.surviving.count == f.filters.count && f.removed.count == f.filters.count, "filters: sizes disagree")
        }
        if let s = saliency {
            try need(s.height > 0 && s.width > 0, "saliency: empty image size")
            for (i, sample) in s.samples.enumerated() {
                try need(sample.image.count == s.height * s.width && sample.maps.count == s.models.count && sample.predictions.count == s.models.count
                         && sample.maps.allSatisfy { $0.count == s.height * s.width }, "saliency: sample \(i) does not have one \(s.height)×\(s.width) map per model")
            }
        }
        if let h = histogram {
            try need(h.edges.count == h.after.count + 1 && (h.before.map { $0.count == h.after.count } ?? true), "histogram: \(h.edges.count) edges for \(h.after.count) bins")
        }
    }
}
