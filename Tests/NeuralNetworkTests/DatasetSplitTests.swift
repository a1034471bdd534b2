import NeuralNetwork
import Testing

@Suite("Validation split")
struct DatasetSplitTests {
    /// 100 samples whose single input is their index, labelled by parity.
    static func indexed() throws -> Dataset {
        try Dataset(inputs: (0..<100).map(Float.init), sampleShape: [1], labels: (0..<100).map { Int32($0 % 2) })
    }

    static func indices(_ d: Dataset) -> [Int] { d.batch(0..<d.count).inputs.scalars.map { Int($0) } }

    @Test("10% held out, drawn with the seed: disjoint, together the whole set, the rest in order, labels kept")
    func split() throws {
        let data = try Self.indexed()
        let (training, validation) = try data.splittingValidation(fraction: 0.1, seed: 1)
        let held = try #require(validation)
        #expect(training.count == 90 && held.count == 10)
        let rest = Self.indices(training), out = Self.indices(held)
        #expect(Set(rest).isDisjoint(with: out) && Set(rest + out) == Set(0..<100))
        #expect(rest == rest.sorted(), "the training part keeps its order")
        #expect(out != Array(0..<10) && out != Array(90..<100), "drawn at random, not a head or tail: \(out)")
        #expect(held.labels == out.map { Int32($0 % 2) } && training.classCount == 2)
        // The same seed gives the same split; another seed another one.
        #expect(Self.indices(try data.splittingValidation(fraction: 0.1, seed: 1).validation!) == out)
        #expect(Self.indices(try data.splittingValidation(fraction: 0.1, seed: 2).validation!) != out)
    }

    @Test("a split of 0 holds out nothing; impossible fractions are refused")
    func edges() throws {
        let data = try Self.indexed()
        let (training, validation) = try data.splittingValidation(fraction: 0, seed: 1)
        #expect(validation == nil && training.count == 100)
        for bad in [-0.1, 1, 1.5, .nan, 0.001] {
            #expect(throws: ModelError.self) { try data.splittingValidation(fraction: bad, seed: 1) }
        }
    }
}
