import NeuralNetwork

extension Recipe {
    /// The training settings a plan gets for what it leaves out. Classifiers (the MLPs and
    /// CNNs) take `Recipe.Defaults`; a language model (gpt-tiny) takes the GPT recipe of
    /// shared/anchors/transformers.md, which is what a byte-level model needs to train at all.
    public struct TrainingDefaults: Equatable, Sendable {
        public var epochs: Int
        public var batchSize: Int
        public var optimizer: OptimizerKind
        public var learningRate: Float
        public var momentum: Float
        public var weightDecay: Float
        public var weightDecayScope: WeightDecayScope
        public var schedule: LearningRateSchedule.Kind
        public var warmupSteps: Int
        public var beta2: Float
        public var minLearningRateFactor: Float
        public var gradientClip: Float?
        /// The step limit (nil: every epoch).
        public var steps: Int?
        /// The validation share of the training data.
        public var validationSplit: Double

        /// SGD with momentum, per-step cosine decay: tuned for 10 epochs on Fashion-MNIST.
        public static let classifier = TrainingDefaults(
            epochs: Defaults.epochs, batchSize: Defaults.batchSize, optimizer: Defaults.optimizer,
            learningRate: Defaults.learningRate, momentum: Defaults.momentum, weightDecay: Defaults.weightDecay,
            weightDecayScope: .all, schedule: Defaults.schedule, warmupSteps: Defaults.warmupSteps, beta2: 0.999,
            minLearningRateFactor: 0, gradientClip: nil, steps: nil, validationSplit: Defaults.validationSplit)

        /// The GPT recipe: AdamW 3e-3 with β (0.9, 0.95), weight decay 0.1 on layer weights only,
        /// 200 warm-up steps, cosine decay to 10%, clipping at norm 1, batches of 32 windows,
        /// 1,389 steps, no validation split (the held-out text is the test split).
        public static let languageModel = TrainingDefaults(
            epochs: 1, batchSize: 32, optimizer: .adamw, learningRate: 3e-3, momentum: Defaults.momentum, weightDecay: 0.1,
            weightDecayScope: .layerWeights, schedule: .cosine, warmupSteps: 200, beta2: 0.95, minLearningRateFactor: 0.1,
            gradientClip: 1, steps: 1389, validationSplit: 0)
    }

}

extension Recipe.TrainingDefaults {
    /// Fine-tuning's defaults for a classifier: SGD with momentum at 0.01, constant, batches
    /// of 128 (`Recipe.Defaults`). Fine-tuning reads the optimizer, batch, schedule, clipping
    /// and step fields; the epochs come from the plan.
    public static let classifierFineTune = Self(
        epochs: 1, batchSize: Recipe.Defaults.fineTuneBatchSize, optimizer: Recipe.Defaults.fineTuneOptimizer,
        learningRate: Recipe.Defaults.fineTuneLearningRate, momentum: Recipe.Defaults.fineTuneMomentum,
        weightDecay: Recipe.Defaults.fineTuneWeightDecay, weightDecayScope: .all, schedule: Recipe.Defaults.fineTuneSchedule,
        warmupSteps: 0, beta2: 0.999, minLearningRateFactor: 0, gradientClip: nil, steps: nil, validationSplit: 0)

    /// Fine-tuning's defaults for a language model: the GPT recipe's optimizer at a tenth of
    /// its rate (AdamW 3e-4, β (0.9, 0.95), weight decay 0.1 on layer weights, cosine to 10%,
    /// clipping at 1, batches of 32) for 200 steps: recovery from a cut, not training afresh.
    public static let languageModelFineTune = Self(
        epochs: 1, batchSize: 32, optimizer: .adamw, learningRate: 3e-4, momentum: Recipe.Defaults.fineTuneMomentum,
        weightDecay: 0.1, weightDecayScope: .layerWeights, schedule: .cosine, warmupSteps: 0, beta2: 0.95,
        minLearningRateFactor: 0.1, gradientClip: 1, steps: 200, validationSplit: 0)

    /// Fine-tuning's defaults for regression targets (a pruned sentence encoder recovering its
    /// dense embeddings): AdamW 1e-4 with β (0.9, 0.999), weight decay 0.01 on layer weights,
    /// cosine to 10%, clipping at 1, batches of 32, 200 steps. Adam's steps do not shrink with
    /// the small gradients of a mean squared error over unit-length vectors, as SGD's would.
    public static let regressionFineTune = Self(
        epochs: 1, batchSize: 32, optimizer: .adamw, learningRate: 1e-4, momentum: Recipe.Defaults.fineTuneMomentum,
        weightDecay: 0.01, weightDecayScope: .layerWeights, schedule: .cosine, warmupSteps: 0, beta2: 0.999,
        minLearningRateFactor: 0.1, gradientClip: 1, steps: 200, validationSplit: 0)
}

extension Recipe {
    /// Whether the language-model defaults apply: a built-in language model, or data with a
    /// label per position (`sequenceData`).
    public var isLanguageModel: Bool { architecture?.isLanguageModel == true || sequenceData }

    /// The defaults in force for this plan's model.
    public var trainingDefaults: TrainingDefaults { isLanguageModel ? .languageModel : .classifier }

    /// The fine-tuning defaults in force for this plan's model.
    public var fineTuneDefaults: TrainingDefaults {
        isLanguageModel ? .languageModelFineTune : regressionData ? .regressionFineTune : .classifierFineTune
    }

    /// The validation share in force.
    public var resolvedValidationSplit: Double { validationSplit ?? trainingDefaults.validationSplit }
}
