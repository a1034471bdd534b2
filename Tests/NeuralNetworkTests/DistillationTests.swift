import Foundation
import NeuralNetwork
import Testing
import TensorCore
import TestSupport

@Suite("Distillation loss and training")
struct DistillationTests {
    @Test("a 2-sample × 3-class case matches the value and gradient worked out by hand (T = 2, α = 0.5)")
    func handComputed() {
        // Row 1: s/T = [0, ln 2, 0] → softmax(s/T) = [1/4, 1/2, 1/4]; t = 0 → [1/3, 1/3, 1/3];
        //        softmax(s) = [1, 4, 1]/6, label 1.
        // Row 2: s = 0 → [1/3, 1/3, 1/3]; t/T = [ln 3, 0, 0] → [3/5, 1/5, 1/5]; label 0.
        let ln2 = log(2.0), ln3 = log(3.0)
        let s = Tensor(shape: [2, 3], scalars: [0, Float(2 * ln2), 0, 0, 0, 0])
        let t = Tensor(shape: [2, 3], scalars: [0, 0, 0, Float(2 * ln3), 0, 0])
        let r = Distillation(temperature: 2, alpha: 0.5).loss(logits: s, teacherLogits: t, labels: [1, 0])
        let kl1 = (log(4.0 / 3) + log(2.0 / 3) + log(4.0 / 3)) / 3
        let kl2 = 0.6 * log(1.8) + 0.4 * log(0.6)
        let ce1 = log(1.5), ce2 = ln3
        let expected = (0.5 * 4 * kl1 + 0.5 * ce1 + 0.5 * 4 * kl2 + 0.5 * ce2) / 2
        #expect(abs(Double(r.value) - expected) < 1e-6, "\(r.value) vs \(expected)")
        // ∂/∂s = α·T·(softmax(s/T) − softmax(t/T))/N + (1 − α)·(softmax(s) − onehot(y))/N.
        let soft: [Double] = [1.0 / 4 - 1.0 / 3, 1.0 / 2 - 1.0 / 3, 1.0 / 4 - 1.0 / 3, 1.0 / 3 - 0.6, 1.0 / 3 - 0.2, 1.0 / 3 - 0.2]
        let hard: [Double] = [1.0 / 6, 4.0 / 6 - 1, 1.0 / 6, 1.0 / 3 - 1, 1.0 / 3, 1.0 / 3]
        let gradient = zip(soft, hard).map { Float((0.5 * 2 * $0 + 0.5 * $1) / 2) }
        #expect(maxRelativeError(r.gradient.scalars, gradient) < 1e-6, "\(r.gradient.scalars) vs \(gradient)")
    }

    @Test("α = 0 is exactly softmax cross-entropy: the same value and gradient, bit for bit")
    func alphaZero() {
        let s = randomTensor([6, 4], low: -4, high: 4, seed: 3), t = randomTensor([6, 4], low: -4, high: 4, seed: 4)
        let labels: [Int32] = [0, 3, 1, 2, 2, 0]
        let d = Distillation(temperature: 4, alpha: 0).loss(logits: s, teacherLogits: t, labels: labels)
        let ce = softmaxCrossEntropy(logits: s, labels: labels)
        #expect(d.value == ce.value)
        #expect(d.gradient == ce.gradient)
    }

    @Test("T²·KL is 0, with a zero gradient, when the student's logits are the teacher's", arguments: [1, 4, 8] as [Float])
    func sameAsTeacher(temperature: Float) {
        let t = randomTensor([5, 10], low: -6, high: 6, seed: 5)
        let r = Distillation(temperature: temperature, alpha: 1).loss(logits: t, teacherLogits: t, labels: [0, 1, 2, 3, 4])
        #expect(abs(r.value) < 1e-6, "\(r.value)")
        #expect(r.gradient.scalars.allSatisfy { abs($0) < 1e-7 }, "\(r.gradient.scalars)")
        // A different student has a positive divergence.
        let other = randomTensor([5, 10], low: -6, high: 6, seed: 6)
        #expect(Distillation(temperature: temperature, alpha: 1).loss(logits: other, teacherLogits: t, labels: [0, 1, 2, 3, 4]).value > 0.01)
    }

    @Test("the gradient matches central differences of the value", arguments: [(1, 0.5), (3, 0.7), (8, 1)] as [(Float, Float)])
    func finiteDifferences(temperature: Float, alpha: Float) {
        let d = Distillation(temperature: temperature, alpha: alpha)
        let s = randomTensor([4, 5], low: -3, high: 3, seed: 11), t = randomTensor([4, 5], low: -3, high: 3, seed: 12)
        let labels: [Int32] = [4, 0, 2, 2]
        let g = d.loss(logits: s, teacherLogits: t, labels: labels).gradient
        for i in 0..<s.count {
            var plus = s, minus = s
            plus.scalars[i] += 1e-2; minus.scalars[i] -= 1e-2
            let numeric = (Double(d.loss(logits: plus, teacherLogits: t, labels: labels).value)
                           - Double(d.loss(logits: minus, teacherLogits: t, labels: labels).value)) / 2e-2
            #expect(abs(Double(g.scalars[i]) - numeric) < 2e-3, "entry \(i): \(g.scalars[i]) vs \(numeric)")
        }
    }

    /// Twelve 2-feature samples with labels 0, 1, 2 in turn.
    static func data() throws -> Dataset {
        try Dataset(inputs: (0..<24).map { Float($0) / 24 }, sampleShape: [2], labels: (0..<12).map { Int32($0 % 3) })
    }

    @Test("teacher rows follow their samples through subsets and shuffled batches")
    func rowsFollowSamples() throws {
        // Row i of the teacher's logits is [i, −i, 2i]: a batch's rows name its samples.
        let logits = Tensor(shape: [12, 3], scalars: (0..<12).flatMap { [Float($0), -Float($0), 2 * Float($0)] })
        let data = try Self.data().withTeacherLogits(logits)
        let batch = data.batch([7, 2, 11])
        #expect(batch.teacherLogits?.scalars == [7, -7, 14, 2, -2, 4, 11, -11, 22])
        #expect(batch.inputs.scalars == [14 / 24, 15 / 24, 4 / 24, 5 / 24, 22 / 24, 23 / 24] as [Float])
        let subset = data.subset([5, 9])
        #expect(subset.teacherLogits?.scalars == [5, -5, 10, 9, -9, 18])
        #expect(subset.batch([1]).teacherLogits?.scalars == [9, -9, 18])
        #expect(try Self.data().batch([0]).teacherLogits == nil)
        #expect(throws: TrainingError.self) { try Self.data().withTeacherLogits(Tensor.zeros([11, 3])) }
    }

    @Test("a teacher ending with a softmax teaches what its logits teach (its log-probabilities are attached)")
    func probabilityTeacher() throws {
        func dense() -> Dense {
            var rng = SeededGenerator(seed: 21)   // the same weights in both teachers
            return Dense(name: "fc", inFeatures: 2, outFeatures: 3, rng: &rng)
        }
        let logitsTeacher = try Graph(inputShape: [2], sequential: [dense()])
        let softmaxTeacher = try Graph(inputShape: [2], sequential: [dense(), Softmax(name: "p")])
        let data = try Self.data()
        let fromLogits = try data.withTeacherLogits(of: logitsTeacher).teacherLogits!
        let fromProbabilities = try data.withTeacherLogits(of: softmaxTeacher).teacherLogits!
        #expect(fromProbabilities != fromLogits)   // log-probabilities: shifted logits
        let student = randomTensor([12, 3], seed: 22)
        let labels = data.labels
        let d = Distillation(temperature: 4, alpha: 0.7)
        let a = d.loss(logits: student, teacherLogits: fromLogits, labels: labels)
        let b = d.loss(logits: student, teacherLogits: fromProbabilities, labels: labels)
        #expect(abs(a.value - b.value) < 1e-5)
        #expect(maxRelativeError(a.gradient.scalars, b.gradient.scalars) < 1e-5)
    }

    static func student(outputs: Int = 3, softmax: Bool = false, seed: UInt64 = 23) throws -> Graph {
        var rng = SeededGenerator(seed: seed)
        let layers: [Layer] = [Dense(name: "fc1", inFeatures: 2, outFeatures: 8, rng: &rng), ReLU(name: "r"),
                               Dense(name: "fc2", inFeatures: 8, outFeatures: outputs, rng: &rng)]
        return try Graph(inputShape: [2], sequential: softmax ? layers + [Softmax(name: "p")] : layers)
    }

    @Test("training refuses distillation without teacher logits, with a teacher of another width, or for a softmax model")
    func refusals() throws {
        var options = TrainingOptions(epochs: 1, batchSize: 4)
        options.distillation = Distillation(temperature: 4, alpha: 0.7)
        let data = try Self.data()
        let plain = Trainer(model: try Self.student(), optimizer: Optimizer(SGD()))
        func refusal(_ trainer: Trainer, _ data: Dataset) -> String {
            (#expect(throws: TrainingError.self) { try trainer.fit(data, options: options) }).map { "\($0)" } ?? ""
        }
        #expect(refusal(plain, data).contains("needs the teacher's logits"))
        #expect(refusal(plain, try data.withTeacherLogits(Tensor.zeros([12, 5]))).contains("the teacher gives 5 outputs per sample, the model 3"))
        let narrow = try data.withTeacherLogits(Tensor.zeros([12, 3]))
        #expect(refusal(Trainer(model: try Self.student(softmax: true), optimizer: Optimizer(SGD())), narrow).contains("ends with a softmax"))
        options.distillation = Distillation(temperature: 0, alpha: 0.7)
        #expect(refusal(plain, narrow).contains("temperature must be positive"))
    }

    @Test("with α = 1 training pulls the student toward the teacher, and two data-parallel workers take the same steps as one")
    func trainsTowardTeacher() throws {
        let teacher = try Self.student(seed: 31)
        let data = try Self.data().withTeacherLogits(of: teacher)
        var options = TrainingOptions(epochs: 20, batchSize: 4, learningRate: 0.1, schedule: .constant)
        options.distillation = Distillation(temperature: 2, alpha: 1)
        func divergence(_ model: Graph) -> Float {
            Distillation(temperature: 2, alpha: 1).loss(logits: model.forward(data.batch(0..<12).inputs, training: false),
                                                       teacherLogits: data.teacherLogits!, labels: data.labels).value
        }
        let one = try Self.student(), two = try Self.student()
        let before = divergence(one)
        try Trainer(model: one, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
        options.workers = 2
        try Trainer(model: two, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
        #expect(divergence(one) < before / 4, "KL to the teacher \(before) → \(divergence(one))")
        for ((path, a), (_, b)) in zip(one.parameters, two.parameters) {
            #expect(maxRelativeError(a.value.scalars, b.value.scalars) < 1e-4, "\(path)")
        }
    }
}
