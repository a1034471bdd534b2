/// Exact k-th value selection over one or many buffers without sorting or copying.
///
/// Floats are mapped to order-preserving 32-bit keys; a histogram of the top 16 bits
/// finds the bucket holding the k-th key, a second pass histograms the low 16 bits of
/// that bucket. Two passes, 512 KiB of counters, no copy of the data.

/// Maps a float to a `UInt32` whose unsigned order matches the float order
/// (−∞ … −0, +0 … +∞). NaN sorts above +∞.
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
public func kthSmallest(_ k: Int, in buffers: [UnsafeBufferPointer<Float>]) -> Float {
    let total = buffers.reduce(0) { $0 + $1.count }
    precondition(k >= 0 && k < total, "k = \(k) is outside 0..<\(total)")
    var histogram = [Int](repeating: 0, count: 65_536)
    histogram.withUnsafeMutableBufferPointer { h in
        for b in buffers { for x in b { h[Int(orderedKey(x) >> 16)] += 1 } }
    }
    var remaining = k
    var high = 0
    while remaining >= histogram[high] { remaining -= histogram[high]; high += 1 }
    histogram.withUnsafeMutableBufferPointer { h in
        for i in 0..<h.count { h[i] = 0 }
        let target = UInt32(high)
        for b in buffers {
            for x in b {
                let key = orderedKey(x)
                if key >> 16 == target { h[Int(key & 0xFFFF)] += 1 }
            }
        }
    }
    var low = 0
    while remaining >= histogram[low] { remaining -= histogram[low]; low += 1 }
    return floatFromOrderedKey(UInt32(high) << 16 | UInt32(low))
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
public func kthSmallestMagnitude(_ k: Int, in buffers: [UnsafeBufferPointer<Float>]) -> Float {
    let total = buffers.reduce(0) { $0 + $1.count }
    precondition(k >= 0 && k < total, "k = \(k) is outside 0..<\(total)")
    var histogram = [Int](repeating: 0, count: 65_536)
    histogram.withUnsafeMutableBufferPointer { h in
        for b in buffers {
            b.withMemoryRebound(to: UInt32.self) { bits in
                for x in bits { h[Int((x & 0x7FFF_FFFF) >> 16)] += 1 }
            }
        }
    }
    var remaining = k
    var high = 0
    while remaining >= histogram[high] { remaining -= histogram[high]; high += 1 }
    histogram.withUnsafeMutableBufferPointer { h in
        for i in 0..<h.count { h[i] = 0 }
        let target = UInt32(high)
        for b in buffers {
            b.withMemoryRebound(to: UInt32.self) { bits in
                for x in bits where (x & 0x7FFF_FFFF) >> 16 == target { h[Int(x & 0xFFFF)] += 1 }
            }
        }
    }
    var low = 0
    while remaining >= histogram[low] { remaining -= histogram[low]; low += 1 }
    return Float(bitPattern: UInt32(high) << 16 | UInt32(low))
}
