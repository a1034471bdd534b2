extension Graph {
    /// An independent copy: the same structure, values, masks and BatchNorm counts, sharing
    /// no state with this graph (tensors are copy-on-write values).
    /// - Throws: `ModelError` when a layer's spec cannot rebuild it (every built-in and
    ///   imported layer can).
    public func copy() throws -> Graph {
        let graph = try spec.makeGraph()
        for ((_, from), (_, to)) in zip(parameters, graph.parameters) { to.restore(value: from.value, mask: from.mask) }
        for (from, to) in zip(nodes, graph.nodes) {
            if let a = from.module as? BatchNorm, let b = to.module as? BatchNorm { b.batchesTracked = a.batchesTracked }
        }
        return graph
    }
}
