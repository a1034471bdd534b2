import NeuralNetwork
import Pruning
import Testing
import TensorCore
import TestSupport

@Suite("Allocation of a sparsity among tensors")
struct AllocationTests {
    @Test("LAMP scores follow the paper: w_u² over the sum of w_v² for v at or above u in magnitude order")
    func lampScores() {
        // Sorted by magnitude: 1, −2, 3 → squares 1, 4, 9, suffix sums 14, 13, 9.
        let scores = Allocation.lampScores([3, 1, -2])
        let expected: [Double] = [1, 1.0 / 14, 4.0 / 13]
        #expect(scores == expected)
        // The largest weight of every tensor scores 1, so LAMP never empties a tensor first.
        #expect(Allocation.lampScores([0.5, 0.25]).max() == 1)
    }

    @Test("ERK keeps densities proportional to (Σ dims)/(Π dims), dense where that would exceed 1")
    func erkDensities() {
        // LeNet-300-100's first two tensors at 90% sparsity: raw 1084/235200 and 310/3000. With
        // ε = 23820 / (1084 + 310) = 17.09 the second would keep 176%: it stays dense, and
        // ε = (23820 − 3000) / 1084 gives the first 20820 / 235200.
        let d = Allocation.erkDensities(shapes: [[300, 784], [10, 300]], density: 0.1)
        #expect(abs(d[0] - 20820.0 / 235200) < 1e-12 && d[1] == 1)
        // Below the cap every tensor keeps ε·raw: two equal shapes share the target equally.
        let even = Allocation.erkDensities(shapes: [[20, 20], [20, 20]], density: 0.25)
        #expect(even.allSatisfy { abs($0 - 0.25) < 1e-12 })
        // Convolution kernels count their kernel sides: [4, 2, 3, 3] has raw 12/72.
        let conv = Allocation.erkDensities(shapes: [[4, 2, 3, 3], [8, 8]], density: 0.5)
        let kept = conv[0] * 72 + conv[1] * 64
        #expect(abs(kept - 0.5 * 136) < 1e-9 && abs(conv[0] / conv[1] - (12.0 / 72) / (16.0 / 64)) < 1e-12)
    }

    /// Two tensors: a = [1, 2, 3] and b = [1, 1].
    static func model() throws -> Graph {
        try Graph(inputShape: [3], sequential: [
            Dense(name: "a", weight: Tensor(shape: [1, 3], scalars: [1, 2, 3]), bias: nil),
            Dense(name: "b", weight: Tensor(shape: [2, 1], scalars: [1, 1]), bias: nil),
        ])
    }

    @Test("a plan with LAMP cuts the lowest LAMP scores: the small tensor keeps its weights where global magnitude empties it")
    func lampPlan() throws {
        // LAMP: a scores 1/14, 4/13, 1; b scores 1/2, 1. Cutting 2 of 5 cuts a's 1 and 2.
        let lamp = try Self.model()
        let result = try Pruner.prune(lamp, with: PruningPlan(allocation: .lamp, threshold: .sparsity(0.4)))
        #expect(lamp.parameter(at: "a.weight")!.value.scalars == [0, 0, 3] && lamp.parameter(at: "b.weight")!.value.scalars == [1, 1])
        #expect(result.sparsity == 0.4)
        // Global magnitude cuts the two smallest |w| = 1 first: a's and one of b's.
        let global = try Self.model()
        try Pruner.prune(global, with: PruningPlan(allocation: .global, threshold: .sparsity(0.4)))
        #expect(global.parameter(at: "a.weight")!.value.nonZeroCount() == 2 && global.parameter(at: "b.weight")!.value.nonZeroCount() == 1)
        // Uniform: each tensor to 40% of its own entries (1 of 3, 1 of 2).
        let uniform = try Self.model()
        try Pruner.prune(uniform, with: PruningPlan(allocation: .uniform, threshold: .sparsity(0.4)))
        #expect(uniform.parameter(at: "a.weight")!.value.scalars == [0, 2, 3] && uniform.parameter(at: "b.weight")!.value.nonZeroCount() == 1)
    }

    @Test("a plan with ERK gives each tensor its ERK sparsity, and the criterion picks within it")
    func erkPlan() throws {
        var rng = SeededGenerator(seed: 2)
        let model = try Graph(inputShape: [784], sequential: [
            Dense(name: "fc1", inFeatures: 784, outFeatures: 300, rng: &rng), ReLU(name: "r"),
            Dense(name: "fc2", inFeatures: 300, outFeatures: 10, rng: &rng),
        ])
        let original = model.parameter(at: "fc1.weight")!.value.scalars
        try Pruner.prune(model, with: PruningPlan(allocation: .erk, threshold: .sparsity(0.9)))
        // fc1 keeps 20,820 of 235,200 (see erkDensities); fc2 stays dense.
        let fc1 = model.parameter(at: "fc1.weight")!.value.scalars
        #expect(fc1.filter { $0 != 0 }.count == 20_820 && model.parameter(at: "fc2.weight")!.value.nonZeroCount() == 3000)
        // Within fc1, magnitude decides: every kept weight is at least as large as every cut one.
        let kept = zip(original, fc1).filter { $0.1 != 0 }.map { abs($0.0) }.min()!
        let cut = zip(original, fc1).filter { $0.1 == 0 }.map { abs($0.0) }.max()!
        #expect(kept >= cut)
    }

    @Test("recipes name the allocation; it needs weight granularity and a sparsity target")
    func recipes() throws {
        let recipe = try Recipe(yaml: "model: lenet300\nprune: {allocation: lamp, threshold: {sparsity: 0.9}}\n")
        #expect(recipe.prune?.allocation == .lamp && recipe.pruningPlan()?.allocation == .lamp)
        #expect(throws: PruningError.self) { try Recipe(yaml: "model: lenet300\nprune: {allocation: lamb, threshold: {sparsity: 0.9}}\n") }
        let neuron = Recipe(model: "lenet300", prune: Recipe.Prune(granularity: .neuron, allocation: .erk, threshold: Recipe.ThresholdSpec(sparsity: 0.5)))
        #expect(neuron.problems().contains { "\($0)".contains("prune.allocation") })
        let value = Recipe(model: "lenet300", prune: Recipe.Prune(allocation: .lamp, threshold: Recipe.ThresholdSpec(value: 0.01)))
        #expect(value.problems().contains { "\($0)".contains("threshold.sparsity") })
    }
}
