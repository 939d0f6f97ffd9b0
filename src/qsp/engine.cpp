// The well-mixed engine, first version (docs/qsp.md, "The engine"). The ODE system is generated
// from the compiled model: one block of states per clone, NK population, mediator and drug. Every
// rate comes from the model through the Regulator (cell levels) and the Synapse (kill
// probabilities); nothing here is specific to one receptor, ligand or drug.

#include "nkscape/qsp/engine.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <set>

#include "nkscape/error.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

namespace nkscape::qsp {

using model::CellParam;
using model::CompiledModel;
using model::Index;
using model::Kind;
using model::kNoIndex;
using model::kNoParam;

namespace {

constexpr double kHoursPerDay = 24.0;
constexpr double kMinutesPerDay = 1440.0;

struct Constants {
    double encounterRate;          // 1/d per NK cell, at target saturation
    double encounterHalf;          // cell: tumour cells at half-maximal encounter rate
    double volumePerCell;          // mL per cell of interstitium
    double antibodyPartition;      // tumour interstitium / plasma
    double carryingCapacity;       // cell, when the tumour cell type gives none
    double productTumourFraction;  // share of a cell product's circulating cells in the tumour
};

Constants readConstants(const CompiledModel& m) {
    return Constants{m.constant("qsp.encounter_rate"),        m.constant("qsp.encounter_half_saturation"),
                     m.constant("qsp.interstitial_volume_per_cell"), m.constant("qsp.antibody_tumour_partition"),
                     m.constant("qsp.carrying_capacity"),     m.constant("qsp.cell_product_tumour_fraction")};
}

// First-order loss of a mediator in 1/d, from decay_rate (1/h) or half_life (h); 0 if neither.
double decayPerDay(const CompiledModel& m, Index mediator) {
    const auto& med = m.mediators()[mediator];
    if (med.decayRate != kNoParam) return m.value(med.decayRate) * kHoursPerDay;
    if (med.halfLife != kNoParam) return std::numbers::ln2 / m.value(med.halfLife) * kHoursPerDay;
    return 0.0;
}

class TumourSystem final : public OdeSystem {
public:
    TumourSystem(const CompiledModel& m, const SimulationSpec& spec)
        : m_(m), spec_(spec), c_(readConstants(m)), regulator_(m), synapse_(m), contacts_(synapse::Contacts::none(m)) {
        const auto& tumour = m.cellTypes()[spec.tumourCellType];
        if (tumour.param(CellParam::GrowthRate) != kNoParam) growthRate_ = m.value(tumour.param(CellParam::GrowthRate));
        else if (tumour.param(CellParam::DoublingTime) != kNoParam) growthRate_ = std::numbers::ln2 / m.value(tumour.param(CellParam::DoublingTime));
        else throw InputError("simulate: tumour cell type '" + m.entities(Kind::CellType)[spec.tumourCellType].name + "' has neither growth_rate nor doubling_time");
        capacity_ = tumour.param(CellParam::CarryingCapacity) != kNoParam ? m.value(tumour.param(CellParam::CarryingCapacity)) : c_.carryingCapacity;

        nClones_ = spec.clones.size();
        nNk_ = spec.nk.size();
        nMed_ = m.mediators().size();
        offsetDrug_ = nClones_ + nNk_ + nMed_;
        std::size_t off = offsetDrug_;
        for (const auto& d : spec.drugs) {
            drugs_.push_back(DrugPk::fromTherapy(m, d.therapy));
            drugOffset_.push_back(off);
            off += drugs_.back().stateCount();
            const auto& th = m.therapies()[d.therapy];
            productType_.push_back(drugs_.back().isCellProduct() ? th.product : kNoIndex);
            hasConcentration_.push_back(!drugs_.back().isCellProduct() && th.molecularWeight != kNoParam);
        }
        size_ = off;
        inputRate.assign(spec.drugs.size(), 0.0);
        for (Index k = 0; k < nMed_; ++k) {
            decay_.push_back(decayPerDay(m, k));
            const auto& med = m.mediators()[k];
            basal_.push_back(med.basalLevel != kNoParam ? m.value(med.basalLevel) : 0.0);
        }
        const auto fx = m.indexOf(Kind::Factor, "proliferation");
        const auto fv = m.indexOf(Kind::Factor, "viability");
        prolifFactor_ = fx ? *fx : kNoIndex;
        const auto ifng = m.indexOf(Kind::Mediator, "IFN-g");
        const auto tnfa = m.indexOf(Kind::Mediator, "TNF-a");
        ifng_ = ifng ? *ifng : nMed_;
        tnfa_ = tnfa ? *tnfa : nMed_;
        viabilityFactor_ = fv ? *fv : kNoIndex;
    }

    [[nodiscard]] std::size_t size() const override { return size_; }
    [[nodiscard]] std::string name() const override { return "tumour '" + m_.entities(Kind::CellType)[spec_.tumourCellType].name + "'"; }
    // No CVODE inequality constraints: a clone driven extinct approaches zero exponentially and
    // the constrained corrector then fails ("unable to satisfy inequality constraints"). Every
    // rate reads max(0, y) instead, and every loss term is proportional to its own state, so a
    // state at zero stays there (negatives are bounded by the absolute tolerance).
    [[nodiscard]] bool nonNegative(std::size_t) const override { return false; }
    [[nodiscard]] std::string stateName(std::size_t i) const override {
        if (i < nClones_) return "clone." + spec_.clones[i].name;
        if (i < nClones_ + nNk_) return "nk." + m_.entities(Kind::CellType)[spec_.nk[i - nClones_].cellType].name;
        if (i < offsetDrug_) return "mediator." + m_.entities(Kind::Mediator)[i - nClones_ - nNk_].name;
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (i >= drugOffset_[d] && i < drugOffset_[d] + drugs_[d].stateCount()) return drugs_[d].stateName(i - drugOffset_[d]);
        return "y[" + std::to_string(i) + "]";
    }

    [[nodiscard]] std::vector<double> initialState() const {
        std::vector<double> y(size_, 0.0);
        for (std::size_t c = 0; c < nClones_; ++c) y[c] = spec_.clones[c].initialCells;
        for (std::size_t p = 0; p < nNk_; ++p) y[nClones_ + p] = spec_.nk[p].initialCells;
        for (std::size_t k = 0; k < nMed_; ++k) y[nClones_ + nNk_ + k] = basal_[k];
        return y;
    }

    /// Free drug in the tumour interstitium (nM) for the Regulator and the Synapse.
    [[nodiscard]] synapse::Milieu milieu(std::span<const double> y) const {
        synapse::Milieu mil = synapse::Milieu::empty(m_);
        for (std::size_t k = 0; k < nMed_; ++k) mil.mediators[k] = std::max(0.0, y[nClones_ + nNk_ + k]);
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (hasConcentration_[d]) mil.therapies[spec_.drugs[d].therapy] += c_.antibodyPartition * std::max(0.0, drugs_[d].concentration(y, drugOffset_[d]));
        return mil;
    }

    /// Drug column value: nM in plasma for a drug, circulating cells for a cell product.
    [[nodiscard]] double drugOutput(std::span<const double> y, std::size_t d) const {
        return hasConcentration_[d] ? drugs_[d].concentration(y, drugOffset_[d]) : drugs_[d].centralAmount(y, drugOffset_[d]);
    }

    void rhs(double /*t*/, std::span<const double> y, std::span<double> dydt) override {
        std::fill(dydt.begin(), dydt.end(), 0.0);
        const synapse::Milieu mil = milieu(y);
        // Set-points and the synapse context depend on the milieu only. CVODE's difference-quotient
        // Jacobian perturbs one state at a time, mostly cells, which leaves the milieu bit-for-bit
        // the same: reuse them then (exact equality, so results do not depend on the cache).
        if (!cacheValid_ || mil.mediators != cachedMilieu_.mediators || mil.therapies != cachedMilieu_.therapies) {
            cachedMilieu_ = mil;
            cachedContext_ = synapse_.context(mil);
            cachedTumour_ = regulator_.setPoint(spec_.tumourCellType, mil, contacts_);
            cachedNk_.clear();
            cacheValid_ = true;
        }
        const auto& ctx = cachedContext_;
        const auto& tumourLevels = cachedTumour_;
        auto nkStateOf = [&](Index cellType) -> const synapse::NkState& {
            for (const auto& [ct, st] : cachedNk_)
                if (ct == cellType) return st;
            cachedNk_.emplace_back(cellType, regulator_.nkState(cellType, mil, contacts_));
            return cachedNk_.back().second;
        };

        double nTot = 0;
        for (std::size_t c = 0; c < nClones_; ++c) nTot += std::max(0.0, y[c]);

        // Effector populations: the declared ones, then each cell product's tumour share.
        struct Effector {
            Index cellType;
            double cells;
            std::size_t state;  // index in y, or size_ for a cell product (no state of its own)
        };
        std::vector<Effector> eff;
        for (std::size_t p = 0; p < nNk_; ++p) eff.push_back({spec_.nk[p].cellType, std::max(0.0, y[nClones_ + p]), nClones_ + p});
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (productType_[d] != kNoIndex)
                eff.push_back({productType_[d], c_.productTumourFraction * std::max(0.0, drugs_[d].centralAmount(y, drugOffset_[d])), size_});

        // Killing: each effector cell makes ε_eff contacts a day (fewer when contacts are long),
        // shared among clones by abundance with saturation in tumour size; each kills with the
        // synapse's probability for that clone's ligand profile.
        std::vector<double> killed(nClones_, 0.0);
        synapse::TargetState target;
        double effectorCells = 0;
        std::vector<double> secretion(nMed_, 0.0);
        for (const auto& e : eff) {
            effectorCells += e.cells;
            const synapse::NkState& nk = nkStateOf(e.cellType);
            // Constitutive secretion (VEGF, MMP-9 of CD56bright cells); IFN-γ and TNF-α are
            // released in contacts, from the synapse, below.
            for (std::size_t k = 0; k < nMed_; ++k)
                if (k != ifng_ && k != tnfa_) secretion[k] += e.cells * nk.secretion[k];
            if (e.cells <= 0 || nTot <= 0) continue;
            for (std::size_t c = 0; c < nClones_; ++c) {
                const double nc = std::max(0.0, y[c]);
                if (nc <= 0) continue;
                target.ligands = tumourLevels.ligands;
                for (const auto& [lig, mult] : spec_.clones[c].ligandMultipliers) target.ligands[lig] *= mult;
                const auto out = synapse_.decide(ctx, nk, target);
                const double contactDays = out.contactTime / kMinutesPerDay;
                const double encounters = c_.encounterRate / (1.0 + c_.encounterRate * contactDays) * nc / (nTot + c_.encounterHalf);
                killed[c] += encounters * e.cells * out.killProbability;
                // Share of the day spent in contact with this clone × secretion during a contact.
                const double inContact = encounters * contactDays;
                if (ifng_ < nMed_) secretion[ifng_] += e.cells * inContact * out.ifng;
                if (tnfa_ < nMed_) secretion[tnfa_] += e.cells * inContact * out.tnfa;
            }
            if (e.state < size_) {
                const auto& ct = m_.cellTypes()[e.cellType];
                const double prolif = m_.valueOr(ct.param(CellParam::ProliferationRate), 0.0) *
                                      (prolifFactor_ != kNoIndex ? nk.factors[prolifFactor_] : 1.0);
                const double viability = viabilityFactor_ != kNoIndex ? std::max(nk.factors[viabilityFactor_], 1e-3) : 1.0;
                const double death = m_.valueOr(ct.param(CellParam::DeathRate), 0.0) / viability;
                dydt[e.state] = spec_.nk[e.state - nClones_].influxPerDay + e.cells * (prolif - death);
            }
        }

        // Growth, logistic in the whole tumour; clones arise from the founding clone's divisions.
        const double crowding = 1.0 - nTot / capacity_;
        const double g0 = growthRate_ * std::max(0.0, y[0]) * crowding;
        double switched = 0;
        for (std::size_t c = 1; c < nClones_; ++c) {
            const double flux = spec_.clones[c].switchPerDivision * std::max(0.0, g0);
            switched += flux;
            dydt[c] = growthRate_ * std::max(0.0, y[c]) * crowding + flux - killed[c];
        }
        dydt[0] = g0 - switched - killed[0];

        // Mediators in the interstitium: secretion by every cell over the interstitial volume,
        // first-order loss toward the basal level.
        for (std::size_t k = 0; k < nMed_; ++k) secretion[k] += nTot * tumourLevels.secretion[k];
        const double volume = c_.volumePerCell * (nTot + effectorCells + 1.0);  // +1: never divide by zero
        for (std::size_t k = 0; k < nMed_; ++k) {
            const std::size_t i = nClones_ + nNk_ + k;
            dydt[i] = secretion[k] * kHoursPerDay / volume - decay_[k] * (y[i] - basal_[k]);
        }
        for (std::size_t d = 0; d < drugs_.size(); ++d) drugs_[d].addDerivatives(y, dydt, drugOffset_[d], inputRate[d]);
    }

    std::vector<double> inputRate;  ///< current infusion rate per drug (amount/d), set by the driver

    [[nodiscard]] const std::vector<DrugPk>& drugs() const noexcept { return drugs_; }
    [[nodiscard]] std::size_t drugOffset(std::size_t d) const { return drugOffset_[d]; }
    [[nodiscard]] std::size_t clones() const noexcept { return nClones_; }
    [[nodiscard]] std::size_t nkCount() const noexcept { return nNk_; }
    [[nodiscard]] std::size_t mediatorCount() const noexcept { return nMed_; }

private:
    const CompiledModel& m_;
    const SimulationSpec& spec_;
    Constants c_;
    synapse::Regulator regulator_;
    synapse::Synapse synapse_;
    synapse::Contacts contacts_;
    double growthRate_ = 0, capacity_ = 0;
    std::size_t nClones_ = 0, nNk_ = 0, nMed_ = 0, offsetDrug_ = 0, size_ = 0;
    std::vector<DrugPk> drugs_;
    std::vector<std::size_t> drugOffset_;
    std::vector<Index> productType_;
    std::vector<bool> hasConcentration_;
    std::vector<double> decay_, basal_;
    Index prolifFactor_ = kNoIndex, viabilityFactor_ = kNoIndex;
    std::size_t ifng_ = 0, tnfa_ = 0;  // mediator indices; nMed_ when the model has none
    // Cache of the milieu-dependent quantities (see rhs).
    bool cacheValid_ = false;
    synapse::Milieu cachedMilieu_;
    synapse::SynapseContext cachedContext_;
    synapse::CellLevels cachedTumour_;
    std::vector<std::pair<Index, synapse::NkState>> cachedNk_;
};

void checkSpec(const CompiledModel& m, const SimulationSpec& s) {
    const auto cellName = [&](Index i) { return m.entities(Kind::CellType).at(i).name; };
    if (s.tumourCellType >= m.cellTypes().size() || m.cellTypes()[s.tumourCellType].category != model::CellCategory::Tumour)
        throw InputError("simulate: the tumour cell type must be a cell type of category tumour");
    if (s.clones.empty()) throw InputError("simulate: give at least the founding clone");
    if (!(s.durationDays > 0) || !(s.outputIntervalDays > 0))
        throw InputError("simulate: duration and output interval must be > 0 days");
    std::set<std::string> names;
    for (std::size_t c = 0; c < s.clones.size(); ++c) {
        const auto& cl = s.clones[c];
        if (!names.insert(cl.name).second) throw InputError("simulate: clone name '" + cl.name + "' is used twice");
        if (!(cl.initialCells >= 0) || !std::isfinite(cl.initialCells)) throw InputError("simulate: clone '" + cl.name + "': initial cells must be >= 0");
        if (!(cl.switchPerDivision >= 0 && cl.switchPerDivision <= 1)) throw InputError("simulate: clone '" + cl.name + "': switch probability must be in [0, 1]");
        if (c == 0 && (cl.switchPerDivision != 0 || !cl.ligandMultipliers.empty()))
            throw InputError("simulate: clone '" + cl.name + "' is the founding clone: it has no ligand multipliers and no switch rate");
        for (const auto& [lig, mult] : cl.ligandMultipliers)
            if (lig >= m.ligands().size() || !(mult >= 0) || !std::isfinite(mult))
                throw InputError("simulate: clone '" + cl.name + "': a ligand multiplier names no ligand or is not a finite number >= 0");
    }
    for (const auto& p : s.nk) {
        if (p.cellType >= m.cellTypes().size() || m.cellTypes()[p.cellType].category != model::CellCategory::Nk)
            throw InputError("simulate: an NK population must be a cell type of category nk");
        if (!(p.initialCells >= 0) || !(p.influxPerDay >= 0))
            throw InputError("simulate: NK population '" + cellName(p.cellType) + "': cells and influx must be >= 0");
    }
    for (const auto& d : s.drugs)
        if (d.therapy >= m.therapies().size()) throw InputError("simulate: a drug regimen names no therapy");
}

}  // namespace

SimulationResult simulate(const CompiledModel& m, const SimulationSpec& spec) {
    checkSpec(m, spec);
    TumourSystem sys(m, spec);
    SimulationResult res;
    // Columns.
    res.columns.push_back("tumour.cells");
    res.units.push_back("cell");
    for (const auto& c : spec.clones) {
        res.columns.push_back("clone." + c.name);
        res.units.push_back("cell");
    }
    for (const auto& p : spec.nk) {
        res.columns.push_back("nk." + m.entities(Kind::CellType)[p.cellType].name);
        res.units.push_back("cell");
    }
    for (std::size_t k = 0; k < m.mediators().size(); ++k) {
        res.columns.push_back("mediator." + m.entities(Kind::Mediator)[k].name);
        res.units.push_back(m.mediators()[k].unit);
    }
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        const bool cells = sys.drugs()[d].isCellProduct() || m.therapies()[spec.drugs[d].therapy].molecularWeight == kNoParam;
        res.columns.push_back("drug." + m.entities(Kind::Therapy)[spec.drugs[d].therapy].name);
        res.units.push_back(sys.drugs()[d].isCellProduct() ? "cell" : (cells ? "mg" : "nM"));
    }
    auto record = [&](double t, std::span<const double> y) {
        std::vector<double> row;
        double tot = 0;
        for (std::size_t c = 0; c < sys.clones(); ++c) tot += std::max(0.0, y[c]);
        row.push_back(tot);
        // Cells and concentrations are reported clipped at zero: a state driven extinct may sit a
        // hair below zero, within the absolute tolerance (the solver has no inequality constraints).
        for (std::size_t i = 0; i < sys.clones() + sys.nkCount() + sys.mediatorCount(); ++i) row.push_back(std::max(0.0, y[i]));
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
            const auto& drug = sys.drugs()[d];
            const bool mass = !drug.isCellProduct() && m.therapies()[spec.drugs[d].therapy].molecularWeight == kNoParam;
            row.push_back(mass ? drug.centralAmount(y, sys.drugOffset(d)) : sys.drugOutput(y, d));
        }
        res.times.push_back(t);
        res.rows.push_back(std::move(row));
    };

    // Event times: every output time and every change of a drug's input.
    std::set<double> times;
    const auto nOut = static_cast<std::size_t>(std::floor(spec.durationDays / spec.outputIntervalDays + 1e-9));
    for (std::size_t i = 1; i <= nOut; ++i) times.insert(static_cast<double>(i) * spec.outputIntervalDays);
    times.insert(spec.durationDays);
    for (const auto& d : spec.drugs)
        for (double t : d.regimen.eventTimes())
            if (t > 0 && t < spec.durationDays) times.insert(t);

    std::vector<double> y = sys.initialState();
    auto applyBoluses = [&](double t) {
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
            const double amount = spec.drugs[d].regimen.bolusAt(t);
            if (amount > 0) {
                sys.drugs()[d].applyBolus(y, sys.drugOffset(d), amount);
                res.events.push_back({t, "dose", m.entities(Kind::Therapy)[spec.drugs[d].therapy].name + " " + std::to_string(amount) + " " +
                                                     spec.drugs[d].regimen.unit()});
            }
            if (spec.drugs[d].regimen.infusionRate(t) > 0 && (t == 0 || spec.drugs[d].regimen.infusionRate(t - 1e-9) == 0))
                res.events.push_back({t, "infusion start", m.entities(Kind::Therapy)[spec.drugs[d].therapy].name});
        }
    };
    applyBoluses(0.0);
    record(0.0, y);
    OdeSolver solver(sys, 0.0, y, spec.ode);
    double previous = 0.0;
    for (double t : times) {
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) sys.inputRate[d] = spec.drugs[d].regimen.infusionRate(previous);
        (void)solver.advanceTo(t);
        const auto st = solver.state();
        y.assign(st.begin(), st.end());
        const std::size_t eventsBefore = res.events.size();
        applyBoluses(t);
        bool inputChanged = res.events.size() != eventsBefore;
        for (std::size_t d = 0; d < spec.drugs.size(); ++d)
            if (spec.drugs[d].regimen.infusionRate(t) != spec.drugs[d].regimen.infusionRate(previous)) inputChanged = true;
        // A discontinuity (dose, infusion switch): restart the multistep method from here.
        if (inputChanged) solver.reinitialize(t, y);
        const double k = t / spec.outputIntervalDays;
        if (std::abs(k - std::round(k)) < 1e-9 || t == spec.durationDays) record(t, y);
        previous = t;
    }
    res.stats = solver.stats();
    return res;
}

}  // namespace nkscape::qsp
