/// The N:M product: `NMMatrix` times a dense vector.

extension NMMatrix {
    /// `A·x` for a vector `x` of `columns` entries (any shape holding that many): a `[rows]` tensor.
    /// - Precondition: `x.count == columns`.
    /// - Complexity: O(rows · groups · n).
    public func multiply(vector x: Tensor) -> Tensor {
        precondition(x.count == columns, "N:M product: x has \(x.count) entries, the matrix is \(rows)×\(columns)")
        return Tensor(shape: [rows]) { y in
            x.withUnsafeBufferPointer { multiply(vector: $0.baseAddress!, into: y.baseAddress!) }
        }
    }

    /// `y = A·x` for a vector `x` of `columns` entries: `rows` entries. Each row runs over its
    /// `groups · n` slots, reading `x` at `group·m + position` (no row offsets to load).
    func multiply(vector x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let groups = self.groups, (n, m) = (self.n, self.m)
        values.withUnsafeBufferPointer { v in
            positions.withUnsafeBufferPointer { pos in
                for r in 0..<rows {
                    var sum: Float = 0
                    var i = r * groups * n
                    for g in 0..<groups {
                        let base = g * m
                        for _ in 0..<n {
                            sum += v[i] * x[base + Int(pos[i >> 1] >> UInt8((i & 1) << 2) & 0xF)]
                            i += 1
                        }
                    }
                    y[r] = sum
                }
            }
        }
    }
}
