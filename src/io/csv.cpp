// CSV rendering: RFC 4180 quoting, visible escapes for control characters, locale-independent
// "%.10g" numbers, no NaN or infinity.

#include "nkscape/io/csv.hpp"

#include <charconv>
#include <cmath>

#include "nkscape/error.hpp"

namespace nkscape::io {
namespace {

bool isControl(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
}

}  // namespace

std::string csvField(std::string_view text) {
    // Escape first, so that the quoting decision sees what will actually be written.
    std::string escaped;
    escaped.reserve(text.size());
    for (char c : text) {
        if (isControl(c)) {
            static constexpr char kHex[] = "0123456789ABCDEF";
            const auto u = static_cast<unsigned char>(c);
            escaped += "\\x";
            escaped += kHex[u >> 4];
            escaped += kHex[u & 0xF];
        } else {
            escaped += c;
        }
    }
    // Spaces at an end are quoted: many readers strip unquoted ones.
    bool quote = !escaped.empty() && (escaped.front() == ' ' || escaped.back() == ' ');
    if (!quote) quote = escaped.find_first_of(",\"") != std::string::npos;
    if (!quote) return escaped;
    std::string out;
    out.reserve(escaped.size() + 2);
    out += '"';
    for (char c : escaped) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string csvNumber(double v) {
    if (!std::isfinite(v)) throw InternalError(std::string("a CSV number is ") + (std::isnan(v) ? "NaN" : "infinite") +
                                               "; outputs never hold non-finite values (use csvMissing() for an undefined one)");
    // std::to_chars never uses the locale; general format with precision 10 is "%.10g".
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 10);
    return std::string(buf, r.ptr);
}

CsvCell csvOptional(std::optional<double> v) { return v ? CsvCell{*v} : csvMissing(); }

CsvTable::CsvTable(std::vector<std::string> columns) : columns_(std::move(columns)) {
    if (columns_.empty()) throw InputError("CSV table: no columns");
    for (std::size_t i = 0; i < columns_.size(); ++i) {
        if (i) text_ += ',';
        text_ += csvField(columns_[i]);
    }
    text_ += '\n';
}

void CsvTable::addRow(std::vector<CsvCell> cells) {
    if (cells.size() != columns_.size()) {
        throw InputError("CSV table with columns '" + columns_.front() + ",...': row " + std::to_string(rows_ + 1) + " has " +
                         std::to_string(cells.size()) + " cells, expected " + std::to_string(columns_.size()));
    }
    // Render into a scratch line so that a refused row leaves the table unchanged.
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i) line += ',';
        if (const auto* s = std::get_if<std::string>(&cells[i])) {
            line += csvField(*s);
        } else if (const auto* d = std::get_if<double>(&cells[i])) {
            if (!std::isfinite(*d))
                throw InternalError("CSV table with columns '" + columns_.front() + ",...': row " + std::to_string(rows_ + 1) +
                                    ", column '" + columns_[i] + "' is " + (std::isnan(*d) ? "NaN" : "infinite") +
                                    "; outputs never hold non-finite values (use csvMissing() for an undefined one)");
            line += csvNumber(*d);
        } else if (const auto* n = std::get_if<std::int64_t>(&cells[i])) {
            line += std::to_string(*n);
        }
        // CsvMissing: an empty field.
    }
    text_ += line;
    text_ += '\n';
    ++rows_;
}

}  // namespace nkscape::io
