#pragma once
/// \file
/// Source locations and the error collector used by the model loader: loading never stops at the
/// first problem; every problem is recorded with file:line:column, entity and key, and all are
/// reported together in one ModelError.

#include <cstdint>
#include <string>
#include <vector>

#include "nkscape/error.hpp"

namespace nkscape::model {

/// Where something was written: a file and a 1-based line and column (0 when unknown).
struct SourceLocation {
    std::string file;
    std::uint32_t line = 0;
    std::uint32_t column = 0;

    /// "file:line:column" (or fewer parts when unknown).
    [[nodiscard]] std::string str() const;
};

/// One problem found while loading a model.
struct Diagnostic {
    SourceLocation where;
    std::string entity;  ///< "receptor 'NKG2D'", or empty for file-level problems
    std::string key;     ///< the offending key (dotted for nested keys), or empty
    std::string message;

    /// "file:line:col: error: receptor 'NKG2D': key 'weight': message".
    [[nodiscard]] std::string str() const;
};

/// Collects diagnostics; cheap to pass around by reference during a load.
class Diagnostics {
public:
    /// Records one error.
    void error(SourceLocation where, std::string entity, std::string key, std::string message);

    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] const std::vector<Diagnostic>& items() const noexcept { return items_; }

    /// Sorts by file, line, column (stable) so that reports read top to bottom.
    void sort();

    /// Throws ModelError with every recorded diagnostic if there is at least one.
    void throwIfAny() const;

private:
    std::vector<Diagnostic> items_;
};

/// A model (or scenario) failed validation. what() lists every diagnostic, one per line.
class ModelError : public InputError {
public:
    explicit ModelError(std::vector<Diagnostic> diagnostics);

    [[nodiscard]] const std::vector<Diagnostic>& diagnostics() const noexcept { return diagnostics_; }

private:
    std::vector<Diagnostic> diagnostics_;
};

}  // namespace nkscape::model
