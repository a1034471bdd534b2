import TensorCore

/// Data-parallel training: a step's batch split between the model and its replicas, whose
/// gradients are summed into the model's.

extension Trainer {
    /// Computes the mean loss over the samples at `indices` and leaves its gradient in the
    /// model's parameters. With replicas, the slice is split between the model and the
    /// replicas, run concurrently, and the replicas' gradients are added to the model's.
    /// With `distillation` and a `teacher`, the teacher runs once on the whole slice and each
    /// part distils towards its rows of the teacher's outputs.
    func computeGradients(_ data: Dataset, _ indices: ArraySlice<Int>, loss: Loss, distillation: Distillation? = nil,
                          teacher: Graph? = nil, replicas: [Graph], pool: WorkerPool?) -> (loss: Float, correct: Int) {
        let workers = [model] + replicas
        let n = indices.count
        let parts = min(workers.count, n)
        var teacherOutputs: Tensor?
        if let distillation, let teacher {
            // By tokens, the student's trimmed batch and the teacher's have the same positions.
            var whole = distillation.match == .tokens ? model.trimmingPadding(data.batch(indices)) : data.batch(indices)
            let outputs = distillation.match == .tokens ? teacher.tokenStates(whole.inputs) : teacher.forward(whole.inputs, training: false)
            guard parts > 1, pool != nil else {
                whole.teacherLogits = outputs
                return Self.gradients(model, whole, loss: loss, distillation: distillation, scale: 1)
            }
            teacherOutputs = outputs
        }
        func batch(_ range: Range<Int>) -> Batch {
            var batch = data.batch(indices[range])
            if let teacherOutputs {
                let width = teacherOutputs.count / n, first = range.lowerBound - indices.startIndex
                batch.teacherLogits = Tensor(shape: [range.count] + teacherOutputs.shape.dropFirst(),
                                             scalars: Array(teacherOutputs.scalars[(first * width)..<((first + range.count) * width)]))
            }
            return batch
        }
        guard parts > 1, let pool else { return Self.gradients(model, data.batch(indices), loss: loss, distillation: distillation, scale: 1) }
        let master = model.parameters
        for replica in replicas {
            for (mine, theirs) in zip(master, replica.parameters) { theirs.parameter.value = mine.parameter.value }
        }
        // A part's share of the mean: its samples', or by tokens its real tokens'.
        let byTokens = distillation?.match == .tokens && teacherOutputs != nil
        let pad = model.trailingPaddingID.map(Float.init)
        func real(_ part: ArraySlice<Int>) -> Int { data.batch(part).inputs.scalars.reduce(0) { $0 + ($1 == pad ? 0 : 1) } }
        let allTokens = byTokens ? max(real(indices), 1) : 0
        func share(_ lo: Int, _ hi: Int) -> Float {
            byTokens ? Float(real(indices[lo..<hi])) / Float(allTokens) : Float(hi - lo) / Float(n)
        }
        let results = pool.map(parts) { w in
            let lo = indices.startIndex + n * w / parts, hi = indices.startIndex + n * (w + 1) / parts
            let part = share(lo, hi)
            let r = Self.gradients(workers[w], batch(lo..<hi), loss: loss, distillation: distillation, scale: part)
            return (loss: r.loss * part, correct: r.correct)
        }
        // Sum the replicas' gradients into the model's, each thread taking one range of
        // every parameter; then drop the replicas' references to the weights so the
        // optimizer updates them in place instead of copying.
        let replicaParameters = workers[1..<parts].map(\.parameters)
        for (i, (_, mine)) in master.enumerated() {
            if !mine.isTrainable {
                // Running statistics (BatchNorm): the mean of every worker's update.
                var sum = mine.value
                for other in replicaParameters { sum.add(other[i].parameter.value) }
                mine.value = sum * (1 / Float(parts))
                continue
            }
            mine.gradient.accumulate(replicaParameters.map { $0[i].parameter.gradient }, pool: pool)
        }
        for replica in replicas { for (_, p) in replica.parameters { p.value = Self.released } }
        return (results.reduce(0) { $0 + $1.loss }, results.reduce(0) { $0 + $1.correct })
    }

    /// Stands in for a replica's weights between steps (the next step copies them again).
    static let released = Tensor.zeros([0])

    /// Forward, loss and backward on one batch; the loss gradient is multiplied by `scale`.
    /// With `distillation`, the loss is distillation's against the batch's teacher logits.
    static func gradients(_ model: Graph, _ batch: Batch, loss: Loss, distillation: Distillation? = nil,
                          scale: Float) -> (loss: Float, correct: Int) {
        let batch = model.trimmingPadding(batch)
        if let distillation, distillation.match == .tokens, let teacherStates = batch.teacherLogits {
            return (tokenGradients(model, batch, teacherStates: teacherStates, scale: scale), 0)
        }
        let output = model.forward(batch.inputs, training: true)
        var result = if let distillation, let teacher = batch.teacherLogits {
            distillation.loss(logits: output, teacherLogits: teacher, labels: batch.labels)
        } else {
            loss.evaluate(output, on: batch, outputs: model.outputKind)
        }
        var correct = 0
        if !batch.labels.isEmpty {
            for (p, y) in zip(argmaxRows(scoreRows(output)), batch.labels) where p == Int(y) { correct += 1 }
        }
        guard result.value.isFinite else { return (result.value, correct) }
        if scale != 1 { result.gradient.scale(by: scale) }
        model.backward(result.gradient)
        return (result.value, correct)
    }
}
