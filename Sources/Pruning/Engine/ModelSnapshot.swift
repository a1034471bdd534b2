import NeuralNetwork
import TensorCore

/// Everything of a model that training changes: parameter values and masks, dropout
/// generators and BatchNorm's batch counters, and what a criterion accumulating during
/// training (movement) has summed. A search cuts and fine-tunes copies in place and puts
/// this back before the next probe, so the run goes on exactly as if no probe had run (a
/// run of the fixed plan gives the same bytes).
struct ModelSnapshot {
    let parameters: [(value: Tensor, mask: Tensor?)]
    let dropout: [(Dropout, SeededGenerator)]
    let batchNorms: [(BatchNorm, Int)]
    let criterion: (TrainingCriterion, [String: Tensor])?

    init(_ model: Graph, criterion: Criterion? = nil) {
        parameters = model.parameters.map { ($0.parameter.value, $0.parameter.mask) }
        dropout = model.nodes.compactMap { ($0.module as? Dropout).map { ($0, $0.generator) } }
        batchNorms = model.nodes.compactMap { ($0.module as? BatchNorm).map { ($0, $0.batchesTracked) } }
        self.criterion = (criterion as? TrainingCriterion).map { ($0, $0.accumulated) }
    }

    /// Puts the model back as it was taken (the model it was taken from).
    func restore(_ model: Graph) {
        for ((_, p), (value, mask)) in zip(model.parameters, parameters) { p.restore(value: value, mask: mask) }
        for (d, g) in dropout { d.generator = g }
        for (b, count) in batchNorms { b.batchesTracked = count }
        if let (c, sums) = criterion { try? c.restore(accumulated: sums) }   // its own state always fits
    }
}
