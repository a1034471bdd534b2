extension Raster.Colormap {
    /// The sequential map's stops, light to dark: viridis (van der Walt & Smith, 2015) run
    /// backwards, readable with every common colour-vision deficiency and in grayscale.
    static let sequentialStops: [(UInt8, UInt8, UInt8)] = [(0xFD, 0xE7, 0x25), (0x5D, 0xC8, 0x63), (0x21, 0x90, 0x8C),
                                                           (0x3B, 0x52, 0x8B), (0x44, 0x01, 0x54)]
    /// The diverging map's stops: Okabe-Ito blue, white, Okabe-Ito vermillion.
    static let divergingStops: [(UInt8, UInt8, UInt8)] = [(0x00, 0x72, 0xB2), (0xFF, 0xFF, 0xFF), (0xD5, 0x5E, 0x00)]
    /// The colour of a value that is not a number.
    static let missing: UInt8 = 0x99

    /// Samples per pixel of a PNG in this map: 1 for grayscale, 3 for colour.
    var channels: Int { self == .grayscale ? 1 : 3 }

    /// The samples of `t` (0 at the low end, 1 at the high end; held to 0...1) in this map;
    /// NaN gives a neutral gray.
    func samples(_ t: Double) -> [UInt8] {
        guard !t.isNaN else { return Array(repeating: Self.missing, count: channels) }
        let t = min(1, max(0, t))
        switch self {
        case .grayscale: return [UInt8((t * 255).rounded())]
        case .sequential: return Self.interpolate(Self.sequentialStops, t)
        case .diverging: return Self.interpolate(Self.divergingStops, t)
        }
    }

    /// The colour at `t` on evenly spaced `stops`, mixed linearly in RGB.
    private static func interpolate(_ stops: [(UInt8, UInt8, UInt8)], _ t: Double) -> [UInt8] {
        let position = t * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(position))
        let f = position - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ x: UInt8, _ y: UInt8) -> UInt8 { UInt8((Double(x) + (Double(y) - Double(x)) * f).rounded()) }
        return [mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2)]
    }
}

extension Raster {
    /// The values mapped to the colormap's ends: `range` if set, else the finite values' own
    /// range (for `.diverging`, ±the largest magnitude, so zero is white).
    package var resolvedRange: ClosedRange<Double> {
        if let range { return Double(range.lowerBound)...Double(range.upperBound) }
        let finite = values.lazy.filter(\.isFinite).map(Double.init)
        if colormap == .diverging {
            let largest = finite.map(abs).max() ?? 0
            return -largest...largest
        }
        return (finite.min() ?? 0)...(finite.max() ?? 0)
    }

    /// The raster's pixels as 8-bit samples, row by row (1 per pixel for grayscale, else 3):
    /// values below the range take the low end's colour, above it the high end's, NaN a neutral
    /// gray. When the range has no width every value takes the low end's colour (the middle's,
    /// white, for `.diverging`).
    package func samples() -> [UInt8] {
        let range = resolvedRange
        let width = range.upperBound - range.lowerBound
        var out = [UInt8]()
        out.reserveCapacity(values.count * colormap.channels)
        for value in values {
            let v = Double(value)
            let t: Double
            if v.isNaN { t = .nan } else if width > 0 { t = (v - range.lowerBound) / width } else { t = colormap == .diverging ? 0.5 : 0 }
            out += colormap.samples(t)
        }
        return out
    }

    /// The raster as PNG bytes (gray or RGB, 8 bits), one pixel per value.
    package func png() -> [UInt8] {
        PNGEncoder.encode(width: width, height: height, channels: colormap.channels, pixels: samples())
    }
}
