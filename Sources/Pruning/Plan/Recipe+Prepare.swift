import NeuralNetwork

extension Recipe {
    /// Training just before the first cut after training (`prune.prepare`), with the
    /// `fine_tune` settings: movement accumulates its sums over it (so a model trained
    /// elsewhere can be cut by movement), and an L1 penalty pulls the weights a magnitude cut
    /// will take toward zero first. `criterion: auto` tries both ways and writes this section
    /// into the plan it chooses.
    public struct Prepare: Codable, Equatable, Sendable {
        /// Training epochs (at least 1).
        public var epochs: Int
        /// A penalty during them (e.g. `{l1: 0.0003}`).
        public var regularizer: RegularizerSpec?

        /// Creates the section.
        public init(epochs: Int, regularizer: RegularizerSpec? = nil) { self.epochs = epochs; self.regularizer = regularizer }
    }
}

extension Recipe {
    /// Unlabeled samples a layer-wise criterion (`wanda`, `sparsegpt`) measures on
    /// (`prune.calibration`): the first `samples` of a file, in file order. A text file of
    /// sentences is read as token ids when the model is a sentence-encoder folder; any other
    /// data file gives its training part.
    public struct Calibration: Codable, Equatable, Sendable {
        /// The file.
        public var file: String
        /// How many of its samples (default `Defaults.calibrationSamples`).
        public var samples: Int?
        /// Which inputs each layer is measured on (default `sequential`, as the papers run it).
        public var inputs: Inputs?

        /// Which inputs a layer-wise criterion measures each layer on.
        public enum Inputs: String, NamedChoice, Sendable {
            /// The outputs of the layers before it, already pruned: each cut sees the errors of
            /// the cuts before (Wanda's and SparseGPT's papers).
            case sequential
            /// The dense model's: every layer measured before anything is cut (PyTorch's
            /// reference in issue #16, and the cheaper pass).
            case dense
        }

        /// Creates the section.
        public init(file: String, samples: Int? = nil, inputs: Inputs? = nil) {
            self.file = file; self.samples = samples; self.inputs = inputs
        }
    }
}
