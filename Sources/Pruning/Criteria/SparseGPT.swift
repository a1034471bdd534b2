import NeuralNetwork
import TensorCore

/// SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately
/// Pruned in One-Shot", https://arxiv.org/abs/2301.00774): each `Dense` layer (and each
/// convolution without groups, over its input patches) is cut so that
/// its output on the calibration inputs changes least, and the weights it keeps are updated to
/// make up for the ones removed: layer-wise optimal brain surgery, with the inverse Hessian
/// `(XᵀX + λI)⁻¹` of the layer's inputs (`λ`: `dampening` times the mean of its diagonal)
/// taken through its Cholesky factor from LAPACK, columns swept in blocks of `blockSize` with
/// lazy updates, and the weights to remove chosen per block by `w² / [H⁻¹]_jj²`
/// (`sparseGPTSweep`): over all rows of the block (scope `layer`, the paper's choice) or
/// within each row (scope `row`, each output keeping the same share). N:M patterns are chosen
/// group by group as the sweep reaches them.
///
/// Sequential, as the paper runs it (`LayerwiseCriterion`): each layer is measured on the
/// outputs of the layers before it as already cut and updated, and fitted to the outputs the
/// dense model gives it (`denseTargets`). Plans it does not fit (a global
/// ranking, a value threshold, structured units) are refused.
public struct SparseGPT: LayerwiseCriterion {
    public var name: String { "sparsegpt" }
    /// Calibration samples measured.
    public var samples: Int
    /// Samples per forward pass.
    public var batchSize: Int
    /// Unlabeled samples to measure on (their first `samples`), in place of the run's data.
    public var calibration: Dataset?
    /// Whether each layer is measured on the outputs of the layers before it as cut.
    public var sequential: Bool
    /// Columns per block of the sweep.
    public var blockSize: Int
    /// `λ` as a share of the mean diagonal of `XᵀX`.
    public var dampening: Double
    /// Whether each layer is cut toward the outputs the dense model gives it
    /// (`leastSquaresWeights`) rather than toward its own on the inputs the cuts before it left.
    public var denseTargets: Bool
    /// Whether each cut layer's bias is moved to keep its mean output (`LayerwiseCriterion.correctsBias`).
    public var correctsBias: Bool
    public var needsGram: Bool { true }
    public var needsDenseInputs: Bool { denseTargets }

    /// Creates the criterion with the paper's settings: blocks of 128 columns, 1% dampening.
    /// Dense targets are on by default: on issue #16's MiniLM protocol they lifted recall@10 at
    /// 50% from 0.592 to 0.612 and at 2:4 from 0.490 to 0.501 (30%: 0.825 to 0.820).
    public init(samples: Int = Recipe.Defaults.calibrationSamples, batchSize: Int = 32, calibration: Dataset? = nil,
                sequential: Bool = true, denseTargets: Bool = true, correctsBias: Bool = false, blockSize: Int = 128,
                dampening: Double = 0.01) {
        self.samples = samples; self.batchSize = batchSize; self.calibration = calibration
        self.sequential = sequential; self.denseTargets = denseTargets; self.correctsBias = correctsBias
        self.blockSize = blockSize; self.dampening = dampening
    }

    public func cut(_ weight: Parameter, path: String, inputs: LayerInputs, pattern: ReconstructionPattern, scope: Scope) throws {
        guard var hessian = inputs.gram, weight.value.rank == 2 else {
            throw PruningError.criterion(name: name, problem: "'\(path)' needs the Gram matrix of its inputs and a [out, in] weight")
        }
        var pattern = pattern
        if scope == .row, case let .fraction(f) = pattern { pattern = .rowFraction(f) }
        let width = weight.value.shape[1]
        var value = weight.value
        // A feature that is zero on every calibration row tells nothing: its weights go first.
        let dead = (0..<width).filter { hessian[$0 * width + $0] == 0 }
        for j in dead { hessian[j * width + j] = 1 }
        let mean = (0..<width).reduce(0.0) { $0 + hessian[$1 * width + $1] } / Double(width)
        // More dampening when rounding leaves the matrix short of positive definite.
        var factor: [Double]?
        var lambda = 0.0
        for attempt in 0..<4 where factor == nil {
            var damped = hessian
            lambda = dampening * mean * pow10(attempt)
            for j in 0..<width { damped[j * width + j] += lambda }
            factor = BLAS.inverseCholeskyFactor(damped, n: width)
        }
        guard let factor else {
            throw PruningError.criterion(name: name, problem: "the Hessian of '\(path)' is not positive definite even with \(dampening * 1000)× its mean diagonal added; the calibration inputs may be degenerate")
        }
        let single = factor.map { Float($0) }
        if var cross = inputs.cross {
            // Ridge toward the weights as they are: min ‖X_d·Wᵀ − X·Ŵᵀ‖² + λ‖Ŵ − W‖², from the
            // weights as they were (a dead feature's dense contribution moves onto the others).
            // Entries already cut stay in the mask: the sweep removes them first and moves
            // their error on like any other.
            for j in 0..<width { cross[j * width + j] += lambda }
            value = leastSquaresWeights(value, cross: cross, factor: single)
            try checkFinite(value, path: path)
        }
        for j in dead { for r in 0..<value.shape[0] { value.scalars[r * width + j] = 0 } }
        var mask = weight.mask ?? Tensor(shape: value.shape, repeating: 1)
        sparseGPTSweep(weight: &value, mask: &mask, factor: single, pattern: pattern, blockSize: blockSize)
        try checkFinite(value, path: path)
        weight.restore(value: value, mask: mask)
    }

    private func checkFinite(_ value: Tensor, path: String) throws {
        guard !value.scalars.contains(where: { !$0.isFinite }) else {
            throw PruningError.criterion(name: name, problem: "the update of '\(path)' is not finite; the calibration inputs may be degenerate")
        }
    }

    public func oneShot(for model: Graph, on data: Dataset) throws -> Criterion {
        throw PruningError.criterion(name: name, problem: "cuts each layer to its own sparsity or to an N:M pattern: use --scope layer (or an allocation other than global) with a sparsity, or --granularity N:M")
    }

    private func pow10(_ k: Int) -> Double { (0..<k).reduce(1.0) { x, _ in x * 10 } }
}
