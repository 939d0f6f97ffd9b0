// ModelSpec → CompiledModel. Checks what needs the whole model: names and aliases, references
// and the kinds they point at, keys whose unit or presence depends on another entity, inheritance
// (`based_on`), competition between receptors, pharmacokinetic and mechanism requirements.

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "nkscape/model/constants.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/model/units.hpp"
#include "parse.hpp"

namespace nkscape::model {

using detail::EntitySpec;
using detail::Field;
using detail::FieldType;
using detail::NamedParam;
using detail::ParamValue;
using detail::Table;

namespace {

std::string joinKinds(const std::vector<Kind>& kinds) {
    std::string s;
    std::size_t i = 0;
    for (Kind k : kinds) {
        if (i++) s += (i == kinds.size() ? " or " : ", ");
        s += kindKey(k);
    }
    return s;
}

std::optional<CellCategory> parseCategory(std::string_view s) {
    for (std::size_t i = 0; i < kCellCategoryCount; ++i) {
        const auto c = static_cast<CellCategory>(i);
        if (cellCategoryKey(c) == s) return c;
    }
    return std::nullopt;
}

template <class E>
E enumAt(const std::vector<std::string_view>& values, const std::string& text) {
    const auto it = std::find(values.begin(), values.end(), text);
    return static_cast<E>(it == values.end() ? 0 : it - values.begin());
}

const std::string& textOf(const Table& t, std::string_view key) {
    static const std::string empty;
    const Field* f = t.get(key);
    return f ? f->text : empty;
}

// The concentration-per-time unit a secretion rate must convert to, for a mediator measured in `u`.
std::string secretionUnit(const std::string& u) {
    const std::string suffix = "/mL";
    if (u.size() > suffix.size() && u.compare(u.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        u.find_first_of("/()") == u.size() - suffix.size()) {
        return u.substr(0, u.size() - suffix.size()) + "/(cell.h)";
    }
    return "(" + u + ").mL/(cell.h)";
}

}  // namespace

/// Builds a CompiledModel from a ModelSpec. A friend of CompiledModel.
class ModelCompiler {
public:
    ModelCompiler(detail::ModelSpec& spec, const UnitSystem& units, Diagnostics& diag)
        : spec_(spec), units_(units), diag_(diag) {}

    CompiledModel compile() {
        m_.info_ = spec_.info;
        for (auto& e : spec_.entities) {
            const auto k = static_cast<std::size_t>(e.kind);
            byKind_[k].push_back(&e);
        }
        registerNames();
        for (std::size_t i = 0; i < byKind_[idx(Kind::Mediator)].size(); ++i) compileMediator(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Receptor)].size(); ++i) compileReceptor(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Ligand)].size(); ++i) compileLigand(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Interaction)].size(); ++i) compileInteraction(i);
        checkCompetition();
        for (std::size_t i = 0; i < byKind_[idx(Kind::Factor)].size(); ++i) compileFactor(i);
        compileCellTypes();
        for (std::size_t i = 0; i < byKind_[idx(Kind::Regulation)].size(); ++i) compileRegulation(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Pathway)].size(); ++i) compilePathway(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Therapy)].size(); ++i) compileTherapy(i);
        for (std::size_t i = 0; i < byKind_[idx(Kind::Constant)].size(); ++i) compileConstant(i);
        return std::move(m_);
    }

private:
    detail::ModelSpec& spec_;
    const UnitSystem& units_;
    Diagnostics& diag_;
    CompiledModel m_;
    std::array<std::vector<EntitySpec*>, kKindCount> byKind_;

    static std::size_t idx(Kind k) { return static_cast<std::size_t>(k); }

    // ---- names ---------------------------------------------------------------------------------

    void registerNames() {
        std::map<std::string, std::pair<EntityRef, SourceLocation>> seen;
        for (Kind k : kAllKinds) {
            auto& infos = m_.entities_[idx(k)];
            const auto& list = byKind_[idx(k)];
            for (std::size_t i = 0; i < list.size(); ++i) {
                const EntitySpec& e = *list[i];
                EntityInfo info;
                info.kind = k;
                info.index = static_cast<Index>(i);
                info.name = e.name;
                info.description = e.description;
                info.review = e.review;
                info.where = e.where;
                for (const auto& [a, _] : e.aliases) info.aliases.push_back(a);
                infos.push_back(std::move(info));
                const EntityRef self{k, static_cast<Index>(i)};
                auto claim = [&](const std::string& n, const SourceLocation& where, const char* what) {
                    if (n.empty()) return;
                    auto [it, fresh] = seen.emplace(n, std::make_pair(self, where));
                    if (!fresh) {
                        const auto& [other, otherWhere] = it->second;
                        const auto& oe = *byKind_[idx(other.kind)][other.index];
                        diag_.error(where, e.label(), what,
                                    "duplicate name '" + n + "': already used by " + oe.label() + " at " + otherWhere.str());
                    } else {
                        m_.byName_.emplace(n, self);
                    }
                };
                claim(e.name, e.where, "name");
                for (const auto& [a, where] : e.aliases) claim(a, where, "aliases");
            }
        }
    }

    /// Resolves a name to an entity of one of `kinds`; records an error and returns nullopt if not.
    std::optional<EntityRef> resolve(const std::string& name, const SourceLocation& where, const EntitySpec& e,
                                     const std::string& key, const std::vector<Kind>& kinds) {
        auto r = m_.find(name);
        if (!r) {
            std::string msg = "unknown name '" + name + "' (expected a " + joinKinds(kinds) + ")";
            diag_.error(where, e.label(), key, msg);
            return std::nullopt;
        }
        if (std::find(kinds.begin(), kinds.end(), r->kind) == kinds.end()) {
            diag_.error(where, e.label(), key,
                        "'" + name + "' is a " + std::string(kindKey(r->kind)) + "; expected a " + joinKinds(kinds));
            return std::nullopt;
        }
        return r;
    }

    std::optional<EntityRef> resolveField(const EntitySpec& e, const Table& t, std::string_view key, const std::vector<Kind>& kinds) {
        const Field* f = t.get(key);
        if (!f) return std::nullopt;
        return resolve(f->text, f->where, e, std::string(key), kinds);
    }

    // ---- parameters ----------------------------------------------------------------------------

    ParamId addParam(const ParamValue& p, const std::string& path, EntityInfo& info) {
        ParameterInfo pi;
        pi.path = path;
        pi.value = p.internal;
        pi.internalUnit = p.internalUnit;
        pi.writtenValue = p.value;
        pi.writtenUnit = p.unit;
        pi.source = p.source;
        pi.sourceKind = p.sourceKind;
        pi.range = p.rangeInternal;
        pi.constraint = static_cast<ValueConstraint>(p.constraint);  // same enumerators, same order
        pi.cv = p.cv;
        pi.note = p.note;
        pi.where = p.where;
        const auto id = static_cast<ParamId>(m_.parameters_.size());
        m_.parameters_.push_back(std::move(pi));
        m_.values_.push_back(p.internal);
        m_.paramByPath_.emplace(path, id);
        info.params.push_back(id);
        return id;
    }

    std::string path(const EntitySpec& e, const std::string& key) const {
        return std::string(kindKey(e.kind)) + "/" + e.name + "/" + key;
    }

    /// Registers a top-level (or nested, with `prefix`) Param field; kNoParam if absent or invalid.
    ParamId param(const EntitySpec& e, const Table& t, std::string_view key, EntityInfo& info, const std::string& prefix = "") {
        const Field* f = t.get(key);
        if (!f || f->type != FieldType::Param || !std::isfinite(f->param.internal)) return kNoParam;
        return addParam(f->param, path(e, prefix + std::string(key)), info);
    }

    Field* mutableField(Table& t, std::string_view key) {
        for (auto& [k, f] : t.fields)
            if (k == key) return &f;
        return nullptr;
    }

    /// Converts a deferred-unit Param field of `t` into `unit`.
    void convertDeferred(const EntitySpec& e, Table& t, std::string_view key, const std::string& unit, const std::string& prefix = "") {
        Field* f = mutableField(t, key);
        if (!f || f->type != FieldType::Param) return;
        detail::convertParam(f->param, unit, units_, diag_, e.label(), prefix + std::string(key));
    }

    void attributes(const Table& t, EntityInfo& info, const std::string& prefix = "") {
        for (const auto& [k, f] : t.fields) {
            const std::string key = prefix + k;
            switch (f.type) {
                case FieldType::String:
                case FieldType::Enum:
                case FieldType::Ref: info.attributes.emplace_back(key, f.text); break;
                case FieldType::EnumList:
                case FieldType::RefList:
                case FieldType::StringList: {
                    std::string s;
                    for (std::size_t i = 0; i < f.list.size(); ++i) s += (i ? ", " : "") + f.list[i].first;
                    info.attributes.emplace_back(key, s);
                    break;
                }
                case FieldType::Bool: info.attributes.emplace_back(key, f.flag ? "true" : "false"); break;
                case FieldType::Table:
                    for (const auto& sub : f.tables) attributes(sub, info, key + ".");
                    break;
                case FieldType::TableArray:
                    for (std::size_t i = 0; i < f.tables.size(); ++i) attributes(f.tables[i], info, key + "[" + std::to_string(i) + "].");
                    break;
                default: break;
            }
        }
    }

    EntityInfo& info(Kind k, std::size_t i) { return m_.entities_[idx(k)][i]; }

    std::vector<CellCategory> categories(const Table& t, std::string_view key) {
        std::vector<CellCategory> out;
        if (const Field* f = t.get(key))
            for (const auto& [s, _] : f->list)
                if (auto c = parseCategory(s)) out.push_back(*c);
        return out;
    }

    // ---- kinds ---------------------------------------------------------------------------------

    void compileMediator(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Mediator)][i];
        EntityInfo& inf = info(Kind::Mediator, i);
        Mediator med;
        med.kind = enumAt<MediatorKind>(detail::entitySchema(Kind::Mediator).find("kind")->values, textOf(e.table, "kind"));
        med.unit = textOf(e.table, "unit");
        bool unitOk = false;
        if (const Field* f = e.table.get("unit")) {
            if (!units_.parses(med.unit)) {
                diag_.error(f->where, e.label(), "unit", "unit '" + med.unit + "' does not parse");
            } else if (!units_.convertible(med.unit, "mol/L") && !units_.convertible(med.unit, "g/L")) {
                diag_.error(f->where, e.label(), "unit",
                            "unit '" + med.unit + "' is not a concentration (mass or amount per volume, e.g. pg/mL or nM)");
            } else {
                unitOk = true;
                // Computed once here, where the unit system is at hand: engines turn a supplied
                // drug's concentration (nM) into this mediator's unit without one.
                if (units_.convertible(med.unit, "mol/L")) med.unitPerNanomolar = units_.convertOrThrow(1.0, "nM", med.unit);
                else med.unitPerNgPerMl = units_.convertOrThrow(1.0, "ng/mL", med.unit);
            }
        }
        if (unitOk) {
            convertDeferred(e, e.table, "basal_level", med.unit);
            convertDeferred(e, e.table, "plasma_baseline", med.unit);
            // Conversion factors for the engines, resolved once here (the unit system is loaded)
            // rather than by each Synapse, which would otherwise need a unit system of its own.
            if (units_.convertible(med.unit, "nM")) med.nanomolarPerUnit = units_.convertOrThrow(1.0, med.unit, "nM");
            if (units_.convertible(med.unit, "g/L")) med.gramsPerLitrePerUnit = units_.convertOrThrow(1.0, med.unit, "g/L");
        }
        attributes(e.table, inf);
        med.diffusivity = param(e, e.table, "diffusivity", inf);
        med.decayRate = param(e, e.table, "decay_rate", inf);
        med.halfLife = param(e, e.table, "half_life", inf);
        med.molecularWeight = param(e, e.table, "molecular_weight", inf);
        med.basalLevel = param(e, e.table, "basal_level", inf);
        med.plasmaHalfLife = param(e, e.table, "plasma_half_life", inf);
        med.plasmaBaseline = param(e, e.table, "plasma_baseline", inf);
        med.plasmaFormRatio = param(e, e.table, "plasma_form_ratio", inf);
        // The baseline and the form ratio describe the plasma compartment; without its half-life
        // there is none, and silently ignoring them would hide a typo.
        for (const char* key : {"plasma_baseline", "plasma_form_ratio"})
            if (e.table.get(key) && !e.table.has("plasma_half_life"))
                diag_.error(e.table.get(key)->where, e.label(), key, "needs plasma_half_life (the plasma compartment it describes)");
        if (e.table.get("decay_rate") && e.table.get("half_life")) {
            diag_.error(e.table.get("half_life")->where, e.label(), "half_life", "give decay_rate or half_life, not both");
        }
        const bool soluble = med.kind == MediatorKind::SolubleLigand;
        if (soluble && !e.table.has("ligand_of")) {
            diag_.error(e.where, e.label(), "ligand_of", "missing required key (kind is soluble_ligand)");
        } else if (!soluble && e.table.get("ligand_of")) {
            diag_.error(e.table.get("ligand_of")->where, e.label(), "ligand_of", "only a mediator of kind soluble_ligand has ligand_of");
        } else if (auto r = resolveField(e, e.table, "ligand_of", {Kind::Ligand})) {
            med.ligandOf = r->index;
        }
        m_.mediators_.push_back(std::move(med));
    }

    void compileReceptor(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Receptor)][i];
        EntityInfo& inf = info(Kind::Receptor, i);
        Receptor r;
        r.cls = enumAt<ReceptorClass>(detail::entitySchema(Kind::Receptor).find("class")->values, textOf(e.table, "class"));
        attributes(e.table, inf);
        r.weight = param(e, e.table, "weight", inf);
        r.activatingFraction = param(e, e.table, "activating_fraction", inf);
        const bool hasClass = e.table.get("class") != nullptr;
        if (hasClass) {
            if (r.cls == ReceptorClass::Adaptor) {
                for (const char* k : {"weight", "activating_fraction", "adaptors"})
                    if (const Field* f = e.table.get(k))
                        diag_.error(f->where, e.label(), k, "an adaptor (class = \"adaptor\") takes no '" + std::string(k) + "'");
            } else if (!e.table.has("weight")) {
                diag_.error(e.where, e.label(), "weight", "missing required key (every non-adaptor receptor has a signal weight)");
            }
            if (r.cls == ReceptorClass::Mixed && !e.table.has("activating_fraction")) {
                diag_.error(e.where, e.label(), "activating_fraction", "missing required key (class is mixed)");
            } else if (r.cls != ReceptorClass::Mixed && e.table.get("activating_fraction")) {
                diag_.error(e.table.get("activating_fraction")->where, e.label(), "activating_fraction",
                            "only a receptor of class mixed has activating_fraction");
            }
        }
        if (const Field* f = e.table.get("adaptors")) {
            for (const auto& [name, where] : f->list) {
                if (auto ref = resolve(name, where, e, "adaptors", {Kind::Receptor})) {
                    const auto& target = *byKind_[idx(Kind::Receptor)][ref->index];
                    if (textOf(target.table, "class") != "adaptor") {
                        diag_.error(where, e.label(), "adaptors", "'" + name + "' is not an adaptor (its class is '" + textOf(target.table, "class") + "')");
                    } else {
                        r.adaptors.push_back(ref->index);
                    }
                }
            }
        }
        m_.receptors_.push_back(std::move(r));
    }

    void compileLigand(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Ligand)][i];
        EntityInfo& inf = info(Kind::Ligand, i);
        Ligand l;
        const auto& schema = detail::entitySchema(Kind::Ligand);
        l.form = enumAt<LigandForm>(schema.find("form")->values, textOf(e.table, "form"));
        l.category = enumAt<LigandCategory>(schema.find("category")->values, textOf(e.table, "category"));
        attributes(e.table, inf);
        if (auto r = resolveField(e, e.table, "soluble_mediator", {Kind::Mediator})) {
            if (m_.mediators_[r->index].kind != MediatorKind::SolubleLigand) {
                diag_.error(e.table.get("soluble_mediator")->where, e.label(), "soluble_mediator",
                            "'" + textOf(e.table, "soluble_mediator") + "' is not a mediator of kind soluble_ligand");
            } else {
                l.solubleMediator = r->index;
            }
        }
        m_.ligands_.push_back(std::move(l));
    }

    void compileInteraction(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Interaction)][i];
        EntityInfo& inf = info(Kind::Interaction, i);
        Interaction x;
        attributes(e.table, inf);
        x.kd = param(e, e.table, "kd", inf);
        x.kon = param(e, e.table, "kon", inf);
        if (auto r = resolveField(e, e.table, "receptor", {Kind::Receptor})) {
            if (m_.receptors_[r->index].cls == ReceptorClass::Adaptor) {
                diag_.error(e.table.get("receptor")->where, e.label(), "receptor",
                            "'" + textOf(e.table, "receptor") + "' is an adaptor; adaptors bind no ligand");
            } else {
                x.receptor = r->index;
            }
        }
        if (auto r = resolveField(e, e.table, "ligand", {Kind::Ligand, Kind::Mediator})) {
            if (r->kind == Kind::Mediator && m_.mediators_[r->index].kind != MediatorKind::SolubleLigand) {
                diag_.error(e.table.get("ligand")->where, e.label(), "ligand",
                            "'" + textOf(e.table, "ligand") + "' is a mediator but not of kind soluble_ligand");
            } else {
                x.ligand = *r;
            }
        }
        if (const Field* f = e.table.get("competes_with")) {
            for (const auto& [name, where] : f->list)
                if (auto r = resolve(name, where, e, "competes_with", {Kind::Receptor})) x.competesWith.push_back(r->index);
        }
        m_.interactions_.push_back(std::move(x));
    }

    void checkCompetition() {
        const auto& list = byKind_[idx(Kind::Interaction)];
        std::set<std::pair<Index, std::pair<int, Index>>> pairs;  // (receptor, ligand ref)
        for (const auto& x : m_.interactions_)
            if (x.receptor != kNoIndex && x.ligand.valid())
                pairs.insert({x.receptor, {static_cast<int>(x.ligand.kind), x.ligand.index}});
        std::set<std::pair<Index, std::pair<int, Index>>> seenPair;
        for (std::size_t i = 0; i < m_.interactions_.size(); ++i) {
            const auto& x = m_.interactions_[i];
            const EntitySpec& e = *list[i];
            if (x.receptor == kNoIndex || !x.ligand.valid()) continue;
            const std::pair<Index, std::pair<int, Index>> key{x.receptor, {static_cast<int>(x.ligand.kind), x.ligand.index}};
            if (!seenPair.insert(key).second) {
                diag_.error(e.where, e.label(), "receptor",
                            "the pair " + textOf(e.table, "receptor") + " : " + textOf(e.table, "ligand") + " is declared twice");
            }
            const Field* f = e.table.get("competes_with");
            for (Index other : x.competesWith) {
                const std::string& oname = m_.entities_[idx(Kind::Receptor)][other].name;
                if (other == x.receptor) {
                    diag_.error(f->where, e.label(), "competes_with", "a receptor cannot compete with itself");
                } else if (!pairs.count({other, {static_cast<int>(x.ligand.kind), x.ligand.index}})) {
                    diag_.error(f->where, e.label(), "competes_with",
                                "'" + oname + "' has no interaction with '" + textOf(e.table, "ligand") + "', so it cannot compete for it");
                }
            }
        }
    }

    void compileFactor(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Factor)][i];
        EntityInfo& inf = info(Kind::Factor, i);
        Factor f;
        f.role = enumAt<FactorRole>(detail::entitySchema(Kind::Factor).find("role")->values, textOf(e.table, "role"));
        f.cells = categories(e.table, "cells");
        attributes(e.table, inf);
        f.baseline = param(e, e.table, "baseline", inf);
        m_.factors_.push_back(std::move(f));
    }

    // ---- cell types (with based_on inheritance) -------------------------------------------------

    struct LevelDraft {
        EntityRef target;
        ParamValue value;
        std::string name;  // as written, for the path
    };
    struct CellDraft {
        bool resolved = false;
        bool visiting = false;
        std::vector<LevelDraft> expression, secretion, uptake, factors, traits;
        std::map<std::string, ParamValue> scalars;
        std::string category, subtype, polarisation;
        std::optional<bool> er, pr, her2;
    };
    std::vector<CellDraft> cellDrafts_;

    std::string traitUnit(EntityRef r) const {
        switch (r.kind) {
            case Kind::Receptor:
            case Kind::Ligand: return "molecule/cell";
            case Kind::Factor: return "1";
            case Kind::Mediator: return secretionUnit(m_.mediators_[r.index].unit);
            default: return "1";
        }
    }

    void levels(EntitySpec& e, std::string_view key, const std::vector<Kind>& kinds, std::vector<LevelDraft>& out) {
        Field* f = mutableField(e.table, key);
        if (!f) return;
        std::set<std::pair<int, Index>> seen;
        for (auto& np : f->entries) {
            auto r = resolve(np.name, np.where, e, std::string(key) + "." + np.name, kinds);
            if (!r) continue;
            if (!seen.insert({static_cast<int>(r->kind), r->index}).second) {
                diag_.error(np.where, e.label(), std::string(key) + "." + np.name, "given twice (under another name or alias)");
                continue;
            }
            const std::string k = std::string(key) + "." + np.name;
            if (key == "secretion") {
                if (!detail::convertParam(np.param, secretionUnit(m_.mediators_[r->index].unit), units_, diag_, e.label(), k)) continue;
            } else if (key == "traits") {
                if (!detail::convertParam(np.param, traitUnit(*r), units_, diag_, e.label(), k)) continue;
            } else if (key == "uptake") {
                if (!detail::convertParam(np.param, "mL/(cell.h)", units_, diag_, e.label(), k)) continue;
            }
            if (!std::isfinite(np.param.internal)) continue;
            out.push_back(LevelDraft{*r, np.param, np.name});
        }
    }

    void draftCell(std::size_t i) {
        CellDraft& d = cellDrafts_[i];
        if (d.resolved) return;
        EntitySpec& e = *byKind_[idx(Kind::CellType)][i];
        if (d.visiting) {
            diag_.error(e.table.get("based_on")->where, e.label(), "based_on", "based_on forms a cycle through '" + e.name + "'");
            d.resolved = true;
            return;
        }
        d.visiting = true;
        // Start from the parent's resolved draft, if any.
        if (auto r = resolveField(e, e.table, "based_on", {Kind::CellType})) {
            if (r->index == i) {
                diag_.error(e.table.get("based_on")->where, e.label(), "based_on", "a cell type cannot be based on itself");
            } else {
                draftCell(r->index);
                const CellDraft& p = cellDrafts_[r->index];
                const std::string& pcat = p.category;
                if (!textOf(e.table, "category").empty() && !pcat.empty() && pcat != textOf(e.table, "category")) {
                    diag_.error(e.table.get("based_on")->where, e.label(), "based_on",
                                "'" + textOf(e.table, "based_on") + "' is of category " + pcat + ", this cell type of " + textOf(e.table, "category"));
                }
                d.expression = p.expression;
                d.secretion = p.secretion;
                d.uptake = p.uptake;
                d.factors = p.factors;
                d.traits = p.traits;
                d.scalars = p.scalars;
                d.subtype = p.subtype;
                d.polarisation = p.polarisation;
                d.er = p.er;
                d.pr = p.pr;
                d.her2 = p.her2;
            }
        }
        d.category = textOf(e.table, "category");
        if (e.table.get("subtype")) d.subtype = textOf(e.table, "subtype");
        if (e.table.get("polarisation")) d.polarisation = textOf(e.table, "polarisation");
        if (const Field* f = e.table.get("er")) d.er = f->flag;
        if (const Field* f = e.table.get("pr")) d.pr = f->flag;
        if (const Field* f = e.table.get("her2")) d.her2 = f->flag;
        auto overlay = [](std::vector<LevelDraft>& base, std::vector<LevelDraft> own) {
            for (auto& o : own) {
                auto it = std::find_if(base.begin(), base.end(), [&](const LevelDraft& b) { return b.target == o.target; });
                if (it != base.end()) *it = std::move(o);
                else base.push_back(std::move(o));
            }
        };
        std::vector<LevelDraft> tmp;
        levels(e, "expression", {Kind::Receptor, Kind::Ligand}, tmp);
        overlay(d.expression, std::move(tmp));
        tmp.clear();
        levels(e, "secretion", {Kind::Mediator}, tmp);
        overlay(d.secretion, std::move(tmp));
        tmp.clear();
        levels(e, "uptake", {Kind::Mediator}, tmp);
        overlay(d.uptake, std::move(tmp));
        tmp.clear();
        levels(e, "factors", {Kind::Factor}, tmp);
        overlay(d.factors, std::move(tmp));
        tmp.clear();
        levels(e, "traits", {Kind::Ligand, Kind::Receptor, Kind::Factor, Kind::Mediator}, tmp);
        overlay(d.traits, std::move(tmp));
        for (std::size_t p = 0; p < kCellParamCount; ++p) {
            const std::string key(cellParamKey(static_cast<CellParam>(p)));
            if (const Field* f = e.table.get(key); f && f->type == FieldType::Param && std::isfinite(f->param.internal)) {
                d.scalars[key] = f->param;
            }
        }
        d.visiting = false;
        d.resolved = true;
    }

    void compileCellTypes() {
        const auto& list = byKind_[idx(Kind::CellType)];
        cellDrafts_.assign(list.size(), CellDraft{});
        for (std::size_t i = 0; i < list.size(); ++i) draftCell(i);
        const auto& schema = detail::entitySchema(Kind::CellType);
        for (std::size_t i = 0; i < list.size(); ++i) {
            EntitySpec& e = *list[i];
            EntityInfo& inf = info(Kind::CellType, i);
            const CellDraft& d = cellDrafts_[i];
            CellType c;
            c.category = enumAt<CellCategory>(schema.find("category")->values, d.category);
            attributes(e.table, inf);
            if (auto r = m_.find(textOf(e.table, "based_on")); r && r->kind == Kind::CellType) c.basedOn = r->index;
            const bool hasCategory = e.table.get("category") != nullptr;
            if (hasCategory) {
                if (c.category == CellCategory::Tumour) {
                    if (d.subtype.empty() && !e.table.has("subtype")) diag_.error(e.where, e.label(), "subtype", "missing required key (category is tumour)");
                    else c.subtype = enumAt<TumourSubtype>({"", "luminal_a", "luminal_b", "her2_enriched", "tnbc"}, d.subtype);
                    c.er = d.er;
                    c.pr = d.pr;
                    c.her2 = d.her2;
                } else {
                    for (const char* k : {"subtype", "er", "pr", "her2"})
                        if (const Field* f = e.table.get(k))
                            diag_.error(f->where, e.label(), k, "only a tumour cell type has '" + std::string(k) + "'");
                }
                if (c.category == CellCategory::Tam) {
                    if (d.polarisation.empty() && !e.table.has("polarisation")) diag_.error(e.where, e.label(), "polarisation", "missing required key (category is tam)");
                    else c.polarisation = d.polarisation == "m1" ? Polarisation::M1 : Polarisation::M2;
                } else if (const Field* f = e.table.get("polarisation")) {
                    diag_.error(f->where, e.label(), "polarisation", "only a TAM cell type has 'polarisation'");
                }
            }
            if (d.scalars.count("doubling_time") && d.scalars.count("growth_rate")) {
                diag_.error(e.where, e.label(), "growth_rate", "give doubling_time or growth_rate, not both");
            }
            auto emit = [&](const std::vector<LevelDraft>& from, std::vector<LevelEntry>& to, const std::string& key) {
                for (const auto& l : from) to.push_back(LevelEntry{l.target, addParam(l.value, path(e, key + "." + l.name), inf)});
            };
            emit(d.expression, c.expression, "expression");
            emit(d.secretion, c.secretion, "secretion");
            emit(d.uptake, c.uptake, "uptake");
            emit(d.factors, c.factors, "factors");
            emit(d.traits, c.traits, "traits");
            for (std::size_t p = 0; p < kCellParamCount; ++p) {
                const std::string key(cellParamKey(static_cast<CellParam>(p)));
                if (auto it = d.scalars.find(key); it != d.scalars.end()) c.params[p] = addParam(it->second, path(e, key), inf);
            }
            m_.cellTypes_.push_back(std::move(c));
        }
    }

    // ---- regulations, pathways, therapies -------------------------------------------------------

    void compileRegulation(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Regulation)][i];
        EntityInfo& inf = info(Kind::Regulation, i);
        Regulation r;
        r.on = categories(e.table, "on");
        r.direction = textOf(e.table, "direction") == "up" ? Direction::Up : Direction::Down;
        r.trigger = textOf(e.table, "trigger") == "low" ? Trigger::Low : Trigger::High;
        if (auto by = resolveField(e, e.table, "by", {Kind::Mediator, Kind::CellType, Kind::Factor})) {
            r.by = *by;
            std::string ec50Unit;
            switch (by->kind) {
                case Kind::Mediator:
                    r.mode = RegulationMode::Concentration;
                    ec50Unit = m_.mediators_[by->index].unit;
                    break;
                case Kind::CellType:
                    r.mode = RegulationMode::Contact;
                    ec50Unit = "cell/mL";
                    break;
                default:
                    r.mode = RegulationMode::State;
                    ec50Unit = "1";
                    break;
            }
            const char* modes[] = {"concentration", "contact", "state"};
            if (const Field* f = e.table.get("mode"); f && f->text != modes[static_cast<int>(r.mode)]) {
                diag_.error(f->where, e.label(), "mode",
                            "mode '" + f->text + "' does not fit 'by' = '" + textOf(e.table, "by") + "', a " +
                                std::string(kindKey(by->kind)) + " (mode " + modes[static_cast<int>(r.mode)] + ")");
            }
            if (units_.parses(ec50Unit)) convertDeferred(e, e.table, "ec50", ec50Unit);
        }
        if (auto t = resolveField(e, e.table, "target", {Kind::Receptor, Kind::Ligand, Kind::Factor, Kind::Mediator})) {
            r.target = *t;
            if (t->kind == Kind::Factor) {
                const auto& cells = m_.factors_[t->index].cells;
                for (CellCategory c : r.on) {
                    if (std::find(cells.begin(), cells.end(), c) == cells.end()) {
                        diag_.error(e.table.get("on")->where, e.label(), "on",
                                    "factor '" + textOf(e.table, "target") + "' is not declared in cells of category '" +
                                        std::string(cellCategoryKey(c)) + "' (its cells list)");
                    }
                }
            }
        }
        if (auto sb = resolveField(e, e.table, "scaled_by", {Kind::Factor})) {
            r.scaledBy = *sb;
            const auto& cells = m_.factors_[sb->index].cells;
            for (CellCategory c : r.on) {
                if (std::find(cells.begin(), cells.end(), c) == cells.end()) {
                    diag_.error(e.table.get("scaled_by")->where, e.label(), "scaled_by",
                                "factor '" + textOf(e.table, "scaled_by") + "' is not declared in cells of category '" +
                                    std::string(cellCategoryKey(c)) + "' (its cells list), so it cannot scale the regulation there");
                }
            }
        }
        attributes(e.table, inf);
        r.ec50 = param(e, e.table, "ec50", inf);
        r.emax = param(e, e.table, "emax", inf);
        r.hill = param(e, e.table, "hill", inf);
        r.tau = param(e, e.table, "tau", inf);
        if (r.direction == Direction::Down && r.emax != kNoParam && m_.values_[r.emax] > 1.0) {
            diag_.error(e.table.get("emax")->where, e.label(), "emax",
                        "a down-regulation's emax must be in [0, 1] (it removes at most all of the target)");
        }
        m_.regulations_.push_back(std::move(r));
    }

    void compilePathway(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Pathway)][i];
        EntityInfo& inf = info(Kind::Pathway, i);
        Pathway p;
        p.cells = categories(e.table, "cells");
        attributes(e.table, inf);
        if (const Field* f = e.table.get("edges")) {
            for (std::size_t j = 0; j < f->tables.size(); ++j) {
                const Table& t = f->tables[j];
                const std::string prefix = "edges[" + std::to_string(j) + "].";
                PathwayEdge edge;
                edge.sign = textOf(t, "sign") == "-" ? -1 : +1;
                edge.weight = param(e, t, "weight", inf, prefix);
                auto from = resolveField(e, t, "from", {Kind::Factor, Kind::Receptor, Kind::Ligand, Kind::Mediator});
                auto to = resolveField(e, t, "to", {Kind::Factor, Kind::Receptor, Kind::Ligand, Kind::Mediator});
                if (from && to) {
                    edge.from = *from;
                    edge.to = *to;
                    if (*from == *to) diag_.error(t.where, e.label(), prefix + "to", "an edge from a node to itself");
                    p.edges.push_back(edge);
                }
            }
        }
        m_.pathways_.push_back(std::move(p));
    }

    void compileTherapy(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Therapy)][i];
        EntityInfo& inf = info(Kind::Therapy, i);
        Therapy th;
        const auto& schema = detail::entitySchema(Kind::Therapy);
        const std::string& kind = textOf(e.table, "kind");
        th.kind = enumAt<TherapyKind>(schema.find("kind")->values, kind);
        th.isotype = textOf(e.table, "isotype");
        th.doseUnit = textOf(e.table, "dose_unit");
        attributes(e.table, inf);
        th.molecularWeight = param(e, e.table, "molecular_weight", inf);
        if (const Field* f = e.table.get("trials"))
            for (const auto& [s, _] : f->list) th.trials.push_back(s);
        const bool antibody = kind == "blocking_antibody" || kind == "opsonising_antibody" || kind == "bispecific_antibody";
        if (!kind.empty()) {
            if (antibody && !e.table.has("isotype")) diag_.error(e.where, e.label(), "isotype", "missing required key (an antibody's isotype decides its Fc function)");
            if (kind == "cell_therapy") {
                if (!e.table.has("product")) diag_.error(e.where, e.label(), "product", "missing required key (kind is cell_therapy)");
                else if (auto r = resolveField(e, e.table, "product", {Kind::CellType})) th.product = r->index;
            } else if (const Field* f = e.table.get("product")) {
                diag_.error(f->where, e.label(), "product", "only a cell_therapy has a product");
            }
        }
        if (const Field* f = e.table.get("pk"); f && !f->tables.empty()) compilePk(e, f->tables.front(), th.pk, inf);
        if (const Field* f = e.table.get("mechanism")) {
            for (std::size_t j = 0; j < f->tables.size(); ++j) compileMechanism(e, f->tables[j], j, th, inf);
        }
        m_.therapies_.push_back(std::move(th));
    }

    void compileConstant(std::size_t i) {
        EntitySpec& e = *byKind_[idx(Kind::Constant)][i];
        EntityInfo& inf = info(Kind::Constant, i);
        const ConstantSpec* spec = findConstantSpec(e.name);
        if (!spec) {
            std::vector<std::string_view> names;
            for (const auto& c : constantSpecs()) names.push_back(c.name);
            std::string msg = "no engine uses a constant named '" + e.name + "'";
            if (auto m = detail::closestMatch(e.name, names); !m.empty()) msg += " (did you mean '" + m + "'?)";
            else msg += "; the known constants are listed in docs/model-format.md";
            diag_.error(e.where, e.label(), "name", msg);
        } else if (Field* f = mutableField(e.table, "value")) {
            f->param.constraint = static_cast<detail::Constraint>(spec->constraint);  // same enumerators, same order
            detail::convertParam(f->param, spec->unit, units_, diag_, e.label(), "value");
        }
        if (inf.description.empty() && spec) inf.description = std::string(spec->doc);
        m_.constants_.push_back(param(e, e.table, "value", inf));
    }

    void compilePk(const EntitySpec& e, const Table& t, Pk& pk, EntityInfo& inf) {
        const auto& values = detail::entitySchema(Kind::Therapy).find("pk")->nested->find("model")->values;
        const std::string& model = textOf(t, "model");
        pk.model = enumAt<PkModel>(values, model);
        pk.route = textOf(t, "route");
        for (std::size_t p = 0; p < kPkParamCount; ++p) pk.params[p] = param(e, t, pkParamKey(static_cast<PkParam>(p)), inf, "pk.");
        if (model.empty()) return;
        auto need = [&](std::initializer_list<const char*> keys, const std::string& why) {
            for (const char* k : keys)
                if (!t.has(k)) diag_.error(t.where, e.label(), std::string("pk.") + k, "missing required key (" + why + ")");
        };
        if (model == "none") {
            // A local therapy (virus, procedure) has no concentration; `persistence` is how long
            // one administration stays active in the tumour (the engine's local activity).
            for (std::size_t p = 0; p < kPkParamCount; ++p) {
                const std::string k(pkParamKey(static_cast<PkParam>(p)));
                if (k == "persistence") continue;
                if (const Field* f = t.get(k)) diag_.error(f->where, e.label(), "pk." + k, "pk model 'none' takes no parameter but persistence");
            }
        } else if (model == "one_compartment") {
            if (!t.has("clearance") && !t.has("half_life")) need({"clearance"}, "one_compartment needs clearance or half_life");
            need({"v1"}, "one_compartment");
        } else if (model == "two_compartment") {
            need({"clearance", "v1", "q", "v2"}, "two_compartment");
        } else if (model == "three_compartment") {
            need({"clearance", "v1", "q", "v2", "q2", "v3"}, "three_compartment");
        } else if (model == "cell_kinetics") {
            if (!t.has("half_life") && !t.has("persistence")) need({"persistence"}, "cell_kinetics needs half_life or persistence");
        }
        if (pk.route == "subcutaneous" && model != "none" && model != "cell_kinetics") need({"ka"}, "route is subcutaneous");
        // ke0: an effect compartment, which only a drug with a concentration has.
        if (const Field* f = t.get("ke0"); f != nullptr && (model == "cell_kinetics"))
            diag_.error(f->where, e.label(), "pk.ke0", "an effect compartment (ke0) needs a drug concentration; a cell product has none");
    }

    void compileMechanism(const EntitySpec& e, const Table& t, std::size_t j, Therapy& th, EntityInfo& inf) {
        const std::string prefix = "mechanism[" + std::to_string(j) + "].";
        const std::string& action = textOf(t, "action");
        Mechanism m;
        m.action = enumAt<MechanismAction>(detail::entitySchema(Kind::Therapy).find("mechanism")->nested->find("action")->values, action);
        struct Rule {
            std::vector<std::string_view> required;
            std::vector<Kind> targets;
            bool categoryTarget;
            std::vector<std::string_view> optional = {};
        };
        static const std::map<std::string, Rule, std::less<>> rules = {
            {"block", {{"kd"}, {Kind::Receptor, Kind::Ligand}, false}},
            {"opsonise", {{"kd", "fc_gain"}, {Kind::Ligand}, false}},
            {"engage", {{"kd", "gain"}, {Kind::Ligand}, false}},
            {"car", {{"gain"}, {Kind::Ligand}, false}},
            {"supply", {{"potency"}, {Kind::Mediator}, false}},
            {"inhibit", {{"ic50", "emax"}, {Kind::Factor, Kind::Mediator, Kind::Receptor, Kind::Ligand}, false}},
            {"neutralise", {{"kd"}, {Kind::Mediator}, false}},
            // ic50: exposure of a systemic drug (c / (c + ic50)); spare_half: antigen level at
            // which lysis is halved, for a lysis that spares antigen-high cells (with `spares`).
            {"lyse", {{"rate"}, {Kind::CellType}, true, {"ic50", "spare_half"}}},
            {"recruit", {{"gain"}, {Kind::CellType}, true, {"ic50"}}},
            {"deplete", {{"rate"}, {Kind::CellType}, true, {"ic50"}}},
            {"restore", {{"emax", "ic50"}, {Kind::Factor, Kind::Ligand}, false}},
        };
        auto it = rules.find(action);
        if (it == rules.end()) return;  // bad action already reported by the parser
        const Rule& rule = it->second;
        static const std::vector<std::string_view> numeric = {"kd", "ic50", "emax", "gain", "fc_gain", "potency", "rate", "spare_half"};
        for (auto k : numeric) {
            const bool req = std::find(rule.required.begin(), rule.required.end(), k) != rule.required.end();
            const bool opt = std::find(rule.optional.begin(), rule.optional.end(), k) != rule.optional.end();
            const Field* f = t.get(k);
            if (req && !t.has(k)) diag_.error(t.where, e.label(), prefix + std::string(k), "missing required key (action " + action + ")");
            if (!req && !opt && f) diag_.error(f->where, e.label(), prefix + std::string(k), "does not apply to action '" + action + "'");
            if ((req || opt) && f) m.params.emplace_back(std::string(k), param(e, t, k, inf, prefix));
        }
        if (const Field* f = t.get("spares")) {
            if (action != "lyse") diag_.error(f->where, e.label(), prefix + "spares", "only action 'lyse' spares an antigen");
            else if (auto r = resolve(f->text, f->where, e, prefix + "spares", {Kind::Ligand})) m.spares = *r;
            if (action == "lyse" && !t.has("spare_half")) diag_.error(f->where, e.label(), prefix + "spare_half", "missing required key (lyse with spares)");
        } else if (const Field* g = t.get("spare_half"); g != nullptr && action == "lyse") {
            diag_.error(g->where, e.label(), prefix + "spare_half", "needs 'spares' (the antigen whose high level protects a cell)");
        }
        if (action == "engage") {
            if (!t.has("receptors")) diag_.error(t.where, e.label(), prefix + "receptors", "missing required key (action engage)");
        } else if (const Field* f = t.get("receptors")) {
            diag_.error(f->where, e.label(), prefix + "receptors", "only action 'engage' has receptors");
        }
        if (action == "car") {
            if (!t.has("costimulation")) diag_.error(t.where, e.label(), prefix + "costimulation", "missing required key (action car; write \"none\" for a first-generation CAR)");
            else m.costimulation = textOf(t, "costimulation");
        } else if (const Field* f = t.get("costimulation")) {
            diag_.error(f->where, e.label(), prefix + "costimulation", "only action 'car' has costimulation");
        }
        if (const Field* f = t.get("receptors")) {
            for (const auto& [name, where] : f->list)
                if (auto r = resolve(name, where, e, prefix + "receptors", {Kind::Receptor})) m.receptors.push_back(r->index);
        }
        if (const Field* f = t.get("target")) {
            if (rule.categoryTarget) {
                if (auto c = parseCategory(f->text)) m.targetCategory = *c;
                else if (auto r = resolve(f->text, f->where, e, prefix + "target", {Kind::CellType})) m.target = *r;
            } else if (auto r = resolve(f->text, f->where, e, prefix + "target", rule.targets)) {
                m.target = *r;
            }
        }
        th.mechanisms.push_back(std::move(m));
    }
};

CompiledModel compileModel(detail::ModelSpec& spec, const UnitSystem& units, Diagnostics& diag) {
    ModelCompiler c(spec, units, diag);
    return c.compile();
}

}  // namespace nkscape::model
