#pragma once
// Internal helpers shared by the trial runner and the digital twin (src/twin), which both turn a
// patient's prior values into a model and a simulation spec.

#include <string>
#include <utility>
#include <vector>

#include "nkscape/model/model.hpp"

namespace nkscape::trial::detail {

/// `path` with every "{subtype}" replaced by the name of cell type `subtype`.
inline std::string resolvePath(const model::CompiledModel& m, const std::string& path, model::Index subtype) {
    std::string p = path;
    const std::string name = m.entities(model::Kind::CellType)[subtype].name;
    for (std::size_t at; (at = p.find("{subtype}")) != std::string::npos;) p.replace(at, 9, name);
    return p;
}

/// Multiplies the entry of `i` in `list` by `factor`, adding (i, factor) if there is none.
inline void multiplyInto(std::vector<std::pair<model::Index, double>>& list, model::Index i, double factor) {
    for (auto& [k, v] : list)
        if (k == i) {
            v *= factor;
            return;
        }
    list.emplace_back(i, factor);
}

}  // namespace nkscape::trial::detail
