import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("regularizers")
struct RegularizerTests {
    func parameter(_ shape: [Int], _ values: [Float]) -> Parameter { Parameter(Tensor(shape: shape, scalars: values)) }

    @Test("proximal L1 soft-thresholds by rate·λ: small weights become exactly zero, the rest shrink")
    func proximalL1() throws {
        let p = parameter([4], [0.5, -0.02, 0.01, -0.3])
        try Regularizer(.l1(0.2)).proximalStep(p, rate: 0.1)        // threshold 0.02
        #expect(maxRelativeError(p.value.scalars, [0.48, 0, 0, -0.28]) < 1e-7)
        #expect(p.value.scalars[1] == 0 && p.value.scalars[2] == 0)
        let g = Tensor(shape: [4], scalars: [1, 2, 3, 4])
        p.gradient = g
        try Regularizer(.l1(0.2)).addGradient(to: p)               // proximal adds no gradient
        #expect(p.gradient == g)
    }

    @Test("subgradient L1 adds λ·sign(w) to the gradient (0 at w = 0) and does not soft-threshold")
    func subgradientL1() throws {
        let p = parameter([2, 2], [0.5, 0, -0.3, 2])
        p.gradient = Tensor(shape: [2, 2], scalars: [1, 1, 1, 1])
        let r = try Regularizer(.l1(0.1), method: .subgradient)
        r.addGradient(to: p)
        #expect(maxRelativeError(p.gradient.scalars, [1.1, 1, 0.9, 1.1]) < 1e-7)
        r.proximalStep(p, rate: 1)
        #expect(p.value.scalars == [0.5, 0, -0.3, 2])
    }

    @Test("L2 adds λ·w to the gradient under either method and has no proximal step")
    func l2() throws {
        for method in Regularizer.Method.allCases {
            let p = parameter([3], [1, -2, 0.5])
            let r = try Regularizer(.l2(0.01), method: method)
            r.addGradient(to: p)
            #expect(maxRelativeError(p.gradient.scalars, [0.01, -0.02, 0.005]) < 1e-8)
            r.proximalStep(p, rate: 1)
            #expect(p.value.scalars == [1, -2, 0.5])
        }
    }

    @Test("proximal group lasso scales each row by max(0, 1 − rate·λ/‖row‖): a weak neuron goes to zero whole")
    func proximalGroupLasso() throws {
        let p = parameter([2, 2], [3, 4, 0.03, 0.04])                // row norms 5 and 0.05
        try Regularizer(.groupLasso(0.1)).proximalStep(p, rate: 1)
        #expect(maxRelativeError(p.value.scalars, [2.94, 3.92, 0, 0]) < 1e-6)
        // A filter [Cout, C, K, K] groups by output channel.
        let conv = parameter([2, 1, 1, 2], [0, 0, 0.6, 0.8])
        try Regularizer(.groupLasso(0.5)).proximalStep(conv, rate: 0.2)   // shrink 0.1 of norm 1
        #expect(maxRelativeError(conv.value.scalars, [0, 0, 0.54, 0.72]) < 1e-6)
    }

    @Test("group lasso on a 1-D tensor (a BatchNorm scale) treats each entry as its own group")
    func groupLassoVector() throws {
        let p = parameter([4], [1, -0.05, 0.5, 0.02])
        try Regularizer(.groupLasso(0.1)).proximalStep(p, rate: 1)
        #expect(maxRelativeError(p.value.scalars, [0.9, 0, 0.4, 0]) < 1e-6)
    }

    @Test("subgradient group lasso adds λ·w_g/‖w_g‖, nothing for a zero group")
    func subgradientGroupLasso() throws {
        let p = parameter([2, 2], [3, 4, 0, 0])
        try Regularizer(.groupLasso(0.5), method: .subgradient).addGradient(to: p)
        #expect(maxRelativeError(p.gradient.scalars, [0.3, 0.4, 0, 0]) < 1e-7)
    }

    @Test("the penalty's value: λΣ|w|, (λ/2)Σw², λΣ‖w_g‖ over the selected parameters only")
    func penaltyValue() throws {
        var rng = SeededGenerator(seed: 1)
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", inFeatures: 2, outFeatures: 2, rng: &rng)])
        model.parameter(at: "fc.weight")!.value = Tensor(shape: [2, 2], scalars: [3, -4, 0, 1])
        model.parameter(at: "fc.bias")!.value = Tensor(shape: [2], scalars: [100, 100])
        #expect(abs(try Regularizer(.l1(0.1)).value(on: model) - 0.8) < 1e-6)
        #expect(abs(try Regularizer(.l2(0.1)).value(on: model) - 1.3) < 1e-6)
        #expect(abs(try Regularizer(.groupLasso(0.1)).value(on: model) - 0.6) < 1e-6)
        #expect(abs(try Regularizer(.l1(0.1), parameters: ["*"]).value(on: model) - 20.8) < 1e-4)
    }

    @Test("a negative or non-finite strength, or no pattern, is refused", arguments: [Float(-0.1), .nan, .infinity])
    func rejectsBadStrength(_ lambda: Float) {
        #expect(throws: PruningError.self) { try Regularizer(.l1(lambda)) }
        #expect(throws: PruningError.self) { try Regularizer(.groupLasso(lambda)) }
        #expect(throws: PruningError.self) { try Regularizer(.l2(0.1), parameters: []) }
    }

    /// A small classifier and data it can learn (three clusters in 8-D).
    static func problem() throws -> (Graph, Dataset) {
        var rng = SeededGenerator(seed: 21)
        let model = try Graph(inputShape: [8], sequential: [
            Dense(name: "fc1", inFeatures: 8, outFeatures: 16, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 16, outFeatures: 3, rng: &rng),
        ])
        let noise = randomTensor([300, 8], low: -0.5, high: 0.5, seed: 22).scalars
        let labels = (0..<300).map { Int32($0 % 3) }
        var inputs = noise
        for i in 0..<300 {
            for j in 0..<8 where j % 3 == Int(labels[i]) { inputs[i * 8 + j] += 1 }
        }
        return (model, try Dataset(inputs: inputs, sampleShape: [8], labels: labels))
    }

    func train(_ model: Graph, _ data: Dataset, _ regularizers: [Regularizer]) throws -> Trainer {
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [Regularization(regularizers)]
        var options = TrainingOptions()
        options.epochs = 30; options.batchSize = 20; options.learningRate = 0.05; options.schedule = .constant
        try trainer.fit(data, options: options)
        return trainer
    }

    @Test("training with proximal L1 leaves many weights exactly zero and the model accurate; without it none are zero")
    func l1TrainingSparsifies() throws {
        let (plain, data) = try Self.problem()
        let plainTrainer = try train(plain, data, [])
        let (model, _) = try Self.problem()
        let trainer = try train(model, data, [try Regularizer(.l1(0.03))])
        let w = model.parameter(at: "fc1.weight")!.value, w0 = plain.parameter(at: "fc1.weight")!.value
        let zeros = w.count - w.nonZeroCount()
        #expect(w0.nonZeroCount() == w0.count)
        #expect(zeros >= w.count / 2, "\(zeros) of \(w.count) exact zeros")
        #expect(model.parameter(at: "fc1.bias")!.value.nonZeroCount() > 0, "biases are not regularized by default")
        #expect(trainer.evaluate(data).accuracy > 0.9)
        #expect(plainTrainer.evaluate(data).accuracy > 0.9)
        #expect(try Regularizer(.l1(1)).value(on: model) < 0.5 * (try Regularizer(.l1(1)).value(on: plain)))
    }

    @Test("group lasso removes whole hidden neurons: rows of fc1 become zero together")
    func groupLassoTrainingRemovesNeurons() throws {
        let (model, data) = try Self.problem()
        let trainer = try train(model, data, [try Regularizer(.groupLasso(0.2), parameters: ["fc1.weight"])])
        let w = model.parameter(at: "fc1.weight")!.value
        let rows = (0..<16).map { r in (0..<8).map { w[flat: r * 8 + $0] } }
        let deadRows = rows.filter { $0.allSatisfy { $0 == 0 } }.count
        #expect(deadRows >= 4, "\(deadRows) of 16 rows are zero")
        #expect(rows.allSatisfy { row in row.allSatisfy { $0 == 0 } || row.filter { $0 == 0 }.count < 8 })
        #expect(trainer.evaluate(data).accuracy > 0.9)
    }

    @Test("masked entries stay zero under the regularizers' steps")
    func masksHold() throws {
        let (model, data) = try Self.problem()
        let weight = model.parameter(at: "fc1.weight")!
        let mask = Tensor(shape: [16, 8], scalars: (0..<128).map { $0 % 3 == 0 ? 0 : 1 })
        weight.mask = mask
        _ = try train(model, data, [try Regularizer(.l1(0.001), method: .subgradient), try Regularizer(.l2(0.01))])
        #expect((0..<128).allSatisfy { mask[flat: $0] != 0 || weight.value[flat: $0] == 0 })
    }
}
