import NeuralNetwork
import TensorCore

/// What compaction removed.
public struct CompactionResult {
    /// The new, smaller model (dense tensors; masks of the kept entries carried over).
    public var model: Graph
    /// Units before and after, per prunable group.
    public var groups: [GroupCut]
    /// BatchNorm layers folded into the convolution or dense layer before them.
    public var foldedBatchNorms: [String]
}

extension Structured {
    /// Returns a new model with every removable unit physically removed: a unit goes when
    /// every producer's row or filter and bias entry is exactly zero and every BatchNorm of
    /// its group has scale and shift zero there, so the channel is zero wherever it is read
    /// and the outputs do not change (up to float rounding: smaller GEMMs sum in another order). With `foldBatchNorm`, a BatchNorm that alone reads a
    /// convolution or dense layer is folded into it (w·γ/σ, (b − μ)·γ/σ + β): an
    /// inference model. The input model is left as it is.
    /// - Throws: `ModelError` if the smaller structure cannot be built (it should always fit).
    public static func compact(_ model: Graph, foldBatchNorm: Bool = true) throws -> CompactionResult {
        var keepOut: [String: [Int]] = [:]          // producers and BatchNorms: kept units
        var keepIn: [String: [Int]] = [:]           // consumers: kept input positions
        var heads: [String: Int] = [:]              // attention layers: heads kept
        var cuts: [GroupCut] = []
        for group in Dependencies.groups(model) where group.isPrunable {
            let removable = (0..<group.units).filter { isZero(unit: $0, of: group, in: model) }
            guard !removable.isEmpty else {
                cuts.append(GroupCut(group: group.name, units: group.units, kept: group.units))
                continue
            }
            var kept = (0..<group.units).filter { !removable.contains($0) }
            if kept.isEmpty { kept = [removable[0]] }   // never remove the last unit
            cuts.append(GroupCut(group: group.name, units: group.units, kept: kept.count))
            for m in group.members {
                switch m.role {
                case .producer, .normalization: keepOut[m.layer] = m.indices(of: kept, count: group.units)
                case .consumer: keepIn[m.layer] = m.indices(of: kept, count: group.units)
                case .attention: heads[m.layer] = kept.count
                }
            }
        }
        var spec = model.spec
        for i in spec.nodes.indices {
            let name = spec.nodes[i].name
            if let count = heads[name] { spec.nodes[i].layer.heads = count }
            if let out = keepOut[name] {
                switch spec.nodes[i].layer.kind {
                case .dense: spec.nodes[i].layer.outFeatures = out.count
                case .conv2d: spec.nodes[i].layer.outChannels = out.count
                case .batchNorm: spec.nodes[i].layer.features = out.count
                default: break
                }
            }
            if let input = keepIn[name] {
                if spec.nodes[i].layer.kind == .dense { spec.nodes[i].layer.inFeatures = input.count }
                if spec.nodes[i].layer.kind == .conv2d { spec.nodes[i].layer.inChannels = input.count }
            }
        }
        let small = try spec.makeGraph()
        for (path, p) in small.parameters {
            guard let old = model.parameter(at: path) else { continue }
            let layer = String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)])
            func slice(_ t: Tensor) -> Tensor {
                var t = t
                if let out = keepOut[layer] { t = gather(t, axis: 0, keep: out) }
                if let input = keepIn[layer], path.hasSuffix(".weight"), t.rank >= 2 { t = gather(t, axis: 1, keep: input) }
                return t
            }
            p.value = slice(old.value)
            p.mask = old.mask.map(slice)
        }
        for node in small.nodes {
            if let bn = node.module as? BatchNorm, let old = model.module(named: bn.name) as? BatchNorm { bn.batchesTracked = old.batchesTracked }
        }
        guard foldBatchNorm else { return CompactionResult(model: small, groups: cuts, foldedBatchNorms: []) }
        let (folded, names) = try fold(small)
        return CompactionResult(model: folded, groups: cuts, foldedBatchNorms: names)
    }

    /// Whether unit `j` of `group` is exactly zero at every producer and BatchNorm.
    static func isZero(unit j: Int, of group: DependencyGroup, in model: Graph) -> Bool {
        for m in group.members where m.role != .consumer {
            for name in ["weight", "bias"] {
                guard let p = model.parameter(at: "\(m.layer).\(name)") else { continue }
                let size = p.count / (group.units * m.stripes)
                for s in 0..<m.stripes {
                    let slice = s * group.units + j
                    for k in slice * size..<(slice + 1) * size where p.value[flat: k] != 0 { return false }
                }
            }
        }
        return true
    }

    /// The slices `keep` of `t` along axis 0 or 1.
    static func gather(_ t: Tensor, axis: Int, keep: [Int]) -> Tensor {
        let outer = axis == 0 ? 1 : t.shape[0]
        let along = t.shape[axis]
        let inner = t.count / max(outer * along, 1)
        var shape = t.shape
        shape[axis] = keep.count
        var out = [Float]()
        out.reserveCapacity(outer * keep.count * inner)
        for o in 0..<outer {
            for j in keep { out.append(contentsOf: t.slice(o * along + j, of: outer * along)) }
        }
        return Tensor(shape: shape, scalars: out)
    }

    /// Folds each BatchNorm whose input is a Conv2D or Dense layer read by nothing else.
    static func fold(_ model: Graph) throws -> (Graph, [String]) {
        var spec = model.spec
        var readers: [String: Int] = [:]
        for node in spec.nodes { for input in node.inputs { readers[input, default: 0] += 1 } }
        var folds: [(bn: String, into: String)] = []
        for node in spec.nodes where node.layer.kind == .batchNorm && node.inputs.count == 1 {
            let source = node.inputs[0]
            guard let producer = spec.nodes.first(where: { $0.name == source }),
                  producer.layer.kind == .conv2d || producer.layer.kind == .dense, readers[source] == 1 else { continue }
            folds.append((node.name, source))
        }
        guard !folds.isEmpty else { return (model, []) }
        let into = Dictionary(uniqueKeysWithValues: folds.map { ($0.bn, $0.into) })
        let bnOf = Dictionary(uniqueKeysWithValues: folds.map { ($0.into, $0.bn) })
        spec.nodes.removeAll { into[$0.name] != nil }
        for i in spec.nodes.indices {
            spec.nodes[i].inputs = spec.nodes[i].inputs.map { into[$0] ?? $0 }
            if bnOf[spec.nodes[i].name] != nil { spec.nodes[i].layer.bias = true }
        }
        let folded = try spec.makeGraph()
        for (path, p) in folded.parameters {
            let layer = String(path[..<(path.lastIndex(of: ".") ?? path.endIndex)])
            guard let bnName = bnOf[layer], let bn = model.module(named: bnName) as? BatchNorm else {
                if let old = model.parameter(at: path) { p.value = old.value; p.mask = old.mask }
                continue
            }
            let weight = model.parameter(at: "\(layer).weight")!
            let units = bn.features
            let factor = (0..<units).map { j in
                bn.scale.value[flat: j] / (bn.runningVariance.value[flat: j] + bn.epsilon).squareRoot()
            }
            if path.hasSuffix(".weight") {
                var v = weight.value
                v.scaleSlices(by: factor)
                p.value = v
                p.mask = weight.mask
            } else {
                let oldBias = model.parameter(at: "\(layer).bias")?.value
                p.value = Tensor(shape: [units], scalars: (0..<units).map { j in
                    ((oldBias?[flat: j] ?? 0) - bn.runningMean.value[flat: j]) * factor[j] + bn.shift.value[flat: j]
                })
            }
        }
        return (folded, folds.map(\.bn))
    }
}
