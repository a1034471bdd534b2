import NeuralNetwork
import TensorCore

/// The packed encoding: a masked parameter as `<path>.bitmask` (U8, bit i = entry i kept,
/// least significant bit first, zero padding bits) and `<path>.values` (the kept entries in
/// order), its shape listed under `packedKey`. Written when smaller than dense.
extension ModelFile.Encoding {
    /// Appends `value` packed under `mask` when that is smaller than dense F32; returns
    /// whether it did.
    mutating func appendPacked(_ p: String, _ value: Tensor, mask: Tensor) -> Bool {
        let n = value.count
        guard (n + 7) / 8 + 4 * mask.nonZeroCount() < 4 * n else { return false }
        let flat = [1, n]
        let matrix = BitmaskMatrix(value.reshaped(flat), mask: mask.reshaped(flat))
        tensors.append(("\(p).values", Tensor(shape: [matrix.values.count], scalars: matrix.values)))
        integers.append(("\(p).bitmask", Safetensors.IntegerTensor(shape: [matrix.bits.count], bytes: matrix.bits)))
        packed[p] = value.shape
        return true
    }
}

extension ModelFile.StoredTensors {
    /// The bitmask form of packed parameter `p` of `shape` (as a `[1, n]` matrix when it is
    /// not rank 2), checked.
    /// - Throws: `FormatError` when the bitmask or the values are missing, of the wrong
    ///   type or size, set padding bits, or hold NaN or infinity.
    func packed(_ p: String, shape: [Int]) throws -> BitmaskMatrix {
        let n = shape.product
        guard let bitmask = contents.integer("\(p).bitmask"), bitmask.dtype == "U8", bitmask.shape == [(n + 7) / 8] else {
            throw FormatError(path: path, .missingArray(encoding: "packed", parameter: p, tensor: "\(p).bitmask",
                                                     expected: "a U8 tensor '\(p).bitmask' of shape [\((n + 7) / 8)]"))
        }
        let kept = bitmask.bytes.reduce(0) { $0 + $1.nonzeroBitCount }
        guard let values = floats["\(p).values"], values.shape == [kept] else {
            throw FormatError(path: path, .missingArray(encoding: "packed", parameter: p, tensor: "\(p).values",
                                                     expected: "an F32 tensor '\(p).values' of shape [\(kept)] (the bitmask keeps \(kept) entries)"))
        }
        if n % 8 != 0, bitmask.bytes[n / 8] >> UInt8(n % 8) != 0 {
            throw FormatError(path: path, .inconsistentArrays(tensor: "\(p).bitmask", problem: "'\(p).bitmask' sets bits past the \(n) entries of the parameter"))
        }
        guard allFinite(values) else { throw FormatError(path: path, .nonFinite(tensor: "\(p).values")) }
        let (rows, columns) = shape.count == 2 ? (shape[0], shape[1]) : (1, n)
        return BitmaskMatrix(rows: rows, columns: columns, bits: bitmask.bytes, values: values.scalars)!
    }

    /// The dense value and mask of packed parameter `p` of `shape`, checked.
    /// - Throws: `FormatError` as `packed(_:shape:)`.
    func unpacked(_ p: String, shape: [Int]) throws -> (value: Tensor, mask: Tensor) {
        let matrix = try packed(p, shape: shape)
        let value = matrix.dense().reshaped(shape)
        let mask = BitmaskMatrix(rows: matrix.rows, columns: matrix.columns, bits: matrix.bits,
                                 values: [Float](repeating: 1, count: matrix.values.count))!.dense().reshaped(shape)
        return (value, mask)
    }
}
