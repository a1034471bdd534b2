/// A plain-text table: a header, a rule, rows, and optionally a rule and a total row.
public struct TextTable {
    /// Column titles.
    public var header: [String]
    /// Body rows (each as wide as the header).
    public var rows: [[String]]
    /// A last row set off by a rule (totals), or nil.
    public var footer: [String]?
    /// Columns aligned right (numbers).
    public var rightAligned: Set<Int>

    /// Creates a table.
    public init(header: [String], rows: [[String]] = [], footer: [String]? = nil, rightAligned: Set<Int> = []) {
        self.header = header; self.rows = rows; self.footer = footer; self.rightAligned = rightAligned
    }

    /// The table as lines joined by newlines, columns separated by two spaces.
    public func render() -> String {
        let all = [header] + rows + (footer.map { [$0] } ?? [])
        let widths = header.indices.map { c in all.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            header.indices.map { c in
                let cell = c < row.count ? row[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
        let rule = String(repeating: "-", count: widths.reduce(0, +) + 2 * max(widths.count - 1, 0))
        var lines = [line(header), rule] + rows.map(line)
        if let footer { lines += [rule, line(footer)] }
        return lines.joined(separator: "\n")
    }
}
