import NeuralNetwork
import TensorCore

/// What a layer-wise criterion reads of a layer's input rows over the calibration data (a
/// `Dense` layer's inputs, a convolution's input patches).
public struct LayerInputs: Sendable {
    /// Rows measured: samples, or the tokens of sequences with padding left out.
    public var rows: Int
    /// `Σ x_j²` of each input feature (`‖X_j‖₂²`), the diagonal of `gram`.
    public var squareSums: [Double]
    /// `XᵀX`, `in×in` row-major, when the criterion asks for it (`LayerwiseCriterion.needsGram`).
    public var gram: [Double]?
    /// `XᵀX_d`, `in×in` row-major: the inputs paired with those the dense model gives the same
    /// layer, when the criterion asks for them (`LayerwiseCriterion.needsDenseInputs`) and a
    /// layer before this one was cut.
    public var cross: [Double]?
    /// The mean input row, and the dense model's (the same when no layer before was cut, or
    /// no dense copy ran).
    public var mean: [Double], denseMean: [Double]

    /// Creates the statistics.
    public init(rows: Int, squareSums: [Double], gram: [Double]? = nil, cross: [Double]? = nil, mean: [Double], denseMean: [Double]? = nil) {
        self.rows = rows; self.squareSums = squareSums; self.gram = gram; self.cross = cross
        self.mean = mean; self.denseMean = denseMean ?? mean
    }
}

/// A post-training criterion that cuts the model's `Dense` layers and its convolutions without
/// groups (their input patches as rows, `CalibratedLayer`) one at a time from calibration data
/// (Wanda, SparseGPT). As the papers run them, each layer is measured on the
/// outputs of the layers before it as already cut, so a layer corrects for the error of those
/// before it; `sequential` false measures every layer on the dense model instead.
///
/// `prepared(for:on:)` pairs the criterion with its data (`CalibratedCut`); `Pruner.prune`
/// then runs the cut layer by layer when the plan gives each layer its own target (a sparsity
/// per layer, uniform or allocated, or an N:M pattern) and asks `oneShot` for scores otherwise.
/// Selected parameters of other layers (grouped convolutions, tables) are cut by magnitude.
public protocol LayerwiseCriterion: SampleCriterion {
    /// Calibration samples measured (the first ones of the data; windows of a text, spread over it).
    var samples: Int { get }
    /// Samples per forward pass.
    var batchSize: Int { get }
    /// Unlabeled samples to measure on, in place of the data `prepared` is given.
    var calibration: Dataset? { get }
    /// Whether layers are measured on the outputs of the layers before them as cut (true) or
    /// on the dense model's (false).
    var sequential: Bool { get }
    /// Whether `cut` reads `LayerInputs.gram` (else only the square sums are measured).
    var needsGram: Bool { get }
    /// Whether `cut` reads `LayerInputs.cross`: a dense copy of the model then runs beside it.
    var needsDenseInputs: Bool { get }
    /// Whether each cut layer's bias is then moved by the mean change of its output over the
    /// calibration rows, against the dense model's output (bias correction).
    var correctsBias: Bool { get }
    /// Cuts `weight` (`[out, in]`, of a `Dense` layer) to `pattern`, setting its mask; it may
    /// change the weights it keeps. `scope` is the plan's (`row` or `layer`).
    /// - Throws: `PruningError` when the statistics do not allow the cut.
    func cut(_ weight: Parameter, path: String, inputs: LayerInputs, pattern: ReconstructionPattern, scope: Scope) throws
    /// Scores for a plan the layer-wise cut does not fit (a global ranking, a value threshold,
    /// structured units), measured on `data`.
    /// - Throws: `PruningError.criterion` when the criterion has no such form.
    func oneShot(for model: Graph, on data: Dataset) throws -> Criterion
}

extension LayerwiseCriterion {
    /// Unprepared: magnitude (nothing measured yet).
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }

    public func prepared(for model: Graph, on sample: Dataset) throws -> Criterion {
        CalibratedCut(method: self, data: calibration ?? sample)
    }
}

/// A layer-wise criterion with the data it measures on, as `prepared` returns it. It scores
/// nothing itself (magnitude, if asked): `Pruner.prune` runs it layer by layer.
public struct CalibratedCut: Criterion {
    /// The criterion.
    public var method: LayerwiseCriterion
    /// Its calibration data.
    public var data: Dataset
    public var name: String { method.name }
    /// Pairs a criterion with its data.
    public init(method: LayerwiseCriterion, data: Dataset) { self.method = method; self.data = data }
    public func scores(for parameter: Parameter, path: String) -> Tensor { parameter.value.magnitudes() }
}

extension Pruner {
    /// Each selected parameter's pattern under `plan`, or nil when the plan does not give each
    /// layer its own target (a value threshold, a global ranking, structured units, an
    /// objective other than parameters).
    static func layerPatterns(_ plan: PruningPlan, selected: [(path: String, parameter: Parameter)],
                              in model: Graph) throws -> [String: ReconstructionPattern]? {
        guard plan.objective == .parameters else { return nil }
        switch (plan.granularity, plan.threshold) {
        case let (.nOfM(n, m), _):
            return Dictionary(selected.map { ($0.path, .keep(n, of: m)) }, uniquingKeysWith: { a, _ in a })
        case let (.weight, .perLayer(map)):
            return map.mapValues { .fraction($0) }
        case let (.weight, .sparsity(s)):
            if plan.allocation == .global || plan.allocation == nil && plan.scope == .global { return nil }
            let map = try plan.allocation?.sparsities(of: selected, target: s, curves: plan.sensitivity,
                                                      costs: try plan.objective.costCurves(of: selected, in: model, latency: plan.latency))
            return Dictionary(selected.map { ($0.path, .fraction(map?[$0.path] ?? s)) }, uniquingKeysWith: { a, _ in a })
        default:
            return nil
        }
    }

    /// Runs a layer-wise criterion over `model` (see `LayerwiseCriterion`), or returns nil
    /// when the plan does not fit one.
    static func pruneLayerwise(_ model: Graph, with plan: PruningPlan, _ calibrated: CalibratedCut) throws -> PruningResult? {
        let start = ContinuousClock.now
        let method = calibrated.method
        let selected = try selectParameters(plan, in: model)
        try validate(plan, selected)
        guard let patterns = try layerPatterns(plan, selected: selected, in: model) else { return nil }
        let before = selected.map { $0.parameter.value.nonZeroCount() }
        let scope: Scope = plan.scope == .row ? .row : .layer
        // The layers cut here, by node; how many of them read each statistic's source.
        var layers: [Int: CalibratedLayer] = [:]
        var readers: [Int: Int] = [:]
        for (i, node) in model.nodes.enumerated() {
            guard let layer = CalibratedLayer(node.module, node: i, source: node.inputs[0].index),
                  let pattern = patterns["\(layer.name).weight"] else { continue }
            layers[i] = layer.with(pattern)
            readers[layer.key, default: 0] += 1
        }
        let measured = try measureLayers(model, layers: layers, readers: readers, method: method, data: calibrated.data) { i, inputs in
            let layer = layers[i]!
            let shape = layer.weight.value.shape, original = layer.weight.value
            // The method sees the weight as [out, in] (a convolution's as [Cout, C·K·K]).
            let view = Parameter(original.reshaped([shape[0], layer.width]))
            view.mask = layer.weight.mask?.reshaped(view.value.shape)
            try method.cut(view, path: "\(layer.name).weight", inputs: inputs, pattern: layer.pattern, scope: scope)
            layer.weight.restore(value: view.value.reshaped(shape), mask: view.mask?.reshaped(shape))
            if method.correctsBias, let bias = layer.bias {
                // b += μ_d·Wᵀ − μ·Ŵᵀ: the calibration rows' mean output back where the dense layer had it.
                let shift = zip(rowDots(original, inputs.denseMean), rowDots(view.value, inputs.mean)).map { Float($0 - $1) }
                var value = bias.value
                for o in shift.indices { value.scalars[o] += shift[o] }
                bias.restore(value: value, mask: bias.mask)
            }
        }
        // The rest of the selection (grouped convolutions, tables named explicitly): magnitude, at their targets.
        let rest = selected.filter { entry in !layers.values.contains { $0.weight === entry.parameter } }
        for entry in rest {
            guard let pattern = patterns[entry.path] else { continue }
            var threshold = Threshold.perLayer([:])
            if case let .fraction(s) = pattern { threshold = .perLayer([entry.path: s]) }
            _ = try prune(model, with: PruningPlan(granularity: plan.granularity, scope: entry.parameter.value.rank < 2 ? .layer : scope,
                                                   threshold: threshold, parameters: [entry.path],
                                                   includeNormalization: plan.includeNormalization))
        }
        let report = zip(selected, before).map { entry, nonZeros in
            PrunedParameter(path: entry.path, count: entry.parameter.count, nonZerosBefore: nonZeros,
                            nonZerosAfter: entry.parameter.value.nonZeroCount())
        }
        return PruningResult(parameters: report, seconds: (ContinuousClock.now - start).seconds, scoringSeconds: measured)
    }

    /// Every layer's input statistics over the calibration samples `method` takes of `data`,
    /// by layer name, measured on `model` as it is: nothing is cut (Wanda's one-shot norms).
    static func layerInputs(_ model: Graph, method: LayerwiseCriterion, data: Dataset) throws -> [String: LayerInputs] {
        var layers: [Int: CalibratedLayer] = [:], readers: [Int: Int] = [:]
        for (i, node) in model.nodes.enumerated() {
            guard let layer = CalibratedLayer(node.module, node: i, source: node.inputs[0].index) else { continue }
            layers[i] = layer
            readers[layer.key, default: 0] += 1
        }
        var result: [String: LayerInputs] = [:]
        _ = try measureLayers(model, layers: layers, readers: readers, method: method, data: data) { i, inputs in
            result[layers[i]!.name] = inputs
        }
        return result
    }

    /// `W·v` for a `[out, in]` weight, in Double.
    private static func rowDots(_ weight: Tensor, _ v: [Double]) -> [Double] {
        let width = v.count
        return (0..<(weight.count / max(width, 1))).map { o in
            (0..<width).reduce(0.0) { $0 + Double(weight.scalars[o * width + $1]) * v[$1] }
        }
    }

    /// Runs the calibration data through `model` node by node, measuring each layer of
    /// `layers` on its input and handing it to `cut`: before its node runs when the method is
    /// sequential, after the whole pass otherwise. Statistics of a node read by several layers
    /// (a transformer's query, key and value) are measured once.
    /// - Returns: seconds spent measuring.
    private static func measureLayers(_ model: Graph, layers: [Int: CalibratedLayer], readers: [Int: Int],
                                      method: LayerwiseCriterion, data: Dataset,
                                      cut: (Int, LayerInputs) throws -> Void) throws -> Double {
        guard !layers.isEmpty else { return 0 }
        try Trainer.check(data, fits: model)
        let total = min(method.samples, data.count)
        guard total >= 1, method.batchSize >= 1 else {
            throw PruningError.criterion(name: method.name, problem: "needs at least one calibration sample, got \(total) (batch size \(method.batchSize))")
        }
        let (batches, padded) = calibrationBatches(data, samples: total, batchSize: method.batchSize, padding: model.trailingPaddingID)
        var walk = NodeWalk(model, batches: batches)
        var dense = method.sequential && (method.needsDenseInputs || method.correctsBias) ? NodeWalk(try model.copy(), batches: batches) : nil
        var measuring = Duration.zero
        var statistics: [Int: LayerInputs] = [:]
        var remaining = readers
        var deferred: [(Int, LayerInputs)] = []
        var cutSoFar = false
        // Whether node i's rows are tokens ([T, features] per sample), which the padding flags mark.
        func tokenRows(_ i: Int) -> Bool { !layers[i]!.isConvolution && model.inputShapes(ofNode: i).first?.count == 2 }
        while walk.next < model.nodes.count {
            let i = walk.next
            if let layer = layers[i] {
                let source = layer.key
                let began = ContinuousClock.now
                let measured = try statistics[source] ?? measure(walk.inputs.map { layer.rows($0[0]) },
                                                                 dense: cutSoFar ? dense?.inputs.map { layer.rows($0[0]) } : nil,
                                                                 padded: tokenRows(i) ? padded : batches.map { _ in nil },
                                                                 width: layer.width, gram: method.needsGram, cross: method.needsDenseInputs,
                                                                 layer: layer.name, method: method.name)
                measuring += ContinuousClock.now - began
                remaining[source]! -= 1
                statistics[source] = remaining[source]! > 0 ? measured : nil
                if method.sequential { try cut(i, measured); cutSoFar = true } else { deferred.append((i, measured)) }
            }
            walk.step()
            dense?.step()
        }
        for (i, measured) in deferred { try cut(i, measured) }
        return measuring.seconds
    }

    /// The first `samples` samples of `data` in batches (windows of a text: `samples` spread
    /// evenly over it). Sequences with a padding token are
    /// grouped by length (longest first) and each batch is cut to its longest, so padding is
    /// not computed; the flags mark each batch's padding tokens (nil without padding).
    static func calibrationBatches(_ data: Dataset, samples: Int, batchSize: Int, padding: Int?) -> ([Tensor], [[Bool]?]) {
        guard let padding, data.sampleShape.count == 1, data.labelsPerSample <= 1 else {
            // Windows of a text (one label per position, usually one window per offset): spread
            // evenly over it, so that 256 windows are not 256 shifts of the same 383 bytes.
            let indices = data.labelsPerSample > 1 ? (0..<samples).map { $0 * data.count / samples } : Array(0..<samples)
            let batches = stride(from: 0, to: samples, by: batchSize).map { data.batch(indices[$0..<min($0 + batchSize, samples)]).inputs }
            return (batches, batches.map { _ in nil })
        }
        let all = data.batch(0..<samples).inputs.scalars, width = data.sampleShape[0], pad = Float(padding)
        let lengths = (0..<samples).map { s in ((0..<width).last { all[s * width + $0] != pad } ?? 0) + 1 }
        let order = (0..<samples).sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var batches: [Tensor] = [], flags: [[Bool]?] = []
        for lo in stride(from: 0, to: samples, by: batchSize) {
            let members = order[lo..<min(lo + batchSize, samples)], length = lengths[members.first!]
            let ids = members.flatMap { s in all[(s * width)..<(s * width + length)] }
            batches.append(Tensor(shape: [members.count, length], scalars: ids))
            flags.append(ids.map { $0 == pad })
        }
        return (batches, flags)
    }

    /// One layer's input statistics over the batches of its input (and of the dense model's).
    private static func measure(_ inputs: [Tensor], dense: [Tensor]?, padded: [[Bool]?], width: Int, gram: Bool, cross wantsCross: Bool,
                                layer: String, method: String) throws -> LayerInputs {
        var sums = [Double](repeating: 0, count: width)
        var matrix = gram ? [Double](repeating: 0, count: width * width) : nil
        var cross = dense != nil && wantsCross ? [Double](repeating: 0, count: width * width) : nil
        var mean = [Double](repeating: 0, count: width)
        var denseMean = dense.map { _ in [Double](repeating: 0, count: width) }
        var rows = 0
        for (b, (x, flags)) in zip(inputs, padded).enumerated() {
            let skipping = flags?.count == x.count / width ? flags : nil
            rows += x.count / width - (skipping?.filter { $0 }.count ?? 0)
            if matrix != nil {
                accumulateGram(x, columns: width, skipping: skipping, into: &matrix!)
            } else {
                for (j, s) in columnSquareSums(x, columns: width, skipping: skipping).enumerated() { sums[j] += s }
            }
            if let dense, cross != nil { accumulateGram(x, dense[b], columns: width, skipping: skipping, into: &cross!) }
            for (j, s) in columnSums(x, columns: width, skipping: skipping).enumerated() { mean[j] += s }
            if let dense { for (j, s) in columnSums(dense[b], columns: width, skipping: skipping).enumerated() { denseMean![j] += s } }
        }
        mean = mean.map { $0 / Double(max(rows, 1)) }
        denseMean = denseMean?.map { $0 / Double(max(rows, 1)) }
        if let matrix { sums = (0..<width).map { matrix[$0 * width + $0] } }
        guard sums.allSatisfy(\.isFinite), cross?.allSatisfy(\.isFinite) ?? true else {
            throw PruningError.criterion(name: method, problem: "the input of layer '\(layer)' is not finite on the calibration data: the model has diverged")
        }
        return LayerInputs(rows: rows, squareSums: sums, gram: matrix, cross: cross, mean: mean, denseMean: denseMean)
    }
}

/// A layer a layer-wise criterion cuts: a `Dense` layer (its inputs' rows as they come) or a
/// `Conv2D` layer without groups (its input patches, `im2col`, as rows of `C·K·K` features;
/// the weight seen as `[Cout, C·K·K]`).
struct CalibratedLayer {
    let name: String
    let weight: Parameter, bias: Parameter?
    /// Features per row: the weight's width.
    let width: Int
    /// The statistics' key: the source node for Dense layers (shared by the layers reading
    /// it), a key of its own for a convolution.
    let key: Int
    var pattern = ReconstructionPattern.fraction(0)
    private let patches: ((Tensor) -> Tensor)?
    var isConvolution: Bool { patches != nil }

    init?(_ module: Module, node: Int, source: Int) {
        switch module {
        case let dense as Dense:
            (name, weight, bias, width, key, patches) = (dense.name, dense.weight, dense.bias, dense.inFeatures, source, nil)
        case let conv as Conv2D where conv.groups == 1:
            (name, weight, bias, width, key) = (conv.name, conv.weight, conv.bias, conv.inChannels * conv.kernelSize * conv.kernelSize, -2 - node)
            patches = { x in
                let g = ConvolutionGeometry(batch: x.shape[0], channels: conv.inChannels, height: x.shape[2], width: x.shape[3],
                                            kernelHeight: conv.kernelSize, kernelWidth: conv.kernelSize, stride: conv.stride,
                                            padding: conv.padding, dilation: conv.dilation)
                return im2col(g, input: x).transposed()
            }
        default:
            return nil
        }
    }

    /// The layer with its pattern.
    func with(_ pattern: ReconstructionPattern) -> CalibratedLayer {
        var copy = self
        copy.pattern = pattern
        return copy
    }

    /// The rows of features the layer multiplies its weight rows with, for an input batch.
    func rows(_ input: Tensor) -> Tensor { patches?(input) ?? input }
}
