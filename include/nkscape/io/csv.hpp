#pragma once
/// \file
/// A small CSV writer for result tables that pandas and R read as they are: a header row, one
/// row per record, comma-separated, "\n" line ends, RFC 4180 quoting (a field with a comma, a
/// double quote or a space at an end is quoted, inner quotes doubled).
///
/// Control characters (U+0000–U+001F and U+007F, including tab, line feed and carriage return)
/// are never written raw: each becomes the four visible characters "\xHH" (two upper-case hex
/// digits, e.g. a tab is written "\x09"), so every record is exactly one line and no reader has to
/// guess what an invisible byte meant. A backslash is not itself escaped: the escape is a defence
/// (scenario readers refuse control characters anyway), not a round-trip encoding.
///
/// Numbers are written like printf's "%.10g" but always with '.' as the decimal separator,
/// whatever the locale. NaN and infinities are never written as data: csvNumber() and
/// CsvTable::addRow() throw InternalError on them. A value that is legitimately undefined (a
/// confidence interval of one replicate, a ratio with a zero denominator) is written as an empty
/// field, explicitly, through csvMissing() / csvOptional().

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nkscape::io {

/// The cell of a value that is undefined on purpose: rendered as an empty field.
struct CsvMissing {
    friend bool operator==(CsvMissing, CsvMissing) = default;
};

/// One cell of a CSV table: text, a finite floating-point number, an integer, or missing.
using CsvCell = std::variant<std::string, double, std::int64_t, CsvMissing>;

/// `text`, with control characters escaped as "\xHH" and then quoted if CSV needs it (see the
/// file comment), else unchanged.
[[nodiscard]] std::string csvField(std::string_view text);

/// `v` as "%.10g" with '.' decimal separator (locale-independent).
/// \throws InternalError if `v` is NaN or infinite (no output may contain them).
[[nodiscard]] std::string csvNumber(double v);

/// The cell of a value that is undefined on purpose (an empty field). Use it where the caller has
/// decided the value does not exist, never to hide a NaN.
[[nodiscard]] constexpr CsvCell csvMissing() noexcept { return CsvCell{CsvMissing{}}; }

/// `v` as a number cell, or an empty field when `v` is std::nullopt.
/// \throws InternalError (from addRow) if `v` holds NaN or infinity: undefined is nullopt, not NaN.
[[nodiscard]] CsvCell csvOptional(std::optional<double> v);

/// A CSV table built row by row, then rendered with str().
class CsvTable {
public:
    /// \throws InputError if `columns` is empty.
    explicit CsvTable(std::vector<std::string> columns);

    /// Appends one row. \throws InputError if it has not exactly one cell per column;
    /// InternalError if a number cell is NaN or infinite (the message names the row and column).
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
