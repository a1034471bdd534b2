import FileFormats
import Foundation
import Reports
import TensorCore
import Testing

@Suite("PNG images and image grids")
struct PNGTests {
    @Test("gray and RGB PNGs decode with the project's PNG reader to the very pixels encoded", arguments: [1, 3])
    func roundTrip(channels: Int) throws {
        var rng = SeededGenerator(seed: 13)
        // 37 × 23: odd sizes, many rows, values over the whole byte range.
        let (width, height) = (37, 23)
        let pixels = (0..<(width * height * channels)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let png = PNGEncoder.encode(width: width, height: height, channels: channels, pixels: pixels)
        let image = try ImageDecoder.decode(Data(png), path: "encoded.png", channels: channels)
        #expect(image.width == width && image.height == height && image.channels == channels)
        #expect(image.pixels == pixels)
    }

    @Test("the reader checks the chunks' CRCs: the encoder's pass, a flipped CRC byte is refused")
    func checksums() throws {
        let png = PNGEncoder.encode(width: 2, height: 2, channels: 1, pixels: [0, 85, 170, 255])
        #expect(try ImageDecoder.decode(Data(png), path: "ok.png", channels: 1).pixels == [0, 85, 170, 255])
        // Signature 8 bytes, IHDR: length 4 + type 4 + data 13 + CRC 4; the IHDR's CRC ends at byte 33.
        var broken = png
        broken[32] ^= 0x01
        #expect(throws: (any Error).self) { try ImageDecoder.decode(Data(broken), path: "broken.png", channels: 1) }
    }

    @Test("grayscale maps the data's range to black...white, NaN to a neutral gray")
    func grayscale() {
        let raster = Raster(width: 4, height: 1, values: [2, 3, 4, .nan], colormap: .grayscale, caption: "g")
        // (3 − 2)/(4 − 2) = 0.5 → 127.5, rounded away from zero.
        #expect(raster.samples() == [0, 128, 255, 0x99])
        let fixed = Raster(width: 2, height: 1, values: [-1, 10], colormap: .grayscale, range: 0...1, caption: "clamped")
        #expect(fixed.samples() == [0, 255])
    }

    @Test("diverging maps ±the largest magnitude to blue and vermillion with white at zero")
    func diverging() {
        let raster = Raster(width: 4, height: 1, values: [-2, 0, 2, 1], colormap: .diverging, caption: "d")
        // 1 is halfway from white (255, 255, 255) to vermillion (213, 94, 0).
        #expect(raster.samples() == [0x00, 0x72, 0xB2, 255, 255, 255, 0xD5, 0x5E, 0x00, 234, 175, 128])
        let flat = Raster(width: 1, height: 1, values: [0], colormap: .diverging, caption: "zero")
        #expect(flat.samples() == [255, 255, 255])
    }

    @Test("the sequential map runs light to dark")
    func sequential() {
        let raster = Raster(width: 5, height: 1, values: [0, 1, 2, 3, 4], colormap: .sequential, caption: "s")
        let rgb = raster.samples()
        let luminance = (0..<5).map { (i: Int) -> Double in
            let (r, g, b) = (Double(rgb[3 * i]), Double(rgb[3 * i + 1]), Double(rgb[3 * i + 2]))
            return 0.2126 * r + 0.7152 * g + 0.0722 * b
        }
        #expect(zip(luminance, luminance.dropFirst()).allSatisfy { $0 > $1 }, "\(luminance)")
        #expect(Array(rgb.prefix(3)) == [0xFD, 0xE7, 0x25] && Array(rgb.suffix(3)) == [0x44, 0x01, 0x54])
    }

    @Test("an image grid embeds each raster as a PNG that decodes to its colours, captions under it, and a colour bar")
    func imageGrid() throws {
        let mean = Raster(width: 3, height: 2, values: [0, 0.2, 0.4, 0.6, 0.8, 1], colormap: .grayscale, caption: "T-shirt/top")
        let weights = Raster(width: 2, height: 2, values: [-1, 0, 0.5, 1], colormap: .diverging, caption: "a caption far too long for one tile")
        let grid = ImageGrid(id: "pixels", title: "What the network looks at", tiles: [mean, weights, mean], columns: 2, tileSize: 84,
                             scale: (.diverging, -1...1, "weight"))
        let root = try parsedChart(grid)
        let tiles = root.elements(class: "tile")
        #expect(tiles.count == 3)
        for (tile, raster) in zip(tiles, [mean, weights, mean]) {
            let image = try #require(tile.elements("image").first)
            #expect(image.attributes["style"] == "image-rendering:pixelated" && image.attributes["preserveAspectRatio"] == "none")
            #expect(image.hover == raster.caption)
            let base64 = try #require(image.attributes["href"]?.dropFirst("data:image/png;base64,".count))
            let png = try #require(Data(base64Encoded: String(base64)))
            let channels = raster.colormap == .grayscale ? 1 : 3
            let decoded = try ImageDecoder.decode(png, path: raster.caption, channels: channels)
            #expect(decoded.width == raster.width && decoded.height == raster.height && decoded.pixels == raster.samples())
        }
        // The longer side is the tile's size: the 3 × 2 mean is drawn 84 × 56; the third tile starts the second row.
        let firstImage = try #require(tiles[0].elements("image").first)
        #expect(firstImage.number("width") == 84 && firstImage.number("height") == 56)
        #expect(try #require(tiles[2].elements("image").first?.number("x")) == firstImage.number("x"))
        #expect(try #require(tiles[2].elements("image").first?.number("y")) > firstImage.number("y")! + 84)
        let captions = root.elements(class: "caption")
        #expect(captions[0].text == "T-shirt/top" && captions[0].hover == nil)
        #expect(captions[1].text.hasSuffix("…") && captions[1].hover == weights.caption)
        let bar = try #require(root.elements(class: "color-bar").first)
        #expect(bar.elements(class: "tick-label").map(\.text) == ["-1", "0", "1"])
        #expect(bar.elements(class: "axis-label").map(\.text) == ["weight"])
        let ramp = try #require(bar.elements("image").first?.attributes["href"]?.dropFirst("data:image/png;base64,".count))
        let rampPixels = try ImageDecoder.decode(try #require(Data(base64Encoded: String(ramp))), path: "ramp", channels: 3).pixels
        #expect(Array(rampPixels.prefix(3)) == [0x00, 0x72, 0xB2] && Array(rampPixels.suffix(3)) == [0xD5, 0x5E, 0x00])
    }

    @Test("hostile captions and titles are escaped in an image grid")
    func hostileCaption() throws {
        let hostile = "<script>&\"'"
        let grid = ImageGrid(id: "g", title: hostile, tiles: [Raster(width: 1, height: 1, values: [1], colormap: .sequential, caption: hostile)],
                             columns: 4, scale: (.sequential, 0...1, hostile))
        #expect(!grid.svg().contains("<script"))
        let root = try parsedChart(grid)
        #expect(root.elements(class: "caption").first?.text == hostile)
        #expect(root.elements(class: "color-bar").first?.elements(class: "axis-label").first?.text == hostile)
    }
}
