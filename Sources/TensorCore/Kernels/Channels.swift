/// Axis-1 (channel) kernels: concatenation of `[N, Cᵢ, …]` tensors and slices of one, the
/// forward and backward of a channel `Concat` and of grouped convolutions.

/// Concatenates `parts` (each `[N, Cᵢ, d…]` with the same `N` and `d…`) along axis 1:
/// `[N, ΣCᵢ, d…]`.
/// - Precondition: every part has rank ≥ 2 and the same shape except on axis 1.
/// - Complexity: O(total count).
public func concatenateChannels(_ parts: [Tensor]) -> Tensor {
    precondition(!parts.isEmpty, "concatenateChannels: no tensors")
    let first = parts[0].shape
    precondition(first.count >= 2, "concatenateChannels: \(first) has no channel axis")
    let inner = first.dropFirst(2).reduce(1, *)
    for p in parts {
        precondition(p.rank == first.count && p.shape[0] == first[0] && p.shape.dropFirst(2).elementsEqual(first.dropFirst(2)),
                     "concatenateChannels: \(p.shape) does not fit \(first) outside axis 1")
    }
    let n = first[0], total = parts.reduce(0) { $0 + $1.shape[1] }
    var shape = first
    shape[1] = total
    return Tensor(shape: shape) { out in
        var start = 0
        for p in parts {
            let c = p.shape[1], run = c * inner
            p.withUnsafeBufferPointer { src in
                for i in 0..<n {
                    let dst = out.baseAddress! + (i * total + start) * inner
                    dst.update(from: src.baseAddress! + i * run, count: run)
                }
            }
            start += c
        }
    }
}

/// Channels `range` of `x` (`[N, C, d…]`): `[N, range.count, d…]`.
/// - Precondition: `range` lies inside `0..<C`.
/// - Complexity: O(N·range.count·∏d).
public func channels(_ x: Tensor, _ range: Range<Int>) -> Tensor {
    precondition(x.rank >= 2 && range.lowerBound >= 0 && range.upperBound <= x.shape[1],
                 "channels: \(range) is outside the \(x.shape.count >= 2 ? x.shape[1] : 0) channels of \(x.shape)")
    let n = x.shape[0], c = x.shape[1], inner = x.shape.dropFirst(2).reduce(1, *)
    var shape = x.shape
    shape[1] = range.count
    let run = range.count * inner
    return Tensor(shape: shape) { out in
        x.withUnsafeBufferPointer { src in
            for i in 0..<n {
                (out.baseAddress! + i * run).update(from: src.baseAddress! + (i * c + range.lowerBound) * inner, count: run)
            }
        }
    }
}
