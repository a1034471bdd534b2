import Foundation
import NeuralNetwork
import SwiftProtobuf
import TensorCore

/// ONNX models in and out: PyTorch's exports read as Prune graphs, Prune graphs written as
/// ONNX that ONNX Runtime runs.
///
/// **Import** reads the graphs PyTorch 2.x's exporters write (operator sets 11–21): Gemm,
/// MatMul (+ Add as its bias, on either side), Conv (square kernels; symmetric padding;
/// strides, dilations, groups and depthwise), Relu, LeakyRelu, Sigmoid, Tanh, Gelu,
/// MaxPool and AveragePool (no padding), GlobalAveragePool and ReduceMean over the image,
/// Flatten, Reshape to `[N, features]` with a constant shape, BatchNormalization, Add of two
/// computed tensors (residuals), Concat along channels, Softmax and LogSoftmax over the
/// features, Identity, Dropout and Constant. Initializers may be FLOAT, FLOAT16, BFLOAT16
/// or DOUBLE, as raw bytes or typed fields (and sparse initializers); they become Float32.
/// Layers keep their tensors' names: `fc1.weight` is the weight of layer `fc1`. Anything
/// else is refused with the node's name and op type (`node /lstm/LSTM: op LSTM is not
/// supported`), as are weights kept in external files and unknown operator sets. The
/// imported graph trains, prunes, compacts and saves like any other.
///
/// **Export** writes operator set 17 (20 when the model has a GELU or transformer layers):
/// Gemm for dense layers, Conv, pooling, BatchNormalization (inference form), the activations,
/// Add, Concat and Flatten; Dropout is left out (it is the identity at inference). The input
/// is `input` `[N, …]` and the output `output`, with a symbolic batch size `N`. Transformers
/// (a BERT encoder such as all-MiniLM-L6-v2, a GPT decoder) are written with standard
/// operators: their input is INT64 token ids `[N, T]` with the length `T` symbolic too, and
/// embeddings, LayerNormalization, attention (MatMul, Softmax, the padding and causal masks),
/// mean pooling and L2 normalization are spelled out as `ONNXExporter.emitSequenceLayer`
/// describes. Import reads none of these back: ONNX Runtime runs them. Pruned weights are
/// written dense with exact zeros, or, with `sparseInitializers`, as COO sparse
/// initializers so a sparse model's file is small.
public enum ONNXFile {
    /// The operator-set versions of the default domain that import accepts.
    public static let supportedOpsets = 11...21

    /// An imported model and what the file says about itself.
    public struct Imported {
        /// The model, with the file's weights.
        public var model: Graph
        /// The default domain's operator-set version.
        public var opset: Int
        /// The program that wrote the file (`producer_name` and version), when given.
        public var producer: String
        /// The graph input's and output's names in the file.
        public var inputName: String, outputName: String
        /// The model's `metadata_props` (Prune writes its run history there).
        public var metadata: [String: String]
    }

    /// Whether `path` names an ONNX file (it ends in `.onnx`); `ModelFile.load` and
    /// `ModelFile.save` hand such paths to `ONNXFile`.
    public static func handles(_ path: String) -> Bool { path.lowercased().hasSuffix(".onnx") }

    /// How `save` writes a model.
    public struct ExportOptions: Sendable {
        /// Writes each weight that keeps fewer than a third of its entries (where COO is the
        /// smaller form) as a COO sparse initializer (values and Int64 indices) instead of a
        /// dense one.
        public var sparseInitializers: Bool
        /// The graph's name in the file.
        public var graphName: String

        /// Creates options; the defaults write every weight dense.
        public init(sparseInitializers: Bool = false, graphName: String = "prune") {
            self.sparseInitializers = sparseInitializers
            self.graphName = graphName
        }
    }

    /// Reads an ONNX model file.
    /// - Throws: `FormatError` naming the file and the node, tensor or field that cannot be read.
    /// - Complexity: O(file size); the weights are read straight from a memory mapping of the
    ///   file, so peak memory stays near the size of the weights.
    public static func load(_ path: String) throws -> Imported {
        let file = try MappedFile(path)
        return try importModel(file.bytes, path: path, release: file.release)
    }

    /// Builds the model an ONNX file's bytes describe; `path` names the source in errors.
    /// - Throws: `FormatError` naming the node, tensor or field that cannot be read.
    public static func decode(_ data: Data, path: String) throws -> Imported {
        try data.withUnsafeBytes { try importModel($0, path: path, release: nil) }
    }

    /// Checks that `data` parses as an ONNX model with a graph, for files the importer does not
    /// read back (transformers).
    /// - Throws: `FormatError` naming `path` when it does not.
    public static func checkDecodes(_ data: Data, path: String) throws {
        let proto: Onnx_ModelProto
        do { proto = try Onnx_ModelProto(serializedBytes: data) } catch {
            throw FormatError(path: path, .cannotWrite(step: "read the encoded model back", reason: "\(error)"))
        }
        guard proto.hasGraph, !proto.graph.node.isEmpty else {
            throw FormatError(path: path, .cannotWrite(step: "read the encoded model back", reason: "the graph has no nodes"))
        }
    }

    /// Writes `model` as an ONNX file, atomically.
    /// - Throws: `FormatError` when a layer has no ONNX form or the file cannot be written.
    /// `metadata` is stored as the model's `metadata_props`.
    public static func save(_ model: Graph, to path: String, metadata: [String: String] = [:],
                            options: ExportOptions = ExportOptions()) throws {
        try AtomicFile.write(try encode(model, metadata: metadata, options: options, path: path), to: path)
    }

    /// The ONNX bytes of `model`; `path` names the destination in errors.
    /// - Throws: `FormatError` when a layer has no ONNX form.
    public static func encode(_ model: Graph, metadata: [String: String] = [:], options: ExportOptions = ExportOptions(),
                              path: String = "<memory>") throws -> Data {
        var exporter = ONNXExporter(model: model, options: options, path: path)
        var proto = try exporter.run()
        proto.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        do {
            return try proto.serializedData()
        } catch {
            throw FormatError(path: path, .cannotWrite(step: "encode the model", reason: "\(error)"))
        }
    }
}
