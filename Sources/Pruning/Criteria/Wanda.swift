import NeuralNetwork
import TensorCore

/// Wanda (Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models",
/// https://arxiv.org/abs/2306.11695): a weight's importance is `|W_ij| · ‖X_j‖₂`, its magnitude
/// times the norm of the input feature it multiplies over calibration data. No gradient, no
/// weight update: a forward pass over unlabeled samples measures the norms.
///
/// As the paper runs it, the cut is sequential (`LayerwiseCriterion`): each `Dense` layer's
/// input norms are measured on the first `samples` samples of the data (`calibration` when set,
/// else the data the run hands it), run through the layers before it as already cut, in
/// evaluation mode, over every row the layer reads (every token of a sequence model, padding
/// tokens excepted when the model has a `PaddingMask`). Weights are compared within each
/// output row with scope `row` (the default for `--criterion wanda`), within the layer with
/// scope `layer`, within each group with N:M. A global ranking or a value threshold uses
/// `oneShot`'s scores, all measured on the unpruned model (Dense layers only there). Convolutions
/// without groups are cut from the norms of their input patches; other layers' parameters
/// (embedding tables, normalization) by magnitude.
public struct Wanda: LayerwiseCriterion {
    public var name: String { "wanda" }
    /// Calibration samples measured.
    public var samples: Int
    /// Samples per forward pass.
    public var batchSize: Int
    /// Unlabeled samples to measure on (their first `samples`), in place of the data
    /// `prepared` is given (the run's training split); labels and targets are not read.
    public var calibration: Dataset?
    /// Whether each layer is measured on the outputs of the layers before it as cut.
    public var sequential: Bool
    /// Whether each cut layer's bias is moved to keep its mean output (`LayerwiseCriterion.correctsBias`).
    public var correctsBias: Bool
    public var needsGram: Bool { false }
    public var needsDenseInputs: Bool { false }

    /// Creates the criterion.
    public init(samples: Int = Recipe.Defaults.calibrationSamples, batchSize: Int = 32, calibration: Dataset? = nil,
                sequential: Bool = true, correctsBias: Bool = false) {
        self.samples = samples; self.batchSize = batchSize; self.calibration = calibration; self.sequential = sequential; self.correctsBias = correctsBias
    }

    public func cut(_ weight: Parameter, path: String, inputs: LayerInputs, pattern: ReconstructionPattern, scope: Scope) throws {
        var scores = scalingColumns(weight.value.magnitudes(), by: inputs.squareSums.map { Float($0.squareRoot()) })
        var mask = weight.mask ?? Tensor(shape: weight.value.shape, repeating: 1)
        scores.fill(-.infinity, whereZeroIn: mask)
        switch pattern {
        case let .keep(n, m):
            mask.zeroSlices(where: Pruner.cutNOfM(scores.scalars, n: n, m: m))
        case let .fraction(s) where scope == .row, let .rowFraction(s):
            cutLowestInEachRow(scores, fraction: s, mask: &mask)
        case let .fraction(s):
            let rule = LowestSelection(lowest: Int((s * Double(scores.count)).rounded()), of: [scores])
            _ = maskBelow(rule.below, ties: rule.ties, scores: scores, mask: &mask)
        }
        weight.mask = mask
    }

    /// The scores `|W_ij|·‖X_j‖₂` of every `Dense` weight, all measured on `model` as it is
    /// (for plans the sequential cut does not fit); other parameters score by magnitude.
    public func oneShot(for model: Graph, on data: Dataset) throws -> Criterion {
        let norms = try Self.inputNorms(of: model, on: data, samples: samples, batchSize: batchSize)
        var scores: [String: Tensor] = [:]
        for (layer, norm) in norms {
            guard let weight = model.parameter(at: "\(layer).weight") else { continue }
            scores["\(layer).weight"] = scalingColumns(weight.value.magnitudes(), by: norm)
        }
        return PrecomputedScores(name: name, scores: scores)
    }

    /// `‖X_j‖₂` of every input feature `j` of every `Dense` layer (by layer name) over the
    /// first `samples` samples of `data`, run `batchSize` at a time in evaluation mode.
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for fewer
    ///   than one sample, or an input that is not finite.
    public static func inputNorms(of model: Graph, on data: Dataset, samples: Int, batchSize: Int = 32) throws -> [String: [Float]] {
        try Trainer.check(data, fits: model)
        let total = min(samples, data.count)
        guard total >= 1, batchSize >= 1 else {
            throw PruningError.criterion(name: "wanda", problem: "needs at least one calibration sample, got \(total) (batch size \(batchSize))")
        }
        // The Dense layers each node's output feeds (-1: the model's input).
        var readers: [Int: [(node: Int, layer: Dense)]] = [:]
        for (i, node) in model.nodes.enumerated() {
            guard let dense = node.module as? Dense, let source = node.inputs.first else { continue }
            readers[source.index < 0 ? -1 : source.index, default: []].append((i, dense))
        }
        let padding = model.nodes.lazy.compactMap { $0.module as? PaddingMask }.first?.paddingID
        var sums: [String: [Double]] = [:]
        for lo in stride(from: 0, to: total, by: batchSize) {
            let ids = data.batch(lo..<min(lo + batchSize, total)).inputs
            // The padding tokens of a token-level input (one row per id), when the model marks padding.
            let padded = padding.flatMap { pad in model.takesSequences ? ids.scalars.map { $0 == Float(pad) } : nil }
            func accumulate(_ x: Tensor, into layer: Dense) {
                let width = layer.inFeatures
                let part = columnSquareSums(x, columns: width, skipping: padded?.count == x.count / width ? padded : nil)
                sums[layer.name] = zip(sums[layer.name] ?? [Double](repeating: 0, count: width), part).map { $0 + $1 }
            }
            for (_, layer) in readers[-1] ?? [] { accumulate(ids, into: layer) }
            _ = model.forward(ids, training: false) { i, output in
                for (_, layer) in readers[i] ?? [] { accumulate(output, into: layer) }
            }
        }
        var norms: [String: [Float]] = [:]
        for (layer, sum) in sums {
            guard sum.allSatisfy(\.isFinite) else {
                throw PruningError.criterion(name: "wanda", problem: "the input of layer '\(layer)' is not finite on the calibration data: the model has diverged")
            }
            norms[layer] = sum.map { Float($0.squareRoot()) }
        }
        return norms
    }
}
