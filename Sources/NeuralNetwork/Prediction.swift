import RealModule
import TensorCore

/// What `Graph.predict` returns for each sample.
public enum PredictionOutput: String, NamedChoice, Sendable {
    /// The model's raw outputs (logits for a classifier).
    case logits
    /// The softmax of the outputs: class probabilities that sum to 1 per sample.
    case probabilities
}

extension Graph {
    /// Runs the model in inference mode over `inputs`, `batchSize` samples at a time.
    ///
    /// `inputs` is `[N] + inputShape`, or any `[N, …]` with as many values per sample as the
    /// model takes (`[N, 784]` for a `[1, 28, 28]` model, and back): it is reshaped.
    /// - Parameters:
    ///   - output: logits (default) or softmax probabilities.
    ///   - batchSize: samples per forward pass (memory, not results, depends on it).
    /// - Returns: `[N, outputs]` where `outputs` is the product of `outputShape`.
    /// - Throws: `ModelError.predictionInput` when the values per sample differ from the model's.
    /// - Complexity: one forward pass per batch.
    public func predict(_ inputs: Tensor, output: PredictionOutput = .logits, batchSize: Int = 256) throws -> Tensor {
        precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
        let size = inputShape.product
        guard inputs.rank >= 1, inputs.shape.dropFirst().reduce(1, *) == size else {
            throw ModelError.predictionInput(shape: inputs.shape, inputShape: inputShape)
        }
        let n = inputs.shape[0], width = outputShape.product
        var scores = [Float](); scores.reserveCapacity(n * width)
        var lo = 0
        while lo < n {
            let hi = min(lo + batchSize, n)
            let batch = Tensor(shape: [hi - lo] + inputShape, scalars: Array(inputs.scalars[(lo * size)..<(hi * size)]))
            scores.append(contentsOf: forward(batch, training: false).scalars)
            lo = hi
        }
        let result = Tensor(shape: [n, width], scalars: scores)
        return output == .probabilities ? softmaxRows(result) : result
    }
}

/// The softmax of each row of `[N, C]` scores, computed stably as `e^(z − max) / Σ e^(z − max)`.
/// - Complexity: O(N·C).
public func softmaxRows(_ scores: Tensor) -> Tensor {
    precondition(scores.rank == 2, "softmaxRows needs [N, C], got \(scores.shape)")
    let c = scores.shape[1]
    var out = scores.scalars
    guard c > 0 else { return scores }
    for start in stride(from: 0, to: out.count, by: c) {
        let row = start..<(start + c)
        let m = out[row].max()!
        var sum: Float = 0
        for j in row { out[j] = Float.exp(out[j] - m); sum += out[j] }
        for j in row { out[j] /= sum }
    }
    return Tensor(shape: scores.shape, scalars: out)
}

/// The `k` highest-scoring classes of each row of `[N, C]` scores, best first (ties: the
/// lower class first), with their scores.
/// - Precondition: `1 <= k`; rows shorter than `k` give all their classes.
/// - Complexity: O(N·C·log C).
public func topClasses(_ scores: Tensor, k: Int) -> [[(classIndex: Int, score: Float)]] {
    precondition(scores.rank == 2 && k >= 1, "topClasses needs [N, C] scores and k >= 1, got \(scores.shape), k \(k)")
    let c = scores.shape[1]
    return (0..<scores.shape[0]).map { i in
        let row = Array(scores.scalars[(i * c)..<((i + 1) * c)])
        let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
        return order.prefix(k).map { ($0, row[$0]) }
    }
}
