/// The rule that cuts exactly `k` of a set of scores: every score below `below`, and the
/// first `ties` scores equal to it (in order), so the count is exact even with ties.
public struct LowestSelection: Equatable, Sendable {
    /// Scores strictly below this are cut.
    public var below: Float
    /// How many scores equal to `below` are cut too, first ones first.
    public var ties: Int

    /// Cuts nothing.
    public static let none = LowestSelection(below: -.infinity, ties: 0)

    /// Creates a rule.
    public init(below: Float, ties: Int) { self.below = below; self.ties = ties }

    /// The rule that cuts exactly the `k` lowest of all `arrays` taken together (ties
    /// broken by position, first array first). One exact k-th value from radix selection;
    /// no sort, no copy.
    /// - Precondition: no NaN among the scores.
    /// - Complexity: O(n) time in three passes over the n scores; O(1) extra memory.
    public init(lowest k: Int, of arrays: [[Float]]) {
        let total = arrays.reduce(0) { $0 + $1.count }
        guard k > 0, total > 0 else { self = .none; return }
        let k = min(k, total)
        let pivot = withUnsafeBuffers(arrays) { kthSmallest(k - 1, in: $0) }
        var below = 0
        for a in arrays { below += a.withUnsafeBufferPointer { countBelow(pivot, in: $0) } }
        self.init(below: pivot, ties: k - below)
    }
}

extension Tensor {
    /// Zeroes this mask wherever `scores` is below `rule.below`, then at the first
    /// `ties` positions where it equals `rule.below` (vectorized).
    /// - Returns: the ties left over, for the next tensor that shares the rule.
    /// - Precondition: `scores.count == count`.
    /// - Complexity: O(n).
    public mutating func maskBelow(_ below: Float, ties: Int, scores: [Float]) -> Int {
        precondition(scores.count == count, "scores (\(scores.count)) and mask (\(count)) differ in size")
        return scores.withUnsafeBufferPointer { s in
            withUnsafeMutableBufferPointer { m in TensorCore.maskBelow(below, ties: ties, scores: s, mask: m) }
        }
    }
}
