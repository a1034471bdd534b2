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

    /// The scores `|W_ij|·‖X_j‖₂` of every `Dense` weight (and convolution, `X_j` its patch
    /// features), all measured on `model` as it is
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

    /// `‖X_j‖₂` of every input feature `j` of every `Dense` layer (and of every convolution
    /// without groups, over its input patches), by layer name, over the first `samples`
    /// samples of `data`, run `batchSize` at a time in evaluation mode through the layer-wise
    /// pass (`Pruner.layerInputs`), nothing cut.
    /// - Throws: `TrainingError` when the data does not fit the model; `PruningError` for fewer
    ///   than one sample, or an input that is not finite.
    public static func inputNorms(of model: Graph, on data: Dataset, samples: Int, batchSize: Int = 32) throws -> [String: [Float]] {
        let measured = try Pruner.layerInputs(model, method: Wanda(samples: samples, batchSize: batchSize, sequential: false), data: data)
        return measured.mapValues { $0.squareSums.map { Float($0.squareRoot()) } }
    }
}
