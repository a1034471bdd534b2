import RealModule
import TensorCore

/// Knowledge distillation (Hinton, Vinyals & Dean 2015, https://arxiv.org/abs/1503.02531):
/// a student trained against a teacher's softened outputs as well as the labels.
///
/// The loss of a batch of student logits `s` with teacher logits `t` and labels `y`:
///
///     α · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) · CE(s, y)
///
/// averaged over the batch. `T²` keeps the soft term's gradient, `T·(softmax(s/T) − softmax(t/T))`,
/// on the scale of the hard term's as `T` changes.
///
/// Training uses it when `TrainingOptions.distillation` is set and the training data
/// carries the teacher's logits (`Dataset.withTeacherLogits(of:)`) or `Trainer.teacher` runs
/// the teacher on each batch.
public struct Distillation: Codable, Equatable, Sendable {
    /// `T`: softens both distributions (1: plain softmax; higher: flatter).
    public var temperature: Float
    /// `α`: the weight of the soft term; `1 − α` weighs the cross-entropy with the labels.
    public var alpha: Float
    /// What the student is made to match (`temperature` and `alpha` apply to `.outputs` only).
    public var match: Match

    /// What distillation compares.
    public enum Match: String, NamedChoice, Sendable {
        /// The model's outputs, softened: the loss above.
        case outputs
        /// A pooled sequence encoder's last hidden state at every real token (the input of its
        /// final `MeanPooling`): the mean squared error to the teacher's, padding left out,
        /// with a `Trainer.teacher` run on each batch. A sentence embedding is one vector per
        /// sentence; its tokens' states carry many times that signal.
        case tokens
    }

    /// Creates the settings.
    /// - Parameters:
    ///   - temperature: `T > 0`.
    ///   - alpha: `α` in [0, 1].
    ///   - match: what is compared.
    public init(temperature: Float, alpha: Float, match: Match = .outputs) {
        self.temperature = temperature; self.alpha = alpha; self.match = match
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        temperature = try c.decode(Float.self, forKey: .temperature)
        alpha = try c.decode(Float.self, forKey: .alpha)
        match = try c.decodeIfPresent(Match.self, forKey: .match) ?? .outputs   // absent before token matching
    }

    /// The reason these settings cannot be used, or nil when they can.
    public var problem: String? {
        if !(temperature.isFinite && temperature > 0) { return "the temperature must be positive, got \(temperature)" }
        if !(alpha.isFinite && (0...1).contains(alpha)) { return "alpha must be in [0, 1], got \(alpha)" }
        return nil
    }

    /// The distillation loss of student `logits` (`[N, C]`) against `teacherLogits` (`[N, C]`)
    /// and `labels`, averaged over the batch (a sequence's `[N, T, C]`: over its `N·T` positions), with its gradient with respect to `logits`.
    /// With `α = 0` it is `softmaxCrossEntropy` exactly; with `α = 1` the labels are not read.
    /// - Precondition: the shapes agree, one label per row, `temperature > 0`.
    /// - Complexity: O(N·C).
    public func loss(logits: Tensor, teacherLogits: Tensor, labels: [Int32]) -> LossResult {
        if logits.rank > 2 {   // a sequence's scores: a row per position
            var result = loss(logits: scoreRows(logits), teacherLogits: scoreRows(teacherLogits), labels: labels)
            result.gradient.reshape(logits.shape)
            return result
        }
        let n = logits.rank == 2 ? logits.shape[0] : 0
        let soft = Double(alpha) * Double(temperature) * Double(temperature)
        var total = 0.0
        var gradient: Tensor?
        if alpha > 0 {
            let (sum, g) = softenedDivergenceSum(logits: logits, teacherLogits: teacherLogits, temperature: temperature,
                                                 gradientScale: Float(soft / Double(n)))
            total += soft * sum
            gradient = g
        }
        if alpha < 1 {
            let hard = 1 - Double(alpha)
            let (sum, g) = softmaxCrossEntropySum(logits: logits, labels: labels, gradientScale: Float(hard / Double(n)))
            total += hard * sum
            if gradient == nil { gradient = g } else { gradient!.add(g) }
        }
        return LossResult(value: Float(total / Double(n)), gradient: gradient!)
    }
}

extension Dataset {
    /// The dataset with `logits` attached: row `i` is the teacher's `[C]` logits for sample `i`.
    /// Subsets and batches carry the rows of their samples.
    /// - Throws: `TrainingError.dataMismatch` when `logits` is not `[count, C]` with `C ≥ 1`.
    public func withTeacherLogits(_ logits: Tensor) throws -> Dataset {
        guard logits.rank == 2, logits.shape[0] == count, logits.shape[1] >= 1 else {
            throw TrainingError.dataMismatch("the teacher's logits are \(logits.shape), the dataset needs [\(count), classes]")
        }
        var result = self
        result.teacherLogits = logits
        return result
    }

    /// The dataset with `teacher`'s logits for every sample attached, computed once in
    /// evaluation mode in batches of `batchSize`. A teacher ending with a softmax gives its
    /// log-probabilities (`log max(p, 1e-30)`), which soften the same way as logits.
    /// - Throws: `TrainingError.dataMismatch` when the samples do not fit the teacher or its
    ///   output is not a flat vector of class scores.
    /// - Complexity: one inference pass over the dataset.
    public func withTeacherLogits(of teacher: Graph, batchSize: Int = 1000) throws -> Dataset {
        guard sampleShape == teacher.inputShape else {
            throw TrainingError.dataMismatch("samples are \(sampleShape) but the teacher takes \(teacher.inputShape)")
        }
        guard teacher.outputShape.count == 1 else {
            throw TrainingError.dataMismatch("a teacher gives a flat vector of class scores, this one outputs \(teacher.outputShape)")
        }
        var rows = [Float]()
        rows.reserveCapacity(count * teacher.outputShape[0])
        var lo = 0
        while lo < count {
            let hi = min(lo + max(batchSize, 1), count)
            let output = teacher.forward(batch(lo..<hi).inputs, training: false)
            if teacher.outputKind == .probabilities {
                rows.append(contentsOf: output.scalars.map { Float.log(max($0, 1e-30)) })
            } else {
                rows.append(contentsOf: output.scalars)
            }
            lo = hi
        }
        return try withTeacherLogits(Tensor(shape: [count, teacher.outputShape[0]], scalars: rows))
    }

    /// The teacher's rows of the samples at `indices`, or nil without teacher logits.
    func gatheredTeacherLogits<C: Collection>(_ indices: C) -> Tensor? where C.Element == Int {
        teacherLogits.map { Tensor(gathering: indices, from: $0.scalars, sampleShape: [$0.shape[1]]) }
    }
}

extension Trainer {
    /// Checks that `data` and `model` can be trained with `distillation`: usable settings,
    /// the cross-entropy loss, a model that outputs logits, and teacher logits on the data
    /// as wide as the model's output, or else a `teacher` model with the model's inputs and outputs.
    /// - Throws: `TrainingError.invalidOptions` or `.dataMismatch` naming the problem.
    public static func check(_ distillation: Distillation, data: Dataset, model: Graph, loss: Loss = .crossEntropy,
                             teacher teacherModel: Graph? = nil) throws {
        if let problem = distillation.problem { throw TrainingError.invalidOptions("distillation: \(problem)") }
        if distillation.match == .tokens { return try checkTokenDistillation(model: model, teacher: teacherModel) }
        guard loss == .crossEntropy else {
            throw TrainingError.invalidOptions("distillation trains classifiers: use the cross-entropy loss, not \(loss.rawValue)")
        }
        guard model.outputKind == .logits else {
            throw TrainingError.invalidOptions("distillation compares logits, but the model ends with a softmax; remove it (cross-entropy on logits is the same objective)")
        }
        if data.teacherLogits == nil, let teacherModel {
            guard teacherModel.inputShape == model.inputShape, teacherModel.outputShape == model.outputShape else {
                throw TrainingError.dataMismatch("the teacher takes \(teacherModel.inputShape) and gives \(teacherModel.outputShape), the model \(model.inputShape) and \(model.outputShape): a teacher must answer the same questions")
            }
            guard teacherModel.outputKind == .logits else {
                throw TrainingError.invalidOptions("distillation compares logits, but the teacher ends with a softmax")
            }
            return
        }
        guard let teacher = data.teacherLogits else {
            throw TrainingError.invalidOptions("distillation needs the teacher's logits on the training data (Dataset.withTeacherLogits(of:)) or a teacher model (Trainer.teacher)")
        }
        let outputs = model.outputShape.product
        guard teacher.shape[1] == outputs else {
            throw TrainingError.dataMismatch("the teacher gives \(teacher.shape[1]) outputs per sample, the model \(outputs): a teacher must answer the same classes")
        }
    }
}
