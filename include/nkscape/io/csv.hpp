#pragma once
/// \file
/// A small CSV writer for result tables that pandas and R read as they are: a header row, one
/// row per record, comma-separated, "\n" line ends, RFC 4180 quoting (a field with a comma, a
/// double quote, a line break or white space at an end is quoted, inner quotes doubled). Numbers
/// are written like printf's "%.10g" but always with '.' as the decimal separator, whatever the
/// locale; NaN is written "NaN" and infinities "Inf"/"-Inf" (both pandas and R read these).

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nkscape::io {

/// One cell of a CSV table: text, a floating-point number or an integer.
using CsvCell = std::variant<std::string, double, std::int64_t>;

/// `text`, quoted and escaped if CSV needs it (see the file comment), else unchanged.
[[nodiscard]] std::string csvField(std::string_view text);

/// `v` as "%.10g" with '.' decimal separator (locale-independent); "NaN", "Inf", "-Inf".
[[nodiscard]] std::string csvNumber(double v);

/// A CSV table built row by row, then rendered with str().
class CsvTable {
public:
    /// \throws InputError if `columns` is empty.
    explicit CsvTable(std::vector<std::string> columns);

    /// Appends one row. \throws InputError if it has not exactly one cell per column.
    void addRow(std::vector<CsvCell> cells);

    [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
    [[nodiscard]] const std::vector<std::string>& columns() const noexcept { return columns_; }

    /// The whole table, header first, each line ending in "\n".
    [[nodiscard]] const std::string& str() const noexcept { return text_; }

private:
    std::vector<std::string> columns_;
    std::string text_;
    std::size_t rows_ = 0;
};

}  // namespace nkscape::io
