import Foundation
import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Automatic threshold and sensitivity allocation")
struct AutomationTests {
    /// A synthetic accuracy curve: flat at 90% up to 95% sparsity, then falling 2 points per
    /// point of sparsity, so a budget of 0.5 points holds up to exactly 95.25%.
    static func curve(_ s: Double) -> Float { s <= 0.95 ? 0.9 : Float(0.9 - 2 * (s - 0.95)) }
    static let limit = 0.9525

    @Test("the search stops within its probes and keeps the highest sparsity within budget, bracketing the true limit to the bisection's step")
    func bisection() throws {
        let search = AccuracyBudgetSearch(maximumDrop: 0.005, highest: 0.995, probes: 6)
        var calls = 0
        let found = try search.run(baseline: 0.9) { s in calls += 1; return Self.curve(s) }
        #expect(calls == 6 && found.probes.count == 6)
        #expect(found.probes[0].sparsity == 0.995 && !found.probes[0].kept)
        #expect(found.sparsity <= Self.limit + 1e-12 && found.accuracy == Self.curve(found.sparsity))
        let broke = try #require(found.broke)
        #expect(broke > Self.limit)
        // Five halvings of −log(1 − 0.995) in −log(density) after the first probe.
        let step = -log(1 - 0.995) / 32
        #expect(-log(1 - broke) + log(1 - found.sparsity) <= step + 1e-9)
        // Every kept probe is within budget, every other one is not.
        for p in found.probes { #expect(p.kept == (Self.curve(p.sparsity) >= 0.895)) }
    }

    @Test("a highest sparsity that keeps the budget ends the search after one probe; one that breaks at once leaves the lowest")
    func ends() throws {
        let easy = try AccuracyBudgetSearch(maximumDrop: 0.005, highest: 0.9, probes: 6).run(baseline: 0.9) { Self.curve($0) }
        #expect(easy.probes.count == 1 && easy.sparsity == 0.9 && easy.broke == nil)
        let none = try AccuracyBudgetSearch(maximumDrop: 0.005, highest: 0.99, probes: 4).run(baseline: 0.95) { Self.curve($0) }
        #expect(none.probes.count == 4 && none.sparsity == 0 && none.accuracy == nil && none.probes.allSatisfy { !$0.kept })
        // A search resumed above a known break never probes at or above it.
        let resumed = try AccuracyBudgetSearch(maximumDrop: 0.005, lowest: 0.9, probes: 3).run(baseline: 0.9, broke: 0.96) { Self.curve($0) }
        #expect(resumed.probes.allSatisfy { $0.sparsity > 0.9 && $0.sparsity < 0.96 } && resumed.sparsity <= Self.limit)
        #expect(throws: PruningError.self) { try AccuracyBudgetSearch(maximumDrop: 0.005, highest: 1).run(baseline: 0.9) { Self.curve($0) } }
    }

    /// Two tensors of 100 entries; a costs 0, then 1.0 at 90%; b costs 0.5 at 50%, 2.0 at 90%.
    static let curves = SensitivityAnalysis(
        criterion: "magnitude", split: .validation, samples: 10, baseline: .init(sparsity: 0, accuracy: 0.9, loss: 1),
        layers: [
            .init(path: "a", count: 100, levels: [.init(sparsity: 0.5, accuracy: 0.9, loss: 1), .init(sparsity: 0.9, accuracy: 0.5, loss: 2)]),
            .init(path: "b", count: 100, levels: [.init(sparsity: 0.5, accuracy: 0.8, loss: 1.5), .init(sparsity: 0.9, accuracy: 0.3, loss: 3)]),
        ])

    @Test("sensitivity allocation takes the cheapest loss per weight first: a's free half, then b's half, then a's next 40%; past the curves, by their last price")
    func allocation() throws {
        // Prices (loss per entry): a 0 then 1/40, b 0.5/50 = 0.01 then 1.5/40.
        let allocation = try SensitivityAllocation(curves: Self.curves, entryCosts: [:], paths: ["a", "b"])
        #expect(allocation.sparsities(target: 0.25) == ["a": 0.5, "b": 0])
        #expect(allocation.sparsities(target: 0.5) == ["a": 0.5, "b": 0.5])
        #expect(allocation.sparsities(target: 0.6) == ["a": 0.7, "b": 0.5])
        #expect(allocation.sparsities(target: 0.8) == ["a": 0.9, "b": 0.7])
        #expect(allocation.reachable == 0.9)
        // Past the curves (90% of each), the rest comes from the tensor whose last measured
        // stretch was cheaper: a (1/40 per entry) before b (1.5/40).
        #expect(allocation.sparsities(target: 0.95) == ["a": 1, "b": 0.9])
        #expect(allocation.sparsities(target: 1) == ["a": 1, "b": 1])
        // When b's entries cost 3 each (FLOPs), cutting b buys three times as much: b's half
        // (price 0.5/150) comes before a's second stretch.
        let weighted = try SensitivityAllocation(curves: Self.curves, entryCosts: ["b": 3], paths: ["a", "b"])
        // Total cost 400; half is 200: a's free 50, b's 150 (its first 50%), a nothing more.
        #expect(weighted.sparsities(target: 0.5) == ["a": 0.5, "b": 0.5])
        #expect(throws: PruningError.self) { try SensitivityAllocation(curves: Self.curves, entryCosts: [:], paths: ["c"]) }
    }

    @Test("a curve point above the line between its neighbours is hidden by the convex hull")
    func hull() throws {
        // c: 1.0 at 50% but only 1.2 at 90%: the straight line to 90% is cheaper all the way.
        let curves = SensitivityAnalysis(
            criterion: "magnitude", split: .validation, samples: 1, baseline: .init(sparsity: 0, accuracy: 1, loss: 0),
            layers: [.init(path: "c", count: 100, levels: [.init(sparsity: 0.5, accuracy: 0.5, loss: 1.0), .init(sparsity: 0.9, accuracy: 0.4, loss: 1.2)]),
                     .init(path: "d", count: 100, levels: [.init(sparsity: 0.9, accuracy: 0.4, loss: 1.6)])])
        // c's price is 1.2/90 = 0.0133 per entry, d's 1.6/90 = 0.0178: c goes first, to 90%.
        let s = try SensitivityAllocation(curves: curves, entryCosts: [:], paths: ["c", "d"]).sparsities(target: 0.5)
        #expect(abs(s["c"]! - 0.9) < 1e-12 && abs(s["d"]! - 0.1) < 1e-12)
    }

    @Test("FLOPs cost 2 per dense weight and 2 × output positions per convolution weight")
    func flopCosts() throws {
        var rng = SeededGenerator(seed: 1)
        let model = try Graph(inputShape: [1, 6, 6], sequential: [
            Conv2D(name: "conv", inChannels: 1, outChannels: 2, kernelSize: 3, rng: &rng), ReLU(name: "r"), Flatten(name: "f"),
            Dense(name: "fc", inFeatures: 32, outFeatures: 3, rng: &rng),
        ])
        let selected = try Pruner.selectParameters(PruningPlan(threshold: .sparsity(0)), in: model)
        let costs = Objective.flops.entryCosts(of: selected, in: model)
        #expect(costs == ["conv.weight": 2 * 16, "fc.weight": 2])   // a 3×3 kernel without padding: 4×4 outputs
        #expect(Objective.parameters.entryCosts(of: selected, in: model) == ["conv.weight": 1, "fc.weight": 1])
    }
}
