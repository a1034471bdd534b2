/// The invariants of the CSR arrays, checked by the failable initializer for arrays that come
/// from outside (files) and, in debug builds, after every construction from a tensor.

extension CSRMatrix {
    /// Stops the program when the arrays break an invariant (see `invariantViolation()`).
    /// Debug builds call it after building a matrix from a tensor and after regrouping it.
    /// - Complexity: O(rows + non-zeros).
    public func checkInvariants() {
        if let problem = invariantViolation() { preconditionFailure("broken CSR matrix: \(problem)") }
    }

    /// The first broken invariant of this matrix's arrays, or nil when they are consistent.
    /// - Complexity: O(rows + non-zeros).
    public func invariantViolation() -> String? {
        Self.invariantViolation(rows: rows, columns: columns, rowStarts: rowStarts, columnIndices: columnIndices,
                                valueCount: values.count)
    }

    /// The first invariant that CSR arrays break, described, or nil when they are consistent:
    /// `rows + 1` row offsets rising from 0 to the value count, as many column indices as
    /// values, and within every row columns rising strictly and staying below `columns`.
    /// - Complexity: O(rows + non-zeros).
    package static func invariantViolation(rows: Int, columns: Int, rowStarts: [Int32], columnIndices: ColumnIndices,
                                           valueCount: Int) -> String? {
        guard rows >= 0, columns >= 0, rows < Int.max else { return "negative size \(rows)×\(columns)" }
        guard rowStarts.count == rows + 1 else { return "\(rowStarts.count) row offsets for \(rows) rows (needs \(rows + 1))" }
        guard rowStarts.first == 0 else { return "the first row offset is \(rowStarts[0]), not 0" }
        guard Int(rowStarts[rows]) == valueCount else {
            return "the last row offset is \(rowStarts[rows]), but there are \(valueCount) values"
        }
        guard columnIndices.count == valueCount else {
            return "\(columnIndices.count) column indices for \(valueCount) values"
        }
        for r in 0..<rows where rowStarts[r] > rowStarts[r + 1] {
            return "row offsets fall at row \(r): \(rowStarts[r]) then \(rowStarts[r + 1])"
        }
        func risingColumns<T: FixedWidthInteger>(_ c: [T]) -> String? {
            for r in 0..<rows {
                var previous = -1
                for p in Int(rowStarts[r])..<Int(rowStarts[r + 1]) {
                    let column = Int(c[p])
                    guard column < columns else { return "row \(r) stores column \(column), outside 0..<\(columns)" }
                    guard column > previous else { return "row \(r) stores column \(column) after column \(previous)" }
                    previous = column
                }
            }
            return nil
        }
        switch columnIndices {
        case let .narrow(c): return risingColumns(c)
        case let .wide(c): return risingColumns(c)
        }
    }
}
