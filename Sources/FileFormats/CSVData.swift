import CSV
import Foundation
import NeuralNetwork

/// Reader for classification data in CSV: one sample per row, an integer label column and
/// numeric feature columns, with or without a header row.
///
/// Parsing (quotes, escaped quotes, CRLF) is yaslab/CSV.swift's streaming reader: it hands
/// over one row at a time, so a large file is never held as a table of strings. This type
/// adds what makes a row a sample: every row has as many fields as the first, every
/// feature is a finite number, every label a non-negative integer; anything else is an
/// error naming the file, the row (1-based, counting the header) and the column.
public enum CSVData {
    /// Which column holds the label.
    public enum LabelColumn: Equatable, Sendable {
        /// A header column named `label`, `class`, `target` or `y` (case-insensitive) when
        /// there is one, else the first column.
        case automatic
        /// The column at this 0-based index.
        case index(Int)
        /// The header column with this name.
        case named(String)
    }

    /// The header names that mark the label column under `.automatic`.
    public static let labelNames: Set<String> = ["label", "class", "target", "y"]

    /// A CSV file read as samples.
    public struct Table {
        /// Features, row-major `[rows, features]`.
        public var features: [Float]
        /// The number of feature columns.
        public var featureCount: Int
        /// One label per row.
        public var labels: [Int32]
        /// The 1-based row number in the file of each sample (the header is row 1).
        public var rowNumbers: [Int]
        /// The header's names, if the file has a header row.
        public var header: [String]?
        /// The 0-based index of the label column.
        public var labelColumn: Int
    }

    /// Reads a CSV (or, for `.tsv` files, tab-separated) file.
    /// - Parameter labelColumn: where the labels are (default: a column named `label`, else the first).
    /// - Throws: `FormatError` naming the file, the row and the column of the first bad field.
    public static func read(_ path: String, labelColumn: LabelColumn = .automatic) throws -> Table {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, FileManager.default.fileExists(atPath: path) ? .unreadable : .missingFile)
        }
        return try decode(data, path: path, delimiter: path.lowercased().hasSuffix(".tsv") ? "\t" : ",", labelColumn: labelColumn)
    }

    /// Parses CSV bytes (UTF-8); `path` names the source in errors.
    ///
    /// The first row is a header when any of its fields is not a number. Blank lines are skipped.
    /// - Throws: `FormatError` for text that is not UTF-8, a ragged row, a feature that is not a
    ///   finite number, a label that is not a non-negative integer, no rows, or no feature column.
    /// - Complexity: O(bytes).
    public static func decode(_ data: Data, path: String, delimiter: Unicode.Scalar = ",",
                              labelColumn: LabelColumn = .automatic) throws -> Table {
        func problem(_ what: String) -> FormatError { FormatError(path: path, .corrupt(what: what)) }
        guard let text = String(data: data, encoding: .utf8) else { throw problem("not UTF-8 text") }
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text,
                                   hasHeaderRow: false, trimFields: true, delimiter: delimiter)
        } catch {
            throw problem("cannot be read as CSV (\(error))")
        }
        var table = Table(features: [], featureCount: 0, labels: [], rowNumbers: [], header: nil, labelColumn: 0)
        var width = 0, row = 0
        while let fields = reader.next() {
            row += 1
            if fields.count == 1 && fields[0].isEmpty { continue }   // a blank line
            if width == 0 {
                width = fields.count
                guard width >= 2 else {
                    throw problem("row \(row) has \(width) field; a sample needs a label and at least one feature")
                }
                if fields.contains(where: { Float($0) == nil }) { table.header = fields }
                table.labelColumn = try resolve(labelColumn, header: table.header, width: width, path: path)
                table.featureCount = width - 1
                if table.header != nil { continue }
            }
            guard fields.count == width else {
                throw problem("row \(row) has \(fields.count) fields, the \(table.header == nil ? "first row" : "header") has \(width); every row needs the same columns")
            }
            for (column, field) in fields.enumerated() {
                if column == table.labelColumn {
                    table.labels.append(try label(field, row: row, column: column, header: table.header, path: path))
                } else {
                    guard let value = Float(field), value.isFinite else {
                        throw problem("row \(row), column \(name(column, header: table.header)): '\(field.prefix(40))' is not a finite number")
                    }
                    table.features.append(value)
                }
            }
            table.rowNumbers.append(row)
        }
        if let error = reader.error { throw problem("cannot be read as CSV (\(error))") }
        guard !table.labels.isEmpty else { throw problem("has no data rows") }
        return table
    }

    /// Reads a CSV file as a dataset of `[features]` samples (see `read(_:labelColumn:)`).
    public static func loadDataset(_ path: String, labelColumn: LabelColumn = .automatic) throws -> (dataset: Dataset, table: Table) {
        let table = try read(path, labelColumn: labelColumn)
        do {
            let dataset = try Dataset(inputs: table.features, sampleShape: [table.featureCount], labels: table.labels)
            return (dataset, table)
        } catch {
            throw FormatError(path: path, .other("\(error)"))
        }
    }

    private static func resolve(_ column: LabelColumn, header: [String]?, width: Int, path: String) throws -> Int {
        switch column {
        case .automatic:
            return header?.firstIndex { labelNames.contains($0.lowercased()) } ?? 0
        case let .index(i):
            guard (0..<width).contains(i) else {
                throw FormatError(path: path, .corrupt(what: "label column \(i) does not exist: rows have \(width) columns (0..<\(width))"))
            }
            return i
        case let .named(name):
            guard let header, let i = header.firstIndex(of: name) else {
                throw FormatError(path: path, .corrupt(what: "no header column named '\(name)'\(header.map { "; the header has \($0.prefix(8).joined(separator: ", "))\($0.count > 8 ? ", …" : "")" } ?? " (the file has no header row)")"))
            }
            return i
        }
    }

    private static func label(_ field: String, row: Int, column: Int, header: [String]?, path: String) throws -> Int32 {
        let value: Int32?
        if let v = Int32(field) {
            value = v
        } else if let d = Double(field), d.isFinite, d == d.rounded(), abs(d) <= Double(Int32.max) {
            value = Int32(d)
        } else {
            value = nil
        }
        guard let value else {
            throw FormatError(path: path, .corrupt(what: "row \(row), label column \(name(column, header: header)): '\(field.prefix(40))' is not an integer class label"))
        }
        guard value >= 0 else {
            throw FormatError(path: path, .corrupt(what: "row \(row), label column \(name(column, header: header)): label \(value) is negative; classes are 0, 1, 2, …"))
        }
        return value
    }

    private static func name(_ column: Int, header: [String]?) -> String {
        header.map { "'\($0[column])'" } ?? "\(column + 1)"
    }
}
