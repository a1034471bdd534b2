import TensorCore

/// A failure during training that the user can act on.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// The loss became NaN or infinite.
    case nonFiniteLoss(epoch: Int, step: Int, learningRate: Float)
    /// The options cannot be used.
    case invalidOptions(String)
    /// The data does not fit the model.
    case dataMismatch(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(epoch, step, lr):
            return "training diverged: the loss is not finite at epoch \(epoch), step \(step) (learning rate \(lr)); lower the learning rate or check the data"
        case let .invalidOptions(message): return "invalid training options: \(message)"
        case let .dataMismatch(message): return "data does not fit the model: \(message)"
        }
    }
}

/// Trains a `Graph` with an `Optimizer` on a `Dataset` (mini-batch gradient descent).
public final class Trainer {
    /// The model being trained.
    public let model: Graph
    /// The optimizer and its state.
    public let optimizer: Optimizer
    /// Hooks called after each step and epoch.
    public var callbacks: [TrainingCallback] = []
    /// The number of optimizer steps taken so far (across calls to `fit`).
    public private(set) var stepsTaken = 0

    /// Creates a trainer.
    public init(model: Graph, optimizer: Optimizer) {
        self.model = model
        self.optimizer = optimizer
    }

    /// Runs `options.epochs` epochs over `data`, evaluating on `validation` after each.
    /// - Returns: one report per epoch.
    /// - Throws: `TrainingError` on bad options, mismatched data, or a non-finite loss;
    ///   any error a callback throws.
    @discardableResult
    public func fit(_ data: Dataset, options: TrainingOptions, validation: Dataset? = nil) throws -> [EpochReport] {
        guard options.epochs >= 0 else { throw TrainingError.invalidOptions("epochs must be ≥ 0, got \(options.epochs)") }
        guard options.batchSize >= 1 else { throw TrainingError.invalidOptions("batch size must be ≥ 1, got \(options.batchSize)") }
        guard options.learningRate.isFinite, options.learningRate > 0 else {
            throw TrainingError.invalidOptions("learning rate must be positive, got \(options.learningRate)")
        }
        try Self.check(data, fits: model, loss: options.loss)
        if let validation { try Self.check(validation, fits: model, loss: options.loss) }
        guard options.workers >= 1 else { throw TrainingError.invalidOptions("workers must be ≥ 1, got \(options.workers)") }
        var rng = SeededGenerator(seed: options.seed)
        var order = Array(0..<data.count)
        let stepsPerEpoch = (data.count + options.batchSize - 1) / options.batchSize
        let totalSteps = stepsPerEpoch * options.epochs
        let parameters = model.trainableParameters
        let replicas = try (1..<max(options.workers, 1)).map { w -> Graph in
            let replica = try model.spec.makeGraph()
            // Each replica's dropout draws its own masks.
            for node in replica.nodes { (node.module as? Dropout)?.reseed(options.seed &+ UInt64(w) &* 0x9E37_79B9) }
            return replica
        }
        let pool = options.workers > 1 ? WorkerPool(count: options.workers) : nil
        let clock = ContinuousClock()
        var reports: [EpochReport] = []
        var runStep = 0
        for epoch in stride(from: 1, through: options.epochs, by: 1) {
            if options.shuffle { rng.shuffle(&order) }
            var lossSum = 0.0, correct = 0, seen = 0
            var elapsed = Duration.zero
            for s in 0..<stepsPerEpoch {
                let start = clock.now
                let lo = s * options.batchSize, hi = min(lo + options.batchSize, data.count)
                let rate = options.schedule.rate(base: options.learningRate, step: runStep,
                                                 totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
                let result = computeGradients(data, order[lo..<hi], loss: options.loss, replicas: replicas, pool: pool)
                guard result.loss.isFinite else {
                    throw TrainingError.nonFiniteLoss(epoch: epoch, step: s, learningRate: rate)
                }
                for c in callbacks { try c.trainer(self, willUpdateWithLearningRate: rate) }
                optimizer.step(parameters, learningRate: rate, pool: pool)
                elapsed += clock.now - start
                lossSum += Double(result.loss) * Double(hi - lo)
                correct += result.correct
                seen += hi - lo
                stepsTaken += 1
                let report = StepReport(epoch: epoch, step: runStep, stepInEpoch: s, stepsPerEpoch: stepsPerEpoch,
                                        totalSteps: totalSteps, loss: result.loss, learningRate: rate,
                                        samplesInEpoch: seen)
                runStep += 1
                for c in callbacks { try c.trainer(self, didFinishStep: report) }
            }
            let seconds = elapsed.seconds
            var report = EpochReport(epoch: epoch, loss: Float(lossSum / Double(max(seen, 1))),
                                     trainingAccuracy: Float(correct) / Float(max(seen, 1)),
                                     seconds: seconds, samplesPerSecond: Double(seen) / max(seconds, 1e-9),
                                     validation: nil)
            if let validation { report.validation = evaluate(validation, loss: options.loss) }
            reports.append(report)
            for c in callbacks { try c.trainer(self, didFinishEpoch: report) }
        }
        return reports
    }

    /// Evaluates the model in inference mode.
    public func evaluate(_ data: Dataset, loss: Loss = .crossEntropy, batchSize: Int = 1000) -> Evaluation {
        Trainer.evaluate(model, on: data, loss: loss, batchSize: batchSize)
    }

    /// Evaluates `model` on `data` in inference mode, in batches of `batchSize`.
    /// - Precondition: `batchSize > 0` and the data fits the model (see `check(_:fits:loss:)`).
    public static func evaluate(_ model: Graph, on data: Dataset, loss: Loss = .crossEntropy,
                                batchSize: Int = 1000) -> Evaluation {
        precondition(batchSize > 0, "evaluation batch size must be positive, got \(batchSize)")
        var lossSum = 0.0, correct = 0
        var lo = 0
        while lo < data.count {
            let hi = min(lo + batchSize, data.count)
            let batch = data.batch(lo..<hi)
            let output = model.forward(batch.inputs, training: false)
            lossSum += Double(loss.evaluate(output, on: batch, outputs: model.outputKind).value) * Double(batch.count)
            if !batch.labels.isEmpty {
                for (p, y) in zip(argmaxRows(output), batch.labels) where p == Int(y) { correct += 1 }
            }
            lo = hi
        }
        let n = max(data.count, 1)
        return Evaluation(accuracy: Float(correct) / Float(n), loss: Float(lossSum / Double(n)), samples: data.count)
    }

    /// Checks that `data` can be used with `model` and `loss`: sample shape, label range,
    /// target width, and the kind of answers the loss needs.
    /// - Throws: `TrainingError.dataMismatch` naming the mismatch.
    public static func check(_ data: Dataset, fits model: Graph, loss: Loss = .crossEntropy) throws {
        guard data.sampleShape == model.inputShape else {
            throw TrainingError.dataMismatch("samples are \(data.sampleShape) but the model takes \(model.inputShape)")
        }
        guard data.count > 0 else { throw TrainingError.dataMismatch("the dataset is empty") }
        let outputs = model.outputShape.product
        switch loss {
        case .crossEntropy where data.targetWidth > 0:
            throw TrainingError.dataMismatch("cross-entropy needs class labels, but the data has regression targets; use the mse loss")
        case .crossEntropy where model.outputShape.count != 1:
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
