// The model-file schema: for each kind, its keys, their types, internal units and constraints.
// docs/model-format.md documents the same tables for people; keep the two in step.

#include <algorithm>
#include <cctype>
#include <cmath>

#include "spec.hpp"

namespace nkscape::model::detail {
namespace {

using FT = FieldType;
using C = Constraint;

FieldSpec str(std::string_view k, bool req = false) { return {k, FT::String, req, {}, C::Any, {}, nullptr}; }
FieldSpec en(std::string_view k, std::vector<std::string_view> v, bool req = false) {
    return {k, FT::Enum, req, {}, C::Any, std::move(v), nullptr};
}
FieldSpec enl(std::string_view k, std::vector<std::string_view> v, bool req = false) {
    return {k, FT::EnumList, req, {}, C::Any, std::move(v), nullptr};
}
FieldSpec par(std::string_view k, std::string_view unit, C c, bool req = false) {
    return {k, FT::Param, req, unit, c, {}, nullptr};
}
FieldSpec ref(std::string_view k, bool req = false) { return {k, FT::Ref, req, {}, C::Any, {}, nullptr}; }
FieldSpec refl(std::string_view k, bool req = false) { return {k, FT::RefList, req, {}, C::Any, {}, nullptr}; }

const std::vector<std::string_view> kCellCategories = {"nk", "tumour", "caf", "mdsc", "tam", "treg", "cd8_t", "dc"};

const TableSchema& receptorSchema() {
    static const TableSchema s{"receptor",
                               {en("class", {"activating", "inhibitory", "mixed", "adaptor"}, true),
                                refl("adaptors"),
                                par("weight", "1", C::NonNegative),
                                par("activating_fraction", "1", C::Fraction)}};
    return s;
}

const TableSchema& ligandSchema() {
    static const TableSchema s{
        "ligand",
        {en("form", {"membrane", "soluble"}, true),
         en("category", {"activating_ligand", "inhibitory_ligand", "dual_ligand", "antigen", "self_hla", "opsonin"}, true),
         ref("soluble_mediator")}};
    return s;
}

const TableSchema& interactionSchema() {
    static const TableSchema s{"interaction",
                               {ref("receptor", true), ref("ligand", true), par("kd", "nM", C::Positive, true),
                                par("kon", "1/(nM.h)", C::Positive), refl("competes_with")}};
    return s;
}

const TableSchema& mediatorSchema() {
    static const TableSchema s{
        "mediator",
        {en("kind", {"cytokine", "chemokine", "lipid", "metabolite", "gas", "soluble_ligand", "growth_factor", "enzyme", "drug"}, true),
         str("unit", true), ref("ligand_of"), par("diffusivity", "um2/s", C::NonNegative),
         par("decay_rate", "1/h", C::NonNegative), par("half_life", "h", C::Positive),
         par("molecular_weight", "kDa", C::Positive),
         // Unit decided at compile: the mediator's own `unit`.
         par("basal_level", "", C::NonNegative),
         // A plasma compartment fed by the tumour's interstitial drainage (docs/qsp.md,
         // "Structure added for calibration"): the measured form's serum half-life, its healthy
         // level (the mediator's own `unit`) and the measured form per unit of the modelled one.
         par("plasma_half_life", "h", C::Positive), par("plasma_baseline", "", C::NonNegative),
         par("plasma_form_ratio", "1", C::Positive)}};
    return s;
}

const TableSchema& factorSchema() {
    static const TableSchema s{
        "factor",
        {en("role", {"enzyme", "signalling", "effector", "state", "epigenetic", "microrna", "receptor_intracellular", "feedback"}, true),
         enl("cells", kCellCategories, true), par("baseline", "1", C::NonNegative)}};
    return s;
}

const TableSchema& cellTypeSchema() {
    static const TableSchema s{
        "cell_type",
        {en("category", kCellCategories, true),
         en("subtype", {"luminal_a", "luminal_b", "her2_enriched", "tnbc"}),
         en("polarisation", {"m1", "m2"}),
         {"er", FT::Bool, false, {}, C::Any, {}, nullptr},
         {"pr", FT::Bool, false, {}, C::Any, {}, nullptr},
         {"her2", FT::Bool, false, {}, C::Any, {}, nullptr},
         ref("based_on"),
         {"expression", FT::ParamMap, false, "molecule/cell", C::NonNegative, {}, nullptr},
         {"secretion", FT::ParamMap, false, "", C::NonNegative, {}, nullptr},
         {"uptake", FT::ParamMap, false, "", C::NonNegative, {}, nullptr},
         {"factors", FT::ParamMap, false, "1", C::NonNegative, {}, nullptr},
         {"traits", FT::TraitMap, false, "", C::NonNegative, {}, nullptr},
         par("doubling_time", "d", C::Positive),
         par("growth_rate", "1/d", C::NonNegative),
         par("death_rate", "1/d", C::NonNegative),
         par("proliferation_rate", "1/d", C::NonNegative),
         par("lifespan", "d", C::Positive),
         par("carrying_capacity", "cell", C::Positive),
         par("diameter", "um", C::Positive),
         par("speed", "um/h", C::NonNegative),
         par("blood_count", "cell/uL", C::NonNegative),
         par("density", "cell/mL", C::Positive),
         par("kill_time", "min", C::Positive),
         par("granule_capacity", "1", C::NonNegative),
         par("granule_refill_time", "h", C::Positive),
         par("fraction_nonkiller", "1", C::Fraction)}};
    return s;
}

const TableSchema& regulationSchema() {
    static const TableSchema s{"regulation",
                               {ref("by", true), enl("on", kCellCategories, true), ref("target", true),
                                en("direction", {"down", "up"}, true), en("trigger", {"high", "low"}), ref("scaled_by", false),
                                en("mode", {"concentration", "contact", "state"}),
                                par("ec50", "", C::Positive, true),  // unit of `by`, decided at compile
                                par("emax", "1", C::NonNegative, true), par("hill", "1", C::Positive, true),
                                par("tau", "h", C::Positive, true)}};
    return s;
}

const TableSchema& edgeSchema() {
    static const TableSchema s{"pathway.edges",
                               {ref("from", true), ref("to", true), en("sign", {"+", "-"}, true),
                                par("weight", "1", C::NonNegative, true)}};
    return s;
}

const TableSchema& pathwaySchema() {
    static const TableSchema s{"pathway",
                               {enl("cells", kCellCategories, true),
                                {"edges", FT::TableArray, true, {}, C::Any, {}, &edgeSchema()}}};
    return s;
}

const TableSchema& pkSchema() {
    static const TableSchema s{
        "therapy.pk",
        {en("model", {"none", "one_compartment", "two_compartment", "three_compartment", "cell_kinetics"}, true),
         en("route", {"iv_bolus", "iv_infusion", "subcutaneous", "intratumoural", "local", "oral"}),
         par("clearance", "L/d", C::Positive), par("v1", "L", C::Positive), par("v2", "L", C::Positive),
         par("v3", "L", C::Positive), par("q", "L/d", C::Positive), par("q2", "L/d", C::Positive),
         par("ka", "1/d", C::Positive), par("bioavailability", "1", C::Fraction),
         par("half_life", "h", C::Positive), par("expansion_rate", "1/d", C::NonNegative),
         par("contraction_rate", "1/d", C::NonNegative), par("persistence", "d", C::Positive),
         par("tmdd_kd", "nM", C::Positive), par("tmdd_kint", "1/d", C::NonNegative),
         par("clearance_cv", "1", C::NonNegative), par("ke0", "1/d", C::Positive),
         par("tmdd_sites", "molecule/cell", C::NonNegative)}};
    return s;
}

const TableSchema& mechanismSchema() {
    static const TableSchema s{
        "therapy.mechanism",
        {en("action", {"block", "opsonise", "engage", "car", "supply", "inhibit", "neutralise", "lyse", "recruit", "deplete", "restore"}, true),
         ref("target", true), refl("receptors"), ref("spares"),
         en("costimulation", {"none", "CD28", "4-1BB", "2B4", "DAP10", "DAP12", "CD28-4-1BB"}),
         par("kd", "nM", C::Positive), par("ic50", "nM", C::Positive), par("emax", "1", C::Fraction),
         par("gain", "1", C::NonNegative), par("fc_gain", "1", C::NonNegative),
         par("potency", "1", C::NonNegative), par("rate", "1/d", C::NonNegative),
         par("spare_half", "molecule/cell", C::Positive)}};
    return s;
}

const TableSchema& therapySchema() {
    static const TableSchema s{
        "therapy",
        {en("kind", {"blocking_antibody", "opsonising_antibody", "bispecific_antibody", "engager", "cytokine", "cell_therapy",
                     "small_molecule", "fusion_protein", "virus", "procedure", "chemotherapy"}, true),
         en("isotype", {"IgG1", "IgG2", "IgG4", "IgG2a_afucosylated", "IgG1_afucosylated", "IgG1_silenced", "IgG2a"}),
         en("dose_unit", {"mg", "mg/kg", "ug/kg", "ng/kg", "mg/m2", "MIU", "cell", "cell/kg", "PFU", "none"}, true),
         par("molecular_weight", "kDa", C::Positive), ref("product"),
         {"trials", FT::StringList, false, {}, C::Any, {}, nullptr},
         {"pk", FT::Table, true, {}, C::Any, {}, &pkSchema()},
         {"mechanism", FT::TableArray, true, {}, C::Any, {}, &mechanismSchema()}}};
    return s;
}

const TableSchema& constantSchema() {
    // The unit is the constant's own, from the registry in constants.cpp; checked at compile.
    static const TableSchema s{"constant", {par("value", "", C::Any, true)}};
    return s;
}

}  // namespace

const TableSchema& entitySchema(Kind k) {
    switch (k) {
        case Kind::Receptor: return receptorSchema();
        case Kind::Ligand: return ligandSchema();
        case Kind::Interaction: return interactionSchema();
        case Kind::Mediator: return mediatorSchema();
        case Kind::Factor: return factorSchema();
        case Kind::CellType: return cellTypeSchema();
        case Kind::Regulation: return regulationSchema();
        case Kind::Pathway: return pathwaySchema();
        case Kind::Therapy: return therapySchema();
        case Kind::Constant: return constantSchema();
    }
    return receptorSchema();  // unreachable: every enumerator is handled above
}

std::optional<SourceKind> classifySource(std::string_view source, std::string* why) {
    auto trim = [](std::string_view s) {
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
        return s;
    };
    const std::string_view s = trim(source);
    const auto colon = s.find(':');
    if (colon == std::string_view::npos) {
        *why = "source '" + std::string(s) +
               "' has no known form; write doi:…, pmid:…, paper: …, code: …, review: <section>, fit: <target ids> or assumption: <reason>";
        return std::nullopt;
    }
    std::string prefix(trim(s.substr(0, colon)));
    std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string_view rest = trim(s.substr(colon + 1));
    if (prefix == "doi") {
        // 10.<4-9 digits>/<suffix>: checked by hand (std::regex recurses per character and
        // overflows the stack on long inputs).
        auto isDoi = [](std::string_view d) {
            if (d.substr(0, 3) != "10.") return false;
            std::size_t i = 3, digits = 0;
            while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) ++i, ++digits;
            if (digits < 4 || digits > 9 || i >= d.size() || d[i] != '/') return false;
            return i + 1 < d.size() && !std::isspace(static_cast<unsigned char>(d[i + 1]));
        };
        if (!isDoi(rest)) {
            *why = "source 'doi:" + std::string(rest) + "' is not a DOI (expected doi:10.NNNN/…)";
            return std::nullopt;
        }
        return SourceKind::Doi;
    }
    if (prefix == "pmid") {
        std::size_t n = 0;
        while (n < rest.size() && std::isdigit(static_cast<unsigned char>(rest[n]))) ++n;
        if (n == 0 || n > 9) {
            *why = "source 'pmid:" + std::string(rest) + "' is not a PubMed id (expected pmid:NNNNNNNN)";
            return std::nullopt;
        }
        return SourceKind::Pmid;
    }
    const std::pair<std::string_view, SourceKind> textual[] = {{"paper", SourceKind::Paper},
                                                              {"code", SourceKind::Code},
                                                              {"review", SourceKind::Review},
                                                              {"fit", SourceKind::Fit},
                                                              {"assumption", SourceKind::Assumption}};
    for (const auto& [p, k] : textual) {
        if (prefix == p) {
            if (rest.size() < 3) {
                *why = "source '" + std::string(s) + "' needs a text of at least 3 characters after the colon (" +
                       (k == SourceKind::Assumption ? "the reason"
                        : k == SourceKind::Review   ? "the section"
                        : k == SourceKind::Fit      ? "the target ids"
                                                    : "the citation") + ")";
                return std::nullopt;
            }
            return k;
        }
    }
    *why = "source form '" + prefix + ":' is unknown; write doi:, pmid:, paper:, code:, review:, fit: or assumption:";
    return std::nullopt;
}

std::string checkConstraint(Constraint c, double v, std::string_view key) {
    const std::string k(key);
    switch (c) {
        case Constraint::Any: return {};
        case Constraint::NonNegative:
            if (v < 0) return "value is negative; '" + k + "' must be >= 0";
            return {};
        case Constraint::Positive:
            if (v <= 0) return "value must be > 0 for '" + k + "'";
            return {};
        case Constraint::Fraction:
            if (v < 0 || v > 1) return "value is outside [0, 1]; '" + k + "' is a fraction";
            return {};
    }
    return {};
}

std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates) {
    auto distance = [](std::string_view a, std::string_view b) {
        std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            cur[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t sub = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                                               std::tolower(static_cast<unsigned char>(b[j - 1]))
                                                           ? 0
                                                           : 1);
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
            }
            std::swap(prev, cur);
        }
        return prev[b.size()];
    };
    std::string best;
    std::size_t bestD = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto c : candidates) {
        const std::size_t d = distance(word, c);
        if (d < bestD) {
            bestD = d;
            best = std::string(c);
        }
    }
    return best;
}

}  // namespace nkscape::model::detail
