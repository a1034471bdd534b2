import NeuralNetwork
import Pruning
import TensorCore

extension PruningReport {
    /// Builds the report: reads the history and the recorder, measures both models
    /// (complexity, weight histogram, batch-1 latency), and computes what the pruned
    /// network still looks at.
    /// - Throws: `ReportError.baselineMismatch` when the "before" model takes other inputs or
    ///   gives other outputs; `ModelError` when a model cannot be copied or does not take the images.
    public init(_ inputs: ReportInputs) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let model = inputs.model
        let recorder = inputs.recorder
        let before = recorder?.before ?? inputs.baseline
        if let before, before.inputShape != model.inputShape || before.outputShape != model.outputShape {
            throw ReportError.baselineMismatch(
                "the model before pruning takes \(before.inputShape) and gives \(before.outputShape); the pruned one takes \(model.inputShape) and gives \(model.outputShape)")
        }
        title = inputs.title
        history = inputs.history
        after = ModelReport(model)
        self.before = before.map(ModelReport.init)
        if let step = recorder?.beforeStep, recorder?.before != nil {
            beforeSource = step > 0 ? "the model before the run's first cut, after \(step) training step\(step == 1 ? "" : "s")"
                : inputs.history?.plan.train != nil ? "the untrained model: the run cut before training" : "the model before the run's first cut"
        } else {
            beforeSource = before == nil ? nil : inputs.baselineSource ?? "the baseline model given"
        }
        if let why = recorder?.copyError { notes["before"] = "the model could not be copied before the first cut: \(why)" }
        removedUnits = RemovedUnits(model)
        sensitivity = inputs.sensitivity
        fileBytes = inputs.fileBytes

        collectAccuracy(inputs, before: before)
        steps = Self.thinned(recorder?.steps ?? [], to: inputs.maximumSteps)
        phases = recorder?.phases ?? []
        if steps.isEmpty {
            notes["schedule"] = "no training steps were recorded: the schedule is drawn from a run's own report (NAME.report.html), not from a model file"
        }
        if inputs.timing == nil { notes["time"] = "the time per activity is in a run's own report (NAME.report.html), not in a model file" }
        if let why = inputs.recorderNote { notes["before"] = why }

        let paths = Self.prunedPaths(model, history: inputs.history)
        histogram = WeightHistogram(after: model, before: before, paths: paths)
        histogram?.lastCut = Self.lastCutMagnitude(inputs.history)

        let images = inputs.images
        if inputs.latencySeconds > 0 {
            let input = images.map { $0.batch(0..<1).inputs } ?? Tensor.zeros([1] + model.inputShape)
            latency = try LatencyFigures(after: model, before: before, input: input, seconds: inputs.latencySeconds)
        }
        pixels = PixelConnections(model)
        filters = FirstLayerFilters(model)
        if let images {
            classMeans = pixels == nil ? nil : ClassMeans(images)
            let indices = SaliencyMaps.indices(in: images, count: inputs.saliencySamples)
            var models = [(name: String, model: Graph)]()
            if let before { models.append((name: "before pruning", model: before)) }
            models.append((name: "pruned", model: model))   // sparse layers are densified for the gradient
            saliency = try SaliencyMaps(models: models, data: images, indices: indices)
        } else {
            notes["saliency"] = "no images were given (pass the data the model was trained on)"
        }
        if let t = inputs.timing {
            time = Time(training: t.training, scoring: t.scoring, cutting: t.pruning - t.scoring, evaluation: t.evaluation,
                        report: (clock.now - start).seconds)
        }
        weights = WeightSparsity.layers(of: model, before: before, paths: paths)
    }

    /// Fills `accuracy` and `dense` from the history, the recorder's epochs and the models
    /// measured on the images (the test split: shown, never decided on).
    private mutating func collectAccuracy(_ inputs: ReportInputs, before: Graph?) {
        if let history = inputs.history {
            (accuracy, dense) = Self.figures(of: history, model: inputs.model)
        }
        if let recorder = inputs.recorder {
            let firstCut = recorder.beforeStep ?? Int.max
            for e in recorder.epochs {
                let name = e.phase == "training" ? "epoch \(e.epoch)" : "\(e.phase) epoch \(e.epoch)"
                accuracy.append(AccuracyPoint(stage: name, split: .training, sparsity: e.sparsity, accuracy: e.trainingAccuracy, loss: e.loss))
                guard let v = e.validation else { continue }
                let point = AccuracyPoint(stage: name, split: .validation, sparsity: e.sparsity, accuracy: v.accuracy, loss: v.loss)
                accuracy.append(point)
                if e.step <= firstCut, e.sparsity == 0 {   // the last dense epoch stands for the dense model
                    dense.removeAll { $0.split == .validation }
                    dense.append(point)
                }
            }
        }
        guard let images = inputs.images else { return }
        if inputs.history == nil {
            let e = Trainer.evaluate(inputs.model, on: images)
            accuracy.append(AccuracyPoint(stage: "as given", split: .test, sparsity: Self.sparsity(of: inputs.model, paths: Self.prunedPaths(inputs.model, history: nil)),
                                          accuracy: e.accuracy, loss: e.loss))
        }
        if let before, !dense.contains(where: { $0.split == .test }) {
            let d = Trainer.evaluate(before, on: images)
            let stage = inputs.recorder?.before == nil ? "baseline" : inputs.recorder?.beforeStep == 0 && inputs.history?.plan.train != nil
                ? "untrained, before the first cut" : "before the first cut"
            dense.append(AccuracyPoint(stage: stage, split: .test, sparsity: Self.sparsity(of: before, paths: Self.prunedPaths(before, history: inputs.history)),
                                       accuracy: d.accuracy, loss: d.loss))
        }
    }

    /// A run's figures from its history, each at the sparsity of the pruned parameters when
    /// it was measured (histories written before that was recorded: the last cut's, and 0 for
    /// the model as loaded), split into the run's figures and the dense model's ("as loaded").
    public static func figures(of history: RunHistory, model: Graph) -> (run: [AccuracyPoint], dense: [AccuracyPoint]) {
        let last = history.cuts.last?.sparsity ?? history.trainingCuts?.sparsity ?? sparsity(of: model, paths: prunedPaths(model, history: history))
        var run: [AccuracyPoint] = [], dense: [AccuracyPoint] = []
        for m in history.measurements {
            let point = AccuracyPoint(stage: m.stage, split: m.split, sparsity: m.sparsity ?? (m.stage == "as loaded" ? 0 : last),
                                      accuracy: m.accuracy, loss: m.loss)
            if m.stage == "as loaded" { dense.append(point) } else { run.append(point) }
        }
        return (run, dense)
    }

    /// The weight magnitude of the last cut's cutoff, for criteria that rank by magnitude.
    static func lastCutMagnitude(_ history: RunHistory?) -> Double? {
        guard let history else { return nil }
        // A stored history lists the cuts after training and summarizes those during it.
        let cutoff = history.cuts.last.map(\.cutoff) ?? history.trainingCuts?.cutoff
        guard let cutoff else { return nil }
        let criterion = history.cuts.last?.criterion ?? history.plan.prune?.criterion?.rawValue ?? "magnitude"
        switch criterion {
        case "magnitude": return Double(cutoff)
        case "squared-magnitude": return Double(cutoff).squareRoot()
        default: return nil
        }
    }

    /// The parameters the run's plan prunes, or every weight of rank 2 and above.
    static func prunedPaths(_ model: Graph, history: RunHistory?) -> [String] {
        if let plan = history?.plan.pruningPlan(), let selected = try? Pruner.selectParameters(plan, in: model) {
            return selected.map(\.path)
        }
        return model.parameters.filter { $0.path.hasSuffix(".weight") && $0.parameter.value.rank >= 2 }.map(\.path)
    }

    /// The sparsity of the parameters at `paths` together.
    static func sparsity(of model: Graph, paths: [String]) -> Double {
        Pruner.sparsity(of: paths.compactMap { path in model.parameter(at: path).map { (path: path, parameter: $0) } })
    }

    /// At most `maximum` steps: each kept step stands for a run of steps, with their mean
    /// loss and the last step's rate and sparsity.
    static func thinned(_ steps: [RunRecorder.Step], to maximum: Int) -> [RunRecorder.Step] {
        guard steps.count > maximum, maximum > 0 else { return steps }
        let size = (steps.count + maximum - 1) / maximum
        return stride(from: 0, to: steps.count, by: size).map { i in
            let run = steps[i..<min(i + size, steps.count)]
            var last = run.last!
            last.loss = run.reduce(0) { $0 + $1.loss } / Float(run.count)
            return last
        }
    }
}
