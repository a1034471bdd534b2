import TensorCore

/// Max pooling over `K×K` windows with a stride, on NCHW images (no padding).
///
/// Shapes: input `[N, C, H, W]`, output `[N, C, (H−K)/s+1, (W−K)/s+1]`.
/// Backward routes each output gradient to the input position that held the maximum.
public final class MaxPool2D: WindowPooling {
    public var name: String
    /// The window size and stride.
    public let window: PoolingWindow
    private var routes = MaxPoolingRoutes.empty   // where each output came from, cached by forward

    /// Creates a pooling layer; `stride` defaults to the window size.
    public init(name: String, kernelSize: Int, stride: Int? = nil) {
        self.name = name
        window = PoolingWindow(kernelSize: kernelSize, stride: stride)
    }

    /// `LayerKind.maxPool2d`.
    public static var kind: LayerKind { .maxPool2d }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (y, routes) = maxPool(x, window: kernelSize, stride: stride)
        if training { self.routes = routes }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(dy.count == routes.count, "\(name): backward without a matching training forward")
        return maxPoolBackward(dy, routes: routes)
    }
}

/// Average pooling over `K×K` windows with a stride, on NCHW images (no padding).
///
/// `y = (1/K²) Σ window`; backward spreads each output gradient evenly over its window.
public final class AvgPool2D: WindowPooling {
    public var name: String
    /// The window size and stride.
    public let window: PoolingWindow
    private var inputShape: [Int] = []

    /// Creates a pooling layer; `stride` defaults to the window size.
    public init(name: String, kernelSize: Int, stride: Int? = nil) {
        self.name = name
        window = PoolingWindow(kernelSize: kernelSize, stride: stride)
    }

    /// `LayerKind.avgPool2d`.
    public static var kind: LayerKind { .avgPool2d }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { inputShape = x.shape }
        return averagePool(x, window: kernelSize, stride: stride)
    }

    public func backward(_ dy: Tensor) -> Tensor {
        precondition(inputShape.count == 4 && dy.rank == 4 && Array(dy.shape.prefix(2)) == Array(inputShape.prefix(2)) &&
                     dy.shape[2] == (inputShape[2] - kernelSize) / stride + 1 && dy.shape[3] == (inputShape[3] - kernelSize) / stride + 1,
                     "\(name): backward without a matching training forward")
        return averagePoolBackward(dy, inputShape: inputShape, window: kernelSize, stride: stride)
    }
}

/// Averages each channel over all positions: `[N, C, H, W] → [N, C]`.
public final class GlobalAvgPool: Layer {
    public var name: String
    private var inputShape: [Int] = []

    /// Creates the layer.
    public init(name: String) { self.name = name }

    public var spec: LayerSpec { LayerSpec(kind: .globalAvgPool) }

    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let s = try requireRank(inputShapes, 3, name, "a [C, H, W] image")
        return [s[0]]
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if training { inputShape = x.shape }
        return globalAveragePool(x)
    }

    public func backward(_ dy: Tensor) -> Tensor { globalAveragePoolBackward(dy, inputShape: inputShape) }
}

/// The square window of a pooling layer: its size and the step between windows.
public struct PoolingWindow: Equatable, Sendable {
    /// Window size.
    public let kernelSize: Int
    /// Step between windows.
    public let stride: Int

    /// Creates a window; `stride` defaults to the window size.
    public init(kernelSize: Int, stride: Int? = nil) {
        precondition(kernelSize > 0, "pool size must be positive")
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }
}

/// A pooling layer over square windows (no padding): its spec and output shape follow
/// from its kind and window.
public protocol WindowPooling: Layer {
    /// What the layer is, in its spec.
    static var kind: LayerKind { get }
    /// The window size and stride.
    var window: PoolingWindow { get }
}

extension WindowPooling {
    /// Window size.
    public var kernelSize: Int { window.kernelSize }
    /// Step between windows.
    public var stride: Int { window.stride }

    public var spec: LayerSpec {
        var s = LayerSpec(kind: Self.kind); s.kernelSize = kernelSize; s.stride = stride
        return s
    }

    /// `[C, (H−K)/s+1, (W−K)/s+1]` for a `[C, H, W]` image at least as large as the window.
    public func outputShape(for inputShapes: [[Int]]) throws -> [Int] {
        let x = try requireRank(inputShapes, 3, name, "a [C, H, W] image")
        let (k, s) = (kernelSize, stride)
        guard x[1] >= k, x[2] >= k else { throw ModelError.windowTooLarge(layer: name, window: k, shape: x) }
        return [x[0], (x[1] - k) / s + 1, (x[2] - k) / s + 1]
    }
}
