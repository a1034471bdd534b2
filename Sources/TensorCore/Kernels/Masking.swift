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

    /// The rule that cuts exactly the `k` lowest of all `tensors` taken together (ties
    /// broken by position, first tensor first). One exact k-th value from radix selection
    /// (`kthSmallest`); no sort, no copy.
    /// - Precondition: no NaN among the scores.
    /// - Complexity: O(n) time in three passes over the n scores; O(1) extra memory.
    public init(lowest k: Int, of tensors: [Tensor]) {
        let total = tensors.reduce(0) { $0 + $1.count }
        guard k > 0, total > 0 else { self = .none; return }
        let k = min(k, total)
        let pivot = kthSmallest(k - 1, in: tensors)
        self.init(below: pivot, ties: k - tensors.reduce(0) { $0 + countBelow(pivot, in: $1) })
    }
}

extension Tensor {
    /// Sets every entry whose mask entry is zero to `value` (a cut entry's score to −∞,
    /// so that it is cut first again).
    /// - Precondition: `mask` has this tensor's shape.
    /// - Complexity: O(count).
    public mutating func fill(_ value: Float, whereZeroIn mask: Tensor) {
        precondition(mask.shape == shape, "mask \(mask.shape) does not match \(shape)")
        mask.withUnsafeBufferPointer { m in
            withUnsafeMutableBufferPointer { x in
                for i in x.indices where m[i] == 0 { x[i] = value }
            }
        }
    }
}

/// Cuts the `round(fraction · width)` lowest scores of every row of `scores` (its first-axis
/// slices, `width` entries each) from `mask`: each row keeps the same number of entries, as
/// Wanda compares weights within an output row. Ties go by position, as `LowestSelection`.
/// - Precondition: `scores` and `mask` have the same shape, of rank ≥ 1; no NaN among the scores.
/// - Complexity: O(count).
public func cutLowestInEachRow(_ scores: Tensor, fraction: Double, mask: inout Tensor) {
    precondition(scores.shape == mask.shape && scores.rank >= 1, "scores \(scores.shape) and mask \(mask.shape) differ")
    let rows = scores.shape[0], width = rows == 0 ? 0 : scores.count / rows
    let k = min(Int((fraction * Double(width)).rounded()), width)
    guard k > 0 else { return }
    scores.withUnsafeBufferPointer { s in
        mask.withUnsafeMutableBufferPointer { m in
            for r in 0..<rows {
                let row = UnsafeBufferPointer(rebasing: s[(r * width)..<((r + 1) * width)])
                let pivot = kthSmallest(k - 1, in: [row])
                _ = maskBelow(pivot, ties: k - countBelow(pivot, in: row), scores: row,
                              mask: UnsafeMutableBufferPointer(rebasing: m[(r * width)..<((r + 1) * width)]))
            }
        }
    }
}
