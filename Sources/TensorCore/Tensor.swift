/// A dense, row-major array of `Float` values with a shape.
///
/// `Tensor` is a value type: copies share storage until one of them is mutated
/// (copy-on-write, inherited from `Array`). Images are stored NCHW and dense
/// weights `[out, in]`.
public struct Tensor: Equatable, Sendable {
    /// The extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.product` always holds
    /// (write elements through the subscript or the buffer-pointer methods).
    public package(set) var scalars: [Float]

    /// Creates a tensor from a shape and matching scalars.
    /// - Precondition: the product of `shape` equals `scalars.count`.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor filled with one value.
    public init(shape: [Int], repeating value: Float) {
        self.init(shape: shape, scalars: Array(repeating: value, count: shape.reduce(1, *)))
    }

    /// Creates a tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }

    /// Creates a tensor whose scalars are written by `initializer` into uninitialized
    /// storage. The closure must write every element.
    ///
    /// Used by kernels to skip the zero fill when every element is overwritten.
    public init(shape: [Int], uninitialized initializer: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.scalars = Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            initializer(buffer)
            initialized = count
        }
    }

    /// The number of elements.
    @inlinable public var count: Int { scalars.count }

    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// Returns the same scalars viewed with a new shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Changes the shape in place, keeping the scalars.
    public mutating func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == scalars.count,
                     "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// Calls `body` with a pointer to the scalars.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with a mutable pointer to the scalars (copying first if storage is shared).
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }

    /// The element at a flat (row-major) position.
    public subscript(flat index: Int) -> Float {
        get { scalars[index] }
        set { scalars[index] = newValue }
    }

    /// The element at a multi-dimensional index (slow; for tests and small code).
    public subscript(index: Int...) -> Float {
        get { scalars[flatIndex(index)] }
        set { scalars[flatIndex(index)] = newValue }
    }

    private func flatIndex(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var flat = 0
        for (i, dim) in zip(index, shape) {
            precondition(i >= 0 && i < dim, "index \(index) out of range for shape \(shape)")
            flat = flat * dim + i
        }
        return flat
    }
}

/// `body` with a pointer to the scalars of `tensor`, or with nil when there is none (an
/// optional mask or bias).
func withScalars<R>(of tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension Tensor: CustomStringConvertible {
    /// A short description: shape and the first few scalars.
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(\(shape), [\(head)\(scalars.count > 8 ? ", …" : "")])"
    }
}

extension Array where Element == Int {
    /// The product of the elements (1 for an empty array): a shape's element count.
    @inlinable public var product: Int { reduce(1, *) }
}
