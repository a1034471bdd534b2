import FileFormats
import NeuralNetwork
import Pruning
import Reports
import TensorCore
import TestSupport
import Testing

@Suite("What the pruned network still looks at")
struct InsightTests {
    /// Flatten, then a dense layer reading a `[2, 1, 3]` image (2 channels of 3 pixels) with
    /// chosen zeros; columns are `channel·3 + pixel`.
    private func tinyDense(dropout: Bool = false) throws -> Graph {
        let weight = Tensor(shape: [2, 6], scalars: [1, 0, 2, /* channel 1 */ 0, 0, 3,
                                                     0, 0, 4, /* channel 1 */ 5, 0, 0])
        let layers: [Layer] = [Flatten(name: "flat")] + (dropout ? [Dropout(name: "drop", rate: 0.5, seed: 1)] : [])
            + [Dense(name: "fc", weight: weight, bias: nil), ReLU(name: "relu")]
        return try Graph(inputShape: [2, 1, 3], sequential: layers)
    }

    @Test("surviving connections per pixel are summed over outputs and channels; a pixel with none is dead")
    func pixelConnections() throws {
        let map = try #require(PixelConnections(try tinyDense()))
        // Pixel 0: row 0 channel 0 and row 1 channel 1; pixel 1: none; pixel 2: row 0 both channels, row 1 channel 0.
        #expect(map.surviving == [2, 0, 3])
        #expect(map.deadPixels == 1)
        #expect(map.possible == 4)   // 2 outputs × 2 channels
        #expect(map.layer == "fc" && map.channels == 2 && map.height == 1 && map.width == 3)
        #expect(PixelConnections(try tinyDense(dropout: true))?.surviving == [2, 0, 3])
    }

    @Test("no pixel map for a convolution first, or for input that is not an image")
    func noPixelMap() throws {
        #expect(PixelConnections(try Architecture.lenet5.build()) == nil)
        #expect(PixelConnections(try Architecture.lenet300.build(inputShape: [784])) == nil)
    }

    @Test("a 90%-pruned LeNet-300-100's pixel map counts exactly fc1's surviving weights")
    func prunedLeNet300() throws {
        let model = try Architecture.lenet300.build(seed: 3)
        try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.9)))
        let map = try #require(PixelConnections(model))
        let fc1 = model.parameter(at: "fc1.weight")!.value
        #expect(map.surviving.count == 784 && map.possible == 300)
        #expect(map.surviving.reduce(0, +) == fc1.nonZeroCount())
        // Pixel (0, 0) is column 0: its count is the non-zeros of that column.
        #expect(map.surviving[0] == (0..<300).filter { fc1.scalars[$0 * 784] != 0 }.count)
        #expect(map.deadPixels == map.surviving.filter { $0 == 0 }.count)
    }

    @Test("class means average each label's samples, then the channels; absent labels are left out")
    func classMeans() throws {
        let data = try Dataset(inputs: [1, 2, 3, 4,    // label 2: channel means [2, 3]
                                        0, 0, 2, 6,    // label 0: [1, 3]
                                        5, 6, 7, 8],   // label 2: [6, 7]
                               sampleShape: [2, 1, 2], labels: [2, 0, 2])
        let means = try #require(ClassMeans(data))
        #expect(means.classes == [0, 2] && means.counts == [1, 2])
        #expect(means.images == [[1, 3], [4, 5]])
        #expect(means.height == 1 && means.width == 2)
        #expect(ClassMeans(try Dataset(inputs: [1, 2], sampleShape: [2], labels: [0])) == nil)
    }

    @Test("Fashion-MNIST's test split has 1,000 images of each class, and the class means are mean pixels")
    func fashionClassMeans() throws {
        let test = try DatasetFolder(fashionMNISTPath).test()
        let means = try #require(ClassMeans(test))
        #expect(means.classes == Array(0..<10) && means.counts == Array(repeating: 1000, count: 10))
        // Pixel (14, 14) of class 3's mean, against a Double sum over the class's images.
        let dresses = (0..<test.count).filter { test.labels[$0] == 3 }
        let centre = test.batch(dresses).inputs.scalars.enumerated().filter { $0.offset % 784 == 14 * 28 + 14 }
        let expected = centre.reduce(0.0) { $0 + Double($1.element) } / 1000
        #expect(abs(Double(means.images[3][14 * 28 + 14]) - expected) < 1e-6)
    }

    /// A convolution (2 → 3 channels, 2×2) on `[2, 3, 3]`, a dense layer of 2 neurons, a dense output.
    private func convolutionModel() throws -> Graph {
        var rng = SeededGenerator(seed: 5)
        return try Graph(inputShape: [2, 3, 3], sequential: [
            Conv2D(name: "conv", inChannels: 2, outChannels: 3, kernelSize: 2, rng: &rng), ReLU(name: "r1"),
            Flatten(name: "flat"),
            Dense(name: "fc1", inFeatures: 12, outFeatures: 2, rng: &rng), ReLU(name: "r2"),
            Dense(name: "fc2", inFeatures: 2, outFeatures: 1, rng: &rng),
        ])
    }

    @Test("a unit is removed when all its weights are zero: conv filters and dense rows, in node order")
    func removedUnits() throws {
        let model = try convolutionModel()
        let conv = model.parameter(at: "conv.weight")!, fc1 = model.parameter(at: "fc1.weight")!
        var convMask = Tensor(shape: [3, 2, 2, 2], repeating: 1)
        for i in 8..<16 { convMask.scalars[i] = 0 }   // filter 1
        convMask.scalars[16] = 0                       // one weight of filter 2: not removed
        conv.mask = convMask
        var fc1Mask = Tensor(shape: [2, 12], repeating: 1)
        for i in 0..<12 { fc1Mask.scalars[i] = 0 }     // neuron 0
        fc1.mask = fc1Mask
        let units = RemovedUnits(model).layers
        #expect(units.map(\.name) == ["conv", "fc1", "fc2"])
        #expect(units.map(\.unit) == ["filter", "neuron", "neuron"])
        #expect(units.map(\.units) == [3, 2, 1])
        #expect(units.map(\.removed) == [1, 1, 0])
    }

    @Test("neuron pruning of LeNet-300-100 shows up as removed neurons")
    func neuronPruning() throws {
        let model = try Architecture.lenet300.build(seed: 2)
        var plan = PruningPlan(threshold: .sparsity(0.5))
        plan.granularity = .neuron
        try Pruner.prune(model, with: plan)
        let byName = Dictionary(uniqueKeysWithValues: RemovedUnits(model).layers.map { ($0.name, $0) })
        for name in ["fc1", "fc2", "fc3"] {
            let w = model.parameter(at: "\(name).weight")!.value
            let (rows, columns) = (w.shape[0], w.shape[1])
            let zeroRows = (0..<rows).filter { r in (0..<columns).allSatisfy { w.scalars[r * columns + $0] == 0 } }.count
            #expect(byName[name]?.units == rows && byName[name]?.removed == zeroRows)
        }
        #expect(byName["fc1"]!.removed > 0)
    }

    @Test("the first convolution's filters are averaged over input channels, with survivors counted")
    func firstLayerFilters() throws {
        let model = try convolutionModel()
        let conv = model.parameter(at: "conv.weight")!
        conv.value = Tensor(shape: [3, 2, 2, 2], scalars: [1, 2, 3, 4,  3, 0, 1, 0,     // filter 0
                                                           0, 0, 0, 0,  0, 0, 0, 0,     // filter 1: cut
                                                           -2, 0, 0, 0,  0, 0, 0, 4])   // filter 2
        let filters = try #require(FirstLayerFilters(model))
        #expect(filters.layer == "conv" && filters.kernelHeight == 2 && filters.kernelWidth == 2 && filters.inputChannels == 2)
        #expect(filters.filters == [[2, 1, 2, 2], [0, 0, 0, 0], [-1, 0, 0, 2]])
        #expect(filters.surviving == [6, 0, 2])
        #expect(filters.removed == [false, true, false])
        #expect(FirstLayerFilters(try Architecture.lenet300.build()) == nil)
    }
}
