#include "nkscape/model/model.hpp"

#include <cmath>

#include "nkscape/error.hpp"
#include "spec.hpp"
#include "toml_names.hpp"

namespace nkscape::model {

std::string_view kindKey(Kind k) noexcept {
    switch (k) {
        case Kind::Receptor: return "receptor";
        case Kind::Ligand: return "ligand";
        case Kind::Interaction: return "interaction";
        case Kind::Mediator: return "mediator";
        case Kind::Factor: return "factor";
        case Kind::CellType: return "cell_type";
        case Kind::Regulation: return "regulation";
        case Kind::Pathway: return "pathway";
        case Kind::Therapy: return "therapy";
        case Kind::Constant: return "constant";
    }
    return "?";
}

std::optional<Kind> parseKind(std::string_view s) noexcept {
    for (Kind k : kAllKinds) {
        const std::string_view key = kindKey(k);
        if (s == key) return k;
        if (s.size() == key.size() + 1 && s.substr(0, key.size()) == key && s.back() == 's') return k;
    }
    if (s == "cell-type" || s == "cell-types" || s == "celltype" || s == "cells") return Kind::CellType;
    if (s == "mechanisms") return std::nullopt;
    return std::nullopt;
}

std::string_view sourceKindName(SourceKind k) noexcept {
    switch (k) {
        case SourceKind::Doi: return "doi";
        case SourceKind::Pmid: return "pmid";
        case SourceKind::Paper: return "paper";
        case SourceKind::Code: return "code";
        case SourceKind::Review: return "review";
        case SourceKind::Fit: return "fit";
        case SourceKind::Assumption: return "assumption";
    }
    return "?";
}

std::string_view cellCategoryKey(CellCategory c) noexcept {
    switch (c) {
        case CellCategory::Nk: return "nk";
        case CellCategory::Tumour: return "tumour";
        case CellCategory::Caf: return "caf";
        case CellCategory::Mdsc: return "mdsc";
        case CellCategory::Tam: return "tam";
        case CellCategory::Treg: return "treg";
        case CellCategory::Cd8T: return "cd8_t";
        case CellCategory::Dc: return "dc";
    }
    return "?";
}

std::string_view cellParamKey(CellParam p) noexcept {
    static constexpr std::string_view keys[] = {
        "doubling_time", "growth_rate", "death_rate", "proliferation_rate", "lifespan", "carrying_capacity",
        "diameter", "speed", "blood_count", "density", "kill_time", "granule_capacity", "granule_refill_time",
        "fraction_nonkiller"};
    const auto i = static_cast<std::size_t>(p);
    return i < std::size(keys) ? keys[i] : "?";
}

std::string_view pkParamKey(PkParam p) noexcept {
    static constexpr std::string_view keys[] = {
        "clearance", "v1", "v2", "v3", "q", "q2", "ka", "bioavailability", "half_life", "expansion_rate",
        "contraction_rate", "persistence", "tmdd_kd", "tmdd_kint", "clearance_cv", "ke0", "tmdd_sites"};
    const auto i = static_cast<std::size_t>(p);
    return i < std::size(keys) ? keys[i] : "?";
}

std::string_view mechanismActionKey(MechanismAction a) noexcept {
    static constexpr std::string_view keys[] = {"block",   "opsonise", "engage",  "car",     "supply", "inhibit",
                                                "neutralise", "lyse", "recruit", "deplete", "restore"};
    const auto i = static_cast<std::size_t>(a);
    return i < std::size(keys) ? keys[i] : "?";
}

ParamId Mechanism::param(std::string_view key) const noexcept {
    for (const auto& [k, id] : params)
        if (k == key) return id;
    return kNoParam;
}

std::optional<EntityRef> CompiledModel::find(std::string_view nameOrAlias) const {
    auto it = byName_.find(std::string(nameOrAlias));
    if (it == byName_.end()) return std::nullopt;
    return it->second;
}

std::optional<Index> CompiledModel::indexOf(Kind k, std::string_view nameOrAlias) const {
    auto r = find(nameOrAlias);
    if (!r || r->kind != k) return std::nullopt;
    return r->index;
}

Index CompiledModel::require(Kind k, std::string_view nameOrAlias) const {
    if (auto i = indexOf(k, nameOrAlias)) return *i;
    std::string msg = "model '" + info_.name + "' has no " + std::string(kindKey(k)) + " named '" + std::string(nameOrAlias) + "'";
    if (auto r = find(nameOrAlias)) msg += " ('" + std::string(nameOrAlias) + "' is a " + std::string(kindKey(r->kind)) + ")";
    throw InputError(msg);
}

double CompiledModel::constant(std::string_view name) const {
    if (auto i = indexOf(Kind::Constant, name)) return values_.at(constants_.at(*i));
    throw InputError("model '" + info_.name + "' declares no [[constant]] named '" + std::string(name) +
                     "' (an engine needs it; see docs/model-format.md, constants)");
}

std::string valueProblem(ValueConstraint constraint, const std::optional<std::pair<double, double>>& range, double value,
                         std::string_view unit, std::string_view key) {
    if (!std::isfinite(value)) return "value is not finite";
    if (auto m = detail::checkConstraint(static_cast<detail::Constraint>(constraint), value, key); !m.empty()) return m;
    if (range && (value < range->first || value > range->second)) {
        const std::string u = unit.empty() || unit == "1" ? "" : " " + std::string(unit);
        return "value " + detail::formatNumber(value) + u + " is outside its own range [" + detail::formatNumber(range->first) + ", " +
               detail::formatNumber(range->second) + "]" + u;
    }
    return {};
}

std::string CompiledModel::valueProblem(ParamId p, double value) const {
    const ParameterInfo& info = parameters_.at(p);
    const auto slash = info.path.rfind('/');
    const std::string_view key = slash == std::string::npos ? std::string_view(info.path) : std::string_view(info.path).substr(slash + 1);
    return model::valueProblem(info.constraint, info.range, value, info.internalUnit, key);
}

void CompiledModel::setValue(ParamId p, double value) {
    if (p >= values_.size()) throw InputError("model '" + info_.name + "' has no parameter #" + std::to_string(p));
    if (const std::string why = valueProblem(p, value); !why.empty())
        throw InputError("model '" + info_.name + "': parameter '" + parameters_[p].path + "' cannot be set to " + detail::formatNumber(value) +
                         ": " + why);
    values_[p] = value;
    parameters_[p].value = value;
}

void CompiledModel::setCounterfactualValue(ParamId p, double value) {
    if (p >= values_.size()) throw InputError("model '" + info_.name + "' has no parameter #" + std::to_string(p));
    const ParameterInfo& info = parameters_[p];
    const auto slash = info.path.rfind('/');
    const std::string_view key = slash == std::string::npos ? std::string_view(info.path) : std::string_view(info.path).substr(slash + 1);
    // The range is left out on purpose: it is the prior of patients, and a switched-off mechanism is none.
    if (const std::string why = model::valueProblem(info.constraint, std::nullopt, value, info.internalUnit, key); !why.empty())
        throw InputError("model '" + info_.name + "': parameter '" + info.path + "' cannot be set to " + detail::formatNumber(value) + ": " + why);
    values_[p] = value;
    parameters_[p].value = value;
}

std::optional<ParamId> CompiledModel::findParameter(std::string_view path) const {
    auto it = paramByPath_.find(std::string(path));
    if (it == paramByPath_.end()) return std::nullopt;
    return it->second;
}

}  // namespace nkscape::model
