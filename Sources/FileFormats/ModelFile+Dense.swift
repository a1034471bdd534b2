import Foundation
import NeuralNetwork
import TensorCore

/// The dense encoding, the state-dict form: a parameter as one tensor under its path, cut
/// entries exact zeros. Its mask is metadata, never a tensor: the path is listed in
/// `maskedKey`, and when the mask keeps some zero entries (so the zeros do not imply it)
/// the mask is also given under `bitmasksKey` as a base64 bitmask (bit i = entry i kept,
/// least significant bit first, zero padding bits). Files written before this form may
/// hold the mask as a `<path>.mask` tensor of 0/1 values instead; they still load.
extension ModelFile.Encoding {
    /// Appends `value` dense, its cut entries zeroed, with its `mask` listed (and given as
    /// a bitmask when the zeros do not imply it).
    mutating func appendDense(_ p: String, _ value: Tensor, mask: Tensor) {
        let kept = value * mask   // cut entries exactly zero (±0, as in memory), whatever the value held there
        tensors.append((p, kept))
        masked.append(p)
        let implied = zip(mask.scalars, kept.scalars).allSatisfy { ($0 != 0) == ($1 != 0) }
        if !implied {
            let flat = [1, value.count]
            bitmasks[p] = Data(BitmaskMatrix(kept.reshaped(flat), mask: mask.reshaped(flat)).bits).base64EncodedString()
        }
    }
}

extension ModelFile.StoredTensors {
    /// The dense value of parameter `p`, which the architecture gives `shape`, and its
    /// mask: from `bitmasksKey`, from a stored `<p>.mask` tensor (older files), implied by
    /// the zeros when `p` is listed as masked, or nil.
    /// - Throws: `FormatError` when the tensor is missing, of another shape, not finite,
    ///   its mask is given twice, or the mask is not 0/1 values (or bits) of its size.
    func dense(_ p: String, shape: [Int]) throws -> (value: Tensor, mask: Tensor?) {
        guard let value = floats[p] else { throw FormatError(path: path, .missingTensor(tensor: p)) }
        guard value.shape == shape else {
            throw FormatError(path: path, .wrongShape(tensor: p, found: value.shape, expected: shape))
        }
        guard allFinite(value) else { throw FormatError(path: path, .nonFinite(tensor: p)) }
        if let bits = bitmasks[p] {
            guard floats["\(p).mask"] == nil else { throw FormatError(path: path, .storedTwice(tensor: "\(p).mask", forms: "twice (a mask tensor and a bitmask in '\(ModelFile.bitmasksKey)')")) }
            return (value, try ModelFile.decodeMask(bits, of: p, value: value, path: path))
        }
        if let mask = floats["\(p).mask"] {
            guard mask.shape == value.shape, mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
                throw FormatError(path: path, .invalidMask(tensor: "\(p).mask", shape: value.shape))
            }
            return (value, mask)
        }
        return (value, masked.contains(p) ? value.map { $0 != 0 ? 1 : 0 } : nil)
    }
}

extension ModelFile {
    /// The mask of parameter `p` from its base64 bitmask in `bitmasksKey`, checked against
    /// `value`: the right number of bytes, no padding bits set, and every cut entry zero.
    /// - Throws: `FormatError` (`metadataMismatch` naming `p`) otherwise.
    static func decodeMask(_ base64: String, of p: String, value: Tensor, path: String) throws -> Tensor {
        let n = value.count, bytes = (n + 7) / 8
        // Base64 holds 3 bytes in 4 characters: refuse a wrong length before decoding.
        guard base64.utf8.count == (bytes + 2) / 3 * 4, let data = Data(base64Encoded: base64), data.count == bytes else {
            throw FormatError(path: path, .metadataMismatch(
                key: bitmasksKey, tensor: p, problem: "a mask that is not a base64 bitmask of \(bytes) bytes (\(n) entries)"))
        }
        let bits = [UInt8](data)
        guard let matrix = BitmaskMatrix(rows: 1, columns: n, bits: bits,
                                         values: [Float](repeating: 1, count: bits.reduce(0) { $0 + $1.nonzeroBitCount })) else {
            throw FormatError(path: path, .metadataMismatch(key: bitmasksKey, tensor: p, problem: "a bitmask that sets bits past its \(n) entries"))
        }
        let mask = matrix.dense().reshaped(value.shape)
        let cutButNonZero = zip(mask.scalars, value.scalars).filter { $0 == 0 && $1 != 0 }.count
        guard cutButNonZero == 0 else {
            throw FormatError(path: path, .metadataMismatch(
                key: bitmasksKey, tensor: p,
                problem: "a mask that cuts \(cutButNonZero) non-zero entries (the weights changed after pruning?); remove the entry to take the mask from the zeros"))
        }
        return mask
    }
}
