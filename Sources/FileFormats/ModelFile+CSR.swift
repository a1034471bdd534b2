import NeuralNetwork
import TensorCore

/// The CSR encoding of a sparse Dense weight: `<path>.csr_values` (F32 or F16),
/// `<path>.csr_columns` (U16 when the matrix is at most 65,536 wide, else U32) and
/// `<path>.csr_row_starts` (I32, rows + 1 offsets), its shape listed under `csrKey`. A
/// sparse layer is built straight from these arrays.
extension ModelFile.Encoding {
    /// With `Storage.sparse`: appends a pruned (masked) Dense weight as CSR when it keeps at
    /// most `csrMaximumDensity` of its entries and CSR is no larger than the packed form;
    /// returns whether it did. An unmasked weight stays dense, so that loading it back does
    /// not add a mask it never had.
    mutating func appendCSR(_ p: String, _ parameter: Parameter, of model: Graph, halfPrecision: Bool) -> Bool {
        guard let mask = parameter.mask, let (layer, name) = ModelFile.split(p), name == "weight",
              let module = model.module(named: layer), module is Dense || module is SparseDense else { return false }
        let kept = mask.nonZeroCount()
        let (rows, columns) = (parameter.value.shape[0], parameter.value.shape[1])
        let valueBytes = halfPrecision ? 2 : 4
        let csrBytes = kept * (valueBytes + (columns <= 65_536 ? 2 : 4)) + 4 * (rows + 1)
        let bitmaskBytes = (parameter.count + 7) / 8 + kept * valueBytes
        // Both forms load straight into a sparse layer: write the smaller one.
        guard Double(kept) <= ModelFile.csrMaximumDensity * Double(parameter.count), csrBytes <= bitmaskBytes else { return false }
        let matrix = (module as? SparseDense)?.weight ?? CSRMatrix(parameter.value, mask: mask)
        tensors.append(("\(p).csr_values", Tensor(shape: [matrix.values.count], scalars: matrix.values)))
        integers.append(("\(p).csr_columns", ModelFile.integerTensor(matrix.columnIndices)))
        integers.append(("\(p).csr_row_starts", Safetensors.IntegerTensor(
            dtype: "I32", shape: [matrix.rowStarts.count], bytes: ModelFile.littleEndianBytes(matrix.rowStarts))))
        csr[p] = parameter.value.shape
        return true
    }
}

extension ModelFile {
    /// The little-endian bytes of `values`.
    static func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    /// Column indices as a U16 or U32 tensor, as narrow as the matrix stores them.
    static func integerTensor(_ indices: CSRMatrix.ColumnIndices) -> Safetensors.IntegerTensor {
        switch indices {
        case let .narrow(c): return Safetensors.IntegerTensor(dtype: "U16", shape: [c.count], bytes: littleEndianBytes(c))
        case let .wide(c): return Safetensors.IntegerTensor(dtype: "U32", shape: [c.count], bytes: littleEndianBytes(c))
        }
    }

    /// The elements of an integer tensor read as `T` (little-endian).
    static func integers<T: FixedWidthInteger>(_ tensor: Safetensors.IntegerTensor, as _: T.Type) -> [T] {
        let size = MemoryLayout<T>.size
        return (0..<tensor.bytes.count / size).map { i in
            var v: T = 0
            for b in 0..<size { v |= T(tensor.bytes[i * size + b]) << (8 * b) }
            return v
        }
    }
}

extension ModelFile.StoredTensors {
    /// The CSR matrix of parameter `p` of `shape`, checked.
    /// - Throws: `FormatError` when an array is missing, of the wrong type or shape, holds
    ///   NaN or infinity, or the arrays are inconsistent.
    func csrMatrix(_ p: String, shape: [Int]) throws -> CSRMatrix {
        guard shape.count == 2 else { throw FormatError(path: path, .inconsistentArrays(tensor: p, problem: "CSR parameter '\(p)' must be a matrix, the architecture gives \(shape)")) }
        guard let values = floats["\(p).csr_values"], values.rank == 1 else {
            throw FormatError(path: path, .missingArray(encoding: "CSR", parameter: p, tensor: "\(p).csr_values", expected: "a 1-D float tensor '\(p).csr_values'"))
        }
        guard allFinite(values) else { throw FormatError(path: path, .nonFinite(tensor: "\(p).csr_values")) }
        guard let starts = contents.integer("\(p).csr_row_starts"), starts.dtype == "I32", starts.shape == [shape[0] + 1] else {
            throw FormatError(path: path, .missingArray(encoding: "CSR", parameter: p, tensor: "\(p).csr_row_starts",
                                                     expected: "an I32 tensor '\(p).csr_row_starts' of shape [\(shape[0] + 1)]"))
        }
        let columns: CSRMatrix.ColumnIndices
        switch contents.integer("\(p).csr_columns") {
        case let c? where c.dtype == "U16" && c.shape == values.shape: columns = .narrow(ModelFile.integers(c, as: UInt16.self))
        case let c? where c.dtype == "U32" && c.shape == values.shape: columns = .wide(ModelFile.integers(c, as: UInt32.self))
        default:
            throw FormatError(path: path, .missingArray(encoding: "CSR", parameter: p, tensor: "\(p).csr_columns",
                                                     expected: "a U16 or U32 tensor '\(p).csr_columns' of shape \(values.shape)"))
        }
        guard let matrix = CSRMatrix(rows: shape[0], columns: shape[1], rowStarts: ModelFile.integers(starts, as: Int32.self),
                                     columnIndices: columns, values: values.scalars) else {
            throw FormatError(path: path, .inconsistentArrays(tensor: p, problem: "CSR arrays of '\(p)' are inconsistent: row starts must rise from 0 to \(values.count) and every column must be below \(shape[1])"))
        }
        return matrix
    }
}
