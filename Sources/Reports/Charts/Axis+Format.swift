import Foundation

extension Axis.Format {
    /// A tick's label: as many decimals as `step` (the distance between ticks) needs, so
    /// labels on one axis agree; with no step (log ticks), as many as the value itself needs.
    ///
    /// `.number`: `0.25`, `1200`, `1e-05`; `.percent`: `0.9` → `90%`; `.count`: `1.2k`, `3M`;
    /// `.bytes`: `512 B`, `1.5 kB`; `.seconds`: `850 µs`, `1.5 s`.
    package func tickLabel(_ value: Double, step: Double?) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : value > 0 ? "∞" : "−∞" }
        if value == 0 {
            switch self {
            case .number, .count: return "0"
            case .percent: return "0%"
            case .bytes: return "0 B"
            case .seconds: return "0 s"
            }
        }
        switch self {
        case .number:
            if value != 0 && (abs(value) >= 1e6 || abs(value) < 1e-4) { return exponential(value) }
            return fixed(value, decimals: Self.decimals(step ?? value))
        case .percent:
            return fixed(value * 100, decimals: Self.decimals((step ?? value) * 100)) + "%"
        case .count:
            return Self.scaled(value, step: step, units: [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")], base: "", space: "")
        case .bytes:
            return Self.scaled(value, step: step, units: [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")], base: "B", space: " ")
        case .seconds:
            if abs(value) >= 1 { return fixed(value, decimals: min(3, Self.decimals(step ?? value))) + " s" }
            return Self.scaled(value, step: step, units: [(1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")], base: "s", space: " ")
        }
    }

    /// A value as a hover text shows it: four significant digits in the axis' units
    /// (`88.12%`, `1.235M`, `2.5 MB`, `12.5 ms`).
    package func valueLabel(_ value: Double) -> String {
        guard value.isFinite, value != 0 else { return tickLabel(value, step: 1) }
        let magnitude = self == .percent ? abs(value) * 100 : abs(value)
        // A step three digits below the leading one leaves four significant digits.
        let step = pow(10, (log10(magnitude)).rounded(.down) - 3) / (self == .percent ? 100 : 1)
        return trimmed(tickLabel(value, step: self == .number || self == .percent ? step : nil))
    }

    /// Digits after the point that `step` needs (0 for steps of 1 or more, at most 6).
    static func decimals(_ step: Double) -> Int {
        let step = abs(step)
        guard step.isFinite, step > 0 else { return 0 }
        for d in 0...6 {
            let scaled = step * pow(10, Double(d))
            if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { return d }
        }
        return 6
    }

    /// `value` in the largest unit it reaches, with the digits `step` (or the value) needs in that unit.
    private static func scaled(_ value: Double, step: Double?, units: [(Double, String)], base: String, space: String) -> String {
        for (size, unit) in units where abs(value) >= size * (1 - 1e-9) {
            let decimals = min(2, decimals((step ?? value) / size))
            return fixed(value / size, decimals: decimals) + space + unit
        }
        let unitless = base.isEmpty ? "" : space + base
        return fixed(value, decimals: min(3, decimals(step ?? value))) + unitless
    }
}

/// `value` with `decimals` digits after the point; `-0` reads `0`.
private func fixed(_ value: Double, decimals: Int) -> String {
    let text = String(format: "%.\(decimals)f", value)
    return text.allSatisfy({ "-0.".contains($0) }) ? text.replacingOccurrences(of: "-", with: "") : text
}

/// `value` as `1e-05` or `2.5e+07`: the shortest mantissa that keeps four significant digits.
private func exponential(_ value: Double) -> String {
    String(format: "%.4g", value)
}

/// A hover label without the trailing zeros four significant digits may leave (`1.500M` → `1.5M`).
private func trimmed(_ label: String) -> String {
    guard let dot = label.firstIndex(of: ".") else { return label }
    let digitsEnd = label[dot...].firstIndex { !$0.isNumber && $0 != "." } ?? label.endIndex
    var number = String(label[..<digitsEnd])
    while number.hasSuffix("0") { number.removeLast() }
    if number.hasSuffix(".") { number.removeLast() }
    return number + label[digitsEnd...]
}
