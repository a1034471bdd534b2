import TensorCore

/// A failure during training that the user can act on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite at `step` (1-based, within `epoch`); the model is
    /// left as it was after the last good step.
    case nonFiniteLoss(epoch: Int, step: Int, learningRate: Float)
    /// An update made `parameter` NaN or infinite at `step` (1-based, within `epoch`); the
    /// model is left as it was before that update.
    case nonFiniteWeights(parameter: String, epoch: Int, step: Int, learningRate: Float)
    /// The options cannot be used.
    case invalidOptions(String)
    /// The data does not fit the model.
    case dataMismatch(String)
    /// Saved progress or optimizer state does not fit this training run (other data, other
    /// options, another model): the message says what differs.
    case resumeMismatch(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, lr):
            return "training diverged: the loss is not finite at epoch \(epoch), step \(step) (learning rate \(lr)); lower the learning rate or check the data"
        case let .nonFiniteWeights(parameter, epoch, step, lr):
            return "training diverged: the update of epoch \(epoch), step \(step) made '\(parameter)' NaN or infinite (learning rate \(lr)); lower the learning rate or check the data"
        case let .invalidOptions(message): return "invalid training options: \(message)"
        case let .dataMismatch(message): return "data does not fit the model: \(message)"
        case let .resumeMismatch(message): return "cannot resume: \(message)"
        }
    }

    /// Whether training diverged (a non-finite loss or weights).
    public var isDivergence: Bool {
        switch self {
        case .nonFiniteLoss, .nonFiniteWeights: return true
        case .invalidOptions, .dataMismatch, .resumeMismatch: return false
        }
    }
}

/// Where a call to `Trainer.fit` stands after a step: everything the rest of the call
/// depends on besides the model and the optimizer's state, so that `fit(…, resumingFrom:)`
/// continues it to the same result as an uninterrupted call.
///
/// The order of the samples is not stored: it is rebuilt by replaying the epochs'
/// shuffles from the options' seed, and checked against the saved `shuffle` generator.
public struct TrainingProgress: Codable, Equatable, Sendable {
    /// The epoch in progress (1-based; its shuffle is done).
    public var epoch: Int
    /// Steps of that epoch done; equal to `stepsPerEpoch` when only the epoch's end
    /// (validation, report) remains.
    public var stepInEpoch: Int
    /// Steps of this call done (the learning-rate schedule's position).
    public var step: Int
    /// Steps per epoch and samples, to check that the data is the same.
    public var stepsPerEpoch: Int, samples: Int
    /// The shuffling generator after the epoch's shuffle.
    public var shuffle: SeededGenerator
    /// The epoch's sums so far: loss (weighted by batch size), correct answers, samples seen,
    /// and seconds of step time.
    public var lossSum: Double, correct: Int, seen: Int, seconds: Double
    /// The reports of the epochs finished.
    public var reports: [EpochReport]
    /// The trainer's `stepsTaken`.
    public var stepsTaken: Int
    /// The dropout generators of the data-parallel replicas (by replica, then by layer
    /// name); the model's own are part of the model.
    public var replicaDropout: [[String: SeededGenerator]]
}

/// Trains a `Graph` with an `Optimizer` on a `Dataset` (mini-batch gradient descent).
public final class Trainer {
    /// The model being trained.
    public let model: Graph
    /// The optimizer and its state.
    public let optimizer: Optimizer
    /// Hooks called after each step and epoch.
    public var callbacks: [TrainingCallback] = []
    /// A model run beside the student when `TrainingOptions.distillation` is set and the data
    /// carries no teacher logits: each step runs it in inference mode on the step's batch and
    /// distils towards its outputs. This fits data too large to hold a teacher's outputs for
    /// every sample, such as a language model's logits at every position of every window.
    public var teacher: Graph?
    /// The number of optimizer steps taken so far (across calls to `fit`).
    public private(set) var stepsTaken = 0
    /// The running call's state, while `fit` runs.
    private var cursor: Cursor?

    /// Creates a trainer.
    public init(model: Graph, optimizer: Optimizer) {
        self.model = model
        self.optimizer = optimizer
    }

    /// Where the running `fit` stands (nil outside `fit`). Read it from a callback's
    /// `didFinishStep` to checkpoint: with the model and `optimizer.state(of:)`, it lets
    /// `fit(…, resumingFrom:)` continue to the same result.
    public var progress: TrainingProgress? { cursor.map { $0.progress(stepsTaken: stepsTaken) } }

    /// The loop's variables of one `fit` call.
    private final class Cursor {
        var epoch = 0, stepInEpoch = 0, step = 0
        let stepsPerEpoch: Int, samples: Int
        var shuffle: SeededGenerator
        var lossSum = 0.0, correct = 0, seen = 0
        var elapsed = Duration.zero
        var reports: [EpochReport] = []
        let replicas: [Graph]

        init(stepsPerEpoch: Int, samples: Int, shuffle: SeededGenerator, replicas: [Graph]) {
            self.stepsPerEpoch = stepsPerEpoch; self.samples = samples; self.shuffle = shuffle; self.replicas = replicas
        }

        func progress(stepsTaken: Int) -> TrainingProgress {
            TrainingProgress(epoch: epoch, stepInEpoch: stepInEpoch, step: step, stepsPerEpoch: stepsPerEpoch, samples: samples,
                             shuffle: shuffle, lossSum: lossSum, correct: correct, seen: seen, seconds: elapsed.seconds,
                             reports: reports, stepsTaken: stepsTaken, replicaDropout: replicas.map(Self.dropoutGenerators))
        }

        static func dropoutGenerators(_ graph: Graph) -> [String: SeededGenerator] {
            var result: [String: SeededGenerator] = [:]
            for node in graph.nodes { if let d = node.module as? Dropout { result[d.name] = d.generator } }
            return result
        }
    }

    /// Runs `options.epochs` epochs over `data`, evaluating on `validation` after each.
    ///
    /// After every step the weights are checked: an update that makes any NaN or infinite,
    /// or a non-finite loss, stops training with the model as it was before that step (to
    /// undo it, each step keeps the values it starts from: one copy of the parameters,
    /// made by the in-place update's copy-on-write).
    /// - Parameter progress: continue a call from where it stood (`progress` read after a
    ///   step of a call with the same data and options); the model and the optimizer must
    ///   already hold the state they had then.
    /// - Returns: one report per epoch (those finished before `progress` included).
    /// - Throws: `TrainingError` on bad options, mismatched data or progress, or a
    ///   non-finite loss or weights; any error a callback throws.
    @discardableResult
    public func fit(_ data: Dataset, options: TrainingOptions, validation: Dataset? = nil,
                    resumingFrom progress: TrainingProgress? = nil) throws -> [EpochReport] {
        guard options.epochs >= 0 else { throw TrainingError.invalidOptions("epochs must be ≥ 0, got \(options.epochs)") }
        guard options.batchSize >= 1 else { throw TrainingError.invalidOptions("batch size must be ≥ 1, got \(options.batchSize)") }
        guard options.learningRate.isFinite, options.learningRate > 0 else {
            throw TrainingError.invalidOptions("learning rate must be positive, got \(options.learningRate)")
        }
        try Self.check(data, fits: model, loss: options.loss)
        if let validation { try Self.check(validation, fits: model, loss: options.loss) }
        guard options.workers >= 1 else { throw TrainingError.invalidOptions("workers must be ≥ 1, got \(options.workers)") }
        if let maxSteps = options.maxSteps, maxSteps < 1 {
            throw TrainingError.invalidOptions("the step limit must be ≥ 1, got \(maxSteps)")
        }
        if let limit = options.timeLimit, !(limit.isFinite && limit > 0) {
            throw TrainingError.invalidOptions("the time limit must be a positive number of seconds, got \(limit)")
        }
        if let clip = options.gradientClipNorm, !(clip.isFinite && clip > 0) {
            throw TrainingError.invalidOptions("the gradient clipping norm must be positive, got \(clip)")
        }
        if let distillation = options.distillation {
            try Self.check(distillation, data: data, model: model, loss: options.loss, teacher: teacher)
        }
        var order = Array(0..<data.count)
        let stepsPerEpoch = (data.count + options.batchSize - 1) / options.batchSize
        var totalSteps = min(stepsPerEpoch * options.epochs, options.maxSteps ?? .max)
        let stepLimit = totalSteps
        let epochs = options.maxSteps.map { min(options.epochs, ($0 + stepsPerEpoch - 1) / stepsPerEpoch) } ?? options.epochs
        let parameters = model.trainableParameters
        optimizer.exemptFromDecay = options.weightDecayScope == .layerWeights ? model.decayExemptions : []
        let everything = model.parameters
        let replicas = try (1..<max(options.workers, 1)).map { w -> Graph in
            let replica = try model.spec.makeGraph()
            // Each replica's dropout draws its own masks.
            for node in replica.nodes { (node.module as? Dropout)?.reseed(options.seed &+ UInt64(w) &* 0x9E37_79B9) }
            return replica
        }
        let pool = options.workers > 1 ? WorkerPool(count: options.workers) : nil
        let clock = ContinuousClock()
        let began = clock.now
        let c = Cursor(stepsPerEpoch: stepsPerEpoch, samples: data.count, shuffle: SeededGenerator(seed: options.seed),
                       replicas: replicas)
        if let progress { try resume(c, from: progress, order: &order, options: options) }
        cursor = c
        defer { cursor = nil }
        var decidedMasks: Int?   // the mask versions the sparse-kernel choice was made for
        for epoch in stride(from: max(c.epoch, 1), through: epochs, by: 1) {
            if epoch != c.epoch {   // a new epoch (not the one a resume continues)
                if c.step >= totalSteps { break }   // the time limit ended the run early
                c.epoch = epoch
                if options.shuffle { c.shuffle.shuffle(&order) }
                c.stepInEpoch = 0; c.lossSum = 0; c.correct = 0; c.seen = 0; c.elapsed = .zero
            }
            while c.stepInEpoch < stepsPerEpoch && c.step < totalSteps {
                let s = c.stepInEpoch
                let start = clock.now
                let lo = s * options.batchSize, hi = min(lo + options.batchSize, data.count)
                let rate = options.schedule.rate(base: options.learningRate, step: c.step,
                                                 totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
                if options.sparseKernels != .off {
                    let masks = everything.reduce(0) { $0 &+ $1.parameter.maskVersion }
                    if masks != decidedMasks {
                        Self.chooseSparseKernels(options.sparseKernels, model: model, replicas: replicas)
                        decidedMasks = everything.reduce(0) { $0 &+ $1.parameter.maskVersion }
                    }
                }
                // The values before the step, kept (copy-on-write) to undo a step that diverges.
                let before = everything.map(\.parameter.value)
                func undo() { for ((_, p), value) in zip(everything, before) { p.value = value } }
                let result = computeGradients(data, order[lo..<hi], loss: options.loss, distillation: options.distillation,
                                              teacher: data.teacherLogits == nil ? teacher : nil, replicas: replicas, pool: pool)
                guard result.loss.isFinite else {
                    undo()
                    throw TrainingError.nonFiniteLoss(epoch: epoch, step: s + 1, learningRate: rate)
                }
                if let clip = options.gradientClipNorm { Self.clipGradients(parameters.map(\.parameter), to: clip) }
                for cb in callbacks { try cb.trainer(self, willUpdateWithLearningRate: rate) }
                optimizer.step(parameters, learningRate: rate, pool: pool)
                if let bad = everything.first(where: { !allFinite($0.parameter.value) }) {
                    undo()
                    throw TrainingError.nonFiniteWeights(parameter: bad.path, epoch: epoch, step: s + 1, learningRate: rate)
                }
                c.elapsed += clock.now - start
                c.lossSum += Double(result.loss) * Double(hi - lo)
                c.correct += result.correct
                c.seen += hi - lo
                stepsTaken += 1
                let report = StepReport(epoch: epoch, step: c.step, stepInEpoch: s, stepsPerEpoch: stepsPerEpoch,
                                        totalSteps: totalSteps, loss: result.loss, learningRate: rate,
                                        samplesInEpoch: c.seen)
                c.step += 1
                c.stepInEpoch += 1
                if let limit = options.timeLimit {
                    // Project the steps that fit the time from the rate so far; stop when it is up.
                    let spent = (clock.now - began).seconds
                    totalSteps = spent >= limit ? c.step : min(stepLimit, max(c.step + 1, Int(Double(c.step) * limit / max(spent, 1e-9))))
                }
                for cb in callbacks { try cb.trainer(self, didFinishStep: report) }
            }
            let seconds = c.elapsed.seconds
            var report = EpochReport(epoch: epoch, loss: Float(c.lossSum / Double(max(c.seen, 1))),
                                     trainingAccuracy: Float(c.correct) / Float(max(c.seen * data.labelsPerSample, 1)),
                                     seconds: seconds, samplesPerSecond: Double(c.seen) / max(seconds, 1e-9),
                                     validation: nil)
            if let validation { report.validation = evaluate(validation, loss: options.loss) }
            c.reports.append(report)
            for cb in callbacks { try cb.trainer(self, didFinishEpoch: report) }
        }
        return c.reports
    }

    /// Sets `cursor` and `order` to where `progress` stood, after checking that it belongs
    /// to a call with this data and these options.
    private func resume(_ c: Cursor, from progress: TrainingProgress, order: inout [Int], options: TrainingOptions) throws {
        guard progress.samples == c.samples, progress.stepsPerEpoch == c.stepsPerEpoch else {
            throw TrainingError.resumeMismatch("the saved progress is for \(progress.samples) samples in \(progress.stepsPerEpoch) steps per epoch, this training has \(c.samples) in \(c.stepsPerEpoch)")
        }
        guard (1...max(options.epochs, 1)).contains(progress.epoch), (0...c.stepsPerEpoch).contains(progress.stepInEpoch),
              progress.step == (progress.epoch - 1) * c.stepsPerEpoch + progress.stepInEpoch,
              progress.reports.count == progress.epoch - 1 else {
            throw TrainingError.resumeMismatch("the saved progress (epoch \(progress.epoch), step \(progress.stepInEpoch), \(progress.reports.count) epochs reported) does not fit \(options.epochs) epochs of \(c.stepsPerEpoch) steps")
        }
        guard progress.replicaDropout.count == c.replicas.count else {
            throw TrainingError.resumeMismatch("the saved progress has \(progress.replicaDropout.count + 1) workers, this training \(c.replicas.count + 1)")
        }
        for _ in 0..<progress.epoch where options.shuffle { c.shuffle.shuffle(&order) }
        guard c.shuffle == progress.shuffle else {
            throw TrainingError.resumeMismatch("the order of samples differs from the saved one (another seed or other data)")
        }
        for (replica, generators) in zip(c.replicas, progress.replicaDropout) {
            for node in replica.nodes {
                guard let d = node.module as? Dropout else { continue }
                guard let g = generators[d.name] else { throw TrainingError.resumeMismatch("no saved generator for dropout layer '\(d.name)'") }
                d.generator = g
            }
        }
        c.epoch = progress.epoch; c.stepInEpoch = progress.stepInEpoch; c.step = progress.step
        c.lossSum = progress.lossSum; c.correct = progress.correct; c.seen = progress.seen
        c.elapsed = .seconds(progress.seconds)
        c.reports = progress.reports
        stepsTaken = progress.stepsTaken
    }

    /// Evaluates the model in inference mode.
    public func evaluate(_ data: Dataset, loss: Loss? = nil, batchSize: Int = 1000) -> Evaluation {
        Trainer.evaluate(model, on: data, loss: loss, batchSize: batchSize)
    }

    /// Evaluates `model` on `data` in inference mode, in batches of `batchSize`, with `loss`
    /// (default: the one the data calls for, `Loss(suitedTo:)`). The accuracy of regression
    /// data is the mean cosine between each output and its target (a sentence encoder's
    /// agreement with the embeddings it is compared to).
    /// - Precondition: `batchSize > 0` and the data fits the model (see `check(_:fits:loss:)`).
    public static func evaluate(_ model: Graph, on data: Dataset, loss: Loss? = nil,
                                batchSize: Int = 1000) -> Evaluation {
        let loss = loss ?? Loss(suitedTo: data)
        precondition(batchSize > 0, "evaluation batch size must be positive, got \(batchSize)")
        // Sequences: about 8k tokens a batch, so that activations of every position stay small.
        let batchSize = data.labelsPerSample > 1 ? min(batchSize, max(1, 8192 / data.labelsPerSample)) : batchSize
        var lossSum = 0.0, correct = 0, cosines = 0.0
        var lo = 0
        while lo < data.count {
            let hi = min(lo + batchSize, data.count)
            let batch = model.trimmingPadding(data.batch(lo..<hi))
            let output = model.forward(batch.inputs, training: false)
            lossSum += Double(loss.evaluate(output, on: batch, outputs: model.outputKind).value) * Double(batch.count)
            if let targets = batch.targets {
                cosines += rowCosines(output, targets).reduce(0.0) { $0 + Double($1) }
            } else if !batch.labels.isEmpty {
                for (p, y) in zip(argmaxRows(scoreRows(output)), batch.labels) where p == Int(y) { correct += 1 }
            }
            lo = hi
        }
        let n = max(data.count, 1)
        let accuracy = data.targetWidth > 0 ? Float(cosines / Double(n)) : Float(correct) / Float(n * data.labelsPerSample)
        return Evaluation(accuracy: accuracy, loss: Float(lossSum / Double(n)),
                          samples: data.count)
    }

    /// Checks that `data` can be used with `model` and `loss` (default: the one the data calls
    /// for): sample shape (a token-sequence model also takes shorter sequences), label range,
    /// target width, and the kind of answers the loss needs.
    /// - Throws: `TrainingError.dataMismatch` naming the mismatch.
    public static func check(_ data: Dataset, fits model: Graph, loss: Loss? = nil) throws {
        let loss = loss ?? Loss(suitedTo: data)
        // A token-sequence model takes sequences up to its declared length.
        let shorterSequences = model.takesSequences && data.sampleShape.count == 1 && (1...model.inputShape[0]).contains(data.sampleShape[0])
        guard data.sampleShape == model.inputShape || shorterSequences else {
            throw TrainingError.dataMismatch("samples are \(data.sampleShape) but the model takes \(model.inputShape)")
        }
        guard data.count > 0 else { throw TrainingError.dataMismatch("the dataset is empty") }
        let outputs = data.labelsPerSample > 1 ? model.outputShape.last ?? 0 : model.outputShape.product
        switch loss {
        case .crossEntropy where data.targetWidth > 0:
            throw TrainingError.dataMismatch("cross-entropy needs class labels, but the data has regression targets; use the mse loss")
        case .crossEntropy where data.labelsPerSample > 1 && model.outputShape.dropLast() != [data.labelsPerSample]:
            throw TrainingError.dataMismatch("the data has \(data.labelsPerSample) labels per sample (one per position) but the model outputs \(model.outputShape), not [\(data.labelsPerSample), classes]")
        case .crossEntropy where data.labelsPerSample == 1 && model.outputShape.count != 1:
            throw TrainingError.dataMismatch("cross-entropy needs a flat vector of class scores, the model outputs \(model.outputShape)")
        case .mse where data.targetWidth == 0:
            throw TrainingError.dataMismatch("mse needs regression targets, but the data has class labels; use the cross-entropy loss")
        default: break
        }
        if data.targetWidth > 0 {
            guard data.targetWidth == outputs else {
                throw TrainingError.dataMismatch("targets have \(data.targetWidth) values but the model outputs \(outputs)")
            }
        } else if data.classCount > outputs {
            throw TrainingError.dataMismatch("labels go up to \(data.classCount - 1) but the model has \(outputs) outputs")
        }
    }
}

extension Duration {
    /// The duration in seconds.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension Graph {
    /// The trainable parameters that `WeightDecayScope.layerWeights` leaves undecayed: all
    /// but the weights of `Dense` and `Conv2D` layers.
    var decayExemptions: Set<ObjectIdentifier> {
        var exempt: Set<ObjectIdentifier> = []
        for node in nodes {
            let decayed: Parameter? = (node.module as? Dense)?.weight ?? (node.module as? Conv2D)?.weight
            for (_, p) in node.module.namedParameters where p.isTrainable && p !== decayed { exempt.insert(ObjectIdentifier(p)) }
        }
        return exempt
    }
}

extension Trainer {
    /// Scales the gradients of `parameters` so that their global L2 norm (over entries not
    /// cut by a mask) is at most `maxNorm`: by `maxNorm / (norm + 1e-6)` when the norm is
    /// larger, as PyTorch's `clip_grad_norm_`. Returns the norm before clipping.
    @discardableResult
    public static func clipGradients(_ parameters: [Parameter], to maxNorm: Float) -> Float {
        var squares = 0.0
        for p in parameters {
            let g = p.mask.map { p.gradient.zipMap($0) { $0 * $1 } } ?? p.gradient
            squares += Double(g.dot(g))
        }
        let norm = Float(squares.squareRoot())
        let factor = maxNorm / (norm + 1e-6)
        if factor < 1 { for p in parameters { p.gradient.scale(by: factor) } }
        return norm
    }
}
