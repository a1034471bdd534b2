import Foundation

/// The charts of what the pruned network still looks at.
extension PruningReport {
    /// Surviving first-layer connections per input pixel.
    func pixelChart() -> ImageGrid? {
        guard let p = pixels else { return nil }
        let values = p.surviving.map { Float($0) }
        let top = Float(max(p.surviving.max() ?? 1, 1))
        let tile = Raster(width: p.width, height: p.height, values: values, colormap: .sequential, range: 0...top,
                          caption: "\(p.deadPixels) of \(p.width * p.height) pixels unused")
        return ImageGrid(id: "pixel-connections", title: "What \(p.layer) still looks at",
                         tiles: [tile], columns: 1, tileSize: 208,
                         scale: (colormap: .sequential, range: 0...top, label: "connections kept (of \(p.possible))"))
    }

    /// The mean input image of each class, beside the pixel map when there is one.
    func classMeansChart() -> ImageGrid? {
        guard let c = classMeans, !c.images.isEmpty else { return nil }
        var tiles = zip(c.classes, c.images).map { label, image in
            Raster(width: c.width, height: c.height, values: image, colormap: .grayscale, caption: "class \(label)")
        }
        guard let map = pixelChart()?.tiles.first, let p = pixels, p.width == c.width, p.height == c.height else {
            return ImageGrid(id: "class-means", title: "The average input image of each class", tiles: tiles, columns: 5, tileSize: 84)
        }
        tiles.insert(Raster(width: map.width, height: map.height, values: map.values, colormap: .sequential, range: map.range,
                            caption: "\(p.layer) keeps"), at: 0)
        return ImageGrid(id: "class-means", title: "What \(p.layer) keeps, beside the average image of each class",
                         tiles: tiles, columns: 6, tileSize: 84,
                         scale: (colormap: .sequential, range: map.range ?? 0...1, label: "connections kept per pixel (first image)"))
    }

    /// The first convolution's filters, kept and removed.
    func filterChart() -> ImageGrid? {
        guard let f = filters else { return nil }
        let limit = f.filters.map { $0.map(abs).max() ?? 0 }.max() ?? 1
        let tiles = f.filters.indices.map { i in
            Raster(width: f.kernelWidth, height: f.kernelHeight, values: f.filters[i], colormap: .diverging, range: -max(limit, 1e-12)...max(limit, 1e-12),
                   caption: f.removed[i] ? "\(i): cut" : "\(i): \(f.surviving[i])/\(f.kernelWidth * f.kernelHeight * f.inputChannels)")
        }
        return ImageGrid(id: "first-filters", title: "The first convolution's filters (\(f.layer)): weights kept / all",
                         tiles: tiles, columns: min(8, tiles.count), tileSize: 56,
                         scale: (colormap: .diverging, range: -limit...limit, label: "weight"))
    }

    /// Neurons and filters wholly cut, per layer.
    func removedUnitsChart() -> BarChart? {
        guard !removedUnits.layers.isEmpty else { return nil }
        return BarChart(id: "removed-units", title: "Neurons and filters removed per layer",
                        categories: removedUnits.layers.map { "\($0.name) (\($0.unit)s)" }, categoryLabel: "layer",
                        series: [BarChart.BarSeries("removed", values: removedUnits.layers.map { Double($0.removed) / Double(max($0.units, 1)) }, color: 3)],
                        y: Axis("units with every weight cut (%)", format: .percent, range: 0...1))
    }

    /// Saliency maps, the image and one map per model in each row.
    func saliencyChart() -> ImageGrid? {
        guard let s = saliency, !s.samples.isEmpty else { return nil }
        var tiles: [Raster] = []
        for sample in s.samples {
            tiles.append(Raster(width: s.width, height: s.height, values: sample.image, colormap: .grayscale, caption: "label \(sample.label)"))
            for (m, name) in s.models.enumerated() {
                tiles.append(Raster(width: s.width, height: s.height, values: sample.maps[m], colormap: .sequential,
                                    caption: "\(name.split(separator: " ").first ?? ""): \(sample.predictions[m])"))
            }
        }
        return ImageGrid(id: "saliency", title: "Saliency: |∂ predicted class score / ∂ pixel|, " + s.models.joined(separator: " vs ") + " (captions: the predicted class)",
                         tiles: tiles, columns: 1 + s.models.count, tileSize: 84,
                         scale: (colormap: .sequential, range: 0...1, label: "gradient magnitude (each map scaled to its maximum)"))
    }
}
