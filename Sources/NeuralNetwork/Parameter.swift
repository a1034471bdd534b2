import TensorCore

/// A learnable (or persistent) tensor of a layer: its value, the gradient of the loss
/// with respect to it, and an optional mask.
///
/// A mask holds 1 where an entry is kept and 0 where it is cut. NeuralNetwork does not
/// decide what to cut (that is the pruning engine's job); it only guarantees that every
/// optimizer update leaves masked entries exactly zero, in the value and in the
/// optimizer's state, so a cut weight never comes back.
public final class Parameter {
    /// The current value.
    public var value: Tensor
    /// The gradient of the loss with respect to `value`, written by the layer's backward pass.
    /// Zeros until first written; the storage is made then, so a model that is only loaded
    /// and run (inference, export) holds no gradient memory.
    public var gradient: Tensor {
        get { storedGradient ?? Tensor.zeros(value.shape) }
        set { storedGradient = newValue }
        _modify {
            if storedGradient == nil { storedGradient = Tensor.zeros(value.shape) }
            yield &storedGradient!
        }
    }
    private var storedGradient: Tensor?
    /// Whether optimizers update this tensor (false for running statistics).
    public let isTrainable: Bool
    /// Optional 0/1 mask of the same shape as `value`; setting it zeroes the cut entries.
    public var mask: Tensor? {
        didSet {
            maskVersion &+= 1
            if let mask {
                precondition(mask.shape == value.shape,
                             "mask shape \(mask.shape) differs from parameter shape \(value.shape)")
                applyMask()
            }
        }
    }

    /// Counts the changes of `mask` (setting it, or changing it in place): what was derived
    /// from a mask (a layer's sparse pattern) is current while this has not moved.
    public private(set) var maskVersion = 0

    /// Creates a parameter holding `value`, with a zero gradient and no mask.
    public init(_ value: Tensor, trainable: Bool = true) {
        self.value = value
        self.isTrainable = trainable
    }

    /// Puts back a value and mask taken earlier (a snapshot, a rollback, a checkpoint): the
    /// mask is lifted first, so entries it had cut come back as `value` holds them.
    public func restore(value: Tensor, mask: Tensor?) {
        self.mask = nil
        self.value = value
        self.mask = mask
    }

    /// Zeroes the entries of `value` that the mask cuts (does nothing without a mask).
    public func applyMask() {
        if let mask { value.multiply(by: mask) }
    }

    /// The number of scalars.
    public var count: Int { value.count }
}
