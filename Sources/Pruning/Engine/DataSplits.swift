import NeuralNetwork

/// The data of a run: what it trains on, what decides (validation), what reports (test).
public struct DataSplits {
    /// Training data (the training set minus the validation split).
    public var training: Dataset
    /// Held-out training data for every decision; nil when the split is 0.
    public var validation: Dataset?
    /// The test set, read once for the final report.
    public var test: Dataset

    /// Creates splits from parts already separated.
    public init(training: Dataset, validation: Dataset?, test: Dataset) {
        self.training = training; self.validation = validation; self.test = test
    }

    /// Holds out `validationFraction` of `training` (drawn with `seed`) for decisions.
    /// - Throws: `ModelError` for a fraction outside [0, 1) or one that leaves a part empty.
    public init(training: Dataset, test: Dataset, validationFraction: Double, seed: UInt64) throws {
        let (rest, validation) = try training.splittingValidation(fraction: validationFraction, seed: seed)
        self.init(training: rest, validation: validation, test: test)
    }

    /// The split decisions and stage figures use: validation when there is one, else test
    /// (figures only: decisions refuse to run without a validation split).
    var judging: (data: Dataset, split: DataSplit) {
        validation.map { ($0, .validation) } ?? (test, .test)
    }
}

extension Recipe {
    /// The run's splits: the validation share of `training` (`validation_split`, drawn
    /// with the plan's seed) held out from it.
    /// - Throws: `ModelError` when the split leaves a part empty.
    public func splits(training: Dataset, test: Dataset) throws -> DataSplits {
        try DataSplits(training: training, test: test, validationFraction: resolvedValidationSplit,
                       seed: seed ?? Defaults.seed)
    }
}
