import Foundation
import FileFormats
import NeuralNetwork
import Testing
import TensorCore
import TestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Optimizers")
struct OptimizerTests {
    @Test("SGD with momentum and weight decay follows PyTorch's formula for three steps")
    func sgdMomentum() {
        let p = Parameter(Tensor(shape: [2], scalars: [1, -2]))
        let opt = Optimizer(SGD(momentum: 0.9, weightDecay: 0.1))
        var w: [Double] = [1, -2], v: [Double] = [0, 0]
        let grads: [[Float]] = [[0.5, 1], [-0.25, 2], [1, 0]]
        for (step, g) in grads.enumerated() {
            p.gradient = Tensor(shape: [2], scalars: g)
            opt.step([("p", p)], learningRate: 0.1)
            for i in 0..<2 {
                let d = Double(g[i]) + 0.1 * w[i]
                v[i] = step == 0 ? d : 0.9 * v[i] + d
                w[i] -= 0.1 * v[i]
            }
        }
        #expect(maxRelativeError(p.value.scalars, w.map(Float.init)) < 1e-6)
    }

    @Test("Nesterov SGD")
    func nesterov() {
        let p = Parameter(Tensor(shape: [1], scalars: [1]))
        let opt = Optimizer(SGD(momentum: 0.5, nesterov: true))
        p.gradient = Tensor(shape: [1], scalars: [1]); opt.step([("p", p)], learningRate: 0.1)   // v = 1, w = 1 - 0.1(1 + 0.5)
        #expect(abs(p.value.scalars[0] - 0.85) < 1e-6)
        p.gradient = Tensor(shape: [1], scalars: [1]); opt.step([("p", p)], learningRate: 0.1)   // v = 1.5, w -= 0.1(1 + 0.75)
        #expect(abs(p.value.scalars[0] - 0.675) < 1e-6)
    }

    @Test("Adam's first step moves each weight by about the learning rate against the gradient's sign; AdamW also shrinks")
    func adam() {
        let p = Parameter(Tensor(shape: [3], scalars: [1, 1, 1]))
        let opt = Optimizer(Adam())
        p.gradient = Tensor(shape: [3], scalars: [0.3, -5, 1e-3])
        opt.step([("p", p)], learningRate: 0.01)
        #expect(maxRelativeError(p.value.scalars, [0.99, 1.01, 0.99]) < 1e-4)
        let q = Parameter(Tensor(shape: [1], scalars: [2]))
        let w = Optimizer(Adam.adamW(weightDecay: 0.1))
        q.gradient = Tensor(shape: [1], scalars: [0])
        w.step([("q", q)], learningRate: 0.5)
        #expect(abs(q.value.scalars[0] - 2 * (1 - 0.05)) < 1e-6)
    }

    @Test("masked entries stay exactly zero in values and optimizer state", arguments: ["sgd", "adam", "adamw"])
    func masks(kind: String) {
        let rule: UpdateRule = kind == "sgd" ? SGD(momentum: 0.9, weightDecay: 1e-3)
            : kind == "adam" ? Adam(weightDecay: 1e-3) : Adam.adamW()
        let opt = Optimizer(rule)
        let p = Parameter(randomTensor([4, 5], seed: 1))
        let start = p.value
        // Build up optimizer state before the cut, so stale momentum would revive weights.
        for s in 0..<3 { p.gradient = randomTensor([4, 5], seed: UInt64(10 + s)); opt.step([("p", p)], learningRate: 0.1) }
        let mask = Tensor(shape: [4, 5], scalars: (0..<20).map { $0 % 3 == 0 ? 0 : 1 })
        p.mask = mask
        for s in 0..<10 {
            p.gradient = randomTensor([4, 5], low: 0.5, high: 1, seed: UInt64(20 + s))
            opt.step([("p", p)], learningRate: 0.1)
        }
        let slots = opt.slots(for: p)
        for i in 0..<20 where mask.scalars[i] == 0 {
            #expect(p.value.scalars[i] == 0)
            for s in 0..<rule.slotCount { #expect(slots[s * 20 + i] == 0) }
        }
        for i in 0..<20 where mask.scalars[i] == 1 { #expect(p.value.scalars[i] != start.scalars[i]) }
    }
}

@Suite("Option types have labelled initializers with defaults")
struct OptionInitializerTests {
    @Test("TrainingOptions, SGD, Adam and LearningRateSchedule take any subset of labelled settings")
    func defaults() {
        let one = TrainingOptions(epochs: 1)
        var expected = TrainingOptions()
        expected.epochs = 1
        #expect(one == expected)
        #expect(TrainingOptions().epochs == 10 && TrainingOptions().batchSize == 64 && TrainingOptions().learningRate == 0.05)
        let all = TrainingOptions(epochs: 3, batchSize: 32, learningRate: 0.01, schedule: .constant, seed: 7, shuffle: false,
                                  loss: .mse, workers: 2)
        #expect(all.epochs == 3 && all.batchSize == 32 && all.learningRate == 0.01 && all.schedule == .constant)
        #expect(all.seed == 7 && !all.shuffle && all.loss == .mse && all.workers == 2)
        #expect(TrainingOptions(batchSize: 8, workers: 4).batchSize == 8)
        #expect(TrainingOptions.fineTuning(epochs: 2, batchSize: 16, learningRate: 0.01, seed: 3)
                == TrainingOptions(epochs: 2, batchSize: 16, learningRate: 0.01, schedule: .constant, seed: 3))
        let sgd = SGD(momentum: 0.9)
        #expect(sgd.momentum == 0.9 && !sgd.nesterov && sgd.weightDecay == 0 && sgd.slotCount == 1)
        #expect(SGD().slotCount == 0 && SGD(nesterov: true, weightDecay: 1e-4).weightDecay == 1e-4)
        let adam = Adam(epsilon: 1e-6)
        #expect(adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.epsilon == 1e-6 && !adam.decoupled)
        #expect(Adam(weightDecay: 0.1, decoupled: true) == .adamW(weightDecay: 0.1))
        let schedule = LearningRateSchedule(kind: .step, stepEpochs: 2)
        #expect(schedule.stepFactor == 0.1 && schedule.warmupSteps == 0 && schedule.minimumFactor == 0)
        #expect(LearningRateSchedule(warmupSteps: 5).kind == .constant)
    }
}

@Suite("Learning-rate schedules")
struct ScheduleTests {
    @Test("cosine decays from the base rate to the minimum; warm-up ramps linearly; step decays by epochs")
    func schedules() {
        let cosine = LearningRateSchedule(kind: .cosine, minimumFactor: 0.1)
        #expect(cosine.rate(base: 1, step: 0, totalSteps: 101, stepsPerEpoch: 10) == 1)
        let middle = 0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * 50 / 101))
        #expect(abs(Double(cosine.rate(base: 1, step: 50, totalSteps: 101, stepsPerEpoch: 10)) - middle) < 1e-6)
        #expect(abs(cosine.rate(base: 1, step: 101, totalSteps: 101, stepsPerEpoch: 10) - 0.1) < 1e-6)
        let warm = LearningRateSchedule(kind: .constant, warmupSteps: 4)
        #expect((0..<6).map { warm.rate(base: 2, step: $0, totalSteps: 10, stepsPerEpoch: 5) } == [0.5, 1, 1.5, 2, 2, 2])
        let step = LearningRateSchedule(kind: .step, stepEpochs: 2, stepFactor: 0.5)
        #expect([0, 19, 20, 40].map { step.rate(base: 1, step: $0, totalSteps: 100, stepsPerEpoch: 10) } == [1, 1, 0.5, 0.25])
    }
}

@Suite("Training")
struct TrainerTests {
    static func xor() throws -> Dataset {
        try Dataset(inputs: [0, 0, 0, 1, 1, 0, 1, 1], sampleShape: [2], labels: [0, 1, 1, 0])
    }

    @Test("a tiny network learns XOR")
    func learnsXOR() throws {
        var rng = SeededGenerator(seed: 3)
        let model = try Graph(inputShape: [2], sequential: [
            Dense(name: "fc1", inFeatures: 2, outFeatures: 8, initializer: .heUniform, rng: &rng), Tanh(name: "t"),
            Dense(name: "fc2", inFeatures: 8, outFeatures: 2, rng: &rng),
        ])
        let data = try Self.xor()
        let before = Trainer.evaluate(model, on: data)
        var options = TrainingOptions()
        options.epochs = 500; options.batchSize = 4; options.learningRate = 0.05
        let trainer = Trainer(model: model, optimizer: Optimizer(Adam()))
        try trainer.fit(data, options: options)
        let after = trainer.evaluate(data)
        #expect(after.accuracy == 1)
        #expect(after.loss < 0.05)
        #expect(after.loss < before.loss)
    }

    /// 100 samples of `y = 3·x₀ − x₁ + 0.5` and a one-layer model to fit them.
    func linearMap(seed: UInt64) throws -> (data: Dataset, model: Graph) {
        var rng = SeededGenerator(seed: seed)
        let x = (0..<200).map { _ in rng.nextFloat(in: -1, 1) }
        let y = stride(from: 0, to: 200, by: 2).flatMap { [3 * x[$0] - x[$0 + 1] + 0.5] }
        let data = try Dataset(inputs: x, sampleShape: [2], targets: y, targetWidth: 1)
        return (data, try Graph(inputShape: [2], sequential: [Dense(name: "fc", inFeatures: 2, outFeatures: 1, rng: &rng)]))
    }

    @Test("regression with MSE fits a linear map")
    func regression() throws {
        let (data, model) = try linearMap(seed: 8)
        var options = TrainingOptions()
        options.epochs = 200; options.batchSize = 10; options.learningRate = 0.05; options.loss = .mse
        try Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9))).fit(data, options: options)
        let w = model.parameter(at: "fc.weight")!.value.scalars, b = model.parameter(at: "fc.bias")!.value.scalars
        #expect(abs(w[0] - 3) < 1e-2 && abs(w[1] + 1) < 1e-2 && abs(b[0] - 0.5) < 1e-2)
    }

    @Test("a time limit stops training early, and the cosine decay ends as the time runs out")
    func timeLimit() throws {
        let (data, model) = try linearMap(seed: 9)
        final class Last: TrainingCallback {
            var reports: [StepReport] = []
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws { reports.append(report) }
        }
        let last = Last()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [last]
        var options = TrainingOptions()
        options.epochs = 1_000_000; options.batchSize = 10; options.learningRate = 0.05; options.loss = .mse
        options.timeLimit = 0.25
        let start = Date()
        let epochs = try trainer.fit(data, options: options)
        let seconds = Date().timeIntervalSince(start)
        #expect(seconds < 0.25 + 5, "ran \(seconds) s")   // stopped by the limit, not by a million epochs
        let final = try #require(last.reports.last)
        #expect(last.reports.count == trainer.stepsTaken && final.step + 1 == trainer.stepsTaken && trainer.stepsTaken > 20)
        #expect(epochs.count == (final.step / 10) + 1 && epochs.allSatisfy { $0.samplesPerSecond > 0 })
        // The last step's rate is near the end of the decay (the projection may miss by a few
        // steps); an early one is near the base rate.
        #expect(final.learningRate < 0.05 * 0.1 && last.reports[1].learningRate > 0.05 * 0.9, "\(final)")
        var bad = options
        bad.timeLimit = 0
        #expect(throws: TrainingError.self) { try Trainer(model: model, optimizer: Optimizer(SGD())).fit(data, options: bad) }
    }

    @Test("an update that overflows the weights stops training naming the parameter, epoch and step, and is undone")
    func divergence() throws {
        let data = try Dataset(inputs: [1e30, -1e30, 1e30, 1e30], sampleShape: [2], labels: [0, 1])
        var rng = SeededGenerator(seed: 1)
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", inFeatures: 2, outFeatures: 2, rng: &rng)])
        let initial = model.parameters.map(\.parameter.value)
        var options = TrainingOptions()
        options.learningRate = 1e10
        options.schedule = .constant
        do {
            try Trainer(model: model, optimizer: Optimizer(SGD())).fit(data, options: options)
            Issue.record("training on overflowing data did not stop")
        } catch let e as TrainingError {
            // Inputs of 1e30 give finite logits and gradients; 1e10 times the gradient overflows.
            #expect(e == .nonFiniteWeights(parameter: "fc.weight", epoch: 1, step: 1, learningRate: 1e10), "\(e)")
            #expect(e.description.contains("'fc.weight'") && e.description.contains("lower the learning rate"))
        }
        #expect(model.parameters.map(\.parameter.value) == initial, "the step that diverged is undone")
    }

    @Test("a NaN input stops training at the step whose loss is not finite, leaving the model as after the step before")
    func nonFiniteLoss() throws {
        var inputs = randomTensor([8, 3], seed: 4).scalars
        inputs[3 * 5] = .nan   // the sixth sample: the third step with batches of 2, unshuffled
        let data = try Dataset(inputs: inputs, sampleShape: [3], labels: [0, 1, 0, 1, 0, 1, 0, 1])
        var rng = SeededGenerator(seed: 2)
        let model = try Graph(inputShape: [3], sequential: [Dense(name: "fc", inFeatures: 3, outFeatures: 2, rng: &rng)])
        final class Copy: TrainingCallback {
            var values: [Tensor] = []
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws { values = trainer.model.parameters.map(\.parameter.value) }
        }
        let copy = Copy()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9)))
        trainer.callbacks = [copy]
        #expect(throws: TrainingError.nonFiniteLoss(epoch: 1, step: 3, learningRate: 0.1)) {
            try trainer.fit(data, options: TrainingOptions(epochs: 1, batchSize: 2, learningRate: 0.1, schedule: .constant, shuffle: false))
        }
        #expect(trainer.stepsTaken == 2 && model.parameters.map(\.parameter.value) == copy.values)
    }

    @Test("`fit(resumingFrom:)` with the progress, model and Adam state read after step 7 ends exactly where an uninterrupted fit ends")
    func resume() throws {
        let x = randomTensor([90, 6], seed: 21)
        let data = try Dataset(inputs: x.scalars, sampleShape: [6], labels: (0..<90).map { Int32(x.scalars[$0 * 6] + x.scalars[$0 * 6 + 1] > 0 ? 1 : 0) })
        func model() throws -> Graph {
            var rng = SeededGenerator(seed: 3)
            return try Graph(inputShape: [6], sequential: [
                Dense(name: "fc1", inFeatures: 6, outFeatures: 12, rng: &rng), ReLU(name: "relu"),
                Dropout(name: "drop", rate: 0.3, seed: 9), Dense(name: "fc2", inFeatures: 12, outFeatures: 2, rng: &rng),
            ])
        }
        let options = TrainingOptions(epochs: 3, batchSize: 20, learningRate: 0.01, seed: 5)
        let straight = try model()
        let expected = try Trainer(model: straight, optimizer: Optimizer(Adam())).fit(data, options: options, validation: data)

        final class Interrupt: TrainingCallback {
            struct Stop: Error {}
            var saved: (TrainingProgress, [String: Optimizer.ParameterState], [Tensor], SeededGenerator)?
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                guard report.step == 6 else { return }
                let dropout = trainer.model.module(named: "drop") as! Dropout
                saved = (trainer.progress!, trainer.optimizer.state(of: trainer.model.parameters),
                         trainer.model.parameters.map(\.parameter.value), dropout.generator)
                throw Stop()
            }
        }
        let interrupt = Interrupt()
        let first = Trainer(model: try model(), optimizer: Optimizer(Adam()))
        first.callbacks = [interrupt]
        #expect(throws: Interrupt.Stop.self) { try first.fit(data, options: options, validation: data) }
        let (progress, optimizerState, values, generator) = try #require(interrupt.saved)
        #expect(progress.epoch == 2 && progress.stepInEpoch == 2 && progress.step == 7 && progress.reports.count == 1)

        let resumed = try model()
        for ((_, p), v) in zip(resumed.parameters, values) { p.value = v }
        (resumed.module(named: "drop") as! Dropout).generator = generator
        let optimizer = Optimizer(Adam())
        try optimizer.restore(optimizerState, for: resumed.parameters)
        let reports = try Trainer(model: resumed, optimizer: optimizer).fit(data, options: options, validation: data, resumingFrom: progress)
        #expect(resumed.parameters.map(\.parameter.value) == straight.parameters.map(\.parameter.value))
        #expect(reports.map { [$0.loss, $0.trainingAccuracy, $0.validation!.loss] } == expected.map { [$0.loss, $0.trainingAccuracy, $0.validation!.loss] })

        var other = options
        other.seed = 6
        #expect(throws: TrainingError.resumeMismatch("the order of samples differs from the saved one (another seed or other data)")) {
            try Trainer(model: try model(), optimizer: Optimizer(Adam())).fit(data, options: other, resumingFrom: progress)
        }
    }

    @Test("bad options and mismatched data are rejected before training")
    func validation() throws {
        let model = try Architecture.lenet300.build()
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD()))
        var options = TrainingOptions()
        options.batchSize = 0
        #expect(throws: TrainingError.self) { try trainer.fit(try Self.xor(), options: TrainingOptions()) }
        let images = try Dataset(inputs: [Float](repeating: 0, count: 784), sampleShape: [1, 28, 28], labels: [0])
        #expect(throws: TrainingError.self) { try trainer.fit(images, options: options) }
        let manyClasses = try Dataset(inputs: [Float](repeating: 0, count: 784), sampleShape: [1, 28, 28], labels: [12])
        #expect(throws: TrainingError.self) { try trainer.fit(manyClasses, options: TrainingOptions()) }
    }

    @Test("callbacks see every step and epoch; a throwing callback stops training")
    func callbacks() throws {
        final class Recorder: TrainingCallback {
            var steps: [Int] = [], epochs: [Int] = []
            func trainer(_ trainer: Trainer, didFinishStep report: StepReport) throws {
                steps.append(report.step)
                if report.step == 5 { throw ModelError.invalidName("stop at 5") }
            }
            func trainer(_ trainer: Trainer, didFinishEpoch report: EpochReport) throws { epochs.append(report.epoch) }
        }
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", inFeatures: 2, outFeatures: 2, rng: &Self.rng)])
        let trainer = Trainer(model: model, optimizer: Optimizer(SGD()))
        let recorder = Recorder()
        trainer.callbacks = [recorder]
        var options = TrainingOptions()
        options.epochs = 4; options.batchSize = 2
        #expect(throws: ModelError.self) { try trainer.fit(try Self.xor(), options: options) }
        #expect(recorder.steps == [0, 1, 2, 3, 4, 5])
        #expect(recorder.epochs == [1, 2])
    }
    static var rng = SeededGenerator(seed: 1)

    @Test("BatchNorm: batch statistics in training, running statistics in evaluation")
    func batchNormModes() {
        let bn = BatchNorm(name: "bn", features: 2, momentum: 0.5)
        let x = Tensor(shape: [4, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40])
        let y = bn.forward(x, training: true)
        for c in 0..<2 {
            let col = (0..<4).map { Double(y.scalars[$0 * 2 + c]) }
            #expect(abs(col.reduce(0, +) / 4) < 1e-6)
            #expect(abs(col.map { $0 * $0 }.reduce(0, +) / 4 - 1) < 1e-3)
        }
        // Running stats after one step with momentum 0.5: mean = 0.5·[2.5, 25], var = 0.5 + 0.5·unbiased var.
        #expect(maxRelativeError(bn.runningMean.value.scalars, [1.25, 12.5]) < 1e-6)
        #expect(maxRelativeError(bn.runningVariance.value.scalars, [0.5 + 0.5 * 5 / 3, 0.5 + 0.5 * 500 / 3]) < 1e-5)
        let e = bn.forward(x, training: false)
        let expected = (0..<8).map { i -> Float in
            let c = i % 2
            return (x.scalars[i] - bn.runningMean.value.scalars[c]) / (bn.runningVariance.value.scalars[c] + 1e-5).squareRoot()
        }
        #expect(maxRelativeError(e.scalars, expected) < 1e-5)
        #expect(bn.runningMean.isTrainable == false)
    }
}

@Suite("Training on Fashion-MNIST", .serialized)
struct RealDataTests {
    @Test("one epoch of LeNet-300-100 reaches 82% test accuracy, the same on every run; two workers learn too")
    func oneEpoch() throws {
        let folder = DatasetFolder(fashionMNISTPath)
        let train = try folder.training(), test = try folder.test()
        var options = TrainingOptions()
        options.epochs = 1
        options.schedule = .cosine
        func run(workers: Int) throws -> (Evaluation, Tensor) {
            let model = try Architecture.lenet300.build(seed: 1)
            var o = options
            o.workers = workers
            let trainer = Trainer(model: model, optimizer: Optimizer(SGD(momentum: 0.9, weightDecay: 5e-4)))
            try trainer.fit(train, options: o)
            return (trainer.evaluate(test), model.parameter(at: "fc3.weight")!.value)
        }
        let (a, wa) = try run(workers: 1)
        let (b, wb) = try run(workers: 1)
        let (c, _) = try run(workers: 2)
        #expect(a.accuracy > 0.82, "accuracy \(a.accuracy)")
        #expect(a == b)
        #expect(wa == wb)
        #expect(c.accuracy > 0.82, "two workers: accuracy \(c.accuracy)")
        #expect(a.samples == 10_000)
    }
}

@Suite("Gradient clipping")
struct GradientClippingTests {
    /// One SGD step (rate 1, no momentum) on a 2→2 layer with zero weights, the sample
    /// (3, 4) with label 0: the logits are 0, the softmax ½ each, so dlogits = (−½, ½),
    /// dW = [[−1.5, −2], [1.5, 2]], db = (−½, ½), and the global norm is √13.
    static func step(clip: Float?) throws -> Dense {
        let layer = Dense(name: "fc", weight: Tensor.zeros([2, 2]), bias: Tensor.zeros([2]))
        let model = try Graph(inputShape: [2], sequential: [layer])
        let data = try Dataset(inputs: [3, 4], sampleShape: [2], labels: [0])
        var options = TrainingOptions(epochs: 1, batchSize: 1, learningRate: 1, schedule: .constant, shuffle: false)
        options.gradientClipNorm = clip
        try Trainer(model: model, optimizer: Optimizer(SGD())).fit(data, options: options)
        return layer
    }

    @Test("gradients above the norm are scaled to it, as clip_grad_norm_ does; below it they are left alone")
    func clipping() throws {
        let free = try Self.step(clip: nil).weight.value.scalars
        #expect(free == [1.5, 2, -1.5, -2])
        let clipped = try Self.step(clip: 1).weight.value.scalars
        let factor = 1 / (Float(13).squareRoot() + 1e-6)
        for (a, b) in zip(clipped, free) { #expect(abs(a - b * factor) < 1e-6, "\(clipped)") }
        #expect(try Self.step(clip: 4).weight.value.scalars == free)   // √13 ≈ 3.61 < 4
        // The norm of (3, 4) is 5; with the first entry cut, 4.
        let p = Parameter(Tensor(shape: [2], scalars: [3, 4]))
        p.gradient = Tensor(shape: [2], scalars: [3, 4])
        #expect(Trainer.clipGradients([p], to: 1) == 5 && abs(p.gradient.scalars[0] - 3 / (5 + 1e-6)) < 1e-6)
        let masked = Parameter(Tensor(shape: [2], scalars: [3, 4]))
        masked.mask = Tensor(shape: [2], scalars: [0, 1])
        masked.gradient = Tensor(shape: [2], scalars: [3, 4])
        #expect(Trainer.clipGradients([masked], to: 10) == 4)
        var options = TrainingOptions()
        options.gradientClipNorm = 0
        let model = try Graph(inputShape: [2], sequential: [Dense(name: "fc", weight: Tensor.zeros([2, 2]), bias: nil)])
        #expect(throws: TrainingError.self) { try Trainer(model: model, optimizer: Optimizer(SGD())).fit(try Dataset(inputs: [1, 1], sampleShape: [2], labels: [0]), options: options) }
    }
}
