import NeuralNetwork
import TensorCore

/// How one layer takes part in a dependency group: removing unit j of the group removes
/// a slice of this layer's parameters.
public struct GroupMember: Equatable, Sendable, CustomStringConvertible {
    /// The kind of slice.
    public enum Role: String, Sendable {
        /// Produces the channel: row j of a Dense weight (and bias j), filter j of a Conv2D.
        case producer
        /// Reads the channel: columns `j·block ..< (j+1)·block` of a Dense weight, input
        /// channel j of a Conv2D weight.
        case consumer
        /// Normalizes the channel: entry j of a BatchNorm's scale, shift and statistics.
        case normalization
        /// Splits the channel into attention heads: unit j is head j of a `SelfAttention`,
        /// `block` features wide. It has no parameters; cutting heads lowers its head count.
        case attention
    }
    /// The layer's name.
    public var layer: String
    /// How it is sliced.
    public var role: Role
    /// Entries per unit along the sliced axis: for a Dense consumer or a BatchNorm after a
    /// Flatten of feature maps, H·W; for every member of an attention-head group, the head's
    /// width (a producer's rows, a consumer's columns); 1 otherwise.
    public var block: Int
    /// The equal parts a producer's rows fall into, unit j taking its block in each: 3 for a
    /// fused QKV projection (GPT-2), whose rows are Q's, then K's, then V's. 1 otherwise.
    public var stripes: Int = 1

    /// The indices along the sliced axis that `units` cover, part by part, each unit's block.
    /// - Parameters:
    ///   - units: unit indices of the group, in the order wanted.
    ///   - count: the group's number of units (the length of one part, in blocks).
    /// - Returns: `stripes · units.count · block` indices: rows of a producer, columns of a consumer.
    public func indices(of units: [Int], count: Int) -> [Int] {
        var result: [Int] = []
        for part in 0..<stripes {
            for j in units {
                let first: Int = (part * count + j) * block
                result += first..<(first + block)
            }
        }
        return result
    }

    public var description: String {
        let fused = stripes > 1 ? ", \(stripes) parts" : ""
        return role != .normalization && block > 1 ? "\(layer) (\(role), ×\(block)\(fused))" : "\(layer) (\(role))"
    }
}

/// A set of channels that must be removed together: unit j of every member goes, or none.
///
/// Layers joined by an elementwise merge (a residual `Add`) share one group. A group that
/// touches the model's input or output, or a layer the analysis does not understand, is
/// unprunable and says why.
public struct DependencyGroup: Sendable, CustomStringConvertible {
    /// The number of units (channels, neurons).
    public var units: Int
    /// Every layer the group touches.
    public var members: [GroupMember]
    /// Why the group cannot be pruned, or nil.
    public var unprunableReason: String?
    /// The ReLU and GELU layers whose output carries the group's channels (for activation criteria: entropy, mutual information, APoZ on ReLUs).
    public var activations: [String] = []

    /// The layers producing the channels.
    public var producers: [GroupMember] { members.filter { $0.role == .producer } }
    /// Whether units may be removed.
    public var isPrunable: Bool { unprunableReason == nil && !producers.isEmpty }
    /// Whether the units are attention heads (the group has an `.attention` member).
    public var isHeads: Bool { members.contains { $0.role == .attention } }
    /// The producers' names joined with `+` (`conv1+block1_conv2`).
    public var name: String { producers.map(\.layer).joined(separator: "+") }

    public var description: String {
        "\(name): \(units) units; " + members.map(\.description).joined(separator: ", ")
            + (unprunableReason.map { "; unprunable: \($0)" } ?? "")
    }
}

/// Finds the dependency groups of a model's graph.
public enum Dependencies {
    /// The groups with at least one producer, in the order of their first producer.
    ///
    /// Channels are followed through layers that act on each channel alone (ReLU,
    /// LeakyReLU, Tanh, Dropout, pooling, BatchNorm), through `Flatten` (unit j becomes a
    /// block of H·W features) and `GlobalAvgPool`; an `Add` merges its inputs' groups.
    /// `Sigmoid` maps a removed channel's zeros to 0.5, so its group is unprunable; so is
    /// every group around a layer kind the analysis does not know.
    ///
    /// A `SelfAttention` fed by three `Dense` projections (Q, K, V) that nothing else reads
    /// turns their neurons into heads: unit j of the group is head j, the rows
    /// `j·dₕ ..< (j+1)·dₕ` of Q, K and V, and the same columns of the layer that reads the
    /// attention (the output projection). A fused QKV projection (GPT-2) is split the same way
    /// in each of its three parts (`GroupMember.stripes`).
    public static func groups(_ model: Graph) -> [DependencyGroup] {
        var readers = [Int](repeating: 0, count: model.nodes.count)
        for node in model.nodes { for input in node.inputs where input.index >= 0 { readers[input.index] += 1 } }
        var spaces = Spaces()
        let inputSpace = spaces.make(units: model.inputShape.first ?? 1)
        spaces.block(inputSpace, "it carries the model's input")
        var outputs: [(space: Int, block: Int)] = []
        func source(_ id: Graph.NodeID) -> (space: Int, block: Int) {
            id.index < 0 ? (inputSpace, 1)
                : outputs[id.index]
        }
        for (i, node) in model.nodes.enumerated() {
            let name = node.module.name
            let ins = node.inputs.map(source)
            let shapes = model.inputShapes(ofNode: i)
            var out: (space: Int, block: Int)
            switch node.module {
            case let dense as Dense:
                spaces.add(GroupMember(layer: name, role: .consumer, block: ins[0].block), to: ins[0].space)
                out = (spaces.make(units: dense.outFeatures), 1)
                spaces.add(GroupMember(layer: name, role: .producer, block: 1), to: out.space)
            case let conv as Conv2D where conv.groups > 1:
                let reason = "layer '\(name)' is a grouped convolution (\(conv.groups) groups), which structured pruning does not split yet"
                spaces.block(ins[0].space, reason)
                out = (spaces.make(units: conv.outChannels), 1)
                spaces.block(out.space, reason)
            case let conv as Conv2D:
                spaces.add(GroupMember(layer: name, role: .consumer, block: 1), to: ins[0].space)
                out = (spaces.make(units: conv.outChannels), 1)
                spaces.add(GroupMember(layer: name, role: .producer, block: 1), to: out.space)
            case let attention as SelfAttention:
                out = spaces.heads(of: attention, inputs: node.inputs, spaces: ins, shapes: shapes, model: model, readers: readers)
            case is BatchNorm:
                spaces.add(GroupMember(layer: name, role: .normalization, block: ins[0].block), to: ins[0].space)
                out = ins[0]
            case is ReLU, is GELU:
                spaces.addActivation(name, to: ins[0].space)
                out = ins[0]
            case is LeakyReLU, is Tanh, is Dropout, is MaxPool2D, is AvgPool2D:
                out = ins[0]
            case is Sigmoid:
                spaces.block(ins[0].space, "layer '\(name)' (sigmoid) maps a removed channel's zeros to 0.5")
                out = ins[0]
            case is GlobalAvgPool:
                out = (ins[0].space, 1)
            case is Flatten:
                let shape = shapes[0]
                out = (ins[0].space, ins[0].block * (shape.count == 3 ? shape[1] * shape[2] : 1))
            case is Add:
                var merged = ins[0].space
                for other in ins.dropFirst() { merged = spaces.union(merged, other.space) }
                if Set(ins.map(\.block)).count > 1 {
                    spaces.block(merged, "layer '\(name)' adds inputs whose units span different sizes")
                }
                out = (merged, ins[0].block)
            default:
                let reason = "layer '\(name)' (\(node.module.spec.kind.rawValue)) is not understood by the dependency analysis"
                for input in ins { spaces.block(input.space, reason) }
                out = (spaces.make(units: model.shapes[i].first ?? 1), 1)
                spaces.block(out.space, reason)
            }
            outputs.append(out)
        }
        if let last = outputs.last { spaces.block(last.space, "it carries the model's outputs") }
        return spaces.groups()
    }
}

extension Spaces {
    /// The head space of a `SelfAttention` node: its Q, K and V projections' neurons regrouped
    /// by head, or a blocked space when the projections cannot be split by head.
    mutating func heads(of attention: SelfAttention, inputs: [Graph.NodeID], spaces ins: [(space: Int, block: Int)],
                        shapes: [[Int]], model: Graph, readers: [Int]) -> (space: Int, block: Int) {
        let name = attention.name
        let projections = inputs.count <= 2 ? 1 : 3
        let width = projections == 1 ? shapes[0][1] / 3 : shapes[0][1]
        let headWidth = width / max(attention.heads, 1)
        var reason: String?
        var layers: [String] = []
        for (input, source) in zip(inputs.prefix(projections), ins) where reason == nil {
            let node = input.index >= 0 ? model.nodes[input.index] : nil
            guard let node, node.module is Dense, readers[input.index] == 1, source.block == 1,
                  members[find(source.space)].count == 1, !layers.contains(node.module.name) else {
                reason = "layer '\(name)' reads a Q, K or V that is not a Dense projection read by it alone"
                continue
            }
            layers.append(node.module.name)
        }
        if let reason {
            for source in ins.prefix(projections) { block(source.space, reason) }
            let out = make(units: width)
            block(out, reason)
            return (out, 1)
        }
        let heads = make(units: attention.heads)
        for (layer, source) in zip(layers, ins) {
            members[find(source.space)].removeAll()   // the neurons now belong to the heads
            add(GroupMember(layer: layer, role: .producer, block: headWidth, stripes: projections == 1 ? 3 : 1), to: heads)
        }
        add(GroupMember(layer: name, role: .attention, block: headWidth), to: heads)
        return (heads, headWidth)
    }
}

/// Union-find over channel spaces, each collecting its members and a reason to keep it whole.
private struct Spaces {
    var parent: [Int] = [], units: [Int] = [], members: [[GroupMember]] = [], reasons: [String?] = []
    var activations: [[String]] = []

    mutating func make(units n: Int) -> Int {
        parent.append(parent.count); units.append(n); members.append([]); reasons.append(nil); activations.append([])
        return parent.count - 1
    }

    mutating func find(_ x: Int) -> Int {
        var r = x
        while parent[r] != r { r = parent[r] }
        var y = x
        while parent[y] != r { let next = parent[y]; parent[y] = r; y = next }
        return r
    }

    mutating func union(_ a: Int, _ b: Int) -> Int {
        let (ra, rb) = (find(a), find(b))
        guard ra != rb else { return ra }
        let (keep, gone) = ra < rb ? (ra, rb) : (rb, ra)
        parent[gone] = keep
        members[keep] += members[gone]
        activations[keep] += activations[gone]
        reasons[keep] = reasons[keep] ?? reasons[gone]
        if units[keep] != units[gone] { reasons[keep] = reasons[keep] ?? "merged channels differ in number" }
        return keep
    }

    mutating func add(_ member: GroupMember, to space: Int) { members[find(space)].append(member) }

    mutating func addActivation(_ name: String, to space: Int) { activations[find(space)].append(name) }

    mutating func block(_ space: Int, _ reason: String) {
        let r = find(space)
        reasons[r] = reasons[r] ?? reason
    }

    mutating func groups() -> [DependencyGroup] {
        var result: [DependencyGroup] = []
        for s in parent.indices where find(s) == s && members[s].contains(where: { $0.role == .producer }) {
            result.append(DependencyGroup(units: units[s], members: members[s], unprunableReason: reasons[s],
                                          activations: activations[s]))
        }
        return result
    }
}
