import TensorCore

/// Several batches run through a model one node at a time, in evaluation mode: every batch
/// through a node before any batch reaches the next. Between nodes the caller may read the
/// next node's inputs and change its parameters; the node, and every node after it, then
/// computes with the new values. Post-training pruners use this to cut each layer on the
/// outputs of the layers before it as already cut, in one pass over the data; two walks in
/// step (a model and its dense copy) give each layer its inputs both ways.
///
/// A node's outputs are kept for all batches until the last node reading them has run, so
/// the memory held is the widest set of live node outputs, times the number of batches.
public struct NodeWalk {
    /// The model walked.
    public let model: Graph
    /// The batches, each `[N] + inputShape` (sequence models: `[N, T']`, any `T'`).
    public let batches: [Tensor]
    /// The node that runs next (`model.nodes.count` when done).
    public private(set) var next = 0
    private var outputs: [[Tensor]?]
    private var remainingReaders: [Int]

    /// Starts a walk of `batches` through `model`.
    public init(_ model: Graph, batches: [Tensor]) {
        self.model = model; self.batches = batches
        outputs = [[Tensor]?](repeating: nil, count: model.nodes.count)
        remainingReaders = [Int](repeating: 0, count: model.nodes.count)
        for node in model.nodes { for j in node.inputs where j.index >= 0 { remainingReaders[j.index] += 1 } }
    }

    /// The inputs of the next node for every batch: `[batch][k]` is its `k`-th input.
    /// - Precondition: the walk is not done.
    public var inputs: [[Tensor]] {
        let node = model.nodes[next]
        return batches.indices.map { b in node.inputs.map { $0.index < 0 ? batches[b] : outputs[$0.index]![b] } }
    }

    /// Runs the next node on every batch.
    /// - Precondition: the walk is not done.
    public mutating func step() {
        let node = model.nodes[next], inputs = self.inputs
        if let layer = node.layer {
            outputs[next] = inputs.map { layer.forward($0[0], training: false) }
        } else if let merge = node.merge {
            outputs[next] = inputs.map { merge.forward($0, training: false) }
        } else {
            preconditionFailure("module '\(node.module.name)' is neither a Layer nor a MergeLayer")
        }
        for j in node.inputs where j.index >= 0 {
            remainingReaders[j.index] -= 1
            if remainingReaders[j.index] == 0 { outputs[j.index] = nil }   // free early
        }
        next += 1
    }

    /// The model's output for each batch, as `forward` gives it, once every node has run.
    public var results: [Tensor]? {
        next == model.nodes.count ? (model.nodes.isEmpty ? batches : outputs[next - 1]) : nil
    }
}

extension Graph {
    /// Runs `batches` through the model one node at a time (`NodeWalk`), calling `willRun`
    /// with each node's index and inputs (`[batch][k]`) before it runs; `willRun` may change
    /// the node's parameters.
    /// - Returns: the model's output for each batch, as `forward` gives it.
    /// - Throws: what `willRun` throws; the model's parameters keep whatever it had set.
    public func forwardNodeByNode(_ batches: [Tensor], willRun: (_ node: Int, _ inputs: [[Tensor]]) throws -> Void) rethrows -> [Tensor] {
        var walk = NodeWalk(self, batches: batches)
        while walk.next < nodes.count {
            try willRun(walk.next, walk.inputs)
            walk.step()
        }
        return walk.results!
    }
}
