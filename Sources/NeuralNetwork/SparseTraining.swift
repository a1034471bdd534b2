import TensorCore

/// How `Graph.useSparseTraining(_:)` decides which masked Dense layers train through CSR.
public enum SparseTrainingChoice: Codable, Sendable, Equatable {
    /// Every layer trains with dense products.
    case off
    /// Every masked Dense layer keeping at most this fraction of its weights trains sparse.
    case density(maximum: Double)
    /// Each masked Dense layer keeping at most `maximumDensity` of its weights is timed both
    /// ways (a forward and a backward pass on random inputs of `batchSize` rows) and trains
    /// sparse only where that was faster: the crossover moves with the shape, the batch and
    /// the machine, as it does for inference (`SparseChoice.measured`).
    case measured(batchSize: Int, maximumDensity: Double = 0.2)
}

extension Graph {
    /// Sets which Dense layers train through CSR (`Dense.trainSparse(_:)`), by `choice`, for
    /// the masks the layers hold now; a layer whose mask changes later trains dense until
    /// this is called again. Returns the names of the layers that train sparse.
    @discardableResult
    public func useSparseTraining(_ choice: SparseTrainingChoice) -> [String] {
        var chosen: [String] = []
        for node in nodes {
            guard let dense = node.module as? Dense else { continue }
            guard let mask = dense.weight.mask, choice != .off else { dense.trainSparse(false); continue }
            let density = Double(mask.nonZeroCount()) / Double(max(1, mask.count))
            switch choice {
            case .off:
                dense.trainSparse(false)
            case let .density(maximum):
                dense.trainSparse(density <= maximum)
            case let .measured(batchSize, maximum):
                dense.trainSparse(density <= maximum && Self.sparseStepIsFaster(dense, batchSize: batchSize))
            }
            if dense.sparsePattern != nil { chosen.append(dense.name) }
        }
        return chosen
    }

    /// Times a training forward and backward pass of `layer` with dense products and through
    /// CSR, in turns (median of 7 each after a warm-up), and leaves the layer's gradients as
    /// they were.
    private static func sparseStepIsFaster(_ layer: Dense, batchSize: Int) -> Bool {
        var rng = SeededGenerator(seed: 7)
        let x = Tensor.uniform([max(1, batchSize), layer.inFeatures], low: -1, high: 1, using: &rng)
        let dy = Tensor.uniform([max(1, batchSize), layer.outFeatures], low: -1, high: 1, using: &rng)
        let saved = (layer.weight.gradient, layer.bias?.gradient)
        defer {
            layer.weight.gradient = saved.0
            if let b = saved.1 { layer.bias?.gradient = b }
        }
        let clock = ContinuousClock()
        func step(sparse: Bool) -> Duration {
            layer.trainSparse(sparse)
            return clock.measure {
                _ = layer.forward(x, training: true)
                _ = layer.backward(dy)
            }
        }
        _ = step(sparse: false); _ = step(sparse: true)
        var dense: [Duration] = [], sparse: [Duration] = []
        for _ in 0..<7 {
            dense.append(step(sparse: false))
            sparse.append(step(sparse: true))
        }
        return sparse.sorted()[3] < dense.sorted()[3]
    }
}

extension Trainer {
    /// Applies `choice` to the model and to the data-parallel replicas, which take the
    /// model's masks first (their values are the model's at every step already).
    static func chooseSparseKernels(_ choice: SparseTrainingChoice, model: Graph, replicas: [Graph]) {
        model.useSparseTraining(choice)
        let master = model.parameters
        for replica in replicas {
            for (mine, theirs) in zip(master, replica.parameters) where theirs.parameter.mask != mine.parameter.mask {
                theirs.parameter.mask = mine.parameter.mask
            }
            replica.useSparseTraining(choice)
        }
    }
}
