/// Slices of a tensor: the `n` equal runs of its flat scalars, such as the rows of a
/// dense weight `[out, in]` or the filters of a convolution weight `[Cout, C, K, K]`
/// (slice `j` is entries `j·size ..< (j+1)·size`, `size = count / n`). Structured pruning,
/// group regularizers and compaction work slice by slice.
extension Tensor {
    /// Zeroes slices `j` (entries `j·size ..< (j+1)·size` of the flat scalars) wherever
    /// `cut[j]`: whole rows or filters of a mask.
    /// - Precondition: `cut.count · size == count`.
    public mutating func zeroSlices(where cut: [Bool]) {
        guard !cut.isEmpty else { return }
        precondition(count % cut.count == 0, "\(cut.count) slices do not divide a tensor of \(count) entries")
        let size = count / cut.count
        withUnsafeMutableBufferPointer { m in
            for j in cut.indices where cut[j] {
                for k in j * size..<(j + 1) * size { m[k] = 0 }
            }
        }
    }

    /// Whether every entry of slice `j` (see `zeroSlices`) is zero, for each of `slices` slices.
    /// - Precondition: `slices` divides `count`.
    public func zeroSlices(count slices: Int) -> [Bool] {
        precondition(slices > 0 && count % slices == 0, "\(slices) slices do not divide a tensor of \(count) entries")
        let size = count / slices
        return withUnsafeBufferPointer { b in
            (0..<slices).map { j in !b[(j * size)..<((j + 1) * size)].contains { $0 != 0 } }
        }
    }

    /// The mean of each of `slices` consecutive slices (see `zeroSlices`).
    /// - Precondition: `slices` divides `count`.
    public func sliceMeans(count slices: Int) -> [Float] {
        precondition(slices > 0 && count % slices == 0, "\(slices) slices do not divide a tensor of \(count) entries")
        let size = count / slices
        return withUnsafeBufferPointer { b in
            (0..<slices).map { j in
                var sum: Float = 0
                for k in j * size..<(j + 1) * size { sum += b[k] }
                return sum / Float(size)
            }
        }
    }

    /// The mean of each of `blocks` equal blocks of consecutive columns of a `[rows, columns]`
    /// tensor, over every row (a consumer's share of each unit it reads).
    /// - Precondition: rank 2; `blocks` divides the columns.
    public func columnBlockMeans(count blocks: Int) -> [Float] {
        precondition(rank == 2 && blocks > 0 && shape[1] % blocks == 0, "\(blocks) column blocks do not divide a tensor of shape \(shape)")
        let (rows, columns) = (shape[0], shape[1])
        let width = columns / blocks
        return withUnsafeBufferPointer { b in
            var sums = [Float](repeating: 0, count: blocks)
            for r in 0..<rows { for c in 0..<columns { sums[c / width] += b[r * columns + c] } }
            return sums.map { $0 / Float(rows * width) }
        }
    }

    /// The number of zero entries in each of `slices` consecutive slices of the flat scalars.
    /// - Precondition: `slices` divides `count`.
    public func zeroEntriesPerSlice(count slices: Int) -> [Int] {
        precondition(slices > 0 && count % slices == 0, "\(slices) slices do not divide a tensor of \(count) entries")
        let size = count / slices
        return withUnsafeBufferPointer { b in
            (0..<slices).map { j in
                var zeros = 0
                for k in j * size..<(j + 1) * size where b[k] == 0 { zeros += 1 }
                return zeros
            }
        }
    }

    /// The L2 norm of each of `slices` slices.
    /// - Precondition: `slices` divides `count`.
    public func sliceNorms(count slices: Int) -> [Float] {
        precondition(slices > 0 && count % slices == 0, "\(slices) slices do not divide a tensor of \(count) entries")
        let size = count / slices
        return withUnsafeBufferPointer { b in
            (0..<slices).map { j in
                var sum: Float = 0
                for k in j * size..<(j + 1) * size { sum += b[k] * b[k] }
                return sum.squareRoot()
            }
        }
    }

    /// Multiplies slice `j` by `factors[j]`, one slice per factor.
    /// - Precondition: `factors.count` divides `count`.
    public mutating func scaleSlices(by factors: [Float]) {
        guard !factors.isEmpty else { return }
        precondition(count % factors.count == 0, "\(factors.count) slices do not divide a tensor of \(count) entries")
        let size = count / factors.count
        withUnsafeMutableBufferPointer { b in
            for (j, f) in factors.enumerated() { for k in j * size..<(j + 1) * size { b[k] *= f } }
        }
    }

    /// The scalars of slice `j` of `slices` (a copy).
    /// - Precondition: `slices` divides `count` and `0 <= j < slices`.
    public func slice(_ j: Int, of slices: Int) -> ArraySlice<Float> {
        precondition(slices > 0 && count % slices == 0 && (0..<slices).contains(j), "slice \(j) of \(slices) does not fit \(count) entries")
        let size = count / slices
        return scalars[(j * size)..<((j + 1) * size)]
    }

    /// Soft-thresholds every entry in place: `sign(x)·max(|x| − t, 0)`, the proximal step of
    /// an L1 penalty (small entries become exactly zero, the rest shrink by `t`).
    public mutating func softThreshold(_ t: Float) {
        withUnsafeMutableBufferPointer { w in
            for i in w.indices {
                let shrunk = abs(w[i]) - t
                w[i] = shrunk > 0 ? (w[i] > 0 ? shrunk : -shrunk) : 0
            }
        }
    }
}
