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

    @Test("windows of a text split by position: the last tenth of the text as non-overlapping windows, no byte shared")
    func textWindows() throws {
        // 1,000 bytes whose values say where they stand (mod 251, a prime, so windows differ).
        let text = (0..<1000).map { UInt8($0 % 251) }
        let data = try Dataset(text: text, length: 8)
        #expect(data.count == 992)
        let (training, validation) = try data.splittingValidation(fraction: 0.1, seed: 1)
        let held = try #require(validation)
        // Training: every offset of the first 900 bytes; validation: 100 bytes, windows of 8 at every 8th byte (the last target is byte 996).
        #expect(training.count == 892 && held.count == 12, "\(training.count), \(held.count)")
        let first = training.batch(0..<training.count), last = held.batch(0..<held.count)
        #expect(first.inputs.scalars.prefix(8) == (0..<8).map(Float.init)[...])
        #expect(first.labels.last == Int32(899 % 251), "the training labels stop at byte 899")
        #expect(last.inputs.scalars.prefix(16) == (900..<916).map { Float($0 % 251) }[...], "non-overlapping from byte 900")
        #expect(last.labels.count == 96 && last.labels.last == Int32(996 % 251))
        // The same split whatever the seed: it is positional.
        #expect(try data.splittingValidation(fraction: 0.1, seed: 7).validation?.count == 12)
        #expect(throws: ModelError.self) { try data.splittingValidation(fraction: 0.005, seed: 1) }
    }
}
