import Foundation
import Pruning
import Testing

@Suite("Sweep plans: a base recipe and a grid expanded into jobs")
struct SweepPlanTests {
    static let sweep = """
        base:
          model: lenet300
          train: {epochs: 1}
          prune: {threshold: {sparsity: 0.5}}
          output: somewhere.safetensors
        grid:
          prune.threshold.sparsity: [0.5, 0.9]
          prune.criterion: [magnitude, taylor, random]
          fine_tune.epochs: [1]
        """

    @Test("every combination once, the last path fastest; each job a recipe with its values set, nested fields made")
    func expansion() throws {
        let plan = try SweepPlan(yaml: Self.sweep, source: "s.yaml")
        #expect(plan.axes.map(\.path) == ["prune.threshold.sparsity", "prune.criterion", "fine_tune.epochs"])
        #expect(plan.jobs.count == 6)
        #expect(plan.jobs.map(\.index) == Array(0..<6))
        #expect(plan.jobs.map(\.values) == [["0.5", "magnitude", "1"], ["0.5", "taylor", "1"], ["0.5", "random", "1"],
                                            ["0.9", "magnitude", "1"], ["0.9", "taylor", "1"], ["0.9", "random", "1"]])
        for job in plan.jobs {
            let recipe = try Recipe(yaml: job.recipe)
            #expect(recipe.prune?.threshold.sparsity == Double(job.values[0]), "\(job.recipe)")
            #expect(recipe.prune?.criterion?.rawValue == job.values[1], "\(job.recipe)")
            #expect(recipe.fineTune?.epochs == 1 && recipe.train?.epochs == 1 && recipe.model == "lenet300", "\(job.recipe)")
            #expect(recipe.output == nil, "without an output rule the jobs save nothing")
        }
        // Shards partition the jobs, each taking every N-th.
        #expect(plan.jobs(shard: 1, of: 4).map(\.index) == [1, 5])
        let shards = (0..<4).flatMap { plan.jobs(shard: $0, of: 4) }.map(\.index).sorted()
        #expect(shards == Array(0..<6))
    }

    @Test("ids: a hash of each job's recipe, stable across readings, distinct, changed by any change to the plan")
    func identities() throws {
        let a = try SweepPlan(yaml: Self.sweep), b = try SweepPlan(yaml: Self.sweep)
        #expect(a.jobs.map(\.id) == b.jobs.map(\.id) && a.version == b.version)
        #expect(Set(a.jobs.map(\.id)).count == 6 && a.jobs.allSatisfy { $0.id.count == 16 && $0.id.allSatisfy(\.isHexDigit) })
        let changed = try SweepPlan(yaml: Self.sweep.replacingOccurrences(of: "train: {epochs: 1}", with: "train: {epochs: 2}"))
        #expect(Set(changed.jobs.map(\.id)).isDisjoint(with: a.jobs.map(\.id)) && changed.version != a.version)
        // The output rule places each job's model by its id; the id does not depend on it.
        let saving = try SweepPlan(yaml: Self.sweep, output: { "/models/\($0).safetensors" })
        #expect(saving.jobs.map(\.id) == a.jobs.map(\.id))
        for job in saving.jobs { #expect(try Recipe(yaml: job.recipe).output == "/models/\(job.id).safetensors") }
    }

    @Test("a value may be a mapping (written in flow style); it replaces the field whole")
    func mappingValues() throws {
        let plan = try SweepPlan(yaml: """
            base: {model: lenet300, prune: {threshold: {sparsity: 0.5}}}
            grid:
              prune.threshold: [{sparsity: 0.7}, {value: 0.01}]
            """)
        #expect(plan.axes[0].values == ["{sparsity: 0.7}", "{value: 0.01}"])
        let second = try Recipe(yaml: plan.jobs[1].recipe)
        #expect(second.prune?.threshold.value == 0.01 && second.prune?.threshold.sparsity == nil)
    }

    @Test("bad sweeps name the key and line, or the job and its recipe's problem", arguments: [
        ("base: {model: lenet300}\ngrid: {seed: [1]}\nextra: 1\n", "s.yaml:3: extra is not a known key; allowed here: base, grid"),
        ("grid: {seed: [1]}\n", "s.yaml:1: base is required: a recipe (a mapping)"),
        ("base: {model: lenet300}\n", "s.yaml:1: grid is required: recipe paths, each with a list of values"),
        ("base: {model: lenet300}\ngrid:\n  seed: 3\n", "s.yaml:3: grid.seed must be a list of one or more values"),
        ("base: {model: lenet300}\ngrid:\n  output: [a, b]\n", "s.yaml:3: grid.output cannot vary: each job's output is set by the sweep"),
        ("base: {model: lenet300}\ngrid:\n  seed: [1, 1]\n", "s.yaml:3: grid gives the same recipe twice (a value repeated?)"),
        ("base: {model: lenet300, checkpoint: {path: c.safetensors}}\ngrid: {seed: [1]}\n",
         "s.yaml:1: base.checkpoint.path cannot be shared by the jobs: leave it out (a job's checkpoint goes beside its output)"),
        ("base: {model: lenet300, prune: {threshold: {sparsity: 0.5}}}\ngrid:\n  prune.threshold.sparsity: [0.5, 1.5]\n",
         "s.yaml: prune.threshold.sparsity must be in [0, 1] (in job 1: prune.threshold.sparsity=1.5)"),
        ("base: {model: lenet300, prune: {criterion: magnitude}}\ngrid:\n  prune.criterion.name: [a]\n",
         "s.yaml:1: prune.criterion.name cannot be set: the base recipe has a value that is not a mapping on its way"),
    ])
    func problems(_ text: String, _ message: String) {
        #expect(throws: (any Error).self) { try SweepPlan(yaml: text, source: "s.yaml") }
        do {
            _ = try SweepPlan(yaml: text, source: "s.yaml")
        } catch {
            #expect("\(error)" == message)
        }
    }
}
