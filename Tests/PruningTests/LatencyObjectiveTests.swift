import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Objectives: latency from measured layer times, and targets as shares of FLOPs or time")
struct LatencyObjectiveTests {
    /// a: dense 10; CSR 20 at 50%, 8 at 80%, 4 at 90% (CSR beats dense from 75%).
    /// b: dense 4; CSR 2 at 50%, 1 at 90% (CSR always faster).
    static let profile = LatencyProfile(batch: 1, layers: [
        .init(name: "a", dense: 10, sparse: [.init(sparsity: 0.5, seconds: 20), .init(sparsity: 0.8, seconds: 8), .init(sparsity: 0.9, seconds: 4)]),
        .init(name: "b", dense: 4, sparse: [.init(sparsity: 0.5, seconds: 2), .init(sparsity: 0.9, seconds: 1)]),
    ])

    /// Two dense layers named a and b, with 100 weights each.
    static func model() throws -> Graph {
        var rng = SeededGenerator(seed: 3)
        return try Graph(inputShape: [10], sequential: [
            Dense(name: "a", inFeatures: 10, outFeatures: 10, rng: &rng), ReLU(name: "r"), Dense(name: "b", inFeatures: 10, outFeatures: 10, rng: &rng),
        ])
    }

    static func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-9 }

    @Test("a layer's time is the faster of dense and CSR, CSR read between the levels and held flat past them")
    func seconds() {
        let p = Self.profile
        #expect(p.seconds(of: "a", atSparsity: 0.3) == 10 && p.seconds(of: "a", atSparsity: 0.6) == 10)
        #expect(Self.near(p.seconds(of: "a", atSparsity: 0.85)!, 6) && p.seconds(of: "a", atSparsity: 0.99) == 4)
        #expect(Self.near(p.seconds(of: "b", atSparsity: 0.7)!, 1.5) && p.seconds(of: "b", atSparsity: 0.1) == 2)
        #expect(p.seconds(of: "c", atSparsity: 0.5) == nil)
    }

    @Test("latency cost curves save nothing before the crossover, which becomes a point of its own; they invert to the least sparsity")
    func costCurves() throws {
        let model = try Self.model()
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0)), in: model)
        let costs = try Objective.latency.costCurves(of: selected, in: model, latency: Self.profile)
        let a = try #require(costs["a.weight"]), b = try #require(costs["b.weight"])
        // a crosses dense (10) between 50% (20) and 80% (8): at 50% + 30% × 10/12 = 75%.
        #expect(a.total == 10 && a.points.map(\.removed) == [0, 0, 0, 2, 6])
        #expect(zip(a.points.map(\.sparsity), [0, 0.5, 0.75, 0.8, 0.9]).allSatisfy { Self.near($0, $1) })
        #expect(Self.near(a.removed(atSparsity: 0.85), 4) && a.removed(atSparsity: 0.7) == 0 && a.removed(atSparsity: 1) == 6)
        #expect(Self.near(a.sparsity(removing: 4), 0.85) && Self.near(a.sparsity(removing: 1), 0.775) && a.sparsity(removing: 7) == 0.9)
        #expect(b.total == 4 && b.points.map(\.removed) == [0, 2, 3] && b.reachable == 3)
        // Without a profile, the latency objective has nothing to go by.
        #expect(throws: PruningError.self) { try Objective.latency.costCurves(of: selected, in: model) }
        // Parameters and FLOPs are linear: half the entries remove half the cost.
        let linear = try Objective.flops.costCurves(of: selected, in: model)["a.weight"]!
        #expect(linear.total == 200 && linear.removed(atSparsity: 0.5) == 100 && linear.sparsity(removing: 50) == 0.25)
    }

    @Test("sensitivity allocation under latency spends the cuts where they save the most time per loss, up to what the curves reach")
    func allocation() throws {
        // Loss added: a 0 at 50%, 1 at 90%; b 0.5 at 50%, 2 at 90%.
        let curves = SensitivityAnalysis(
            criterion: "magnitude", split: .validation, samples: 10, baseline: .init(sparsity: 0, accuracy: 0.9, loss: 1),
            layers: [
                .init(path: "a.weight", count: 100, levels: [.init(sparsity: 0.5, accuracy: 0.9, loss: 1), .init(sparsity: 0.9, accuracy: 0.5, loss: 2)]),
                .init(path: "b.weight", count: 100, levels: [.init(sparsity: 0.5, accuracy: 0.8, loss: 1.5), .init(sparsity: 0.9, accuracy: 0.3, loss: 3)]),
            ])
        let model = try Self.model()
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0)), in: model)
        let costs = try Objective.latency.costCurves(of: selected, in: model, latency: Self.profile)
        let allocation = try SensitivityAllocation(curves: curves, costs: costs, paths: ["a.weight", "b.weight"])
        // Hulls in (time saved, loss): a (0,0)→(6,1), price 1/6; b (0,0)→(2,0.5)→(3,2), prices 1/4 then 3/2.
        // Of the total 14: 3 from a (a at 85% − 2.5%: 3 lies between 2 at 80% and 6 at 90%).
        var s = allocation.sparsities(target: 3.0 / 14)
        #expect(Self.near(s["a.weight"]!, 0.825) && s["b.weight"] == 0)
        s = allocation.sparsities(target: 0.5)   // 7: a's 6, then 1 of b's first 2
        #expect(Self.near(s["a.weight"]!, 0.9) && Self.near(s["b.weight"]!, 0.25))
        s = allocation.sparsities(target: 8.5 / 14)   // b's second stretch, half of it
        #expect(Self.near(s["a.weight"]!, 0.9) && Self.near(s["b.weight"]!, 0.7))
        #expect(Self.near(allocation.reachable, 9.0 / 14))
        s = allocation.sparsities(target: 1)   // past what cutting saves: each at its last useful level
        #expect(Self.near(s["a.weight"]!, 0.9) && Self.near(s["b.weight"]!, 0.9))
    }

    @Test("a global cut under the FLOP objective takes the least weight sparsity that removes the target share of FLOPs")
    func globalShareOfFlops() throws {
        // conv: 18 weights of 32 FLOPs each (3×3 kernel, 4×4 outputs) = 576; fc: 96 of 2 = 192.
        // The fc weights are all smaller, so a global magnitude cut takes them first.
        func layers() throws -> (Graph, Conv2D) {
            let conv = Conv2D(name: "conv", weight: Tensor(shape: [2, 1, 3, 3], scalars: (1...18).map { Float($0) }), bias: nil)
            let fc = Dense(name: "fc", weight: Tensor(shape: [3, 32], scalars: (1...96).map { Float($0) / 1000 }), bias: nil)
            return (try Graph(inputShape: [1, 6, 6], sequential: [conv, ReLU(name: "r"), Flatten(name: "f"), fc]), conv)
        }
        let (model, conv) = try layers()
        // Half of 768 is 384: all of fc (192) and the 6 smallest conv weights (192).
        let result = try Pruner.prune(model, with: PruningPlan(threshold: .sparsity(0.5), objective: .flops))
        #expect(result.parameters.map(\.nonZerosAfter) == [12, 0])
        #expect(conv.weight.mask!.scalars.prefix(6).allSatisfy { $0 == 0 } && conv.weight.mask!.scalars.dropFirst(6).allSatisfy { $0 == 1 })
        // The same target under the parameter objective cuts 57 of the 114 weights.
        let twin = try layers().0
        #expect(try Pruner.prune(twin, with: PruningPlan(threshold: .sparsity(0.5))).parameters.map(\.nonZerosAfter) == [18, 39])
    }

    @Test("a uniform cut under latency: every tensor at the least common sparsity whose cut saves the target share of time")
    func uniformShareOfLatency() throws {
        let model = try Self.model()
        // A quarter of the 14 time units is 3.5. Below a's crossover (75%) only b saves: 2.625 at 75%.
        // From there a saves 40 per unit of sparsity and b 2.5: s = 0.75 + 0.875/42.5 ≈ 0.7706,
        // and whole entries: 77 of 100 save 3.475, so 78.
        var plan = PruningPlan(scope: .layer, threshold: .sparsity(0.25), objective: .latency)
        plan.latency = Self.profile
        let result = try Pruner.prune(model, with: plan)
        let kept = result.parameters.map(\.nonZerosAfter)
        #expect(kept == [22, 22], "\(kept)")   // 78 of 100 cut in each: 77 would save 3.475
        plan.latency = nil
        #expect(throws: PruningError.self) { try Pruner.prune(try Self.model(), with: plan) }
    }

    @Test("measured profiles time every Dense and Conv2D layer asked for, at every level, in increasing sparsity")
    func measured() throws {
        var rng = SeededGenerator(seed: 5)
        let model = try Graph(inputShape: [1, 8, 8], sequential: [
            Conv2D(name: "conv", inChannels: 1, outChannels: 4, kernelSize: 3, rng: &rng), ReLU(name: "r"), Flatten(name: "f"),
            Dense(name: "fc", inFeatures: 144, outFeatures: 10, rng: &rng),
        ])
        let profile = LatencyProfile(measuring: model, levels: [0.9, 0.5], seconds: 0.001)
        #expect(profile.batch == 1 && profile.layers.map(\.name) == ["conv", "fc"])
        for layer in profile.layers {
            #expect(layer.dense > 0 && layer.sparse.map(\.sparsity) == [0.5, 0.9] && layer.sparse.allSatisfy { $0.seconds > 0 })
        }
        #expect(LatencyProfile(measuring: model, layers: ["fc", "r"], levels: [0.5], seconds: 0.001).layers.map(\.name) == ["fc"])
    }

    @Test("a latency target past what the CSR forms save is refused with the figure, and a search where nothing saves time stops before probing")
    func unreachable() throws {
        let model = try Self.model()
        var plan = PruningPlan(threshold: .sparsity(0.9), objective: .latency)   // a saves at most 6, b 3: 9 of 14
        plan.latency = Self.profile
        #expect(throws: PruningError.self) { try Pruner.prune(model, with: plan) }
        #expect(model.parameters.allSatisfy { $0.parameter.mask == nil })
        plan.threshold = .sparsity(0.6)
        #expect(try Pruner.prune(model, with: plan).sparsity > 0)

        let (trainer, data) = try IterativeTests.trained()
        let never = LatencyProfile(batch: 1, layers: [
            .init(name: "fc1", dense: 1, sparse: [.init(sparsity: 0.5, seconds: 2), .init(sparsity: 0.99, seconds: 1.5)]),
            .init(name: "fc2", dense: 1, sparse: [.init(sparsity: 0.5, seconds: 2)]),
        ])
        let run = try PruningRun(Recipe(model: "test", validationSplit: 0.5, prune: Recipe.Prune(objective: .latency,
            threshold: Recipe.ThresholdSpec(auto: Recipe.AutoThreshold(maxAccuracyDrop: 0.01)))))
        run.latency = never
        #expect { try run.run(trainer.model, data: IterativeTests.splits(data)) } throws: { ($0 as? PruningError)?.field == "prune.objective" }
    }

    @Test("a latency objective needs a sparsity to share (not N:M, not a value), and no checkpoints yet")
    func problems() {
        var recipe = Recipe(model: "lenet300", prune: Recipe.Prune(granularity: .nOfM(n: 2, m: 4), objective: .latency))
        #expect(recipe.problems().contains { "\($0)".contains("prune.objective") })
        recipe.prune?.granularity = .weight
        recipe.prune?.threshold = Recipe.ThresholdSpec(value: 0.1)
        #expect(recipe.problems().contains { $0.field == "prune.objective" })
        recipe.prune?.threshold = Recipe.ThresholdSpec(sparsity: 0.5)
        recipe.prune?.granularity = .neuron
        #expect(recipe.problems().isEmpty, "\(recipe.problems())")
        recipe.prune?.granularity = .weight
        #expect(recipe.problems().isEmpty, "\(recipe.problems())")
        recipe.checkpoint = Recipe.Checkpoint(path: "c.ckpt")
        #expect(recipe.problems().contains { "\($0)".contains("prune.objective") && "\($0)".contains("checkpoint") })
    }

    @Test("a structured cut under the FLOP objective removes the least neurons whose compaction saves the target share")
    func structuredShareOfFlops() throws {
        // fc1 [8, 4] (64 FLOPs) and fc2 [2, 8] (32): each of fc1's neurons removed saves 8 + 4 = 12 of 96.
        func model() throws -> Graph {
            var rng = SeededGenerator(seed: 4)
            return try Graph(inputShape: [4], sequential: [
                Dense(name: "fc1", inFeatures: 4, outFeatures: 8, rng: &rng), ReLU(name: "r"), Dense(name: "fc2", inFeatures: 8, outFeatures: 2, rng: &rng),
            ])
        }
        for (target, cut) in [(0.5, 4), (0.3, 3), (0.1, 1)] {   // 48 → 4 neurons; 28.8 → 3; 9.6 → 1
            let m = try model()
            try Pruner.prune(m, with: PruningPlan(criterion: SquaredMagnitude(), granularity: .neuron, scope: .layer,
                                                  threshold: .sparsity(target), objective: .flops))
            let rows = (m.parameter(at: "fc1.weight")!.mask ?? Tensor(shape: [8, 4], repeating: 1)).scalars
            let zeroRows = (0..<8).filter { r in rows[(r * 4)..<(r * 4 + 4)].allSatisfy { $0 == 0 } }.count
            #expect(zeroRows == cut, "target \(target): \(zeroRows) neurons cut")
        }
    }

    @Test("criterion auto under latency ranks whole neurons against weights at the same share of time, and the fixed plan reproduces the pick")
    func structuredAgainstUnstructured() throws {
        let (trainer, data) = try IterativeTests.trained()
        let twin = try trainer.model.copy()
        let recipe = Recipe(model: "test", validationSplit: 0.5,
                            prune: Recipe.Prune(criterion: .auto, objective: .latency, threshold: Recipe.ThresholdSpec(sparsity: 0.5)),
                            fineTune: Recipe.FineTune(epochs: 1, learningRate: 0.01, batchSize: 32))
        // fc1 (16×4) runs faster as CSR only past 60%; fc2 (2×16) always.
        let profile = LatencyProfile(batch: 1, layers: [
            .init(name: "fc1", dense: 10, sparse: [.init(sparsity: 0.5, seconds: 20), .init(sparsity: 0.9, seconds: 4)]),
            .init(name: "fc2", dense: 2, sparse: [.init(sparsity: 0.5, seconds: 1), .init(sparsity: 0.9, seconds: 0.5)]),
        ])
        let run = try PruningRun(recipe)
        run.latency = profile
        let report = try run.run(trainer.model, data: IterativeTests.splits(data))
        let search = try #require(report.history.search)
        // Every candidate but whole filters (the model has no convolution), each at half the time.
        #expect(Set(search.ranking.map(\.strategy.description))
                == Set(Strategy.candidates(for: .latency).map(\.description)).subtracting(["l2-norm/filter"]))
        #expect(search.objective == .latency && search.ranking.allSatisfy { $0.target == 0.5 && $0.objective == .latency })
        // The weights cut differ by strategy: whole neurons remove fc1 rows and fc2 columns alike.
        let neurons = try #require(search.ranking.first { $0.strategy.granularity == .neuron })
        #expect(neurons.sparsity > 0 && neurons.sparsity < 1)
        let fixed = search.fixing(recipe)
        #expect(fixed.problems().isEmpty, "\(fixed.problems())")
        let again = try PruningRun(fixed)
        again.latency = profile
        _ = try again.run(twin, data: IterativeTests.splits(data))
        for ((path, a), (_, b)) in zip(trainer.model.parameters, twin.parameters) {
            #expect(a.value.scalars == b.value.scalars && a.mask == b.mask, "\(path)")
        }
    }
}
