import Foundation

/// An axis made concrete for some data: the interval it shows and its round tick values.
///
/// Linear ticks step by 1, 2 or 5 times a power of ten (about five intervals); log ticks are
/// powers of ten. Without a fixed range the data's range is widened to the ticks around it.
package struct AxisTicks: Equatable, Sendable {
    /// The interval the axis shows (positive on a log axis).
    package var domain: ClosedRange<Double>
    /// The tick values inside `domain`, increasing.
    package var values: [Double]
    /// The distance between linear ticks, which sets how many digits labels need; nil on a log axis.
    package var step: Double?

    /// Ticks as given.
    package init(domain: ClosedRange<Double>, values: [Double], step: Double?) {
        self.domain = domain; self.values = values; self.step = step
    }

    /// The ticks of `axis` for `data`: its fixed range if set, else the data's range widened to
    /// round ticks. Non-finite values are ignored, and on a log axis so are values ≤ 0.
    /// An empty or single-valued range is padded, so the domain never has zero width.
    /// - Parameter logFloorBelowData: on a log axis, put the floor at least half the smallest
    ///   value below it, so the smallest bar or bin stands visibly above the floor.
    package init(_ axis: Axis, data: [Double], logFloorBelowData: Bool = false) {
        let usable = data.filter { $0.isFinite && (axis.scale == .linear || $0 > 0) }
        switch axis.scale {
        case .linear:
            if let range = axis.range, range.lowerBound.isFinite, range.upperBound.isFinite, range.upperBound > range.lowerBound {
                self = Self.linear(range, widen: false)
            } else {
                self = Self.linear(Self.padded(usable.min() ?? 0, usable.max() ?? 1), widen: true)
            }
        case .log:
            let low = usable.min().map { logFloorBelowData ? $0 / 2 : $0 }
            if let range = axis.range, range.upperBound.isFinite, range.upperBound > 0 {
                let lower = range.lowerBound > 0 ? range.lowerBound : min(low ?? range.upperBound / 10, range.upperBound / 10)
                if lower < range.upperBound { self = Self.log(lower...range.upperBound, widen: false); return }
            }
            self = Self.log((low ?? 1)...(usable.max() ?? 10), widen: true)
        }
    }

    /// The ticks of a linear axis over `range`: multiples of a 1-2-5 step, about five intervals.
    /// With `widen`, the domain grows to the tick at or beyond each end.
    package static func linear(_ range: ClosedRange<Double>, widen: Bool) -> AxisTicks {
        let (mantissa, exponent) = niceStep(for: (range.upperBound - range.lowerBound) / 5)
        let step = value(1, mantissa: mantissa, exponent: exponent)
        let slack = 1e-9
        let first = Int((range.lowerBound / step + (widen ? slack : -slack)).rounded(widen ? .down : .up))
        let last = Int((range.upperBound / step + (widen ? -slack : slack)).rounded(widen ? .up : .down))
        let ticks = first <= last ? (first...last).map { value($0, mantissa: mantissa, exponent: exponent) } : []
        let domain = widen ? (ticks.first ?? range.lowerBound)...(ticks.last ?? range.upperBound) : range
        return AxisTicks(domain: domain, values: ticks, step: step)
    }

    /// The ticks of a log axis over positive `range`: powers of ten, every decade up to eight
    /// decades and every n-th decade beyond. With `widen`, the domain grows to the powers around it.
    package static func log(_ range: ClosedRange<Double>, widen: Bool) -> AxisTicks {
        let slack = 1e-9   // log10(1e-3) may come out a hair off -3
        var low = Int((log10(range.lowerBound) + (widen ? slack : -slack)).rounded(widen ? .down : .up))
        var high = Int((log10(range.upperBound) + (widen ? -slack : slack)).rounded(widen ? .up : .down))
        if widen && low == high { low -= 1; high += 1 }
        let every = max(1, (high - low + 7) / 8)
        let ticks = low <= high ? stride(from: low, through: high, by: every).map { pow(10, Double($0)) } : []
        let domain = widen ? pow(10, Double(low))...pow(10, Double(high)) : range
        return AxisTicks(domain: domain, values: ticks, step: nil)
    }

    /// A range of nonzero width around `low...high`: a single value gets 10% of its magnitude
    /// (or 1 when it is zero) on either side.
    static func padded(_ low: Double, _ high: Double) -> ClosedRange<Double> {
        if high > low { return low...high }
        let pad = low == 0 ? 1 : abs(low) * 0.1
        return (low - pad)...(low + pad)
    }

    /// The 1-2-5 step at or above `raw`, as mantissa × 10^exponent.
    static func niceStep(for raw: Double) -> (mantissa: Int, exponent: Int) {
        guard raw.isFinite, raw > 0 else { return (1, 0) }
        var exponent = Int(log10(raw).rounded(.down))
        let fraction = raw / pow(10, Double(exponent))
        let mantissa: Int
        if fraction <= 1 + 1e-9 { mantissa = 1 } else if fraction <= 2 + 1e-9 { mantissa = 2 } else if fraction <= 5 + 1e-9 { mantissa = 5 } else {
            mantissa = 1; exponent += 1
        }
        return (mantissa, exponent)
    }

    /// `k × mantissa × 10^exponent`, divided by an exact power of ten for negative exponents,
    /// so `3 × 0.2` is `0.6`, not `0.6000000000000001`.
    private static func value(_ k: Int, mantissa: Int, exponent: Int) -> Double {
        exponent >= 0 ? Double(k * mantissa) * pow(10, Double(exponent)) : Double(k * mantissa) / pow(10, Double(-exponent))
    }
}
