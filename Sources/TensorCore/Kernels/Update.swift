/// The optimizer kernel: a parameter's value updated in place from its gradient, range by
/// range, by a rule's per-entry math, with the mask applied to the value and to every state
/// slot after the update.

/// One range of a parameter's entries as an optimizer's update rule sees them: the value,
/// its gradient and the rule's state slots (each zero before the first update). A rule
/// writes its per-entry math as a closure passed to `update`, which runs it for every entry
/// of the range. Made by `Tensor.update(gradient:slots:mask:pool:_:)` and valid only during
/// the call it is passed to.
public struct ParameterEntries {
    @usableFromInline let value: UnsafeMutablePointer<Float>
    @usableFromInline let gradient: UnsafePointer<Float>
    @usableFromInline let slots: UnsafeMutablePointer<Float>?
    @usableFromInline let slotStride: Int
    /// The number of entries in this range.
    public let count: Int
    /// The number of state slots the parameter has.
    public let slotCount: Int

    init(value: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, slots: UnsafeMutablePointer<Float>?,
         slotStride: Int, count: Int, slotCount: Int) {
        self.value = value; self.gradient = gradient; self.slots = slots
        self.slotStride = slotStride; self.count = count; self.slotCount = slotCount
    }

    /// Runs `body(&value, gradient)` for every entry (a rule without state).
    /// - Complexity: O(count); the loop vectorizes when `body` is simple arithmetic.
    @inlinable
    public func update(_ body: (_ value: inout Float, _ gradient: Float) -> Void) {
        let (w, g) = (value, gradient)
        for i in 0..<count { body(&w[i], g[i]) }
    }

    /// Runs `body(&value, gradient, &slot0)` for every entry (a rule with one state slot,
    /// such as momentum).
    /// - Precondition: the parameter has at least one slot.
    /// - Complexity: O(count).
    @inlinable
    public func update(_ body: (_ value: inout Float, _ gradient: Float, _ slot0: inout Float) -> Void) {
        precondition(slotCount >= 1, "a one-slot update needs a slot, the parameter has none")
        let (w, g, s0) = (value, gradient, slots!)
        for i in 0..<count { body(&w[i], g[i], &s0[i]) }
    }

    /// Runs `body(&value, gradient, &slot0, &slot1)` for every entry (a rule with two state
    /// slots, such as Adam's moments).
    /// - Precondition: the parameter has at least two slots.
    /// - Complexity: O(count).
    @inlinable
    public func update(_ body: (_ value: inout Float, _ gradient: Float, _ slot0: inout Float, _ slot1: inout Float) -> Void) {
        precondition(slotCount >= 2, "a two-slot update needs two slots, the parameter has \(slotCount)")
        let (w, g, s0) = (value, gradient, slots!)
        let s1 = s0 + slotStride
        for i in 0..<count { body(&w[i], g[i], &s0[i], &s1[i]) }
    }
}

extension Tensor {
    /// Updates this tensor (a parameter's value) in place from `gradient`: `rule` runs on
    /// disjoint ranges of the entries (at once on the threads of `pool`, when given), each
    /// with the same range of every state slot of `slots` (`[slotCount, count]`). Then, with a
    /// `mask`, the entries it cuts are multiplied by 0 in the value and in every slot, so a
    /// cut weight never comes back.
    /// - Precondition: `gradient` and `mask` have this tensor's shape; `slots` holds a whole
    ///   number of slots of `count` entries.
    /// - Complexity: O(count · (1 + slots)) plus the rule's work.
    public mutating func update(gradient: Tensor, slots: inout Tensor, mask: Tensor?, pool: WorkerPool?,
                                _ rule: (ParameterEntries) -> Void) {
        precondition(gradient.shape == shape, "gradient \(gradient.shape) does not match parameter \(shape)")
        precondition(mask == nil || mask!.shape == shape, "mask \(mask!.shape) does not match parameter \(shape)")
        let n = count
        let slotCount = n == 0 ? 0 : slots.count / n
        precondition(slots.count == slotCount * n, "\(slots.count) slot entries are not whole slots of \(n)")
        let maskScalars = mask?.scalars ?? []
        withUnsafeMutableBufferPointer { v in
            gradient.withUnsafeBufferPointer { g in
                slots.withUnsafeMutableBufferPointer { s in
                    maskScalars.withUnsafeBufferPointer { m in
                        func work(_ lo: Int, _ hi: Int) {
                            rule(ParameterEntries(value: v.baseAddress! + lo, gradient: g.baseAddress! + lo,
                                                  slots: s.baseAddress.map { $0 + lo }, slotStride: n,
                                                  count: hi - lo, slotCount: slotCount))
                            guard mask != nil else { return }
                            for i in lo..<hi { v[i] *= m[i] }
                            for slot in 0..<slotCount {
                                let state = s.baseAddress! + slot * n
                                for i in lo..<hi { state[i] *= m[i] }
                            }
                        }
                        if let pool { pool.forEachRange(n, work) } else { work(0, n) }
                    }
                }
            }
        }
    }

    /// Adds every tensor of `others` into this one, in order (`self += others[0] + …`), the
    /// threads of `pool` (when given) taking disjoint ranges of entries.
    /// - Precondition: every tensor of `others` has this tensor's shape.
    /// - Complexity: O(count · others.count).
    public mutating func accumulate(_ others: [Tensor], pool: WorkerPool? = nil) {
        for other in others { precondition(other.shape == shape, "shapes differ: \(shape) vs \(other.shape)") }
        withUnsafeMutableBufferPointer { total in
            withUnsafeBuffers(others) { buffers in
                func work(_ lo: Int, _ hi: Int) {
                    for g in buffers { for j in lo..<hi { total[j] += g[j] } }
                }
                if let pool { pool.forEachRange(total.count, work) } else { work(0, total.count) }
            }
        }
    }
}
