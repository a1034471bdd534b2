import RealModule

/// How the learning rate changes over training.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    /// The shape of the schedule.
    public enum Kind: String, NamedChoice, Sendable {
        /// The base rate throughout.
        case constant
        /// Multiply by `stepFactor` every `stepEpochs` epochs.
        case step
        /// Cosine decay per step from the base rate to `minimumFactor·base` at the last step
        /// (SGDR without restarts, https://arxiv.org/abs/1608.03983).
        case cosine
    }
    /// The shape of the schedule.
    public var kind: Kind
    /// Epochs between decays (`step`).
    public var stepEpochs: Int
    /// Decay factor (`step`).
    public var stepFactor: Float
    /// Final rate as a fraction of the base rate (`cosine`).
    public var minimumFactor: Float
    /// Steps of linear warm-up from 0 to the base rate before the schedule starts.
    public var warmupSteps: Int

    /// Creates a schedule.
    public init(kind: Kind = .constant, stepEpochs: Int = 30, stepFactor: Float = 0.1,
                minimumFactor: Float = 0, warmupSteps: Int = 0) {
        self.kind = kind; self.stepEpochs = stepEpochs; self.stepFactor = stepFactor
        self.minimumFactor = minimumFactor; self.warmupSteps = warmupSteps
    }

    /// The constant schedule.
    public static let constant = LearningRateSchedule()
    /// Per-step cosine decay to zero.
    public static let cosine = LearningRateSchedule(kind: .cosine)

    /// The rate for 0-based global `step` of `totalSteps`, with `stepsPerEpoch` steps per epoch.
    public func rate(base: Float, step: Int, totalSteps: Int, stepsPerEpoch: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        switch kind {
        case .constant:
            return base
        case .step:
            let epoch = step / max(stepsPerEpoch, 1)
            return base * Float(Double.pow(Double(stepFactor), epoch / max(stepEpochs, 1)))
        case .cosine:
            let span = max(totalSteps - warmupSteps, 1)
            let t = Double(step - warmupSteps) / Double(span)
            let factor = Double(minimumFactor) + (1 - Double(minimumFactor)) * 0.5 * (1 + Double.cos(Double.pi * t))
            return base * Float(factor)
        }
    }
}

