import NeuralNetwork

extension Recipe {
    /// How masked Dense layers train (`sparse_kernels`): `off`, dense products; `on`, through
    /// CSR wherever a layer keeps at most 20% of its weights; `measured`, where that also timed
    /// faster for the phase's batch size. Decided as each training phase starts and again
    /// after every cut (`TrainingOptions.sparseKernels`).
    public enum SparseKernels: String, NamedChoice, Sendable {
        case off, on, measured

        /// The trainer's choice for batches of `batchSize`.
        public func choice(batchSize: Int) -> SparseTrainingChoice {
            switch self {
            case .off: return .off
            case .on: return .density(maximum: 0.2)
            case .measured: return .measured(batchSize: batchSize, maximumDensity: 0.2)
            }
        }
    }
}
