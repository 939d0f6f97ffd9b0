// Trial files (docs/trial-format.md): TOML → LoadedTrial. Like every reader here, every problem is
// recorded with its file:line:column and reported together; the base scenario (and its model) is
// loaded first, and its own errors come with the trial's.

#include "nkscape/trial/trial.hpp"

#include <toml++/toml.h>

#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>

#include "io/scenario_checker.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::trial {

using io::detail::Sign;
using model::Index;
using model::Kind;
using model::SourceLocation;

namespace {

constexpr double kMaxFollowUpDays = 36525;  // 100 years, as `nkscape simulate`
constexpr std::size_t kMaxLevels = 64;

std::string hex64(std::uint64_t v) { return fmt::format("{:016x}", v); }

class Checker : public io::detail::ScenarioChecker {
public:
    using ScenarioChecker::ScenarioChecker;

    /// Reads a trial document (`population` false) or a population file (true: only [population],
    /// [[subtype]], [[attribute]], [[prior]], [[correlation]] and [[biomarker]]). The population
    /// tables of both are collected; finish() turns them into the trial's population.
    void check(const toml::table& doc, LoadedTrial& t, bool population) {
        const toml::table* trial = nullptr;
        const toml::table* followUp = nullptr;
        const toml::array *subtypes = nullptr, *attributes = nullptr, *priors = nullptr, *correlations = nullptr, *biomarkers = nullptr,
                          *inclusions = nullptr, *arms = nullptr, *matches = nullptr;
        const std::vector<std::string_view> allowed =
            population ? std::vector<std::string_view>{"population", "subtype", "attribute", "prior", "correlation", "biomarker", "match"}
                       : std::vector<std::string_view>{"trial", "follow_up", "subtype", "attribute", "prior", "correlation", "biomarker", "inclusion", "arm", "match"};
        for (auto&& [key, node] : doc) {
            const std::string k(key.str());
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
                unknownKey(key, "", k, allowed, population ? "unknown top-level key in a population file" : "unknown top-level key");
                continue;
            }
            if (k == "trial" || k == "follow_up" || k == "population") {
                const auto* tab = node.as_table();
                if (!tab) {
                    error(loc(node), "", k, "expected a table [" + k + "], got " + typeName(node));
                    seen_.push_back(k);
                    continue;
                }
                if (k == "trial") trial = tab;
                else if (k == "follow_up") followUp = tab;
                else {
                    checkKeys(*tab, "[population]", "", {"name", "description"}, "[population]");
                    (void)text(*tab, "name", "[population]", true);
                    (void)text(*tab, "description", "[population]", false);
                }
                continue;
            }
            const auto* arr = node.as_array();
            if (!arr || !arr->is_array_of_tables()) {
                error(loc(node), "", k, "expected an array of tables: write [[" + k + "]] (got " + typeName(node) + ")");
                seen_.push_back(k);
                continue;
            }
            (k == "subtype"       ? subtypes
             : k == "attribute"   ? attributes
             : k == "prior"       ? priors
             : k == "correlation" ? correlations
             : k == "biomarker"   ? biomarkers
             : k == "inclusion"   ? inclusions
             : k == "match"       ? matches
                                  : arms) = arr;
        }
        const SourceLocation top{path_, 1, 1};
        if (!population) {
            if (trial) readTrial(*trial, t);
            else if (!wasSeen("trial")) error(top, "", "trial", "missing required table [trial] (name, kind, base, seed, patients)");
            if (followUp) readFollowUp(*followUp, t);
            else if (!wasSeen("follow_up")) error(top, "", "follow_up", "missing required table [follow_up] (duration, assessment_interval)");
        }
        if (!m_) return;  // the base scenario did not load: its errors are reported
        if (subtypes) {
            if (!t.subtypes.empty()) error(loc(*subtypes), "", "subtype", "the subtypes are already given (by the population file)");
            std::size_t i = 0;
            double total = 0;
            for (const auto& item : *subtypes) readSubtype(*item.as_table(), ++i, t, total);
            if (total > 0)
                for (auto& st : t.subtypes) st.second /= total;
        }
        if (attributes) {
            std::size_t i = 0;
            for (const auto& item : *attributes) readAttribute(*item.as_table(), ++i, t);
        }
        if (priors) {
            if (t.priors.size() + priors->size() > kMaxPriors)
                error(loc(*priors), "", "prior", fmt::format("at most {} [[prior]] tables in all (docs/limits.md)", kMaxPriors));
            else {
                if (t.subtypes.empty() && t.base->spec.tumourCellType != model::kNoIndex) t.subtypes.emplace_back(t.base->spec.tumourCellType, 1.0);
                std::size_t i = 0;
                for (const auto& item : *priors) readPrior(*item.as_table(), ++i, t);
            }
        }
        if (correlations) {
            std::size_t i = 0;
            pendingCorrelations_.emplace_back(path_, correlations);
            for (const auto& item : *correlations) readCorrelation(*item.as_table(), ++i, t);
        }
        if (biomarkers) {
            std::size_t i = 0;
            for (const auto& item : *biomarkers) readBiomarker(*item.as_table(), ++i, t);
        }
        if (inclusions) {
            std::size_t i = 0;
            for (const auto& item : *inclusions) readInclusion(*item.as_table(), ++i, t);
        }
        if (matches) {
            std::size_t i = t.matches.size();
            for (const auto& item : *matches) readMatch(*item.as_table(), ++i, t);
        }
        if (arms) {
            if (arms->size() > kMaxArms) error(loc(*arms), "", "arm", fmt::format("at most {} arms (docs/limits.md), got {}", kMaxArms, arms->size()));
            std::size_t i = 0;
            for (const auto& item : *arms) readArm(*item.as_table(), ++i, t);
        } else if (!population && !wasSeen("arm")) {
            error(top, "", "arm", "missing required [[arm]] (at least one arm: name and its [[arm.dose]] tables)");
        }
    }

    /// After every document: subtype shares as cumulative probabilities, the correlation matrix
    /// and its Cholesky factor.
    void finish(LoadedTrial& t) {
        if (!m_) return;
        if (t.subtypes.empty() && t.base->spec.tumourCellType != model::kNoIndex) t.subtypes.emplace_back(t.base->spec.tumourCellType, 1.0);
        double acc = 0;
        for (auto& st : t.subtypes) st.second = (acc += st.second);
        if (!t.subtypes.empty()) t.subtypes.back().second = 1.0;
        const std::size_t n = t.priors.size();
        std::vector<std::vector<double>> c(n, std::vector<double>(n, 0.0));
        for (std::size_t i = 0; i < n; ++i) c[i][i] = 1.0;
        for (const auto& [a, b, rho] : correlationPairs_) c[a][b] = c[b][a] = rho;
        t.correlation = c;
        factorCorrelation(t);
        // Names resolved to indices once, for the sampler (each was checked where it was read).
        auto indexOf = [](const auto& list, const std::string& name) {
            std::size_t k = 0;
            while (k < list.size() && list[k].name != name) ++k;
            return k;
        };
        for (auto& p : t.priors)
            if (!p.whenAttribute.empty()) p.whenIndex = indexOf(t.attributes, p.whenAttribute);
        for (auto& b : t.biomarkers) b.priorIndex = indexOf(t.priors, b.prior);
        for (auto& mt : t.matches)
            mt.index = mt.kind == Match::Kind::Prior ? indexOf(t.priors, mt.what)
                       : mt.kind == Match::Kind::Biomarker ? indexOf(t.biomarkers, mt.what)
                                                            : indexOf(t.attributes, mt.what);
        for (auto& inc : t.inclusion) {
            if (inc.levels.empty()) {
                inc.kind = Inclusion::Kind::Prior;
                inc.index = indexOf(t.priors, inc.what);
            } else if (const std::size_t a = indexOf(t.attributes, inc.what); a < t.attributes.size()) {
                inc.kind = Inclusion::Kind::Attribute;
                inc.index = a;
            } else {
                inc.kind = Inclusion::Kind::Biomarker;
                inc.index = indexOf(t.biomarkers, inc.what);
            }
        }
    }

private:
    // ---- small readers ---------------------------------------------------------------------------

    std::optional<double> number(const toml::node& n, const std::string& entity, const std::string& key) {
        if (const auto* i = n.as_integer()) return static_cast<double>(i->get());
        if (const auto* d = n.as_floating_point()) {
            if (!std::isfinite(d->get())) {
                error(loc(n), entity, key, "is not finite");
                return std::nullopt;
            }
            return d->get();
        }
        error(loc(n), entity, key, "expected a number, got " + typeName(n));
        return std::nullopt;
    }
    std::optional<double> requiredNumber(const toml::table& t, std::string_view key, const std::string& entity, const std::string& what) {
        const toml::node* n = t.get(key);
        if (!n) {
            error(loc(t), entity, std::string(key), "missing required key (" + what + ")");
            return std::nullopt;
        }
        return number(*n, entity, std::string(key));
    }
    // The non-empty array at `key` of at most kMaxLevels `what` (e.g. "numbers"); nullptr, with
    // the error reported, if it is not one (or absent: an error only when required).
    const toml::array* boundedArray(const toml::table& t, std::string_view key, const std::string& entity, bool required, std::string_view what) {
        const toml::node* n = t.get(key);
        if (!n) {
            if (required) error(loc(t), entity, std::string(key), fmt::format("missing required key (an array of {})", what));
            return nullptr;
        }
        const auto* a = n->as_array();
        if (!a || a->empty()) {
            error(loc(*n), entity, std::string(key), fmt::format("expected a non-empty array of {}, got {}", what, typeName(*n)));
            return nullptr;
        }
        if (a->size() > kMaxLevels) {
            error(loc(*n), entity, std::string(key), fmt::format("at most {} values, got {}", kMaxLevels, a->size()));
            return nullptr;
        }
        return a;
    }
    std::optional<std::vector<double>> numbers(const toml::table& t, std::string_view key, const std::string& entity, bool required) {
        const toml::array* a = boundedArray(t, key, entity, required, "numbers");
        if (!a) return std::nullopt;
        std::vector<double> v;
        for (const auto& e : *a) {
            auto x = number(e, entity, std::string(key));
            if (!x) return std::nullopt;
            v.push_back(*x);
        }
        return v;
    }
    std::optional<std::vector<std::string>> strings(const toml::table& t, std::string_view key, const std::string& entity) {
        const toml::array* a = boundedArray(t, key, entity, true, "strings");
        if (!a) return std::nullopt;
        std::vector<std::string> v;
        for (const auto& e : *a) {
            const auto* s = e.as_string();
            if (!s || s->get().empty()) {
                error(loc(e), entity, std::string(key), "expected a non-empty string, got " + typeName(e));
                return std::nullopt;
            }
            if (const std::string why = controlCharacterProblem(s->get()); !why.empty()) {
                error(loc(e), entity, std::string(key), why);
                return std::nullopt;
            }
            if (std::find(v.begin(), v.end(), s->get()) != v.end()) {
                error(loc(e), entity, std::string(key), "'" + s->get() + "' is given twice");
                return std::nullopt;
            }
            v.push_back(s->get());
        }
        return v;
    }
    /// Probabilities: each in [0, 1], summing to 1 within 1e-6 → cumulative (last exactly 1).
    std::optional<std::vector<double>> probabilities(const toml::table& t, const std::string& entity, std::size_t count) {
        auto p = numbers(t, "probabilities", entity, true);
        if (!p) return std::nullopt;
        const toml::node* n = t.get("probabilities");
        if (p->size() != count) {
            error(loc(*n), entity, "probabilities", fmt::format("has {} values for {} levels", p->size(), count));
            return std::nullopt;
        }
        double sum = 0;
        for (double x : *p) {
            if (x < 0 || x > 1) {
                error(loc(*n), entity, "probabilities", "each must be in [0, 1], got " + fmtNumber(x));
                return std::nullopt;
            }
            sum += x;
        }
        if (std::abs(sum - 1) > 1e-6) {
            error(loc(*n), entity, "probabilities", "must sum to 1, got " + fmtNumber(sum));
            return std::nullopt;
        }
        std::vector<double> cum;
        double acc = 0;
        for (double x : *p) cum.push_back(acc += x / sum);
        cum.back() = 1.0;
        return cum;
    }
    std::string requiredSource(const toml::table& t, const std::string& entity) {
        auto s = text(t, "source", entity, true, " (a paper with DOI/PMID, a review section, or \"assumption: <reason>\")");
        if (s && s->empty()) error(loc(*t.get("source")), entity, "source", "must not be empty");
        return s.value_or("");
    }
    std::string uniqueName(const toml::table& t, std::string entity, std::set<std::string>& names) {
        auto n = text(t, "name", entity, true);
        if (!n) return {};
        if (n->empty()) {
            error(loc(*t.get("name")), entity, "name", "must not be empty");
            return {};
        }
        if (!names.insert(*n).second) error(loc(*t.get("name")), entity, "name", "'" + *n + "' is used twice (names of attributes, priors and biomarkers share one space)");
        return *n;
    }

    // ---- [trial] ---------------------------------------------------------------------------------

    void readTrial(const toml::table& tab, LoadedTrial& t) {
        const std::string entity = "[trial]";
        checkKeys(tab, entity, "", {"name", "kind", "base", "population", "seed", "patients", "description", "registry", "modelled", "reference", "design"},
                  "[trial]");
        if (auto v = text(tab, "name", entity, true)) {
            if (v->empty()) error(loc(*tab.get("name")), entity, "name", "must not be empty");
            t.name = *v;
        }
        if (auto v = text(tab, "kind", entity, true, " (\"trial\")"))
            if (*v != "trial") error(loc(*tab.get("kind")), entity, "kind", "'" + *v + "' is not a trial; `nkscape trial` runs files of kind \"trial\"");
        if (auto v = integer(tab, "seed", entity, 0, std::numeric_limits<std::int64_t>::max(), "the trial's random seed"))
            t.seed = static_cast<std::uint64_t>(*v);
        if (auto v = integer(tab, "patients", entity, 1, kMaxPatients, "patients enrolled")) t.patients = *v;
        if (auto v = text(tab, "description", entity, false)) t.description = *v;
        if (auto v = text(tab, "registry", entity, false)) t.registry = *v;
        if (auto v = text(tab, "modelled", entity, false)) t.modelled = *v;
        if (auto v = text(tab, "reference", entity, false)) t.reference = *v;
        if (const toml::node* n = tab.get("design")) {
            const auto v = n->value<std::string>();
            if (v && *v == "parallel") t.crossover = false;
            else if (v && *v == "crossover") t.crossover = true;
            else error(loc(*n), entity, "design", "expected \"parallel\" (each patient randomised to one arm) or \"crossover\" (every patient in every arm)");
        }
        // `base` is read by loadTrial before the checker runs (it loads the model).
    }

    // ---- [follow_up] -----------------------------------------------------------------------------

    void readFollowUp(const toml::table& tab, LoadedTrial& t) {
        const std::string entity = "[follow_up]";
        checkKeys(tab, entity, "",
                  {"duration", "assessment_interval", "lethal_burden", "confirmation", "measurement_cv", "cell_density", "detection_limit",
                   "min_stable_duration", "clinical_benefit_duration"},
                  "[follow_up]");
        FollowUp& f = t.followUp;
        if (auto v = requiredQuantity(tab, "duration", "d", Sign::Positive, entity, "follow-up from baseline, e.g. { value = 2, unit = \"yr\" }",
                                      kMaxFollowUpDays, "100 years; docs/limits.md"))
            f.duration_d = *v;
        if (auto v = requiredQuantity(tab, "assessment_interval", "d", Sign::Positive, entity, "time between tumour assessments, e.g. { value = 6, unit = \"week\" }"))
            f.assessmentInterval_d = *v;
        if (f.duration_d > 0 && f.assessmentInterval_d > 0 && f.duration_d / f.assessmentInterval_d > 10000)
            error(loc(tab), entity, "assessment_interval", "more than 10,000 assessments per patient");
        if (const toml::node* n = tab.get("lethal_burden"))
            if (auto v = quantity(*n, "cell", Sign::Positive, entity, "lethal_burden", 1e13, "about 10 kg of tumour; docs/limits.md")) f.lethalBurden_cells = *v;
        if (const toml::node* n = tab.get("confirmation")) {
            if (const auto* b = n->as_boolean()) f.recist.criteria.requireConfirmation = b->get();
            else error(loc(*n), entity, "confirmation", "expected true or false, got " + typeName(*n));
        }
        if (const toml::node* n = tab.get("measurement_cv"))
            if (auto v = quantity(*n, "1", Sign::NonNegative, entity, "measurement_cv", 1.0, "a coefficient of variation")) f.recist.error.cv = *v;
        if (const toml::node* n = tab.get("cell_density"))
            if (auto v = quantity(*n, "1/cm3", Sign::Positive, entity, "cell_density", kMaxCellDensity_per_cm3, "Del Monte 2009, PMID 19176997")) {
                if (*v < kMinCellDensity_per_cm3) error(loc(*n), entity, "cell_density", "must be >= 1e8 cell/cm3 (Del Monte 2009, PMID 19176997), got " + fmtNumber(*v));
                else f.recist.geometry.cellDensity_per_cm3 = *v;
            }
        if (const toml::node* n = tab.get("detection_limit"))
            if (auto v = quantity(*n, "cell", Sign::NonNegative, entity, "detection_limit", 1e10, "a visible lesion")) f.recist.geometry.detectionLimit_cells = *v;
        if (const toml::node* n = tab.get("min_stable_duration"))
            if (auto v = quantity(*n, "d", Sign::NonNegative, entity, "min_stable_duration", kMaxFollowUpDays)) f.recist.criteria.minStableDuration_d = *v;
        if (const toml::node* n = tab.get("clinical_benefit_duration"))
            if (auto v = quantity(*n, "d", Sign::NonNegative, entity, "clinical_benefit_duration", kMaxFollowUpDays)) f.recist.criteria.clinicalBenefit_d = *v;
    }

    // ---- [[subtype]] -----------------------------------------------------------------------------

    void readSubtype(const toml::table& tab, std::size_t ordinal, LoadedTrial& t, double& total) {
        const std::string entity = "subtype #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"cell_type", "share", "source"}, "a [[subtype]]");
        auto ct = cellType(tab, "cell_type", model::CellCategory::Tumour, entity, "the tumour cells of this subtype");
        auto share = requiredNumber(tab, "share", entity, "the subtype's share of the population");
        (void)requiredSource(tab, entity);
        if (share && !(*share > 0 && *share <= 1)) {
            error(loc(*tab.get("share")), entity, "share", "must be in (0, 1], got " + fmtNumber(*share));
            share.reset();
        }
        if (!ct || !share) return;
        for (const auto& s : t.subtypes)
            if (s.first == *ct) {
                error(loc(*tab.get("cell_type")), entity, "cell_type", "two [[subtype]] tables name this cell type");
                return;
            }
        total += *share;
        t.subtypes.emplace_back(*ct, *share);
    }

    // ---- [[attribute]] ---------------------------------------------------------------------------

    void readAttribute(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        const std::string entity = "attribute #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"name", "levels", "probabilities", "source"}, "an [[attribute]]");
        Attribute a;
        a.name = uniqueName(tab, entity, names_);
        a.source = requiredSource(tab, entity);
        auto levels = strings(tab, "levels", entity);
        if (!levels) return;
        a.levels = *levels;
        auto cum = probabilities(tab, entity, a.levels.size());
        if (!cum || a.name.empty()) return;
        a.cumulative = *cum;
        t.attributes.push_back(std::move(a));
    }

    // ---- [[prior]] -------------------------------------------------------------------------------

    /// The target string → PriorTarget and the unit its values must convert to.
    std::optional<std::pair<PriorTarget, std::string>> target(const toml::table& tab, const std::string& entity, const LoadedTrial& t) {
        auto text_ = text(tab, "target", entity, true, " (what the prior varies: \"parameter:<path>\", \"tumour.initial_cells\", \"lesions\", ...)");
        if (!text_) return std::nullopt;
        const std::string s = *text_;
        const SourceLocation where = loc(*tab.get("target"));
        PriorTarget pt;
        pt.text = s;
        auto after = [&](std::string_view prefix) { return s.substr(prefix.size()); };
        auto bad = [&](const std::string& why) {
            error(where, entity, "target", why);
            return std::nullopt;
        };
        if (s.rfind("parameter:", 0) == 0) {
            pt.kind = PriorTarget::Kind::Parameter;
            pt.parameterPath = after("parameter:");
            auto effect = text(tab, "effect", entity, true, " (\"multiply\" the model's value or \"set\" it)");
            if (!effect) return std::nullopt;
            if (*effect != "multiply" && *effect != "set") {
                error(loc(*tab.get("effect")), entity, "effect", "expected \"multiply\" or \"set\", got '" + *effect + "'");
                return std::nullopt;
            }
            pt.multiply = *effect == "multiply";
            // Every subtype must resolve the path ({subtype} is each subtype's cell type).
            std::string unit;
            for (const auto& [ct, share] : t.subtypes) {
                const std::string path = resolvePath(pt.parameterPath, ct);
                const auto id = m_->findParameter(path);
                if (!id) return bad("no model parameter has the path '" + path + "' (`nkscape describe` lists them; {subtype} stands for each subtype's cell type)");
                const std::string u = m_->parameter(*id).internalUnit;
                if (!unit.empty() && u != unit) return bad("the path has different units in different subtypes ('" + unit + "', '" + u + "')");
                unit = u;
            }
            return std::pair{pt, pt.multiply ? std::string("1") : unit};
        }
        if (tab.get("effect")) error(loc(*tab.get("effect")), entity, "effect", "only a \"parameter:\" target takes an effect");
        if (s == "tumour.initial_cells") {
            pt.kind = PriorTarget::Kind::TumourCells;
            return std::pair{pt, std::string("cell")};
        }
        if (s == "tumour.immunogenicity") {
            pt.kind = PriorTarget::Kind::Immunogenicity;
            return std::pair{pt, std::string("1")};
        }
        if (s == "lesions") {
            pt.kind = PriorTarget::Kind::Lesions;
            return std::pair{pt, std::string("1")};
        }
        if (s == "patient.weight") {
            pt.kind = PriorTarget::Kind::Weight;
            return std::pair{pt, std::string("kg")};
        }
        if (s == "patient.surface") {
            pt.kind = PriorTarget::Kind::Surface;
            return std::pair{pt, std::string("m2")};
        }
        if (s.rfind("population:", 0) == 0) {
            const std::string rest = after("population:");
            const auto dot = rest.rfind('.');
            const std::string name = dot == std::string::npos ? rest : rest.substr(0, dot);
            const std::string what = dot == std::string::npos ? "" : rest.substr(dot + 1);
            if (what != "initial_cells" && what != "influx") return bad("expected \"population:<cell type>.initial_cells\" or \"population:<cell type>.influx\"");
            auto ct = m_->indexOf(Kind::CellType, name);
            if (!ct) return bad("no cell type named '" + name + "' in model '" + m_->info().name + "'");
            const bool present = std::any_of(t.base->spec.populations.begin(), t.base->spec.populations.end(),
                                             [&](const qsp::PopulationSpec& p) { return p.cellType == *ct; });
            if (!present) return bad("the base scenario has no population of '" + name + "' ([[nk]] or [[population]]) to vary");
            pt.kind = what == "initial_cells" ? PriorTarget::Kind::PopulationCells : PriorTarget::Kind::PopulationInflux;
            pt.index = *ct;
            return std::pair{pt, std::string("1")};
        }
        for (const auto& [prefix, kind, k] : {std::tuple{"ligand:", PriorTarget::Kind::Ligand, Kind::Ligand},
                                              std::tuple{"secretion:", PriorTarget::Kind::Secretion, Kind::Mediator}}) {
            if (s.rfind(prefix, 0) != 0) continue;
            const std::string name = s.substr(std::string_view(prefix).size());
            auto i = resolve(name, k, where, entity, "target", "what the prior multiplies in every clone");
            if (!i) return std::nullopt;
            pt.kind = kind;
            pt.index = *i;
            return std::pair{pt, std::string("1")};
        }
        return bad("unknown target '" + s +
                   "'; expected \"parameter:<path>\", \"tumour.initial_cells\", \"tumour.immunogenicity\", \"lesions\", \"population:<cell type>.initial_cells\", "
                   "\"population:<cell type>.influx\", \"ligand:<name>\", \"secretion:<mediator>\", \"patient.weight\" or "
                   "\"patient.surface\"");
    }

    std::string resolvePath(const std::string& path, Index subtype) const {
        std::string p = path;
        const std::string name = m_->entities(Kind::CellType)[subtype].name;
        for (std::size_t at; (at = p.find("{subtype}")) != std::string::npos;) p.replace(at, 9, name);
        return p;
    }

    void readPrior(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        const std::string entity = "prior #" + std::to_string(ordinal);
        checkKeys(tab, entity, "",
                  {"name", "target", "effect", "distribution", "unit", "source", "when", "value", "mean", "sd", "median", "gsd", "low", "high",
                   "min", "max", "values", "probabilities"},
                  "a [[prior]]");
        Prior p;
        p.where = loc(tab);
        p.name = uniqueName(tab, entity, names_);
        p.source = requiredSource(tab, entity);
        auto tg = target(tab, entity, t);
        auto unit = text(tab, "unit", entity, true, " (the unit of the distribution's numbers; \"1\" for a multiplier)");
        if (tg && unit) {
            p.target = tg->first;
            p.unit = *unit;
            const SourceLocation uw = loc(*tab.get("unit"));
            if (!units_.parses(p.unit)) {
                error(uw, entity, "unit", "unit '" + p.unit + "' does not parse");
                tg.reset();
            } else if (!units_.convertible(p.unit, tg->second)) {
                error(uw, entity, "unit", "unit '" + p.unit + "' does not convert to '" + tg->second + "' (the unit of the target)");
                tg.reset();
            } else {
                p.toInternal = units_.convertOrThrow(1.0, p.unit, tg->second);
            }
        }
        if (const toml::node* n = tab.get("when")) {
            const auto* w = n->as_table();
            if (!w || w->size() != 1) {
                error(loc(*n), entity, "when", "expected one { <attribute> = \"<level>\" }");
            } else {
                std::string key;
                std::optional<std::string> lv;
                SourceLocation keyWhere, valueWhere;
                for (auto&& [k, v] : *w) {
                    key = std::string(k.str());
                    lv = v.value<std::string>();
                    keyWhere = loc(k);
                    valueWhere = loc(v);
                }
                p.whenAttribute = key;
                const auto a = std::find_if(t.attributes.begin(), t.attributes.end(), [&](const Attribute& x) { return x.name == p.whenAttribute; });
                if (a == t.attributes.end()) error(keyWhere, entity, "when", "no [[attribute]] named '" + p.whenAttribute + "' (declare attributes before the priors that use them)");
                else if (!lv || std::find(a->levels.begin(), a->levels.end(), *lv) == a->levels.end())
                    error(valueWhere, entity, "when", "expected one of the levels of '" + p.whenAttribute + "'");
                else p.whenLevel = *lv;
            }
        }
        auto d = distribution(tab, entity);
        if (!d || !tg || p.name.empty()) return;
        p.distribution = *d;
        if (p.target.kind == PriorTarget::Kind::Lesions) {
            if (d->type != Distribution::Type::Discrete && d->type != Distribution::Type::Fixed)
                error(loc(tab), entity, "distribution", "the number of lesions takes a \"discrete\" or \"fixed\" distribution");
            auto check = [&](double v) { return v >= 1 && v <= static_cast<double>(kMaxTargetLesions) && v == std::floor(v); };
            const bool ok = d->type == Distribution::Type::Fixed ? check(d->a) : std::all_of(d->values.begin(), d->values.end(), check);
            if (!ok) error(loc(tab), entity, "values", "lesion counts must be whole numbers from 1 to 5 (RECIST 1.1 target lesions)");
        }
        t.priors.push_back(std::move(p));
    }

    std::optional<Distribution> distribution(const toml::table& tab, const std::string& entity) {
        auto type = text(tab, "distribution", entity, true, " (fixed, normal, lognormal, uniform, loguniform or discrete)");
        if (!type) return std::nullopt;
        Distribution d;
        const SourceLocation where = loc(*tab.get("distribution"));
        std::vector<std::string_view> allowed;
        auto need = [&](std::string_view key) { return requiredNumber(tab, key, entity, "a parameter of the " + *type + " distribution"); };
        bool ok = true;
        if (*type == "fixed") {
            d.type = Distribution::Type::Fixed;
            allowed = {"value"};
            if (auto v = need("value")) d.a = *v;
            else ok = false;
        } else if (*type == "normal") {
            d.type = Distribution::Type::Normal;
            allowed = {"mean", "sd", "min", "max"};
            auto m = need("mean"), s = need("sd");
            ok = m && s;
            if (s && !(*s > 0)) {
                error(loc(*tab.get("sd")), entity, "sd", "must be > 0");
                ok = false;
            }
            if (ok) d.a = *m, d.b = *s;
        } else if (*type == "lognormal") {
            d.type = Distribution::Type::LogNormal;
            allowed = {"median", "gsd", "min", "max"};
            auto m = need("median"), g = need("gsd");
            ok = m && g;
            if (m && !(*m > 0)) {
                error(loc(*tab.get("median")), entity, "median", "must be > 0");
                ok = false;
            }
            if (g && !(*g > 1)) {
                error(loc(*tab.get("gsd")), entity, "gsd", "the geometric standard deviation must be > 1");
                ok = false;
            }
            if (ok) d.a = *m, d.b = *g;
        } else if (*type == "uniform" || *type == "loguniform") {
            d.type = *type == "uniform" ? Distribution::Type::Uniform : Distribution::Type::LogUniform;
            allowed = {"low", "high"};
            auto lo = need("low"), hi = need("high");
            ok = lo && hi;
            if (ok && !(*lo < *hi)) {
                error(loc(*tab.get("high")), entity, "high", "must be > low");
                ok = false;
            }
            if (ok && d.type == Distribution::Type::LogUniform && !(*lo > 0)) {
                error(loc(*tab.get("low")), entity, "low", "a loguniform distribution needs low > 0");
                ok = false;
            }
            if (ok) d.a = *lo, d.b = *hi;
        } else if (*type == "discrete") {
            d.type = Distribution::Type::Discrete;
            allowed = {"values", "probabilities"};
            auto v = numbers(tab, "values", entity, true);
            if (!v) return std::nullopt;
            auto cum = probabilities(tab, entity, v->size());
            if (!cum) return std::nullopt;
            d.values = *v;
            d.cumulative = *cum;
        } else {
            error(where, entity, "distribution", "unknown distribution '" + *type + "'; expected fixed, normal, lognormal, uniform, loguniform or discrete");
            return std::nullopt;
        }
        for (std::string_view k : {"value", "mean", "sd", "median", "gsd", "low", "high", "min", "max", "values", "probabilities"})
            if (tab.get(k) && std::find(allowed.begin(), allowed.end(), k) == allowed.end())
                error(loc(*tab.get(k)), entity, std::string(k), "is not a parameter of the " + *type + " distribution");
        if (const toml::node* n = tab.get("min"))
            if (auto v = number(*n, entity, "min")) d.low = *v;
        if (const toml::node* n = tab.get("max"))
            if (auto v = number(*n, entity, "max")) d.high = *v;
        if (d.low >= d.high) {
            error(loc(tab), entity, "max", "must be > min");
            ok = false;
        }
        if (d.type == Distribution::Type::LogNormal && d.high <= 0) {
            error(loc(tab), entity, "max", "a lognormal value is > 0, so max must be > 0");
            ok = false;
        }
        if (!ok) return std::nullopt;
        return d;
    }

    // ---- [[correlation]] -------------------------------------------------------------------------

    std::optional<std::size_t> priorIndex(const LoadedTrial& t, const std::string& name) const {
        for (std::size_t i = 0; i < t.priors.size(); ++i)
            if (t.priors[i].name == name) return i;
        return std::nullopt;
    }

    void readCorrelation(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        const std::string entity = "correlation #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"priors", "rho", "source"}, "a [[correlation]]");
        (void)requiredSource(tab, entity);
        auto names = strings(tab, "priors", entity);
        const auto rhoRead = requiredNumber(tab, "rho", entity, "the correlation of the two priors' normal scores");
        const double r = rhoRead.value_or(2.0);  // 2: missing or not a number (reported)
        const bool rhoOk = rhoRead.has_value() && r > -1 && r < 1;
        if (rhoRead && !rhoOk) error(loc(*tab.get("rho")), entity, "rho", "must be in (-1, 1), got " + fmtNumber(r));
        if (!names) return;
        if (names->size() != 2) {
            error(loc(*tab.get("priors")), entity, "priors", "expected the names of two priors");
            return;
        }
        auto a = priorIndex(t, (*names)[0]), b = priorIndex(t, (*names)[1]);
        if (!a || !b) {
            error(loc(*tab.get("priors")), entity, "priors", "'" + (!a ? (*names)[0] : (*names)[1]) + "' is not the name of a [[prior]]");
            return;
        }
        if (!rhoOk) return;
        if (*a == *b) {
            error(loc(*tab.get("priors")), entity, "priors", "a prior cannot be correlated with itself");
            return;
        }
        for (const auto& [x, y, _] : correlationPairs_)
            if ((x == *a && y == *b) || (x == *b && y == *a)) {
                error(loc(tab), entity, "priors", "this pair is correlated twice");
                return;
            }
        correlationPairs_.emplace_back(*a, *b, r);
    }

    void factorCorrelation(LoadedTrial& t) {
        const std::size_t n = t.priors.size();
        Eigen::MatrixXd c(n, n);
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) c(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = t.correlation[i][j];
        Eigen::LLT<Eigen::MatrixXd> llt(c);
        if (llt.info() != Eigen::Success) {
            const SourceLocation where = pendingCorrelations_.empty() ? SourceLocation{path_, 1, 1}
                                                                      : SourceLocation{pendingCorrelations_.back().first,
                                                                                       pendingCorrelations_.back().second->source().begin.line,
                                                                                       pendingCorrelations_.back().second->source().begin.column};
            error(where, "", "correlation", "the correlations do not form a valid correlation matrix (not positive definite); reduce them");
            return;
        }
        const Eigen::MatrixXd l = llt.matrixL();
        t.cholesky.assign(n, std::vector<double>(n, 0.0));
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j <= i; ++j) t.cholesky[i][j] = l(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j));
    }

    // ---- [[biomarker]] ---------------------------------------------------------------------------

    void readBiomarker(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        const std::string entity = "biomarker #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"name", "prior", "levels", "cutoffs", "source"}, "a [[biomarker]]");
        Biomarker b;
        b.name = uniqueName(tab, entity, names_);
        b.source = requiredSource(tab, entity);
        auto prior = text(tab, "prior", entity, true, " (the prior whose value the biomarker reads)");
        if (prior) {
            if (!priorIndex(t, *prior)) error(loc(*tab.get("prior")), entity, "prior", "'" + *prior + "' is not the name of a [[prior]]");
            else b.prior = *prior;
        }
        auto levels = strings(tab, "levels", entity);
        auto cut = numbers(tab, "cutoffs", entity, true);
        if (!levels || !cut || b.prior.empty() || b.name.empty()) return;
        if (cut->size() + 1 != levels->size()) {
            error(loc(*tab.get("cutoffs")), entity, "cutoffs", fmt::format("{} levels need {} cut-offs, got {}", levels->size(), levels->size() - 1, cut->size()));
            return;
        }
        if (!std::is_sorted(cut->begin(), cut->end()) || std::adjacent_find(cut->begin(), cut->end()) != cut->end()) {
            error(loc(*tab.get("cutoffs")), entity, "cutoffs", "must increase");
            return;
        }
        b.levels = *levels;
        b.cutoffs = *cut;
        t.biomarkers.push_back(std::move(b));
    }

    // ---- [[inclusion]] ---------------------------------------------------------------------------

    void readInclusion(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        const std::string entity = "inclusion #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"attribute", "biomarker", "prior", "levels", "min", "max", "source"}, "an [[inclusion]]");
        Inclusion inc;
        const int given = (tab.get("attribute") ? 1 : 0) + (tab.get("biomarker") ? 1 : 0) + (tab.get("prior") ? 1 : 0);
        if (given != 1) {
            error(loc(tab), entity, "", "give exactly one of attribute, biomarker or prior");
            return;
        }
        if (tab.get("prior")) {
            auto name = text(tab, "prior", entity, true);
            if (!name) return;
            if (!priorIndex(t, *name)) {
                error(loc(*tab.get("prior")), entity, "prior", "'" + *name + "' is not the name of a [[prior]]");
                return;
            }
            inc.what = *name;
            if (const toml::node* n = tab.get("min")) inc.min = number(*n, entity, "min");
            if (const toml::node* n = tab.get("max")) inc.max = number(*n, entity, "max");
            if (!inc.min && !inc.max) {
                error(loc(tab), entity, "min", "a prior criterion needs min, max or both");
                return;
            }
            if (tab.get("levels")) error(loc(*tab.get("levels")), entity, "levels", "levels are for attributes and biomarkers");
            inc.text = inc.what + (inc.min ? " >= " + fmtNumber(*inc.min) : "") + (inc.min && inc.max ? " and" : "") +
                       (inc.max ? " <= " + fmtNumber(*inc.max) : "");
        } else {
            const bool attr = tab.get("attribute") != nullptr;
            auto name = text(tab, attr ? "attribute" : "biomarker", entity, true);
            if (!name) return;
            const std::vector<std::string>* known = nullptr;
            if (attr) {
                for (const auto& a : t.attributes)
                    if (a.name == *name) known = &a.levels;
            } else {
                for (const auto& b : t.biomarkers)
                    if (b.name == *name) known = &b.levels;
            }
            if (!known) {
                error(loc(*tab.get(attr ? "attribute" : "biomarker")), entity, attr ? "attribute" : "biomarker",
                      "'" + *name + "' is not the name of " + (attr ? "an [[attribute]]" : "a [[biomarker]]"));
                return;
            }
            auto levels = strings(tab, "levels", entity);
            if (!levels) return;
            for (const auto& l : *levels)
                if (std::find(known->begin(), known->end(), l) == known->end()) {
                    error(loc(*tab.get("levels")), entity, "levels", "'" + l + "' is not a level of '" + *name + "'");
                    return;
                }
            inc.what = *name;
            inc.levels = *levels;
            std::string list;
            for (const auto& l : *levels) list += (list.empty() ? "" : ", ") + l;
            inc.text = *name + " in {" + list + "}";
        }
        t.inclusion.push_back(std::move(inc));
    }

    // ---- [[match]] -------------------------------------------------------------------------------

    /// An observed distribution the population is selected to reproduce (docs/trial-format.md,
    /// "Matching observed distributions").
    void readMatch(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        std::string entity = "match #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"name", "prior", "biomarker", "attribute", "edges", "frequencies", "quantiles", "values", "normal", "levels", "shares", "unit", "source"},
                  "a [[match]]");
        Match m;
        m.where = loc(tab);
        if (auto n = text(tab, "name", entity, true)) {
            m.name = *n;
            entity = "match '" + *n + "'";
            if (std::any_of(t.matches.begin(), t.matches.end(), [&](const Match& o) { return o.name == *n; }))
                error(loc(*tab.get("name")), entity, "name", "two matches have this name");
        }
        m.source = text(tab, "source", entity, true, " (the paper of the observed distribution)").value_or("");
        const int given = (tab.get("attribute") ? 1 : 0) + (tab.get("biomarker") ? 1 : 0) + (tab.get("prior") ? 1 : 0);
        if (given != 1) {
            error(loc(tab), entity, "prior", "give exactly one of prior, biomarker or attribute (the quantity matched)");
            return;
        }
        if (tab.get("prior")) {
            auto name = text(tab, "prior", entity, true);
            if (!name) return;
            const auto k = priorIndex(t, *name);
            if (!k) {
                error(loc(*tab.get("prior")), entity, "prior", "'" + *name + "' is not the name of a [[prior]]");
                return;
            }
            m.kind = Match::Kind::Prior;
            m.what = *name;
            if (auto u = text(tab, "unit", entity, false); u && *u != t.priors[*k].unit)
                error(loc(*tab.get("unit")), entity, "unit", "the values of a match are in its prior's unit '" + t.priors[*k].unit + "', not '" + *u + "'");
            for (const char* key : {"levels", "shares"})
                if (tab.get(key)) error(loc(*tab.get(key)), entity, key, "levels and shares are for biomarkers and attributes");
            const int forms = (tab.get("edges") ? 1 : 0) + (tab.get("quantiles") ? 1 : 0) + (tab.get("normal") ? 1 : 0);
            if (forms != 1) {
                error(loc(tab), entity, "edges", "give exactly one of edges + frequencies (a histogram), quantiles + values, or normal = { mean, sd }");
                return;
            }
            auto increasing = [](const std::vector<double>& v) {
                for (std::size_t i = 1; i < v.size(); ++i)
                    if (!(v[i] > v[i - 1])) return false;
                return true;
            };
            if (tab.get("edges")) {
                auto e = numbers(tab, "edges", entity, true);
                auto f = numbers(tab, "frequencies", entity, true);
                if (!e || !f) return;
                if (e->size() != f->size() + 1 || !increasing(*e)) {
                    error(loc(*tab.get("edges")), entity, "edges", "expected n + 1 increasing bin edges for n frequencies");
                    return;
                }
                double total = 0;
                for (double x : *f) {
                    if (x < 0) {
                        error(loc(*tab.get("frequencies")), entity, "frequencies", "must be >= 0");
                        return;
                    }
                    total += x;
                }
                if (!(total > 0)) {
                    error(loc(*tab.get("frequencies")), entity, "frequencies", "must not all be 0");
                    return;
                }
                m.edges = *e;
                for (double x : *f) m.probabilities.push_back(x / total);
            } else if (tab.get("quantiles")) {
                auto q = numbers(tab, "quantiles", entity, true);
                auto v = numbers(tab, "values", entity, true);
                if (!q || !v) return;
                if (q->size() != v->size() || q->size() < 2 || q->front() != 0 || q->back() != 1 || !increasing(*q) || !increasing(*v)) {
                    error(loc(*tab.get("quantiles")), entity, "quantiles",
                          "expected increasing probabilities from 0 to 1 and as many increasing values (the minimum, quantiles, the maximum)");
                    return;
                }
                m.edges = *v;
                for (std::size_t i = 1; i < q->size(); ++i) m.probabilities.push_back((*q)[i] - (*q)[i - 1]);
            } else {
                const auto* nt = tab.get("normal")->as_table();
                if (!nt) {
                    error(loc(*tab.get("normal")), entity, "normal", "expected { mean = ..., sd = ..., min = ..., max = ... } (min, max optional)");
                    return;
                }
                checkKeys(*nt, entity, "normal", {"mean", "sd", "min", "max"}, "a normal target");
                auto mean = requiredNumber(*nt, "mean", entity, "the mean");
                auto sd = requiredNumber(*nt, "sd", entity, "the standard deviation");
                if (!mean || !sd) return;
                if (!(*sd > 0)) {
                    error(loc(*nt->get("sd")), entity, "normal.sd", "must be > 0");
                    return;
                }
                m.normal = true;
                m.mean = *mean;
                m.sd = *sd;
                if (const toml::node* n = nt->get("min")) m.low = number(*n, entity, "normal.min").value_or(m.low);
                if (const toml::node* n = nt->get("max")) m.high = number(*n, entity, "normal.max").value_or(m.high);
                if (!(m.low < m.high)) {
                    error(loc(*nt), entity, "normal", "min must be below max");
                    return;
                }
                // 20 bins of equal target probability (the outer ones reach min and max): fine
                // enough for the acceptance weights, while KS reads the exact normal CDF.
                const boost::math::normal nd(m.mean, m.sd);
                const double lo = m.low <= -1e308 ? 0.0 : boost::math::cdf(nd, m.low);
                const double hi = m.high >= 1e308 ? 1.0 : boost::math::cdf(nd, m.high);
                constexpr int kBins = 20;
                m.edges.push_back(m.low);
                for (int b = 1; b < kBins; ++b) m.edges.push_back(boost::math::quantile(nd, lo + (hi - lo) * b / kBins));
                m.edges.push_back(m.high);
                m.probabilities.assign(kBins, 1.0 / kBins);
            }
        } else {
            const bool attr = tab.get("attribute") != nullptr;
            const std::string key = attr ? "attribute" : "biomarker";
            auto name = text(tab, key, entity, true);
            if (!name) return;
            const std::vector<std::string>* known = nullptr;
            if (attr) {
                for (const auto& a : t.attributes)
                    if (a.name == *name) known = &a.levels;
            } else {
                for (const auto& b : t.biomarkers)
                    if (b.name == *name) known = &b.levels;
            }
            if (!known) {
                error(loc(*tab.get(key)), entity, key, "'" + *name + "' is not the name of " + (attr ? "an [[attribute]]" : "a [[biomarker]]"));
                return;
            }
            for (const char* k : {"edges", "frequencies", "quantiles", "values", "normal"})
                if (tab.get(k)) error(loc(*tab.get(k)), entity, k, "a " + key + " is matched by levels and shares");
            auto levels = strings(tab, "levels", entity);
            auto shares = numbers(tab, "shares", entity, true);
            if (!levels || !shares) return;
            if (levels->size() != shares->size()) {
                error(loc(*tab.get("shares")), entity, "shares", "one share per level");
                return;
            }
            double total = 0;
            for (std::size_t i = 0; i < levels->size(); ++i) {
                if (std::find(known->begin(), known->end(), (*levels)[i]) == known->end()) {
                    error(loc(*tab.get("levels")), entity, "levels", "'" + (*levels)[i] + "' is not a level of '" + *name + "'");
                    return;
                }
                if ((*shares)[i] < 0) {
                    error(loc(*tab.get("shares")), entity, "shares", "must be >= 0");
                    return;
                }
                total += (*shares)[i];
            }
            if (!(total > 0)) {
                error(loc(*tab.get("shares")), entity, "shares", "must not all be 0");
                return;
            }
            m.kind = attr ? Match::Kind::Attribute : Match::Kind::Biomarker;
            m.what = *name;
            m.levels = *levels;
            for (double x : *shares) m.shares.push_back(x / total);
        }
        t.matches.push_back(std::move(m));
    }

    // ---- [[arm]] ---------------------------------------------------------------------------------

    void readArm(const toml::table& tab, std::size_t ordinal, LoadedTrial& t) {
        std::string entity = "arm #" + std::to_string(ordinal);
        checkKeys(tab, entity, "", {"name", "allocation", "dose", "description"}, "an [[arm]]");
        Arm a;
        if (auto n = text(tab, "name", entity, true)) {
            if (n->empty()) error(loc(*tab.get("name")), entity, "name", "must not be empty");
            else if (std::any_of(t.arms.begin(), t.arms.end(), [&](const Arm& o) { return o.name == *n; }))
                error(loc(*tab.get("name")), entity, "name", "two arms have this name");
            else entity = "arm '" + *n + "'";
            a.name = *n;
        }
        if (tab.get("allocation"))
            if (auto v = integer(tab, "allocation", entity, 1, 100, "the arm's relative share of patients")) a.allocation = *v;
        (void)text(tab, "description", entity, false);
        if (const toml::node* n = tab.get("dose")) {
            const auto* arr = n->as_array();
            if (!arr || !arr->is_array_of_tables()) {
                error(loc(*n), entity, "dose", "expected an array of tables: write [[arm.dose]]");
            } else {
                std::size_t i = 0;
                for (const auto& item : *arr) {
                    auto c = doseTable(*item.as_table(), entity + ", dose #" + std::to_string(++i), t.base->body, "an [[arm.dose]]");
                    if (!c) continue;
                    a.doses.push_back(c->dose);
                    a.therapies.push_back(c->therapy);
                    doseSpecs_[t.arms.size()].push_back(c->spec);
                }
            }
        }
        t.arms.push_back(std::move(a));
    }

public:
    std::map<std::size_t, std::vector<qsp::DosingSpec>> doseSpecs_;  // per arm, for loadTrial's dose-count check
    /// Switches the file the locations name (the population file, then the trial file).
    void setPath(std::string path) { path_ = std::move(path); }

private:
    std::set<std::string> names_;
    std::vector<std::tuple<std::size_t, std::size_t, double>> correlationPairs_;
    std::vector<std::pair<std::string, const toml::array*>> pendingCorrelations_;
};

}  // namespace

namespace {

// Everything after the base scenario: the population file, the trial's own tables, the dose caps;
// throws every problem (the base's own errors included) together.
void checkTrialDocument(const toml::table& document, const std::string& text, LoadedTrial& t, bool baseLoaded, const std::string& baseText,
                        model::Diagnostics& diag, const std::vector<model::Diagnostic>& baseErrors, const model::UnitSystem& units) {
    const toml::table* doc = &document;
    Checker checker(t.path, baseLoaded ? &t.base->model : nullptr, units, diag);
    // The population file, if the trial names one: its tables come first.
    std::optional<toml::table> popDoc;
    std::string popText;
    if (const toml::node* n = doc->at_path("trial.population").node()) {
        const auto* sv = n->as_string();
        const SourceLocation where{t.path, n->source().begin.line, n->source().begin.column};
        if (!sv || sv->get().empty()) {
            diag.error(where, "[trial]", "population", "expected the path of a population file, relative to this file");
        } else {
            t.populationFile = (std::filesystem::path(t.path).parent_path() / sv->get()).lexically_normal().generic_string();
            try {
                popText = io::readFile(t.populationFile);
                popDoc = io::detail::parseScenarioToml(popText, t.populationFile, diag);
            } catch (const IoError& e) {
                diag.error(where, "[trial]", "population", std::string("cannot read population file: ") + e.what());
            }
        }
    }
    if (popDoc) {
        checker.setPath(t.populationFile);
        checker.check(*popDoc, t, true);
        checker.setPath(t.path);
    }
    checker.check(*doc, t, false);
    checker.finish(t);
    if (baseLoaded) {
        // Each arm's doses with the base patient's body: the per-drug dose cap, as a scenario has it.
        for (const auto& [arm, specs] : checker.doseSpecs_) {
            std::map<model::Index, std::size_t> perDrug;
            for (std::size_t k = 0; k < specs.size(); ++k) {
                const auto reg = qsp::DosingRegimen::parse(specs[k], qsp::DrugPk::fromTherapy(t.base->model, t.arms[arm].therapies[k]), t.base->body);
                if ((perDrug[t.arms[arm].therapies[k]] += reg.doses().size()) > qsp::kMaxDosesPerDrug)
                    diag.error(SourceLocation{t.path, 0, 0}, "arm '" + t.arms[arm].name + "'", "dose",
                               qsp::tooManyDosesMessage("arm '" + t.arms[arm].name + "'", static_cast<double>(perDrug[t.arms[arm].therapies[k]])));
            }
        }
    }
    io::detail::throwScenarioErrors(diag, baseErrors);
    prepareMatching(t);  // the plausible pool's density of every [[match]] (needs the whole population)
    t.fileHash = hex64(io::fnv1a64(text)) + hex64(io::fnv1a64(baseText)) + hex64(io::fnv1a64(popText));
}

}  // namespace

LoadedTrial loadTrial(const std::filesystem::path& file) {
    model::Diagnostics diag;
    LoadedTrial t;
    t.path = file.lexically_normal().generic_string();
    const std::string text = io::detail::readInputFile(file, t.path, "trial file", diag);
    auto doc = io::detail::parseScenarioToml(text, t.path, diag);
    diag.throwIfAny();
    // The base scenario: the tumour environment every patient starts from (and the model).
    std::vector<model::Diagnostic> baseErrors;
    bool baseLoaded = false;
    std::string baseText;
    const toml::node* baseNode = doc->at_path("trial.base").node();
    if (!baseNode || !baseNode->is_string() || baseNode->as_string()->get().empty()) {
        const SourceLocation where = baseNode ? SourceLocation{t.path, baseNode->source().begin.line, baseNode->source().begin.column}
                                              : SourceLocation{t.path, 1, 1};
        diag.error(where, "[trial]", "base",
                   baseNode ? "expected the path of a simulation scenario (the tumour environment), relative to this file"
                            : "missing required key (the simulation scenario giving the tumour environment, relative to this file)");
    } else {
        const std::string rel = baseNode->as_string()->get();
        t.baseScenarioFile = (std::filesystem::path(t.path).parent_path() / rel).lexically_normal().generic_string();
        std::error_code ec;
        if (!std::filesystem::is_regular_file(t.baseScenarioFile, ec)) {
            diag.error(SourceLocation{t.path, baseNode->source().begin.line, baseNode->source().begin.column}, "[trial]", "base",
                       "cannot read scenario file '" + t.baseScenarioFile + "' ('" + rel + "' relative to the trial's folder)");
        } else {
            try {
                t.base = qsp::loadSimulationScenario(t.baseScenarioFile);
                baseText = io::readFile(t.baseScenarioFile);
                baseLoaded = true;
            } catch (const model::ModelError& e) {
                baseErrors = e.diagnostics();
            }
        }
    }
    const model::UnitSystem units;
    checkTrialDocument(*doc, text, t, baseLoaded, baseText, diag, baseErrors, units);
    return t;
}

LoadedTrial parseTrial(const std::string& toml, const std::string& path, const qsp::LoadedSimulationScenario& base, const model::UnitSystem& units) {
    model::Diagnostics diag;
    LoadedTrial t;
    t.path = path;
    auto doc = io::detail::parseScenarioToml(toml, path, diag);
    diag.throwIfAny();
    const toml::node* baseNode = doc->at_path("trial.base").node();
    if (!baseNode || !baseNode->is_string() || baseNode->as_string()->get().empty())
        diag.error(baseNode ? SourceLocation{path, baseNode->source().begin.line, baseNode->source().begin.column} : SourceLocation{path, 1, 1},
                   "[trial]", "base", "missing required key (the simulation scenario giving the tumour environment, relative to this file)");
    t.base = base;
    t.baseScenarioFile = base.path;
    checkTrialDocument(*doc, toml, t, true, {}, diag, {}, units);
    return t;
}

}  // namespace nkscape::trial
