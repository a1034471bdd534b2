import NeuralNetwork
import Pruning
import TensorCore

extension PruningReport {
    /// Builds the report: reads the history and the recorder, measures both models
    /// (complexity, weight histogram, batch-1 latency), and computes what the pruned
    /// network still looks at.
    /// - Throws: `ModelError` when a model cannot be copied or does not take the images.
    public init(_ inputs: ReportInputs) throws {
        let clock = ContinuousClock()
        let start = clock.now
        let model = inputs.model
        let recorder = inputs.recorder
        let before = recorder?.before ?? inputs.baseline
        title = inputs.title
        history = inputs.history
        after = ModelReport(model)
        self.before = before.map(ModelReport.init)
        if let step = recorder?.beforeStep, recorder?.before != nil {
            beforeSource = step == 0 ? "the model before the run's first cut" : "the model before the run's first cut, after \(step) training step\(step == 1 ? "" : "s")"
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
        if steps.isEmpty { notes["schedule"] = "no training steps were recorded (the schedule is drawn while a run is watched)" }

        let paths = Self.prunedPaths(model, history: inputs.history)
        histogram = WeightHistogram(after: model, before: before, paths: paths)

        let images = inputs.images
        if inputs.latencySeconds > 0 {
            let input = images.map { $0.batch(0..<1).inputs } ?? Tensor.zeros([1] + model.inputShape)
            latency = try LatencyFigures(after: model, before: before, input: input, seconds: inputs.latencySeconds)
        }
        pixels = PixelConnections(model)
        filters = FirstLayerFilters(model)
        if let images {
            if pixels != nil { classMeans = ClassMeans(images) }
            let indices = SaliencyMaps.indices(in: images, count: inputs.saliencySamples)
            var models = [(name: String, model: Graph)]()
            if let before { models.append((name: "before pruning", model: try before.densified())) }
            models.append((name: "pruned", model: try model.densified()))
            saliency = try SaliencyMaps(models: models, data: images, indices: indices)
        } else {
            notes["saliency"] = "no images were given (pass the data the model was trained on)"
        }
        if let t = inputs.timing {
            time = Time(training: t.training, scoring: t.scoring, cutting: t.pruning - t.scoring, evaluation: t.evaluation,
                        report: (clock.now - start).seconds)
        }
    }

    /// Fills `accuracy` and `dense` from the history, the recorder's epochs and, without a
    /// history, the models measured on the images.
    private mutating func collectAccuracy(_ inputs: ReportInputs, before: Graph?) {
        let finalSparsity = Self.sparsity(of: inputs.model, paths: Self.prunedPaths(inputs.model, history: inputs.history))
        if let history = inputs.history {
            let lastCut = history.cuts.last?.sparsity ?? history.trainingCuts?.sparsity
            for m in history.measurements {
                let sparsity = m.sparsity ?? (m.stage == "as loaded" ? 0 : lastCut ?? finalSparsity)
                let point = AccuracyPoint(stage: m.stage, split: m.split, sparsity: sparsity, accuracy: m.accuracy, loss: m.loss)
                if m.stage == "as loaded" { dense.append(point) } else { accuracy.append(point) }
            }
        }
        if let recorder = inputs.recorder {
            let firstCut = recorder.beforeStep ?? Int.max
            for e in recorder.epochs {
                let name = e.phase == "training" ? "epoch \(e.epoch)" : "\(e.phase) epoch \(e.epoch)"
                var points = [AccuracyPoint(stage: name, split: .training, sparsity: e.sparsity, accuracy: e.trainingAccuracy, loss: e.loss)]
                if let v = e.validation {
                    points.append(AccuracyPoint(stage: name, split: .validation, sparsity: e.sparsity, accuracy: v.accuracy, loss: v.loss))
                }
                accuracy += points
                if e.step <= firstCut, e.sparsity == 0, let v = points.last, v.split == .validation {
                    dense.removeAll { $0.split == .validation }   // the last dense epoch stands for the dense model
                    dense.append(v)
                }
            }
        }
        // The dense model on the images (the test split: shown, not decided on), when the run has no such figure.
        if let before, let images = inputs.images, inputs.history != nil, !dense.contains(where: { $0.split == .test }) {
            let d = Trainer.evaluate(before, on: images)
            dense.append(AccuracyPoint(stage: inputs.recorder?.before != nil ? "before the first cut" : "baseline", split: .test, sparsity: Self.sparsity(of: before, paths: Self.prunedPaths(before, history: inputs.history)),
                                       accuracy: d.accuracy, loss: d.loss))
        }
        guard inputs.history == nil, let images = inputs.images else { return }
        let e = Trainer.evaluate(inputs.model, on: images)
        accuracy.append(AccuracyPoint(stage: "as given", split: .test, sparsity: finalSparsity, accuracy: e.accuracy, loss: e.loss))
        if let before {
            let d = Trainer.evaluate(before, on: images)
            dense.append(AccuracyPoint(stage: "baseline", split: .test, sparsity: Self.sparsity(of: before, paths: Self.prunedPaths(before, history: nil)),
                                       accuracy: d.accuracy, loss: d.loss))
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
        let parameters = paths.compactMap { model.parameter(at: $0) }
        let total = parameters.reduce(0) { $0 + $1.count }
        return total == 0 ? 0 : 1 - Double(parameters.reduce(0) { $0 + $1.value.nonZeroCount() }) / Double(total)
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
