#include "nkscape/model/diagnostics.hpp"

#include <algorithm>
#include <sstream>

namespace nkscape::model {

std::string SourceLocation::str() const {
    std::string s = file.empty() ? std::string("<input>") : file;
    if (line > 0) {
        s += ":" + std::to_string(line);
        if (column > 0) s += ":" + std::to_string(column);
    }
    return s;
}

namespace {
// Control characters (a NUL or an escape sequence in a key or a name echoed back) are written as
// \xHH: a diagnostic is one printable line on any terminal.
std::string printable(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
            static const char* hex = "0123456789ABCDEF";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}
}  // namespace

std::string Diagnostic::str() const {
    std::string s = printable(where.str()) + ": error: ";
    if (!entity.empty()) s += printable(entity) + ": ";
    if (!key.empty()) s += "key '" + printable(key) + "': ";
    s += printable(message);
    return s;
}

void Diagnostics::error(SourceLocation where, std::string entity, std::string key, std::string message) {
    items_.push_back(Diagnostic{std::move(where), std::move(entity), std::move(key), std::move(message)});
}

void Diagnostics::sort() {
    std::stable_sort(items_.begin(), items_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        if (a.where.file != b.where.file) return a.where.file < b.where.file;
        if (a.where.line != b.where.line) return a.where.line < b.where.line;
        return a.where.column < b.where.column;
    });
}

void Diagnostics::throwIfAny() const {
    if (!items_.empty()) throw ModelError(items_);
}

namespace {
std::string joinDiagnostics(const std::vector<Diagnostic>& d) {
    std::ostringstream os;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (i) os << '\n';
        os << d[i].str();
    }
    return os.str();
}
}  // namespace

ModelError::ModelError(std::vector<Diagnostic> diagnostics)
    : InputError(joinDiagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

}  // namespace nkscape::model
