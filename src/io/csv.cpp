// CSV rendering: RFC 4180 quoting, locale-independent "%.10g" numbers.

#include "nkscape/io/csv.hpp"

#include <charconv>
#include <cmath>

#include "nkscape/error.hpp"

namespace nkscape::io {

std::string csvField(std::string_view text) {
    bool quote = !text.empty() && (text.front() == ' ' || text.front() == '\t' || text.back() == ' ' || text.back() == '\t');
    for (char c : text) {
        if (c == ',' || c == '"' || c == '\n' || c == '\r') {
            quote = true;
            break;
        }
    }
    if (!quote) return std::string(text);
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string csvNumber(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
    // std::to_chars never uses the locale; general format with precision 10 is "%.10g".
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 10);
    return std::string(buf, r.ptr);
}

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
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i) text_ += ',';
        if (const auto* s = std::get_if<std::string>(&cells[i])) text_ += csvField(*s);
        else if (const auto* d = std::get_if<double>(&cells[i])) text_ += csvNumber(*d);
        else text_ += std::to_string(std::get<std::int64_t>(cells[i]));
    }
    text_ += '\n';
    ++rows_;
}

}  // namespace nkscape::io
