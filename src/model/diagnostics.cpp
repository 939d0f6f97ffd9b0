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

std::string Diagnostic::str() const {
    std::string s = where.str() + ": error: ";
    if (!entity.empty()) s += entity + ": ";
    if (!key.empty()) s += "key '" + key + "': ";
    s += message;
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
