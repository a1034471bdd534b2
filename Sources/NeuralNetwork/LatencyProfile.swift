import TensorCore

/// What each Dense and Conv2D layer of a model costs in time on this machine, dense and at a
/// range of sparsities, as the sparse runtime runs it: a layer at a sparsity takes whichever
/// of its dense and CSR forms is faster (`Graph.sparsified(.measured)` makes the same choice).
/// The latency objective of pruning weighs tensors by these figures.
///
/// ```swift
/// let profile = try LatencyProfile(measuring: model, levels: [0.5, 0.9, 0.99])
/// profile.seconds(of: "fc1", atSparsity: 0.95)   // interpolated between 0.9 and 0.99
/// ```
public struct LatencyProfile: Codable, Equatable, Sendable {
    /// One layer's figures: its dense forward pass and its CSR forward pass at each sparsity.
    public struct Layer: Codable, Equatable, Sendable {
        /// The node name (`"fc1"`); the pruned weight is `name.weight`.
        public var name: String
        /// Median seconds of a dense forward pass of `batch` samples.
        public var dense: Double
        /// Median seconds of a CSR forward pass at each sparsity, in increasing sparsity.
        public var sparse: [Level]
        /// Creates a layer's figures.
        public init(name: String, dense: Double, sparse: [Level]) { self.name = name; self.dense = dense; self.sparse = sparse }
    }
    /// One CSR measurement.
    public struct Level: Codable, Equatable, Sendable {
        /// The share of the weights removed (at random), and the median seconds of a CSR pass.
        public var sparsity: Double, seconds: Double
        /// Creates a measurement.
        public init(sparsity: Double, seconds: Double) { self.sparsity = sparsity; self.seconds = seconds }
    }
    /// The batch size the passes were timed at.
    public var batch: Int
    /// One entry per timed layer, in graph order.
    public var layers: [Layer]

    /// Figures measured elsewhere (or made up, for tests and what-ifs).
    public init(batch: Int, layers: [Layer]) { self.batch = batch; self.layers = layers }

    /// The node names among `names` (nil: all) that a profile times: Dense layers, and
    /// Conv2D layers with one group and no dilation (the sparse convolution's geometry).
    public static func timedLayers(of model: Graph, among names: [String]? = nil) -> [String] {
        model.nodes.map(\.module).filter { module in
            guard names.map({ $0.contains(module.name) }) ?? true else { return false }
            if module is Dense { return true }
            if let c = module as? Conv2D { return c.groups == 1 && c.dilation == 1 }
            return false
        }.map(\.name)
    }

    /// Times every Dense and Conv2D layer of `model` (left as it is) on random inputs of
    /// `batch` samples: the dense pass, and the CSR pass with a random `level` of its weights
    /// removed, for each level. Each figure is the median of runs taken in turns with the
    /// dense pass (about `seconds` per level).
    /// - Parameters:
    ///   - layers: the node names to time (nil: all); only `timedLayers` are timed.
    ///   - levels: sparsities in [0, 1].
    /// - Complexity: about `seconds × levels × layers` of wall time.
    public init(measuring model: Graph, layers names: [String]? = nil, levels: [Double], batch: Int = 1,
                seconds: Double = 0.01, seed: UInt64 = 1) {
        self.batch = batch
        var rng = SeededGenerator(seed: seed)
        var measured: [Layer] = []
        let timed = Set(Self.timedLayers(of: model, among: names))
        for (i, node) in model.nodes.enumerated() where timed.contains(node.module.name) {
            guard let input = model.inputShapes(ofNode: i).first else { continue }
            let make: (Tensor) -> (dense: NeuralNetwork.Layer, sparse: NeuralNetwork.Layer)
            let weight: Tensor
            switch node.module {
            case let d as Dense:
                weight = d.weight.value
                make = { w in let copy = Dense(name: d.name, weight: w, bias: d.bias?.value); return (copy, SparseDense(copy)) }
            case let c as Conv2D where c.groups == 1 && c.dilation == 1:
                weight = c.weight.value
                make = { w in
                    let copy = Conv2D(name: c.name, weight: w, bias: c.bias?.value, stride: c.stride, padding: c.padding)
                    return (copy, SparseConv2D(copy))
                }
            default: continue
            }
            var layer = Layer(name: node.module.name, dense: 0, sparse: [])
            var denseRuns: [Double] = []
            for level in levels.sorted() {
                // A random pattern: magnitude cuts of trained weights look like one to the kernel.
                let kept = weight.map { _ in Float(Double.random(in: 0..<1, using: &rng) >= level ? 1 : 0) }
                let (dense, sparse) = make(weight.zipMap(kept) { $0 * $1 })
                let times = Graph.medianSeconds([dense, sparse], input: [batch] + input, seconds: seconds)
                denseRuns.append(times[0])
                layer.sparse.append(Level(sparsity: level, seconds: times[1]))
            }
            if denseRuns.isEmpty {
                let (dense, _) = make(weight)
                denseRuns = Graph.medianSeconds([dense], input: [batch] + input, seconds: seconds)
            }
            layer.dense = denseRuns.sorted()[denseRuns.count / 2]
            measured.append(layer)
        }
        layers = measured
    }

    /// Seconds of `layer`'s forward pass at `sparsity` on the faster path: the dense time, or
    /// the CSR time read between the measured levels by straight lines (held flat past the
    /// first and last), whichever is less. Nil for a layer not in the profile.
    public func seconds(of layer: String, atSparsity sparsity: Double) -> Double? {
        guard let l = layers.first(where: { $0.name == layer }) else { return nil }
        guard let first = l.sparse.first, let last = l.sparse.last else { return l.dense }
        let csr: Double
        if sparsity <= first.sparsity { csr = first.seconds } else if sparsity >= last.sparsity { csr = last.seconds } else {
            let upper = l.sparse.firstIndex { $0.sparsity >= sparsity }!
            let (a, b) = (l.sparse[upper - 1], l.sparse[upper])
            csr = a.seconds + (b.seconds - a.seconds) * (sparsity - a.sparsity) / max(b.sparsity - a.sparsity, .leastNonzeroMagnitude)
        }
        return min(l.dense, csr)
    }
}

extension Graph {
    /// The median seconds of each of `layers`' forward passes on one random input of `shape`,
    /// taken in turns until about `seconds` have passed (at least 3 runs, at most 50). Half
    /// the inputs are zero, like the ReLU outputs and image backgrounds that layers see (the
    /// batch-1 sparse path skips them).
    static func medianSeconds(_ layers: [Layer], input shape: [Int], seconds budget: Double) -> [Double] {
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.uniform(shape, low: -1, high: 1, using: &rng).map { max($0, 0) }
        let clock = ContinuousClock()
        var times = [[Double]](repeating: [], count: layers.count)
        var spent = 0.0
        for layer in layers { _ = layer.forward(x, training: false) }
        while times[0].count < 3 || (spent < budget && times[0].count < 50) {
            for (i, layer) in layers.enumerated() {
                let t0 = clock.now
                _ = layer.forward(x, training: false)
                let t = (clock.now - t0).seconds
                times[i].append(t)
                spent += t
            }
        }
        return times.map { $0.sorted()[$0.count / 2] }
    }
}
