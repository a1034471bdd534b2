import NeuralNetwork
import TensorCore

/// The dense encoding: a parameter as one F32 tensor under its path. A mask equal to "the
/// non-zero entries" is implied by the zeros and the path listed in `maskedKey`; any other
/// mask is stored beside it as `<path>.mask` (0/1 values of the same shape).
extension ModelFile.Encoding {
    /// Appends `value` dense with its `mask` (implied by the zeros where it can be).
    mutating func appendDense(_ p: String, _ value: Tensor, mask: Tensor) {
        tensors.append((p, value))
        masked.append(p)
        let implied = zip(mask.scalars, value.scalars).allSatisfy { ($0 != 0) == ($1 != 0) }
        if !implied { tensors.append(("\(p).mask", mask)) }
    }
}

extension ModelFile.StoredTensors {
    /// The dense value of parameter `p`, which the architecture gives `shape`, and its
    /// mask: the stored `<p>.mask`, the one implied by the zeros when `p` is listed as
    /// masked, or nil.
    /// - Throws: `FormatError` when the tensor is missing, of another shape, not finite,
    ///   or its mask is not 0/1 values of the same shape.
    func dense(_ p: String, shape: [Int]) throws -> (value: Tensor, mask: Tensor?) {
        guard let value = floats[p] else { throw FormatError(path: path, .missingTensor(tensor: p)) }
        guard value.shape == shape else {
            throw FormatError(path: path, .wrongShape(tensor: p, found: value.shape, expected: shape))
        }
        guard allFinite(value) else { throw FormatError(path: path, .nonFinite(tensor: p)) }
        if let mask = floats["\(p).mask"] {
            guard mask.shape == value.shape, mask.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
                throw FormatError(path: path, .invalidMask(tensor: "\(p).mask", shape: value.shape))
            }
            return (value, mask)
        }
        return (value, masked.contains(p) ? value.map { $0 != 0 ? 1 : 0 } : nil)
    }
}
