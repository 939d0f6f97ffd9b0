// Survival data from CSV: a small RFC 4180 reader (the project's CSV module only writes) and the
// checks of each column, every problem named with file:line and the column.

#include "nkscape/stats/data.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"

namespace nkscape::stats {
namespace {

/// `text` for a message: control characters as "\xHH" (a file's bytes must not drive the
/// terminal), at most 60 characters.
std::string shown(std::string_view text) {
    std::string out;
    for (const char c : text.substr(0, 60)) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F)
            out += fmt::format("\\x{:02X}", static_cast<unsigned>(u));
        else
            out += c;
    }
    if (text.size() > 60) out += "...";
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// One CSV record: its fields and the line it starts on.
struct Record {
    std::size_t line = 0;
    std::vector<std::string> fields;
    bool blank = false;  ///< an empty line
};

/// Reads the records of `text` (quoted fields may hold commas, doubled quotes and line breaks).
class CsvReader {
public:
    CsvReader(std::string_view text, std::string_view source) : text_(text), source_(source) {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // a UTF-8 byte order mark
    }

    bool next(Record& rec) {
        if (pos_ >= text_.size()) return false;
        rec = Record{};
        rec.line = line_;
        std::string field;
        bool quoted = false;
        while (true) {
            if (pos_ >= text_.size()) {
                rec.fields.push_back(std::move(field));
                break;
            }
            const char c = text_[pos_++];
            if (quoted) {
                if (c == '"') {
                    if (pos_ < text_.size() && text_[pos_] == '"') {
                        field += '"';
                        ++pos_;
                    } else {
                        quoted = false;
                    }
                } else {
                    if (c == '\n') ++line_;
                    field += c;
                }
                if (quoted && pos_ >= text_.size())
                    throw InputError(fmt::format("{}:{}: unterminated quoted field", source_, rec.line));
            } else if (c == '"' && trim(field).empty()) {
                field.clear();
                quoted = true;
            } else if (c == ',') {
                rec.fields.push_back(std::move(field));
                field.clear();
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
                ++line_;
                rec.fields.push_back(std::move(field));
                break;
            } else {
                field += c;
            }
        }
        rec.blank = rec.fields.size() == 1 && trim(rec.fields[0]).empty();
        return true;
    }

private:
    std::string_view text_;
    std::string_view source_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
};

std::size_t findColumn(const std::vector<std::string>& header, const std::string& name, std::string_view source) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it != header.end()) return static_cast<std::size_t>(it - header.begin());
    std::string list;
    for (const auto& h : header) list += (list.empty() ? "" : ", ") + shown(h);
    throw InputError(fmt::format("{}: no column '{}' (columns: {})", source, shown(name), list));
}

}  // namespace

SurvivalData parseSurvivalCsv(std::string_view text, const SurvivalColumns& columns, std::string_view source) {
    CsvReader reader(text, source);
    Record rec;
    bool haveHeader = false;
    while (reader.next(rec))
        if (!rec.blank) {
            haveHeader = true;
            break;
        }
    if (!haveHeader) throw InputError(fmt::format("{}: the file is empty (a header row is required)", source));
    std::vector<std::string> header;
    for (const auto& f : rec.fields) header.emplace_back(trim(f));
    const std::size_t timeCol = findColumn(header, columns.time, source);
    const std::size_t eventCol = findColumn(header, columns.event, source);
    // An index, not an optional: GCC 12 warns (maybe-uninitialized) on an optional<size_t> here.
    const std::size_t groupCol = columns.group ? findColumn(header, *columns.group, source) : header.size();

    std::map<std::string, std::vector<Observation>> groups;  // ordered by name: R's factor levels
    std::size_t rows = 0;
    while (reader.next(rec)) {
        if (rec.blank) continue;
        const auto where = [&](const std::string& column) { return fmt::format("{}:{}: column '{}': ", source, rec.line, shown(column)); };
        if (rec.fields.size() != header.size())
            throw InputError(fmt::format("{}:{}: {} field{}, but the header has {} columns", source, rec.line, rec.fields.size(),
                                         rec.fields.size() == 1 ? "" : "s", header.size()));
        const std::string_view timeText = trim(rec.fields[timeCol]);
        double t = 0.0;
        const auto [end, ec] = std::from_chars(timeText.data(), timeText.data() + timeText.size(), t);
        if (timeText.empty() || ec != std::errc() || end != timeText.data() + timeText.size())
            throw InputError(where(columns.time) + (timeText.empty() ? std::string("the time is empty") : "'" + shown(timeText) + "' is not a number"));
        if (!std::isfinite(t)) throw InputError(where(columns.time) + "'" + shown(timeText) + "' is not finite");
        if (t < 0.0) throw InputError(where(columns.time) + "'" + shown(timeText) + "' is negative");
        const std::string_view eventText = trim(rec.fields[eventCol]);
        if (eventText != "0" && eventText != "1")
            throw InputError(where(columns.event) + "'" + shown(eventText) + "' is not 0 or 1 (1 = event, 0 = censored)");
        std::string group = "all";
        if (columns.group) {
            group = std::string(trim(rec.fields[groupCol]));
            if (group.empty()) throw InputError(where(*columns.group) + "the group is empty");
            // Group names go into CSV cells, JSON and the terminal: a control character (NUL, a
            // tab, an escape sequence) is refused, as in scenario files.
            for (std::size_t k = 0; k < group.size(); ++k) {
                const auto c = static_cast<unsigned char>(group[k]);
                if (c < 0x20 || c == 0x7f) {
                    char code[8];
                    std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
                    throw InputError(where(*columns.group) + "the group contains the control character " + code + " at byte " +
                                     std::to_string(k + 1) + "; group names must be printable");
                }
            }
        }
        groups[group].push_back({t, eventText == "1"});
        ++rows;
    }
    if (rows == 0) throw InputError(fmt::format("{}: no data rows after the header", source));
    SurvivalData data;
    data.source = std::string(source);
    for (auto& [name, obs] : groups) data.groups.push_back({name, std::move(obs)});
    return data;
}

SurvivalData readSurvivalCsv(const std::filesystem::path& path, const SurvivalColumns& columns) {
    std::string text;
    try {
        text = io::readFile(path);
    } catch (const IoError& e) {
        // A data file that is missing, too large or not a file is the user's input: exit 2.
        throw InputError(std::string("cannot read data file: ") + e.what());
    }
    return parseSurvivalCsv(text, columns, path.string());
}

}  // namespace nkscape::stats
