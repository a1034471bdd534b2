import Reports
import Testing

@Suite("Chart axes")
struct AxisTests {
    /// `a` and `b` agree to a relative 1e-12.
    func close(_ a: [Double], _ b: [Double]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-12 * max(abs($0), abs($1)) }
    }

    @Test("a linear axis over 0...0.93 ticks every 0.2 from 0 to 1.0 and widens its domain to 1.0")
    func linearTicks() {
        let ticks = AxisTicks(Axis("accuracy"), data: [0, 0.4, 0.93])
        #expect(ticks.domain == 0...1)
        #expect(close(ticks.values, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), "\(ticks.values)")
        #expect(ticks.step == 0.2)
        // 1200...9100: span/5 = 1580 → a step of 2000, from 0 to 10000.
        let large = AxisTicks(Axis("steps"), data: [1200, 9100])
        #expect(large.domain == 0...10_000 && close(large.values, [0, 2000, 4000, 6000, 8000, 10_000]))
        // -3...12: span/5 = 3 → 5, from -5 to 15.
        let signed = AxisTicks(Axis("v"), data: [12, -3])
        #expect(signed.domain == -5...15 && close(signed.values, [-5, 0, 5, 10, 15]))
    }

    @Test("a fixed range is kept as given, with the round ticks inside it")
    func fixedRange() {
        let ticks = AxisTicks(Axis("sparsity", range: 0.05...0.95), data: [5, 7])
        #expect(ticks.domain == 0.05...0.95)
        // span/5 = 0.18 → 0.2: ticks 0.2, 0.4, 0.6, 0.8 (0 and 1 fall outside).
        #expect(close(ticks.values, [0.2, 0.4, 0.6, 0.8]), "\(ticks.values)")
    }

    @Test("an empty or single-valued range is padded instead of having zero width")
    func degenerateRanges() {
        let single = AxisTicks(Axis("y"), data: [0.9])
        // 0.81...0.99 → span/5 = 0.036 → 0.05: 0.8 to 1.0.
        #expect(abs(single.domain.lowerBound - 0.8) < 1e-12 && abs(single.domain.upperBound - 1.0) < 1e-12)
        #expect(single.values.count == 5)
        let zero = AxisTicks(Axis("y"), data: [0, 0])
        #expect(zero.domain == -1...1)
        let empty = AxisTicks(Axis("y"), data: [.nan, .infinity])
        #expect(empty.domain == 0...1)
        let emptyLog = AxisTicks(Axis("y", scale: .log), data: [])
        #expect(emptyLog.domain.lowerBound > 0 && emptyLog.domain.upperBound > emptyLog.domain.lowerBound)
    }

    @Test("a log axis over 3e-4...2 ticks at every power of ten from 1e-4 to 1e1")
    func logTicks() {
        let ticks = AxisTicks(Axis("magnitude", scale: .log), data: [3e-4, 0.5, 2])
        #expect(close(ticks.values, [1e-4, 1e-3, 1e-2, 1e-1, 1, 10]), "\(ticks.values)")
        #expect(close([ticks.domain.lowerBound, ticks.domain.upperBound], [1e-4, 10]))
        #expect(ticks.step == nil)
    }

    @Test("a log axis leaves out values ≤ 0 and takes its range from the positive ones")
    func logDropsNonPositive() {
        let ticks = AxisTicks(Axis("count", scale: .log), data: [-5, 0, 3, 70])
        #expect(close(ticks.values, [1, 10, 100]))
        // Twelve decades tick every second decade.
        let wide = AxisTicks(Axis("count", scale: .log), data: [1, 1e12])
        #expect(close(wide.values, [1, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12]))
    }

    @Test("a value's pixel is start + (v − low)/(high − low) × (end − start), and log10 of each on a log axis")
    func positions() {
        var linear = PlotAxis(Axis("x"), data: [0, 0.93], start: 50, end: 550)
        #expect(abs(linear.position(0.3)! - (50 + 0.3 * 500)) < 1e-9)
        linear.start = 300; linear.end = 40   // a y axis grows upwards
        #expect(abs(linear.position(0.25)! - (300 - 0.25 * 260)) < 1e-9)
        #expect(linear.position(.nan) == nil && linear.position(.infinity) == nil)
        let log = PlotAxis(Axis("x", scale: .log), data: [1, 1000], start: 0, end: 300)
        #expect(abs(log.position(10)! - 100) < 1e-9 && abs(log.position(31.622776601683793)! - 150) < 1e-9)
        #expect(log.position(0) == nil && log.position(-2) == nil)
        #expect(log.clampedPosition(0) == 0 && log.clampedPosition(1e9) == 300)
    }

    @Test("tick labels read in each format with the digits their step needs")
    func tickLabels() {
        #expect([0, 0.2, 0.6, 1].map { Axis.Format.number.tickLabel($0, step: 0.2) } == ["0", "0.2", "0.6", "1.0"])
        #expect(Axis.Format.number.tickLabel(0.25, step: 0.05) == "0.25")
        #expect(Axis.Format.number.tickLabel(1200, step: 200) == "1200")
        #expect(Axis.Format.number.tickLabel(1.5e-5, step: nil) == "1.5e-05")
        #expect(Axis.Format.number.tickLabel(1e-3, step: nil) == "0.001")
        #expect(Axis.Format.percent.tickLabel(0.9, step: 0.1) == "90%")
        #expect(Axis.Format.percent.tickLabel(0.925, step: 0.005) == "92.5%")
        #expect(Axis.Format.count.tickLabel(500, step: 100) == "500")
        #expect(Axis.Format.count.tickLabel(1200, step: 200) == "1.2k")
        #expect(Axis.Format.count.tickLabel(3_400_000, step: 200_000) == "3.4M")
        #expect(Axis.Format.count.tickLabel(1e6, step: nil) == "1M")
        #expect(Axis.Format.bytes.tickLabel(512, step: nil) == "512 B")
        #expect(Axis.Format.bytes.tickLabel(1000, step: 500) == "1.0 kB")
        #expect(Axis.Format.bytes.tickLabel(2_300_000, step: 100_000) == "2.3 MB")
        #expect(Axis.Format.seconds.tickLabel(850e-6, step: nil) == "850 µs")
        #expect(Axis.Format.seconds.tickLabel(0.012, step: 0.002) == "12 ms")
        #expect(Axis.Format.seconds.tickLabel(1.5, step: 0.5) == "1.5 s")
        #expect(Axis.Format.seconds.tickLabel(0, step: 0.5) == "0 s")
    }

    @Test("hover values keep four significant digits in the axis' unit, without trailing zeros")
    func valueLabels() {
        #expect(Axis.Format.percent.valueLabel(0.8812) == "88.12%")
        #expect(Axis.Format.percent.valueLabel(0.9) == "90%")
        #expect(Axis.Format.number.valueLabel(0.5) == "0.5")
        #expect(Axis.Format.number.valueLabel(3.14159) == "3.142")
        #expect(Axis.Format.count.valueLabel(1_234_567) == "1.23M")
        #expect(Axis.Format.count.valueLabel(235_200) == "235.2k")
        #expect(Axis.Format.bytes.valueLabel(2_500_000) == "2.5 MB")
        #expect(Axis.Format.seconds.valueLabel(0.0125) == "12.5 ms")
    }
}
