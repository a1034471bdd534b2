import Foundation
import NeuralNetwork
import TensorCore

/// The N:M encoding of a Dense weight pruned N:M (2:4, 4:8, …): `<path>.nm_values` (F32 or
/// F16, `n` values per group of `m` inputs, zero-padded where a group keeps fewer) and
/// `<path>.nm_positions` (U8, each value's position within its group, 4 bits, the first in the
/// low nibble), with the shape and pattern under `nmKey`. A sparse load builds `NMDense`
/// straight from these arrays; a plain load gives the dense weight masked to its non-zeros.
extension ModelFile {
    /// One N:M parameter's shape and pattern, as `nmKey` lists it.
    struct NMEntry: Codable, Equatable {
        var shape: [Int], n: Int, m: Int
    }

    /// The `nmKey` object of a file (empty when absent).
    /// - Throws: `FormatError` when it is not an object of shapes and patterns.
    static func nmEntries(in contents: Safetensors.Contents, path: String) throws -> [String: NMEntry] {
        guard let object = contents.metadata[nmKey] else { return [:] }
        guard let entries = try? JSONDecoder().decode([String: NMEntry].self, from: Data(object.utf8)) else {
            throw FormatError(path: path, .invalidMetadata(key: nmKey, expected: "an object of parameter paths and {\"shape\": [rows, columns], \"n\": N, \"m\": M}", detail: nil))
        }
        return entries
    }
}

extension ModelFile.Encoding {
    /// With `Storage.sparse`: appends a masked Dense weight whose mask follows an N:M pattern
    /// that the N:M layer runs (`Graph.nmPattern`, `NMPanels.supports`) in the N:M form;
    /// returns whether it did.
    mutating func appendNM(_ p: String, _ parameter: Parameter, of model: Graph) -> Bool {
        guard let mask = parameter.mask, let (layer, name) = ModelFile.split(p), name == "weight",
              let module = model.module(named: layer) else { return false }
        let matrix: NMMatrix
        if let nm = module as? NMDense {
            matrix = nm.weight
        } else if let dense = module as? Dense, let (n, m) = Graph.nmPattern(of: dense),
                  NMPanels.supports(n: n, m: m, columns: dense.inFeatures), let form = NMMatrix(parameter.value, mask: mask, n: n, m: m) {
            matrix = form
        } else {
            return false
        }
        tensors.append(("\(p).nm_values", Tensor(shape: [matrix.values.count], scalars: matrix.values)))
        integers.append(("\(p).nm_positions", Safetensors.IntegerTensor(shape: [matrix.positions.count], bytes: matrix.positions)))
        nm[p] = ModelFile.NMEntry(shape: [matrix.rows, matrix.columns], n: matrix.n, m: matrix.m)
        return true
    }
}

extension ModelFile.StoredTensors {
    /// The N:M matrix of parameter `p`, checked.
    /// - Throws: `FormatError` when an array is missing, of the wrong type or size, holds NaN
    ///   or infinity, or the positions do not fit the pattern.
    func nmMatrix(_ p: String, _ entry: ModelFile.NMEntry) throws -> NMMatrix {
        guard entry.shape.count == 2, entry.shape.allSatisfy({ $0 >= 1 }), 1 <= entry.n, entry.n <= entry.m, entry.m <= 16 else {
            throw FormatError(path: path, .metadataMismatch(key: ModelFile.nmKey, tensor: p, problem: "shape \(entry.shape) and pattern \(entry.n):\(entry.m); an N:M matrix needs 2 positive dimensions and 1 ≤ N ≤ M ≤ 16"))
        }
        let (rows, columns) = (entry.shape[0], entry.shape[1])
        let count = rows * ((columns + entry.m - 1) / entry.m) * entry.n
        guard let values = floats["\(p).nm_values"], values.shape == [count] else {
            throw FormatError(path: path, .missingArray(encoding: "N:M", parameter: p, tensor: "\(p).nm_values",
                                                     expected: "a float tensor '\(p).nm_values' of shape [\(count)]"))
        }
        guard allFinite(values) else { throw FormatError(path: path, .nonFinite(tensor: "\(p).nm_values")) }
        guard let positions = contents.integer("\(p).nm_positions"), positions.dtype == "U8", positions.shape == [(count + 1) / 2] else {
            throw FormatError(path: path, .missingArray(encoding: "N:M", parameter: p, tensor: "\(p).nm_positions",
                                                     expected: "a U8 tensor '\(p).nm_positions' of shape [\((count + 1) / 2)]"))
        }
        guard let matrix = NMMatrix(rows: rows, columns: columns, n: entry.n, m: entry.m, values: values.scalars, positions: positions.bytes) else {
            throw FormatError(path: path, .inconsistentArrays(tensor: "\(p).nm_positions", problem: "'\(p).nm_positions' holds a position outside its group of \(entry.m), two kept values at one position, or set padding bits"))
        }
        return matrix
    }
}
