import RealModule

/// Shannon entropy and mutual information of a unit's activations, in bits, estimated from
/// a histogram of equal-width bins (the plug-in estimator).
///
/// Binning: `bins` equal-width bins span the smallest to the largest value of the sample;
/// value `x` falls in bin `⌊(x − min) / (max − min) · bins⌋`, the maximum in the last bin.
/// A constant sample (max = min, an all-zero unit included) fills one bin, so its entropy
/// is 0. Equal widths keep the estimate cheap and deterministic; one outlier stretching the
/// range crowds the other values into few bins and lowers the estimate.
public enum BinnedInformation {
    /// The default number of bins.
    public static let defaultBins = 32

    /// The bin of each value, as described above.
    /// - Precondition: `bins ≥ 1`, every value finite.
    /// - Complexity: O(n).
    public static func binIndices(_ values: [Float], bins: Int = defaultBins) -> [Int] {
        precondition(bins >= 1, "\(bins) bins: need at least one")
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return [Int](repeating: 0, count: values.count) }
        precondition(lo.isFinite && hi.isFinite, "values span \(lo)…\(hi): not finite")
        let width = Double(hi) - Double(lo)
        return values.map { min(Int((Double($0) - Double(lo)) / width * Double(bins)), bins - 1) }
    }

    /// The entropy `H(A) = −Σ p(a)·log2 p(a)` of the binned values, in bits (0 for an empty
    /// or constant sample; at most log2 `bins`).
    /// - Complexity: O(n + bins).
    public static func entropy(of values: [Float], bins: Int = defaultBins) -> Double {
        var counts = [Int](repeating: 0, count: bins)
        for b in binIndices(values, bins: bins) { counts[b] += 1 }
        let n = Double(values.count)
        return counts.reduce(0.0) { h, c in c == 0 ? h : h - Double(c) / n * Double.log2(Double(c) / n) }
    }

    /// The mutual information `I(A; Y) = Σ p(a,y)·log2 p(a,y) / (p(a)·p(y))` between the
    /// binned values and their class labels, in bits.
    ///
    /// It is 0 when the bins and the labels are independent in the sample and `H(Y)` when a
    /// unit's bin names its class. The plug-in estimate is biased upwards by about
    /// `(Bₐ − 1)(K − 1) / (2N·ln 2)` bits for Bₐ occupied bins, K classes and N samples
    /// (Miller 1955), the same order for every unit measured on the same sample.
    /// - Precondition: one non-negative label per value.
    /// - Complexity: O(n + bins · classes).
    public static func mutualInformation(between values: [Float], and labels: [Int32], bins: Int = defaultBins) -> Double {
        precondition(values.count == labels.count, "\(values.count) values but \(labels.count) labels")
        guard !values.isEmpty else { return 0 }
        let classes = Int(labels.max()!) + 1
        var joint = [Int](repeating: 0, count: bins * classes)
        for (b, y) in zip(binIndices(values, bins: bins), labels) { joint[b * classes + Int(y)] += 1 }
        var perBin = [Int](repeating: 0, count: bins), perClass = [Int](repeating: 0, count: classes)
        for b in 0..<bins {
            for y in 0..<classes { perBin[b] += joint[b * classes + y]; perClass[y] += joint[b * classes + y] }
        }
        let n = Double(values.count)
        var information = 0.0
        for b in 0..<bins where perBin[b] > 0 {
            for y in 0..<classes where joint[b * classes + y] > 0 {
                let c = Double(joint[b * classes + y])
                information += c / n * Double.log2(c * n / (Double(perBin[b]) * Double(perClass[y])))
            }
        }
        return max(information, 0)
    }
}
