import TensorCore

/// Distillation of a pooled sequence encoder token by token (`Distillation.Match.tokens`): the
/// student's last hidden state at every real token is pulled towards the teacher's, instead of
/// the one pooled embedding per sentence. The hidden states are the input of the encoder's
/// final `MeanPooling`; nodes after that input (pooling, normalization) take no part in the
/// step, and the teacher runs on each batch (`Trainer.teacher`), since every token's state of
/// a whole corpus would not fit in memory.

extension Graph {
    /// The node whose output is a pooled encoder's last hidden state per token (`[T, d]`):
    /// the first input of a final `MeanPooling`, which only single-input layers may follow
    /// (an `L2Normalize`). Nil for any other model.
    public var tokenStatesNode: Int? {
        guard let p = nodes.lastIndex(where: { $0.module is MeanPooling }),
              nodes[(p + 1)...].allSatisfy({ $0.layer != nil && $0.inputs.count == 1 }),
              let first = nodes[p].inputs.first, first.index >= 0 else { return nil }
        return first.index
    }

    /// The last hidden state per token (`tokenStatesNode`'s output) on `inputs`, in inference
    /// mode. - Precondition: `tokenStatesNode` is not nil.
    func tokenStates(_ inputs: Tensor) -> Tensor {
        let node = tokenStatesNode!
        var states: Tensor?
        _ = forward(inputs, training: false) { i, output in if i == node { states = output } }
        return states!
    }
}

extension Distillation {
    /// The mean squared error between a student's token states `states` (`[N, T, d]`) and a
    /// teacher's `teacherStates` (`[N, T′, d]`, `T′ ≥ T`: a teacher may have seen more trailing
    /// padding), over the positions of `ids` (`[N, T]`) that are not `padding` and every
    /// feature, with its gradient with respect to `states` (zero at padding).
    /// - Precondition: the shapes agree as above.
    /// - Complexity: O(N·T·d).
    public static func tokenStateLoss(states: Tensor, teacherStates: Tensor, ids: Tensor, padding: Int?) -> LossResult {
        precondition(states.rank == 3 && teacherStates.rank == 3 && ids.shape == Array(states.shape.prefix(2))
                     && teacherStates.shape[0] == states.shape[0] && teacherStates.shape[1] >= states.shape[1]
                     && teacherStates.shape[2] == states.shape[2],
                     "token states \(states.shape), the teacher's \(teacherStates.shape), ids \(ids.shape)")
        let (n, t, d, tt) = (states.shape[0], states.shape[1], states.shape[2], teacherStates.shape[1])
        let pad = padding.map(Float.init)
        let s = states.scalars, u = teacherStates.scalars, tokens = ids.scalars
        let real = tokens.reduce(0) { $0 + ($1 == pad ? 0 : 1) }
        var gradient = [Float](repeating: 0, count: s.count)
        guard real > 0 else { return LossResult(value: 0, gradient: Tensor(shape: states.shape, scalars: gradient)) }
        let scale = 2 / Float(real * d)
        var total = 0.0
        for i in 0..<n {
            for j in 0..<t where tokens[i * t + j] != pad {
                let a = (i * t + j) * d, b = (i * tt + j) * d
                var sum: Float = 0
                for k in 0..<d {
                    let e = s[a + k] - u[b + k]
                    sum += e * e
                    gradient[a + k] = scale * e
                }
                total += Double(sum)
            }
        }
        return LossResult(value: Float(total / Double(real * d)), gradient: Tensor(shape: states.shape, scalars: gradient))
    }
}

extension Trainer {
    /// Checks that `model` can be distilled token by token from `teacher`: both pooled
    /// sequence encoders (`Graph.tokenStatesNode`) with states of the same width.
    /// - Throws: `TrainingError.invalidOptions` or `.dataMismatch` naming the problem.
    static func checkTokenDistillation(model: Graph, teacher: Graph?) throws {
        guard let node = model.tokenStatesNode else {
            throw TrainingError.invalidOptions("distillation by tokens matches a pooled sequence encoder's token states, but the model does not end with a mean pooling of them")
        }
        guard let teacher else {
            throw TrainingError.invalidOptions("distillation by tokens runs a teacher model on each batch (Trainer.teacher), and none is set")
        }
        guard let other = teacher.tokenStatesNode else {
            throw TrainingError.dataMismatch("distillation by tokens needs a teacher that pools token states, this one outputs \(teacher.outputShape)")
        }
        guard teacher.inputShape == model.inputShape, teacher.shapes[other].last == model.shapes[node].last else {
            throw TrainingError.dataMismatch("the teacher takes \(teacher.inputShape) and its token states are \(teacher.shapes[other]), the model's \(model.inputShape) and \(model.shapes[node])")
        }
    }

    /// Forward, the token-state loss against `batch`'s teacher states, and backward from the
    /// token states on one (already trimmed) batch; the loss gradient is multiplied by `scale`.
    static func tokenGradients(_ model: Graph, _ batch: Batch, teacherStates: Tensor, scale: Float) -> Float {
        let node = model.tokenStatesNode!
        var states: Tensor?
        _ = model.forward(batch.inputs, training: true) { i, output in if i == node { states = output } }
        var result = Distillation.tokenStateLoss(states: states!, teacherStates: teacherStates, ids: batch.inputs,
                                                 padding: model.trailingPaddingID)
        guard result.value.isFinite else { return result.value }
        if scale != 1 { result.gradient.scale(by: scale) }
        model.backward(result.gradient, fromNode: node, observe: nil)
        return result.value
    }
}
