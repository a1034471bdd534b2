import TensorCore

/// A model: a directed acyclic graph of modules, run in insertion order.
///
/// Each node reads the graph input or earlier nodes, so insertion order is a
/// topological order. Forward runs nodes first to last; backward runs them last to
/// first and sums gradients where an output fans out to several nodes. A chain of
/// layers (the `Sequential` case) is built with `Graph(inputShape:sequential:)`.
public final class Graph {
    /// A handle to a node's output (or the graph input) used while building.
    public struct NodeID: Hashable, Sendable {
        /// -1 for the graph input, else the node's position.
        public let index: Int
        /// The graph input.
        public static let input = NodeID(index: -1)
    }

    /// One module and the nodes it reads.
    public struct Node {
        /// The layer or merge layer.
        public let module: Module
        /// The nodes whose outputs feed this one, in order.
        public let inputs: [NodeID]
        /// `module` as a Layer or as a MergeLayer, cast once when the node is added (a
        /// protocol cast on every forward costs a conformance lookup).
        let layer: Layer?, merge: MergeLayer?
    }

    /// The per-sample input shape, e.g. `[1, 28, 28]`.
    public let inputShape: [Int]
    /// The nodes in topological order; the last node is the output.
    public private(set) var nodes: [Node] = []
    /// The per-sample output shape of each node.
    public private(set) var shapes: [[Int]] = []
    /// How many nodes (and the caller, for the last) read each node's output.
    private var readers: [Int] = []

    /// Whether the model reads token sequences: its input is `[T]` and only `TokenInput` layers
    /// read it. Such a graph takes batches `[N, T']` of any length `1 ≤ T' ≤ T` (the declared
    /// `T` is the longest, which shapes and complexity figures use).
    public var takesSequences: Bool {
        inputShape.count == 1 && !nodes.isEmpty
            && nodes.allSatisfy { !$0.inputs.contains(.input) || $0.module is TokenInput }
    }

    /// Creates an empty graph for samples of `inputShape`.
    public init(inputShape: [Int]) { self.inputShape = inputShape }

    /// Creates a chain of layers (the Sequential case).
    /// - Throws: `ModelError` when a layer's expected input does not fit the previous output.
    public convenience init(inputShape: [Int], sequential layers: [Layer]) throws {
        self.init(inputShape: inputShape)
        var last = NodeID.input
        for layer in layers { last = try add(layer, after: last) }
    }

    /// Appends a single-input layer reading `input`.
    /// - Throws: `ModelError` on a duplicate name or a shape that does not fit.
    @discardableResult
    public func add(_ layer: Layer, after input: NodeID) throws -> NodeID {
        try append(layer, inputs: [input])
    }

    /// Appends a merge layer reading several nodes.
    @discardableResult
    public func add(_ layer: MergeLayer, inputs: [NodeID]) throws -> NodeID {
        try append(layer, inputs: inputs)
    }

    private func append(_ module: Module, inputs: [NodeID]) throws -> NodeID {
        // Dotted names (`features.0`, as PyTorch's nested modules have) are fine: a
        // parameter's path is the node name, a dot and the parameter's local name.
        guard !module.name.isEmpty, !module.name.hasPrefix("."), !module.name.hasSuffix("."),
              !module.name.contains(".."), module.name != GraphSpec.inputName else {
            throw ModelError.invalidName(module.name)
        }
        if nodes.contains(where: { $0.module.name == module.name }) {
            throw ModelError.duplicateName(module.name)
        }
        for i in inputs where i.index < -1 || i.index >= nodes.count {
            throw ModelError.missingNode(layer: module.name, index: i.index)
        }
        let inShapes = inputs.map { $0.index < 0 ? inputShape : shapes[$0.index] }
        let out = try module.outputShape(for: inShapes)
        if let skipping = module as? InputGradientSkipping {
            skipping.computesInputGradient = !(inputs.count == 1 && inputs[0] == .input)
        }
        nodes.append(Node(module: module, inputs: inputs, layer: module as? Layer, merge: module as? MergeLayer))
        shapes.append(out)
        readers = readerCounts()
        return NodeID(index: nodes.count - 1)
    }

    /// Probabilities when the last node is a `Softmax`, else logits.
    public var outputKind: OutputKind { nodes.last?.module is Softmax ? .probabilities : .logits }

    /// The per-sample output shape of the whole graph.
    public var outputShape: [Int] { shapes.last ?? inputShape }

    /// The per-sample input shapes of node `index`.
    public func inputShapes(ofNode index: Int) -> [[Int]] {
        nodes[index].inputs.map { $0.index < 0 ? inputShape : shapes[$0.index] }
    }

    /// Runs the model on a batch `[N] + inputShape` and returns `[N] + outputShape`.
    ///
    /// With `training` true, layers cache what `backward` needs and use batch statistics.
    public func forward(_ input: Tensor, training: Bool = false) -> Tensor {
        forward(input, training: training, observe: nil)
    }

    /// Runs the model like `forward(_:training:)`, calling `observe` with each node's
    /// index and output as soon as it is computed (for activation statistics and per-layer
    /// timing).
    public func forward(_ input: Tensor, training: Bool = false, observe: ((Int, Tensor) -> Void)?) -> Tensor {
        precondition(input.rank == inputShape.count + 1
                     && (input.shape.dropFirst().elementsEqual(inputShape)
                         || takesSequences && (1...inputShape[0]).contains(input.shape[1])),
                     "model expects [N] + \(inputShape)\(takesSequences ? " (or shorter sequences)" : ""), got \(input.shape)")
        guard !nodes.isEmpty else { return input }
        var outputs = [Tensor?](repeating: nil, count: nodes.count)
        var remainingReaders = readers
        for (i, node) in nodes.enumerated() {
            if let layer = node.layer {
                let j = node.inputs[0].index
                outputs[i] = layer.forward(j < 0 ? input : outputs[j]!, training: training)
            } else if let merge = node.merge {
                outputs[i] = merge.forward(node.inputs.map { $0.index < 0 ? input : outputs[$0.index]! }, training: training)
            } else {
                preconditionFailure("module '\(node.module.name)' is neither a Layer nor a MergeLayer")
            }
            observe?(i, outputs[i]!)
            for j in node.inputs where j.index >= 0 {
                remainingReaders[j.index] -= 1
                if remainingReaders[j.index] == 0 { outputs[j.index] = nil }  // free early
            }
        }
        return outputs.last.flatMap { $0 } ?? input
    }

    /// Back-propagates the gradient of the loss with respect to the output of the last
    /// `forward(_:training: true)`, writing every parameter's gradient, and returns the
    /// gradient with respect to the graph input when asked.
    ///
    /// Parameter gradients are overwritten, never accumulated, whether or not the input
    /// gradient is asked for.
    /// - Parameters:
    ///   - gradient: `[N] + outputShape`, the gradient with respect to the output.
    ///   - inputGradient: whether to compute the gradient with respect to the graph input
    ///     (for saliency maps or adversarial inputs). Training leaves it off, so layers that
    ///     read the input skip that product (`InputGradientSkipping`); when on, they compute
    ///     it for this call only.
    /// - Returns: the gradient with respect to the graph input, `[N] + inputShape`, summed
    ///   over every node that reads the input; `gradient` itself for an empty graph; nil when
    ///   `inputGradient` is false.
    @discardableResult
    public func backward(_ gradient: Tensor, inputGradient: Bool = false) -> Tensor? {
        backward(gradient, inputGradient: inputGradient, observe: nil)
    }

    /// Back-propagates like `backward(_:inputGradient:)`, calling `observe` with each node's
    /// index as soon as its backward pass is done (for per-layer timing).
    /// - Parameter node: the node whose output `gradient` is the loss's gradient for (nil: the
    ///   last); a loss on an inner node's output leaves the nodes after it out of the pass.
    @discardableResult
    public func backward(_ gradient: Tensor, inputGradient: Bool = false, fromNode node: Int? = nil,
                         observe: ((Int) -> Void)?) -> Tensor? {
        guard !nodes.isEmpty else { return inputGradient ? gradient : nil }
        var grads = [Tensor?](repeating: nil, count: nodes.count)
        var gradientOfInput: Tensor?
        grads[node ?? nodes.count - 1] = gradient
        for i in stride(from: nodes.count - 1, through: 0, by: -1) {
            let node = nodes[i]
            guard let g = grads[i] else {
                // The node does not reach the output: its parameters get zero gradients,
                // not stale ones from an earlier step.
                for (_, p) in node.module.namedParameters where p.isTrainable { p.gradient = Tensor.zeros(p.value.shape) }
                continue
            }
            grads[i] = nil
            // A layer reading the input normally skips its input gradient; turn it on for this call.
            let skipping = inputGradient && node.inputs.contains(.input) ? node.module as? InputGradientSkipping : nil
            let forced = skipping?.computesInputGradient == false ? skipping : nil
            forced?.computesInputGradient = true
            defer { forced?.computesInputGradient = false }
            let inputGrads: [Tensor]
            if let layer = node.layer {
                inputGrads = [layer.backward(g)]
            } else if let merge = node.merge {
                inputGrads = merge.backward(g)
            } else {
                preconditionFailure("module '\(node.module.name)' is neither a Layer nor a MergeLayer")
            }
            observe?(i)
            for (j, gi) in zip(node.inputs, inputGrads) {
                if j.index >= 0 {
                    if grads[j.index] == nil { grads[j.index] = gi } else { grads[j.index]!.add(gi) }
                } else if inputGradient {
                    if gradientOfInput == nil { gradientOfInput = gi } else { gradientOfInput!.add(gi) }
                }
            }
        }
        return gradientOfInput   // every path from the output ends at the input, so it is set when asked
    }

    private func readerCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for j in node.inputs where j.index >= 0 { counts[j.index] += 1 } }
        counts[nodes.count - 1] += 1  // the output is read by the caller
        return counts
    }

    /// Every parameter with its dotted path (`"fc1.weight"`), in node order.
    public var parameters: [(path: String, parameter: Parameter)] {
        nodes.flatMap { node in
            node.module.namedParameters.map { (path: "\(node.module.name).\($0.0)", parameter: $0.1) }
        }
    }

    /// The trainable parameters with their paths.
    public var trainableParameters: [(path: String, parameter: Parameter)] {
        parameters.filter { $0.parameter.isTrainable }
    }

    /// The parameter at `path`, or nil.
    public func parameter(at path: String) -> Parameter? {
        parameters.first { $0.path == path }?.parameter
    }

    /// The module named `name`, or nil.
    public func module(named name: String) -> Module? {
        nodes.first { $0.module.name == name }?.module
    }

    /// The structure without values, for model files.
    public var spec: GraphSpec {
        GraphSpec(inputShape: inputShape, nodes: nodes.map { node in
            GraphSpec.NodeSpec(name: node.module.name, layer: node.module.spec,
                               inputs: node.inputs.map { $0.index < 0 ? GraphSpec.inputName : nodes[$0.index].module.name })
        })
    }
}

/// A model's structure as stored in files: input shape and nodes by name.
public struct GraphSpec: Codable, Equatable, Sendable {
    /// The name that stands for the graph input in `inputs`.
    public static let inputName = "input"

    /// One node: its name, what it is, and which nodes it reads.
    public struct NodeSpec: Codable, Equatable, Sendable {
        /// The node (and layer) name.
        public var name: String
        /// The layer's kind and hyper-parameters.
        public var layer: LayerSpec
        /// The names of the nodes it reads (`"input"` for the graph input).
        public var inputs: [String]
        /// Creates a node spec.
        public init(name: String, layer: LayerSpec, inputs: [String]) {
            self.name = name; self.layer = layer; self.inputs = inputs
        }
    }

    /// Per-sample input shape.
    public var inputShape: [Int]
    /// Nodes in topological order.
    public var nodes: [NodeSpec]

    /// Creates a spec.
    public init(inputShape: [Int], nodes: [NodeSpec]) {
        self.inputShape = inputShape; self.nodes = nodes
    }

    /// Builds a graph with this structure. Weights are freshly drawn by `initializer` from
    /// `seed`; a model file then overwrites them.
    /// - Throws: `ModelError` naming the node whose spec is incomplete or does not fit.
    /// `modules` replaces the layers of those names (built elsewhere, e.g. sparse layers
    /// read from a file); they must fit the spec's shapes.
    public func makeGraph(seed: UInt64 = 0, initializer: Initializer = .default, modules: [String: Module] = [:]) throws -> Graph {
        var rng = SeededGenerator(seed: seed)
        let graph = Graph(inputShape: inputShape)
        var ids: [String: Graph.NodeID] = [Self.inputName: .input]
        for node in nodes {
            let inputs = try node.inputs.map { name -> Graph.NodeID in
                guard let id = ids[name] else { throw ModelError.unknownInput(node: node.name, input: name) }
                return id
            }
            let module = try modules[node.name] ?? makeModule(name: node.name, spec: node.layer, initializer: initializer, rng: &rng,
                                                             built: graph)
            if let merge = module as? MergeLayer {
                ids[node.name] = try graph.add(merge, inputs: inputs)
            } else if let layer = module as? Layer {
                guard inputs.count == 1 else { throw ModelError.notOneInput(layer: node.name, got: inputs.count) }
                ids[node.name] = try graph.add(layer, after: inputs[0])
            }
        }
        return graph
    }
}

/// Builds one module from its spec; `built` holds the nodes before it (a tied head's embedding).
func makeModule(name: String, spec s: LayerSpec, initializer: Initializer, rng: inout SeededGenerator,
                built: Graph) throws -> Module {
    func need(_ v: Int?, _ field: String, limit: Int = 1 << 20) throws -> Int {
        guard let v, v > 0, v <= limit else {
            throw ModelError.specField(layer: name, kind: s.kind, field: field, limit: limit, got: v)
        }
        return v
    }
    // Bounds keep a hostile spec from requesting absurd allocations before any weight is read.
    if let padding = s.padding, padding < 0 || padding > 1024 {
        throw ModelError.padding(layer: name, padding: padding)
    }
    // In Double: the sizes of a hostile spec may overflow an Int product.
    let weights = [s.inFeatures, s.outFeatures, s.inChannels, s.outChannels, s.kernelSize, s.kernelSize, s.count,
                   s.kind == .batchNorm || s.kind == .layerNorm ? nil : s.features]
        .reduce(1.0) { $0 * Double($1 ?? 1) }
    if [s.inFeatures, s.outFeatures, s.inChannels, s.outChannels, s.count, s.features].contains(where: { ($0 ?? 1) > 1 << 20 })
        || (s.kernelSize ?? 1) > 1024 || abs(weights) > Double(1 << 31) {
        throw ModelError.implausiblyLarge(layer: name, kind: s.kind)
    }
    switch s.kind {
    case .dense:
        return Dense(name: name, inFeatures: try need(s.inFeatures, "inFeatures"),
                     outFeatures: try need(s.outFeatures, "outFeatures"), bias: s.bias ?? true,
                     initializer: initializer, rng: &rng)
    case .conv2d:
        let (cin, cout) = (try need(s.inChannels, "inChannels"), try need(s.outChannels, "outChannels"))
        let groups = try need(s.groups ?? 1, "groups")
        guard cin % groups == 0, cout % groups == 0 else {
            throw ModelError.groups(layer: name, groups: groups, inChannels: cin, outChannels: cout)
        }
        return Conv2D(name: name, inChannels: cin, outChannels: cout,
                      kernelSize: try need(s.kernelSize, "kernelSize"), stride: try need(s.stride ?? 1, "stride"),
                      padding: s.padding ?? 0, dilation: try need(s.dilation ?? 1, "dilation", limit: 1024),
                      groups: groups, bias: s.bias ?? true, initializer: initializer, rng: &rng)
    case .maxPool2d: return MaxPool2D(name: name, kernelSize: try need(s.kernelSize, "kernelSize"), stride: try s.stride.map { try need($0, "stride") })
    case .avgPool2d: return AvgPool2D(name: name, kernelSize: try need(s.kernelSize, "kernelSize"), stride: try s.stride.map { try need($0, "stride") })
    case .globalAvgPool: return GlobalAvgPool(name: name)
    case .flatten: return Flatten(name: name)
    case .relu: return ReLU(name: name)
    case .leakyRelu: return LeakyReLU(name: name, negativeSlope: s.negativeSlope ?? 0.01)
    case .tanh: return Tanh(name: name)
    case .sigmoid: return Sigmoid(name: name)
    case .batchNorm:
        return BatchNorm(name: name, features: try need(s.features, "features"),
                         epsilon: s.epsilon ?? 1e-5, momentum: s.momentum ?? 0.1)
    case .dropout:
        let rate = s.rate ?? 0.5
        guard rate >= 0 && rate < 1 else { throw ModelError.dropoutRate(layer: name, rate: rate) }
        return Dropout(name: name, rate: rate, seed: s.seed ?? 0)
    case .add: return Add(name: name)
    case .concat: return Concat(name: name)
    case .gelu:
        guard let approximation = GELU.Approximation(rawValue: s.approximation ?? "none") else {
            throw ModelError.sequenceInput(layer: name, problem: "GELU approximation '\(s.approximation!)' is neither 'none' nor 'tanh'")
        }
        return GELU(name: name, approximation: approximation)
    case .embedding:
        return Embedding(name: name, count: try need(s.count, "count"), features: try need(s.features, "features"),
                         standardDeviation: 0.02, rng: &rng)
    case .positionEmbedding:
        return PositionEmbedding(name: name, count: try need(s.count, "count"), features: try need(s.features, "features"),
                                 standardDeviation: 0.02, rng: &rng)
    case .tokenTypeEmbedding:
        return TokenTypeEmbedding(name: name, count: try need(s.count, "count"), features: try need(s.features, "features"),
                                  standardDeviation: 0.02, rng: &rng)
    case .layerNorm:
        return LayerNorm(name: name, features: try need(s.features, "features"), epsilon: s.epsilon ?? 1e-5)
    case .paddingMask: return PaddingMask(name: name, paddingID: s.paddingID ?? 0)
    case .selfAttention:
        return SelfAttention(name: name, heads: try need(s.heads, "heads", limit: 4096), causal: s.causal ?? false)
    case .meanPooling: return MeanPooling(name: name)
    case .l2Normalize: return L2Normalize(name: name)
    case .tiedHead:
        guard let table = s.tiedTo.flatMap({ built.module(named: $0) }) as? Embedding else {
            throw ModelError.tiedHead(layer: name, embedding: s.tiedTo)
        }
        return TiedHead(name: name, tiedTo: table)
    case .softmax: return Softmax(name: name)
    case .logSoftmax: return LogSoftmax(name: name)
    }
}
