import Testing
import TensorCore
import NeuralNetwork
import TestSupport

/// Distillation from a teacher model run on each step's batch (`Trainer.teacher`), for data
/// whose teacher outputs are too large to attach: a language model's logits at every position.
@Suite("Distillation with the teacher in the loop")
struct TeacherInTheLoopTests {
    /// A byte-level decoder small enough for tests (256 token ids, as byte windows need).
    static func decoder(seed: UInt64) throws -> Graph {
        try Graph.gptDecoder(TransformerConfiguration(vocabulary: 256, positions: 6, features: 8, heads: 2, layers: 1, intermediate: 16,
                                                      normalization: .pre, causal: true, activation: .tanh, epsilon: 1e-5), seed: seed)
    }

    static let text: [UInt8] = Array("the cat sat on the mat and the rat ran to the hat".utf8)

    @Test("a classifier's teacher in the loop takes the same steps as its logits attached to the data")
    func sameAsAttached() throws {
        let teacher = try DistillationTests.student(seed: 31)
        var options = TrainingOptions(epochs: 5, batchSize: 4, learningRate: 0.1, schedule: .constant)
        options.distillation = Distillation(temperature: 2, alpha: 0.7)
        let attached = try DistillationTests.student(), inLoop = try DistillationTests.student()
        try Trainer(model: attached, optimizer: Optimizer(SGD(momentum: 0.9)))
            .fit(try DistillationTests.data().withTeacherLogits(of: teacher), options: options)
        let trainer = Trainer(model: inLoop, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.teacher = teacher
        try trainer.fit(try DistillationTests.data(), options: options)
        for ((path, a), (_, b)) in zip(attached.parameters, inLoop.parameters) {
            #expect(maxRelativeError(a.value.scalars, b.value.scalars) < 1e-5, "\(path)")
        }
    }

    @Test("a decoder distils towards a teacher's logits at every position, and two workers take the steps of one")
    func languageModel() throws {
        let data = try Dataset(text: Self.text, length: 6)
        let teacher = try Self.decoder(seed: 41)
        let everything = data.batch(0..<data.count)
        let target = teacher.forward(everything.inputs, training: false)
        let measure = Distillation(temperature: 1, alpha: 1)
        func divergence(_ model: Graph) -> Float {
            measure.loss(logits: model.forward(everything.inputs, training: false), teacherLogits: target, labels: everything.labels).value
        }
        var options = TrainingOptions(epochs: 30, batchSize: 8, learningRate: 3e-2, schedule: .constant)
        options.distillation = measure
        var students: [Graph] = []
        for workers in [1, 2] {
            let student = try Self.decoder(seed: 42)
            options.workers = workers
            let trainer = Trainer(model: student, optimizer: Optimizer(Adam()))
            trainer.teacher = teacher
            try trainer.fit(data, options: options)
            students.append(student)
        }
        let before = divergence(try Self.decoder(seed: 42)), after = divergence(students[0])
        #expect(after < before / 2, "KL to the teacher \(before) → \(after)")
        for ((path, a), (_, b)) in zip(students[0].parameters, students[1].parameters) {
            #expect(maxRelativeError(a.value.scalars, b.value.scalars) < 1e-3, "\(path)")
        }
    }

    @Test("a teacher model with other outputs is refused, naming both shapes")
    func refusal() throws {
        var options = TrainingOptions(epochs: 1, batchSize: 4)
        options.distillation = Distillation(temperature: 1, alpha: 1)
        let trainer = Trainer(model: try Self.decoder(seed: 1), optimizer: Optimizer(SGD()))
        trainer.teacher = try Graph.gptDecoder(TransformerConfiguration(vocabulary: 256, positions: 5, features: 8, heads: 2, layers: 1,
                                                                         intermediate: 16, normalization: .pre, causal: true,
                                                                         activation: .tanh, epsilon: 1e-5), seed: 2)
        let error = #expect(throws: TrainingError.self) { try trainer.fit(try Dataset(text: Self.text, length: 6), options: options) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("[5, 256]"))
    }
}
