import Testing
import TensorCore
import TestSupport

@Suite("Tensor-level helpers of the layers and the trainer")
struct TensorEntryTests {
    @Test("gathering samples copies floats and scales bytes, in index order")
    func gathering() {
        let floats: [Float] = [0, 1, 2, 3, 4, 5]   // three samples of [2]
        #expect(Tensor(gathering: [2, 0], from: floats, sampleShape: [2]) == Tensor(shape: [2, 2], scalars: [4, 5, 0, 1]))
        let bytes: [UInt8] = [0, 255, 51, 102]        // two samples of [1, 2]
        let scaled = Tensor(gathering: 1..<2, fromBytes: bytes, scale: 1 / 255, sampleShape: [1, 2])
        #expect(scaled.shape == [1, 1, 2] && abs(scaled[flat: 0] - 0.2) < 1e-7 && abs(scaled[flat: 1] - 0.4) < 1e-7)
    }

    @Test("accumulate adds every tensor in order; a pool's map returns results in index order")
    func accumulateAndMap() {
        let pool = WorkerPool(count: 2)
        let others = (0..<3).map { randomTensor([70_001], seed: UInt64(60 + $0)) }
        var total = randomTensor([70_001], seed: 59)
        var expected = total.scalars
        for o in others { for i in expected.indices { expected[i] += o.scalars[i] } }
        total.accumulate(others, pool: pool)
        #expect(total.scalars == expected)
        #expect(pool.map(2) { $0 * 10 } == [0, 10])
    }

    @Test("an update rule's ranges see value, gradient and slots; the mask zeroes the value and every slot")
    func update() {
        var value = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        var slots = Tensor.zeros([2, 6])
        let gradient = Tensor(shape: [2, 3], repeating: 0.5)
        let mask = Tensor(shape: [2, 3], scalars: [1, 0, 1, 1, 1, 0])
        value.update(gradient: gradient, slots: &slots, mask: mask, pool: nil) { entries in
            entries.update { w, g, m, v in m = w + g; v = 2 * w; w -= g }
        }
        #expect(value.scalars == [0.5, 0, 2.5, 3.5, 4.5, 0])
        #expect(slots.scalars == [1.5, 0, 3.5, 4.5, 5.5, 0, 2, 0, 6, 8, 10, 0])
    }
}
