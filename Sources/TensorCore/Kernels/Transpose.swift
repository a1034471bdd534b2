/// `destination[c · destinationStride + r] = source[r · sourceStride + c]` for
/// `r < rows`, `c < columns`: 8×8 blocks move through SIMD registers (eight row loads,
/// eight column stores), scalar copies at the edges.
package func transpose(_ source: UnsafePointer<Float>, rows: Int, columns: Int, sourceStride: Int,
                      into destination: UnsafeMutablePointer<Float>, destinationStride: Int) {
    let src = UnsafeRawPointer(source), dst = UnsafeMutableRawPointer(destination)
    let rows8 = rows & ~7, columns8 = columns & ~7
    var i = 0
    while i < rows8 {
        var j = 0
        while j < columns8 {
            @inline(__always) func row(_ k: Int) -> SIMD8<Float> {
                src.loadUnaligned(fromByteOffset: 4 * ((i + k) * sourceStride + j), as: SIMD8<Float>.self)
            }
            let (r0, r1, r2, r3, r4, r5, r6, r7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
            for c in 0..<8 {
                let column = SIMD8<Float>(r0[c], r1[c], r2[c], r3[c], r4[c], r5[c], r6[c], r7[c])
                dst.storeBytes(of: column, toByteOffset: 4 * ((j + c) * destinationStride + i), as: SIMD8<Float>.self)
            }
            j += 8
        }
        for c in columns8..<columns { for k in i..<i + 8 { destination[c * destinationStride + k] = source[k * sourceStride + c] } }
        i += 8
    }
    for k in rows8..<rows { for c in 0..<columns { destination[c * destinationStride + k] = source[k * sourceStride + c] } }
}

extension Tensor {
    /// The transpose of a matrix: `[rows, columns]` → `[columns, rows]`.
    /// - Precondition: rank 2.
    /// - Complexity: O(count).
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix, got \(shape)")
        let (rows, columns) = (shape[0], shape[1])
        return Tensor(shape: [columns, rows]) { out in
            withUnsafeBufferPointer { src in
                transpose(src.baseAddress!, rows: rows, columns: columns, sourceStride: columns,
                          into: out.baseAddress!, destinationStride: rows)
            }
        }
    }
}
