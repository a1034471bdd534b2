import Foundation

/// An axis laid onto pixels: its ticks, and the pixel positions of its domain's two ends.
package struct PlotAxis: Sendable {
    /// What the axis shows and how its labels read.
    package var axis: Axis
    /// The domain and tick values.
    package var ticks: AxisTicks
    /// The pixel of `ticks.domain.lowerBound` (left end of x, bottom of y).
    package var start: Double
    /// The pixel of `ticks.domain.upperBound`.
    package var end: Double

    /// Lays `axis` for `data` onto the pixels `start` (low end) to `end` (high end).
    package init(_ axis: Axis, data: [Double], logFloorBelowData: Bool = false, start: Double = 0, end: Double = 1) {
        self.axis = axis; self.ticks = AxisTicks(axis, data: data, logFloorBelowData: logFloorBelowData)
        self.start = start; self.end = end
    }

    /// The pixel of `value`; nil when it cannot be drawn (not finite, or ≤ 0 on a log axis).
    /// Values outside the domain map outside `start...end` (the plot clips them).
    package func position(_ value: Double) -> Double? {
        guard let t = fraction(value) else { return nil }
        return start + t * (end - start)
    }

    /// The pixel of `value` held to the domain: below the floor (≤ 0 on a log axis included)
    /// at `start`, above the top at `end`. Bars and bins grow from here.
    package func clampedPosition(_ value: Double) -> Double {
        guard !value.isNaN else { return start }
        let t = fraction(value) ?? (value > 0 ? 1 : 0)
        return start + min(1, max(0, t)) * (end - start)
    }

    /// The pixel of the floor a bar grows from: 0 when the domain holds it, else the domain's
    /// end nearer to 0 (a log axis' floor).
    package var baseline: Double { clampedPosition(axis.scale == .log ? ticks.domain.lowerBound : 0) }

    /// The tick labels, in the axis' format.
    package var labels: [String] { ticks.values.map { axis.format.tickLabel($0, step: ticks.step) } }

    /// Where `value` falls in the domain, 0 at its low end and 1 at its high end.
    private func fraction(_ value: Double) -> Double? {
        let domain = ticks.domain
        switch axis.scale {
        case .linear:
            guard value.isFinite else { return nil }
            return (value - domain.lowerBound) / (domain.upperBound - domain.lowerBound)
        case .log:
            guard value.isFinite, value > 0 else { return nil }
            return (log10(value) - log10(domain.lowerBound)) / (log10(domain.upperBound) - log10(domain.lowerBound))
        }
    }
}

/// The short name of an axis for hover texts: its label without the unit in parentheses
/// (`"accuracy (%)"` → `"accuracy"`).
func shortName(_ axis: Axis) -> String {
    guard let open = axis.label.firstIndex(of: "("), open > axis.label.startIndex else { return axis.label }
    return axis.label[..<open].trimmingCharacters(in: .whitespaces)
}
