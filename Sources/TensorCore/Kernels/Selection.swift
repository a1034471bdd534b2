/// Exact k-th value selection over one or many buffers without sorting or copying.
///
/// Floats are mapped to order-preserving 32-bit keys; a histogram of the top 16 bits
/// finds the bucket holding the k-th key, a second pass histograms the low 16 bits of
/// that bucket. Two passes, 512 KiB of counters, no copy of the data.

/// Maps a float to a `UInt32` whose unsigned order matches the float order
/// (−∞ … −0, +0 … +∞). NaNs land outside that range (above +∞ or below −∞, by sign):
/// callers reject NaN first.
@inlinable
public func orderedKey(_ x: Float) -> UInt32 {
    let bits = x.bitPattern
    return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
}

@inlinable
func floatFromOrderedKey(_ key: UInt32) -> Float {
    Float(bitPattern: key & 0x8000_0000 != 0 ? key & 0x7FFF_FFFF : ~key)
}

/// Returns the `k`-th smallest value (0-based: `k == 0` is the minimum) among all
/// scalars of `buffers`, as if they were concatenated and sorted.
///
/// - Precondition: `0 <= k < total count`.
/// - Complexity: O(n) time in two passes; O(1) extra memory (two 65,536-entry histograms).
package func kthSmallest(_ k: Int, in buffers: [UnsafeBufferPointer<Float>]) -> Float {
    floatFromOrderedKey(radixSelect(k, in: buffers) { orderedKey($0) })
}

/// The `k`-th smallest 32-bit key over all scalars of `buffers`, in two histogram passes
/// (top 16 bits, then the low 16 bits within the chosen bucket).
///
/// The first pass spreads its counts over four interleaved histograms: neighbouring
/// weights often share a bucket, and one counter would serialize on its own stores.
@inline(__always)
func radixSelect(_ k: Int, in buffers: [UnsafeBufferPointer<Float>], key: (Float) -> UInt32) -> UInt32 {
    let total = buffers.reduce(0) { $0 + $1.count }
    precondition(k >= 0 && k < total, "k = \(k) is outside 0..<\(total)")
    let buckets = 65_536
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4 * buckets)
    defer { counts.deallocate() }
    counts.initialize(repeating: 0, count: 4 * buckets)
    for b in buffers {
        let n = b.count, p = b.baseAddress!
        var i = 0
        while i + 4 <= n {
            counts[Int(key(p[i]) >> 16)] += 1
            counts[buckets + Int(key(p[i + 1]) >> 16)] += 1
            counts[2 * buckets + Int(key(p[i + 2]) >> 16)] += 1
            counts[3 * buckets + Int(key(p[i + 3]) >> 16)] += 1
            i += 4
        }
        while i < n { counts[Int(key(p[i]) >> 16)] += 1; i += 1 }
    }
    var remaining = k
    var high = 0
    while true {
        let c = counts[high] + counts[buckets + high] + counts[2 * buckets + high] + counts[3 * buckets + high]
        if remaining < c { break }
        remaining -= c
        high += 1
    }
    counts.update(repeating: 0, count: buckets)
    let target = UInt32(high)
    for b in buffers {
        for x in b {
            let k = key(x)
            if k >> 16 == target { counts[Int(k & 0xFFFF)] += 1 }
        }
    }
    var low = 0
    while remaining >= counts[low] { remaining -= counts[low]; low += 1 }
    return UInt32(high) << 16 | UInt32(low)
}

/// `kthSmallest` over one tensor.
public func kthSmallest(_ k: Int, in tensor: Tensor) -> Float {
    tensor.withUnsafeBufferPointer { kthSmallest(k, in: [$0]) }
}

/// The naive twin of `kthSmallest`: sort a copy and index it.
package func naiveKthSmallest(_ k: Int, in values: [Float]) -> Float {
    values.sorted()[k]
}

/// Returns the `k`-th smallest magnitude `|x|` (0-based) among all scalars of `buffers`,
/// reading the data in place: the radix keys are the bit patterns with the sign bit
/// cleared, so no absolute values are materialized.
///
/// - Precondition: `0 <= k < total count`; no NaN.
/// - Complexity: O(n) time in two passes; O(1) extra memory.
package func kthSmallestMagnitude(_ k: Int, in buffers: [UnsafeBufferPointer<Float>]) -> Float {
    Float(bitPattern: radixSelect(k, in: buffers) { $0.bitPattern & 0x7FFF_FFFF })
}

/// The number of scalars below `value` (vectorized).
/// - Complexity: O(n).
package func countBelow(_ value: Float, in buffer: UnsafeBufferPointer<Float>) -> Int {
    var lanes = SIMD8<Int32>.zero
    let n = buffer.count
    guard n > 0 else { return 0 }
    let base = UnsafeRawPointer(buffer.baseAddress!)
    let pivot = SIMD8<Float>(repeating: value)
    var i = 0
    while i + 8 <= n {
        lanes &-= unsafeBitCast(base.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) .< pivot, to: SIMD8<Int32>.self)
        i += 8
    }
    var count = Int(lanes.wrappedSum())
    while i < n { count += buffer[i] < value ? 1 : 0; i += 1 }
    return count
}

/// Zeroes `mask[i]` wherever `scores[i] < value` (vectorized), then the first `ties`
/// positions where `scores[i] == value`. Returns the ties left over (none matched).
/// - Complexity: O(n).
package func maskBelow(_ value: Float, ties: Int, scores: UnsafeBufferPointer<Float>,
                      mask: UnsafeMutableBufferPointer<Float>) -> Int {
    precondition(scores.count == mask.count, "scores and mask differ in size")
    for i in 0..<scores.count { mask[i] = scores[i] < value ? 0 : mask[i] }
    var left = ties
    var i = 0
    while left > 0 && i < scores.count {
        if scores[i] == value { mask[i] = 0; left -= 1 }
        i += 1
    }
    return left
}

/// Calls `body` with pointers to the scalars of every array (nested scopes, no copies),
/// for kernels that read many buffers at once such as `kthSmallest`.
package func withUnsafeBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func nest(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try nest(i + 1, acc + [$0]) }
    }
    return try nest(0, [])
}

/// `withUnsafeBuffers` over the scalars of tensors.
package func withUnsafeBuffers<R>(_ tensors: [Tensor], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    try withUnsafeBuffers(tensors.map(\.scalars), body)
}

// MARK: - Tensor-level forms

/// The `k`-th smallest value (0-based) among all scalars of `tensors`, as if they were
/// concatenated and sorted (`kthSmallest(_:in:)` over their buffers, no copy).
/// - Precondition: `0 <= k < total count`.
/// - Complexity: O(n) time in two passes; O(1) extra memory.
public func kthSmallest(_ k: Int, in tensors: [Tensor]) -> Float {
    withUnsafeBuffers(tensors) { kthSmallest(k, in: $0) }
}

/// The `k`-th smallest magnitude `|x|` (0-based) among all scalars of `tensors`, read in place.
/// - Precondition: `0 <= k < total count`; no NaN.
/// - Complexity: O(n) time in two passes; O(1) extra memory.
public func kthSmallestMagnitude(_ k: Int, in tensors: [Tensor]) -> Float {
    withUnsafeBuffers(tensors) { kthSmallestMagnitude(k, in: $0) }
}

/// The number of scalars of `tensor` below `value` (vectorized).
/// - Complexity: O(count).
public func countBelow(_ value: Float, in tensor: Tensor) -> Int {
    tensor.withUnsafeBufferPointer { countBelow(value, in: $0) }
}

/// Zeroes `mask` wherever `scores < value`, then at the first `ties` positions where
/// `scores == value`. Returns the ties left over (none matched).
/// - Precondition: `scores` and `mask` have the same shape.
/// - Complexity: O(count).
public func maskBelow(_ value: Float, ties: Int, scores: Tensor, mask: inout Tensor) -> Int {
    precondition(scores.shape == mask.shape, "scores \(scores.shape) and mask \(mask.shape) differ")
    return scores.withUnsafeBufferPointer { s in mask.withUnsafeMutableBufferPointer { maskBelow(value, ties: ties, scores: s, mask: $0) } }
}
