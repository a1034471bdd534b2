import Foundation
import NeuralNetwork
import TensorCore

/// Helpers shared by the test targets: Double references, random tensors, gradient checks.

/// A tensor of uniform values in `[low, high)` from a seeded generator.
public func randomTensor(_ shape: [Int], low: Float = -1, high: Float = 1, seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, using: &rng)
}

/// The mask that N:M pruning by magnitude leaves on `matrix` (`[rows, columns]`, `m` dividing
/// `columns`): the `n` largest entries of every `m` consecutive entries of a row kept.
public func nmMask(_ matrix: Tensor, n: Int, m: Int) -> Tensor {
    precondition(matrix.rank == 2 && matrix.shape[1] % m == 0, "nmMask: \(matrix.shape) has no whole groups of \(m)")
    var mask = Tensor.zeros(matrix.shape)
    for r in 0..<matrix.shape[0] {
        for g in stride(from: 0, to: matrix.shape[1], by: m) {
            for j in (g..<g + m).sorted(by: { abs(matrix[r, $0]) > abs(matrix[r, $1]) }).prefix(n) { mask[r, j] = 1 }
        }
    }
    return mask
}

/// `Σ aᵢ·bᵢ` in Double.
public func doubleDot(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape)
    var s = 0.0
    for i in 0..<a.count { s += Double(a.scalars[i]) * Double(b.scalars[i]) }
    return s
}

/// The largest `|a − b| / max(1, |b|)` over all elements.
public func maxRelativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) elements")
    var worst = 0.0
    for (x, y) in zip(a, b) { worst = max(worst, abs(Double(x) - Double(y)) / max(1, abs(Double(y)))) }
    return worst
}

/// The result of a gradient check: the worst error and where it was.
public struct GradientCheck: CustomStringConvertible {
    public var worstError: Double
    public var worstPlace: String
    public var checked: Int
    public var description: String { "worst error \(worstError) at \(worstPlace) over \(checked) entries" }
}

/// Compares a layer's analytic gradients with central finite differences.
///
/// The scalar objective is `L = Σ forward(x) · R` for a fixed random `R`, computed in
/// Double from the Float outputs. Checks the input gradient (unless
/// `checkInput` is false) and every trainable parameter's gradient, at up to
/// `maxEntries` entries of each tensor. Error = |analytic − numeric| / max(1, |numeric|).
public func checkLayerGradients(_ layer: Layer, input: Tensor, epsilon: Float = 1e-2,
                                maxEntries: Int = 64, checkInput: Bool = true, seed: UInt64 = 99) -> GradientCheck {
    let output = layer.forward(input, training: true)
    let r = randomTensor(output.shape, seed: seed)
    let dx = layer.backward(r)
    let objective: (Tensor) -> Double = { x in doubleDot(layer.forward(x, training: true), r) }
    var worst = 0.0, place = "", checked = 0
    func consider(_ analytic: Float, _ numeric: Double, _ where_: String) {
        let e = abs(Double(analytic) - numeric) / max(1, abs(numeric))
        checked += 1
        if e > worst { worst = e; place = where_ }
    }
    if checkInput {
        let stride = max(1, input.count / maxEntries)
        for i in Swift.stride(from: 0, to: input.count, by: stride) {
            var plus = input, minus = input
            plus.scalars[i] += epsilon; minus.scalars[i] -= epsilon
            let numeric = (objective(plus) - objective(minus)) / (2 * Double(epsilon))
            consider(dx.scalars[i], numeric, "input[\(i)]")
        }
    }
    for (name, p) in layer.namedParameters where p.isTrainable {
        let analytic = p.gradient
        let stride = max(1, p.count / maxEntries)
        for i in Swift.stride(from: 0, to: p.count, by: stride) {
            let saved = p.value.scalars[i]
            p.value.scalars[i] = saved + epsilon
            let up = objective(input)
            p.value.scalars[i] = saved - epsilon
            let down = objective(input)
            p.value.scalars[i] = saved
            consider(analytic.scalars[i], (up - down) / (2 * Double(epsilon)), "\(name)[\(i)]")
        }
    }
    return GradientCheck(worstError: worst, worstPlace: place, checked: checked)
}

/// Compares a whole graph's parameter and input gradients with central differences
/// (parameters only when `checkInput` is false, as for token ids).
public func checkGraphGradients(_ graph: Graph, input: Tensor, epsilon: Float = 1e-2,
                                maxEntries: Int = 16, checkInput: Bool = true, seed: UInt64 = 99) -> GradientCheck {
    let output = graph.forward(input, training: true)
    let r = randomTensor(output.shape, seed: seed)
    let dx = graph.backward(r, inputGradient: checkInput) ?? Tensor.zeros([0])
    let analytic = graph.trainableParameters.map { ($0.path, $0.parameter, $0.parameter.gradient) }
    let objective: () -> Double = { doubleDot(graph.forward(input, training: true), r) }
    var worst = 0.0, place = "", checked = 0
    let inputStride = max(1, input.count / maxEntries)
    for i in Swift.stride(from: 0, to: checkInput ? input.count : 0, by: inputStride) {
        var plus = input, minus = input
        plus.scalars[i] += epsilon; minus.scalars[i] -= epsilon
        let numeric = (doubleDot(graph.forward(plus, training: true), r) - doubleDot(graph.forward(minus, training: true), r)) / (2 * Double(epsilon))
        let e = abs(Double(dx.scalars[i]) - numeric) / max(1, abs(numeric))
        checked += 1
        if e > worst { worst = e; place = "input[\(i)]" }
    }
    for (path, p, g) in analytic {
        let stride = max(1, p.count / maxEntries)
        for i in Swift.stride(from: 0, to: p.count, by: stride) {
            let saved = p.value.scalars[i]
            p.value.scalars[i] = saved + epsilon
            let up = objective()
            p.value.scalars[i] = saved - epsilon
            let down = objective()
            p.value.scalars[i] = saved
            let numeric = (up - down) / (2 * Double(epsilon))
            let e = abs(Double(g.scalars[i]) - numeric) / max(1, abs(numeric))
            checked += 1
            if e > worst { worst = e; place = "\(path)[\(i)]" }
        }
    }
    return GradientCheck(worstError: worst, worstPlace: place, checked: checked)
}

/// The Fashion-MNIST folder the tests read (Debian's dataset-fashion-mnist).
public let fashionMNISTPath = "/usr/share/datasets/fashion-mnist"

/// The folder of committed reference outputs (`Tests/Reference`), written by the tools
/// under `tools/` from PyTorch, ONNX Runtime and NumPy.
public let referenceFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent()   // TestSupport
    url.deleteLastPathComponent()   // Tests
    return url.appendingPathComponent("Reference").path
}()

/// all-MiniLM-L6-v2 as `make models` unpacks it: `.cache/models/all-MiniLM-L6-v2` in the repository.
public let miniLMFolder = URL(fileURLWithPath: referenceFolder).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".cache/models/all-MiniLM-L6-v2").path

/// The token ids of the 64 reference sentences (`Tests/Reference/minilm/tokens.json`, with
/// [CLS] and [SEP], as sentence-transformers' tokenizer gave them); nil when the file does not parse.
public func miniLMReferenceTokens() -> [[Int32]]? {
    guard let data = FileManager.default.contents(atPath: "\(referenceFolder)/minilm/tokens.json"),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let sentences = object["sentences"] as? [[String: Any]] else { return nil }
    let ids = sentences.compactMap { ($0["input_ids"] as? [Int])?.map(Int32.init) }
    return ids.count == sentences.count ? ids : nil
}

/// Token ids padded with 0 to the longest, as a `[N, T]` float batch.
public func paddedTokenBatch(_ ids: [[Int32]]) -> Tensor {
    let t = ids.map(\.count).max() ?? 1
    var out = Tensor.zeros([ids.count, t])
    for (n, row) in ids.enumerated() { for (i, id) in row.enumerated() { out.scalars[n * t + i] = Float(id) } }
    return out
}
