import Testing
import TensorCore
import NeuralNetwork
import TestSupport

/// Distillation of a pooled encoder token by token (`Distillation.Match.tokens`): the loss on
/// each real token's last hidden state, the step that only reaches the nodes before the
/// pooling, and the refusals.
@Suite("Distillation by tokens")
struct TokenDistillationTests {
    /// A one-layer BERT encoder (16 features, 2 heads, sequences of up to 6 tokens, padding id 0),
    /// pooled and normalized as a sentence encoder.
    static func encoder(seed: UInt64) throws -> Graph {
        try Graph.bertEncoder(TransformerConfiguration(vocabulary: 20, positions: 6, tokenTypes: 1, features: 16, heads: 2, layers: 1,
                                                       intermediate: 32, normalization: .post, causal: false, activation: .none,
                                                       epsilon: 1e-12, paddingID: 0), seed: seed)
    }

    /// 24 sequences of 2–6 real tokens (ids 1–19), padded with 0 to 6; the targets are unused
    /// by the token loss but make it regression data, as a sentence file is.
    static func data() throws -> Dataset {
        var ids: [Float] = []
        for s in 0..<24 {
            let length = 2 + s % 5
            ids += (0..<6).map { t in t < length ? Float(1 + (s * 7 + t * 3) % 19) : 0 }
        }
        return try Dataset(inputs: ids, sampleShape: [6], targets: [Float](repeating: 0.25, count: 24 * 16), targetWidth: 16)
    }

    @Test("the loss is the mean squared error over real tokens only, against a teacher with more padding, and its gradient")
    func loss() throws {
        // Two sequences of three positions, d = 2; the second has one real token. The teacher
        // saw four positions (one more of padding).
        let states = Tensor(shape: [2, 3, 2], scalars: [1, 2, 3, 4, 9, 9, 0, 1, 7, 7, 7, 7])
        let teacher = Tensor(shape: [2, 4, 2], scalars: [1, 1, 1, 4, -5, -5, -5, -5, 2, 1, 0, 0, 0, 0, 0, 0])
        let ids = Tensor(shape: [2, 3], scalars: [5, 6, 0, 8, 0, 0])
        let r = Distillation.tokenStateLoss(states: states, teacherStates: teacher, ids: ids, padding: 0)
        // Errors at the 3 real tokens: (0, 1), (2, 0), (−2, 0): squares sum to 9 over 3·2 entries.
        #expect(abs(r.value - 9.0 / 6) < 1e-6)
        let expected: [Float] = [0, 1, 2, 0, 0, 0, -2, 0, 0, 0, 0, 0].map { 2 * $0 / 6 }
        #expect(r.gradient.shape == [2, 3, 2])
        #expect(maxRelativeError(r.gradient.scalars, expected) < 1e-6)
        // A finite difference agrees at a real entry.
        var nudged = states.scalars
        nudged[2] += 1e-2
        let up = Distillation.tokenStateLoss(states: Tensor(shape: [2, 3, 2], scalars: nudged), teacherStates: teacher, ids: ids, padding: 0)
        #expect(abs((up.value - r.value) / 1e-2 - r.gradient.scalars[2]) < 1e-2)
    }

    @Test("the token states are the input of the final pooling; a model without pooling has none")
    func node() throws {
        let model = try Self.encoder(seed: 1)
        let node = try #require(model.tokenStatesNode)
        #expect(model.shapes[node] == [6, 16])
        #expect(model.nodes[node].module.name == "encoder.layer.0.output.LayerNorm")
        #expect(try Graph.bertEncoder(TransformerConfiguration(vocabulary: 20, positions: 6, tokenTypes: 1, features: 16, heads: 2, layers: 1,
                                                               intermediate: 32, normalization: .post, causal: false, activation: .none,
                                                               epsilon: 1e-12, paddingID: 0), pooling: false, seed: 1).tokenStatesNode == nil)
    }

    @Test("a student distils towards the teacher's token states, the pooled embeddings follow, and two workers take the steps of one")
    func training() throws {
        let data = try Self.data()
        let teacher = try Self.encoder(seed: 11)
        let all = data.batch(0..<data.count)
        let teacherStates = teacher.tokenStatesForTesting(all.inputs)
        func tokenLoss(_ model: Graph) -> Float {
            Distillation.tokenStateLoss(states: model.tokenStatesForTesting(all.inputs), teacherStates: teacherStates, ids: all.inputs,
                                        padding: 0).value
        }
        func cosine(_ model: Graph) -> Float {
            let a = model.forward(all.inputs).scalars, b = teacher.forward(all.inputs).scalars
            return (0..<24).map { s in (0..<16).reduce(Float(0)) { $0 + a[s * 16 + $1] * b[s * 16 + $1] } }.reduce(0, +) / 24
        }
        func distilled(workers: Int, epochs: Int, optimizer: Optimizer, rate: Float) throws -> Graph {
            var options = TrainingOptions(epochs: epochs, batchSize: 8, learningRate: rate, schedule: .constant, loss: .mse, workers: workers)
            options.distillation = Distillation(temperature: 1, alpha: 1, match: .tokens)
            let student = try Self.encoder(seed: 12)
            let trainer = Trainer(model: student, optimizer: optimizer)
            trainer.teacher = teacher
            try trainer.fit(data, options: options)
            return student
        }
        let start = try Self.encoder(seed: 12), student = try distilled(workers: 1, epochs: 40, optimizer: Optimizer(Adam()), rate: 1e-2)
        let (before, after) = (tokenLoss(start), tokenLoss(student))
        #expect(after < before / 4, "token-state error \(before) → \(after)")
        #expect(cosine(student) > cosine(start) + 0.1, "mean cosine of the pooled embeddings \(cosine(start)) → \(cosine(student))")
        // Parts weigh by their real tokens, so two workers take the same steps as one.
        let one = try distilled(workers: 1, epochs: 5, optimizer: Optimizer(SGD(momentum: 0.9)), rate: 0.05)
        let two = try distilled(workers: 2, epochs: 5, optimizer: Optimizer(SGD(momentum: 0.9)), rate: 0.05)
        #expect(maxRelativeError(one.parameters[0].parameter.value.scalars, start.parameters[0].parameter.value.scalars) > 1e-3)
        for ((path, a), (_, b)) in zip(one.parameters, two.parameters) {
            #expect(maxRelativeError(a.value.scalars, b.value.scalars) < 1e-5, "\(path)")
        }
    }

    @Test("a model without pooled token states, or no teacher, is refused with the reason")
    func refusals() throws {
        var options = TrainingOptions(epochs: 1, batchSize: 4, loss: .mse)
        options.distillation = Distillation(temperature: 1, alpha: 1, match: .tokens)
        let noTeacher = Trainer(model: try Self.encoder(seed: 1), optimizer: Optimizer(SGD()))
        let missing = #expect(throws: TrainingError.self) { try noTeacher.fit(try Self.data(), options: options) }
        #expect("\(missing.map { "\($0)" } ?? "")".contains("none is set"))
        let unpooled = try Graph.bertEncoder(TransformerConfiguration(vocabulary: 20, positions: 6, tokenTypes: 1, features: 16, heads: 2,
                                                                      layers: 1, intermediate: 32, normalization: .post, causal: false,
                                                                      activation: .none, epsilon: 1e-12, paddingID: 0), pooling: false, seed: 1)
        let error = #expect(throws: TrainingError.self) {
            try Trainer.check(options.distillation!, data: try Self.data(), model: unpooled, loss: .mse, teacher: try Self.encoder(seed: 2))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("mean pooling"))
    }
}

extension Graph {
    /// The token states the trainer compares (`tokenStatesNode`'s output), for checks.
    func tokenStatesForTesting(_ inputs: Tensor) -> Tensor {
        let node = tokenStatesNode!
        var states: Tensor?
        _ = forward(inputs, training: false) { i, output in if i == node { states = output } }
        return states!
    }
}
