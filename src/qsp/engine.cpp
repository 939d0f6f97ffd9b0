// The well-mixed engine (docs/qsp.md, "The engine"). The ODE system is generated from the compiled
// model: one block of states per clone, cell population, mediator and drug. Every rate comes from
// the model through the Regulator (cell levels), the Synapse (kill probabilities) and the therapy
// mechanisms (supply, lyse, recruit, deplete, CAR); nothing here names a receptor, ligand or drug.

#include "nkscape/qsp/engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <optional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <Random123/philox.h>

#include "nkscape/error.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

namespace nkscape::qsp {

using model::CellCategory;
using model::CellParam;
using model::CompiledModel;
using model::Index;
using model::Kind;
using model::kNoIndex;
using model::kNoParam;
using model::MechanismAction;

namespace {

constexpr double kHoursPerDay = 24.0;
constexpr double kMinutesPerDay = 1440.0;
constexpr double kMicrolitresPerLitre = 1e6;
constexpr double kMillilitresPerLitre = 1e3;

struct Constants {
    double encounterRate;          // 1/d per effector cell, at target saturation
    double encounterHalf;          // cell: tumour cells at half-maximal encounter rate
    double volumePerCell;          // mL of interstitium per cell
    double antibodyPartition;      // tumour interstitium / plasma, antibodies and fusion proteins
    double cytokinePartition;      // the same, cytokines
    double smallMoleculePartition; // the same, small molecules and chemotherapy
    double carryingCapacity;       // cell, when the tumour cell type gives none
    double productTumourFraction;  // share of a cell product's circulating cells in the tumour
    double bloodVolume;            // µL
    double cafExclusion;           // CAF per tumour cell halving lymphocyte infiltration
    double cd8Specific;            // tumour-reactive share of CD8 T cells
    double exhaustionPerKill;      // 1 per kill
    double exhaustionRecovery;     // d
    double costimExpansion;        // 1/d
    double costimPersistence;      // 1
    double bloodMaxFold;           // 1: blood pool at which cytokine-driven expansion stops
    double bloodInfluxMaxGain;     // 1: most recruitment an expanded blood pool gives, relative to rest
    double tamPolarisation;        // 1/d: M1 <-> M2 switching at a resting M2 drive
    double engagementMax;          // 1/d: most kills a tumour cell receives per day (κ_max)
};

Constants readConstants(const CompiledModel& m) {
    return Constants{m.constant("qsp.encounter_rate"),
                     m.constant("qsp.encounter_half_saturation"),
                     m.constant("qsp.interstitial_volume_per_cell"),
                     m.constant("qsp.antibody_tumour_partition"),
                     m.constant("qsp.cytokine_tumour_partition"),
                     m.constant("qsp.small_molecule_tumour_partition"),
                     m.constant("qsp.carrying_capacity"),
                     m.constant("qsp.cell_product_tumour_fraction"),
                     m.constant("qsp.blood_volume") * kMicrolitresPerLitre,
                     m.constant("qsp.caf_exclusion_ratio"),
                     m.constant("qsp.cd8_tumour_specific_fraction"),
                     m.constant("qsp.exhaustion_per_kill"),
                     m.constant("qsp.exhaustion_recovery_time"),
                     m.constant("qsp.costimulation_expansion_rate"),
                     m.constant("qsp.costimulation_persistence_gain"),
                     m.constant("qsp.blood_pool_max_fold"),
                     m.constant("qsp.blood_influx_max_gain"),
                     m.constant("qsp.tam_polarisation_rate"),
                     m.constant("qsp.target_engagement_max")};
}

// Whether a regulation by one of the `supplied` mediators sets `factor` in cells of `category`:
// only then can the factor move from its resting level in plasma (which only drugs change).
bool regulatesFactor(const CompiledModel& m, CellCategory category, Index factor, const std::vector<Index>& supplied) {
    for (const auto& r : m.regulations())
        if (r.target.valid() && r.target.kind == Kind::Factor && r.target.index == factor && r.by.valid() && r.by.kind == Kind::Mediator &&
            std::find(supplied.begin(), supplied.end(), r.by.index) != supplied.end() &&
            std::find(r.on.begin(), r.on.end(), category) != r.on.end())
            return true;
    return false;
}

// First-order loss of a mediator in 1/d, from decay_rate (1/h) or half_life (h); 0 if neither.
double decayPerDay(const CompiledModel& m, Index mediator) {
    const auto& med = m.mediators()[mediator];
    if (med.decayRate != kNoParam) return m.value(med.decayRate) * kHoursPerDay;
    if (med.halfLife != kNoParam) return std::numbers::ln2 / m.value(med.halfLife) * kHoursPerDay;
    return 0.0;
}

// The denominator of the Beddington–DeAngelis kill term, N + N_½ + Λ/κ_max (cell): see
// perTargetKillRate() (engine.hpp) and the second pass of TumourSystem::rhs.
double killDenominator(double pressure, double targets, double halfSaturation, double maxPerTarget) {
    return targets + halfSaturation + pressure / maxPerTarget;
}

bool isKillerCategory(CellCategory c) { return c == CellCategory::Nk || c == CellCategory::Cd8T; }
// Lymphocytes are the cells the stromal barrier keeps out of tumour nests.
bool isExcludedCategory(CellCategory c) { return c == CellCategory::Nk || c == CellCategory::Cd8T || c == CellCategory::Treg; }

// A mechanism that acts on cell numbers (lyse, recruit, deplete), resolved for the engine.
struct CellMechanism {
    std::size_t drug = 0;          // index in spec.drugs
    MechanismAction action = MechanismAction::Lyse;
    double size = 0;               // rate (1/d) or gain (1)
    double ic50 = 0;               // nM in the tumour; 0 = exposure is the local activity
    Index spares = kNoIndex;       // lyse: antigen protecting a cell
    double spareHalf = 0;          // molecule/cell
    std::optional<CellCategory> category;
    Index cellType = kNoIndex;
    [[nodiscard]] bool matches(const CompiledModel& m, Index ct) const {
        if (category) return m.cellTypes()[ct].category == *category;
        for (Index c = ct; c != kNoIndex; c = m.cellTypes()[c].basedOn)
            if (c == cellType) return true;
        return false;
    }
};

class TumourSystem final : public OdeSystem {
public:
    TumourSystem(const EngineModel& engine, const SimulationSpec& spec)
        : m_(engine.model()), spec_(spec), c_(readConstants(m_)), regulator_(engine.regulator()), synapse_(engine.synapse()),
          contacts_(synapse::Contacts::none(m_)) {
        const CompiledModel& m = m_;
        // The CD8 T cells that recognise this tumour: the template's share times its immunogenicity.
        c_.cd8Specific = cd8TumourReactiveShare(c_.cd8Specific, spec.tumourImmunogenicity);
        // Margination of blood lymphocytes (docs/qsp.md): only a model with a "margination" factor
        // needs the two constants, so older models keep working unchanged.
        if (const auto fm = m.indexOf(Kind::Factor, "margination")) {
            marginationFactor_ = *fm;
            marginationRate_ = m.constant("qsp.margination_rate");
            marginationReturn_ = std::numbers::ln2 / m.constant("qsp.margination_return_half_life") * kHoursPerDay;
        }
        const auto& tumour = m.cellTypes()[spec.tumourCellType];
        const std::string& tumourName = m.entities(Kind::CellType)[spec.tumourCellType].name;
        if (tumour.param(CellParam::GrowthRate) != kNoParam) growthRate_ = m.value(tumour.param(CellParam::GrowthRate));
        else if (tumour.param(CellParam::DoublingTime) != kNoParam) growthRate_ = std::numbers::ln2 / m.value(tumour.param(CellParam::DoublingTime));
        else throw InputError("simulate: tumour cell type '" + tumourName + "' has neither growth_rate nor doubling_time");
        capacity_ = m.valueOr(tumour.param(CellParam::CarryingCapacity), c_.carryingCapacity);
        for (const auto& u : tumour.uptake) tumourUptake_.emplace_back(u.target.index, m.value(u.param));
        tumourDensity_ = m.valueOr(tumour.param(CellParam::Density), 0.0);

        nClones_ = spec.clones.size();
        nMed_ = m.mediators().size();
        std::size_t off = nClones_;
        // Cell populations: tumour count, then blood pool, granules and exhaustion where they apply.
        std::vector<char> contactRegulator(m.cellTypes().size(), 0);
        for (const auto& r : m.regulations())
            if (r.by.valid() && r.by.kind == Kind::CellType) contactRegulator[r.by.index] = 1;
        // Mediators the scenario's drugs supply to plasma: the only way its factors leave rest.
        std::vector<Index> suppliedMediators;
        for (const auto& dose : spec.drugs)
            for (const auto& mech : m.therapies()[dose.therapy].mechanisms)
                if (mech.action == MechanismAction::Supply) suppliedMediators.push_back(mech.target.index);
        for (const auto& ps : spec.populations) {
            Population p;
            p.spec = &ps;
            p.cellType = ps.cellType;
            const auto& ct = m.cellTypes()[ps.cellType];
            const std::string& name = m.entities(Kind::CellType)[ps.cellType].name;
            p.category = ct.category;
            if (ct.param(CellParam::DeathRate) == kNoParam)
                throw InputError("simulate: population '" + name + "': the cell type has no death_rate, so its numbers cannot be simulated");
            p.proliferation = m.valueOr(ct.param(CellParam::ProliferationRate), 0.0);
            p.death = m.value(ct.param(CellParam::DeathRate));
            p.killer = isKillerCategory(ct.category);
            p.excluded = isExcludedCategory(ct.category);
            p.contact = contactRegulator[ps.cellType] != 0;
            p.tumourState = off++;
            for (const auto& u : ct.uptake) p.uptake.emplace_back(u.target.index, m.value(u.param));
            if (ps.blood) {
                if (ct.param(CellParam::BloodCount) == kNoParam)
                    throw InputError("simulate: population '" + name + "' has a blood pool but the cell type has no blood_count");
                p.bloodState = off++;
                p.blood0 = m.value(ct.param(CellParam::BloodCount)) * c_.bloodVolume;
                // A marginated pool where a drug-supplied cytokine (IL-15, IL-21) moves the
                // "margination" factor of this cell category: cells that left the circulation for
                // vessel walls and tissues, alive but not counted in blood, returning with
                // qsp.margination_return_half_life. None without such a drug (it would stay 0).
                if (marginationFactor_ != kNoIndex && regulatesFactor(m, ct.category, marginationFactor_, suppliedMediators))
                    p.marginatedState = off++;
            }
            if (p.killer) {
                p.granuleState = off++;
                p.exhaustionState = off++;
                // Receptor levels with a relaxation time (the tau of the regulations acting on
                // them) are states that follow their set-points with it: surface receptors turn over
                // in about a day, on the scale of the drug and cytokine changes that move them.
                const auto& tau = regulator_.relaxationHours(p.cellType).receptors;
                for (std::size_t r = 0; r < tau.size(); ++r)
                    if (std::isfinite(tau[r]) && tau[r] > 0) p.relaxing.push_back(Relaxing{static_cast<Index>(r), off++, kHoursPerDay / tau[r]});
                // Kills' worth of granules (1 where the cell type gives none, as the Regulator's
                // NkState has it) and the refill time (the assay's constant where it gives none).
                p.granuleCapacity = std::max(1.0, m.valueOr(ct.param(CellParam::GranuleCapacity), 1.0));
                const model::ParamId refill = ct.param(CellParam::GranuleRefillTime);
                p.refillDays = (refill != kNoParam ? m.value(refill) : m.constant("assay.granule_refill_time")) / kHoursPerDay;
            }
            // Feedback factors (role "feedback": CIS induced by IL-15) are states relaxing toward
            // their set-points with their regulations' tau, one set for the cells in the tumour and
            // one for the blood pool, so that desensitisation builds up and wears off with time.
            p.feedback = regulator_.feedbackFactors(p.cellType);
            if (!p.feedback.empty()) {
                const auto& tau = regulator_.relaxationHours(p.cellType).factors;
                const synapse::CellLevels base = regulator_.baseline(p.cellType);
                for (const Index f : p.feedback) {
                    p.feedbackRate.push_back(kHoursPerDay / tau[f]);
                    p.feedbackStart.push_back(base.factors[f]);
                }
                p.feedbackState = off;
                off += p.feedback.size();
                p.heldTumour = p.feedbackStart;
                p.feedbackSet = p.feedbackStart;
                if (p.bloodState != kNone) {
                    p.bloodFeedbackState = off;
                    off += p.feedback.size();
                    p.heldPlasma = p.feedbackStart;
                    p.bloodFeedbackSet = p.feedbackStart;
                }
            }
            if (const std::string why = populationProblem(m, ps.cellType, spec.tumourCellType); !why.empty())
                throw InputError("simulate: " + why);
            pops_.push_back(p);
        }
        offsetMed_ = off;
        off += nMed_;
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
            const Index t = spec.drugs[d].therapy;
            const auto& th = m.therapies()[t];
            // Everything that would make the drug unusable is checked once, by the function the
            // scenario reader also calls (so a scenario reports it at its [[dose]]).
            if (const std::string why = dosingProblem(m, t); !why.empty()) throw InputError("simulate: " + why);
            drugs_.push_back(DrugPk::fromTherapy(m, t));
            Drug info;
            const DrugPk& pk = drugs_.back();
            // Linear PK (every drug but a cell product and a TMDD antibody) is taken out of the
            // stiff system: its states are propagated exactly between events (advanceLinear), so
            // a dose changes no ODE state and needs no solver restart.
            info.analytic = !spec.restartAtDoses && !pk.isCellProduct() && !(pk.parameters().tmddKint > 0);
            if (info.analytic) {
                drugOffset_.push_back(pkSize_);
                pkSize_ += pk.stateCount();
            } else {
                drugOffset_.push_back(off);
                off += pk.stateCount();
            }
            info.product = pk.isCellProduct() ? th.product : kNoIndex;
            info.local = pk.isLocal();
            info.hasConcentration = info.local || (!pk.isCellProduct() && th.molecularWeight != kNoParam);
            switch (th.kind) {
                case model::TherapyKind::Cytokine: info.partition = c_.cytokinePartition; break;
                case model::TherapyKind::SmallMolecule:
                case model::TherapyKind::Chemotherapy: info.partition = c_.smallMoleculePartition; break;
                default: info.partition = info.local ? 1.0 : c_.antibodyPartition; break;
            }
            for (const auto& mech : th.mechanisms) {
                if (mech.action == MechanismAction::Inhibit || mech.action == MechanismAction::Restore ||
                    mech.action == MechanismAction::Neutralise)
                    info.regulatorActs = true;
                if (mech.action == MechanismAction::Supply) {
                    const Index k = mech.target.index;
                    const auto& med = m.mediators()[k];
                    const double perNm = med.unitPerNanomolar != 0 ? med.unitPerNanomolar : med.unitPerNgPerMl * m.value(med.molecularWeight);
                    info.supply.emplace_back(k, m.value(mech.param("potency")) * perNm);
                } else if (mech.action == MechanismAction::Car && info.product != kNoIndex) {
                    info.carTherapy = true;
                    info.costimulated = !mech.costimulation.empty() && mech.costimulation != "none";
                } else if (mech.action == MechanismAction::Lyse || mech.action == MechanismAction::Recruit ||
                           mech.action == MechanismAction::Deplete) {
                    CellMechanism cm;
                    cm.drug = d;
                    cm.action = mech.action;
                    cm.size = m.value(mech.param(mech.action == MechanismAction::Recruit ? "gain" : "rate"));
                    cm.category = mech.targetCategory;
                    cm.cellType = mech.target.valid() ? mech.target.index : kNoIndex;
                    if (mech.param("ic50") != kNoParam) cm.ic50 = m.value(mech.param("ic50"));
                    if (mech.spares.valid()) {
                        cm.spares = mech.spares.index;
                        cm.spareHalf = m.value(mech.param("spare_half"));
                    }
                    // A cell product recruiting its own cells sets how they infiltrate (below).
                    if (info.product != kNoIndex && mech.action == MechanismAction::Recruit) {
                        info.productRecruit = cm.size;
                        continue;
                    }
                    cellMechs_.push_back(cm);
                }
            }
            // Consumption by the cells the cytokine acts on (pk.tmdd_sites with pk.tmdd_kint): the
            // target of TMDD is the binding sites on the blood pools of every cell category a
            // regulation by a supplied mediator acts on, so the sink grows as those cells expand.
            if (pk.parameters().tmddKint > 0 && pk.parameters().tmddSites > 0 && !info.supply.empty()) {
                constexpr double kMoleculesPerNmol = 6.02214076e14;
                info.tmddNmPerCell = pk.parameters().tmddSites / kMoleculesPerNmol / pk.parameters().v1;
                for (std::size_t pi = 0; pi < pops_.size(); ++pi) {
                    if (pops_[pi].bloodState == kNone) continue;
                    bool acts = false;
                    for (const auto& r : m.regulations()) {
                        if (!r.by.valid() || r.by.kind != Kind::Mediator) continue;
                        const bool supplied = std::any_of(info.supply.begin(), info.supply.end(), [&](const auto& sp) { return sp.first == r.by.index; });
                        if (supplied && std::find(r.on.begin(), r.on.end(), pops_[pi].category) != r.on.end()) acts = true;
                    }
                    if (acts) info.tmddPools.push_back(pi);
                }
            }
            // Effect compartment (pk.ke0): the drug acts through C_e, an ODE state.
            if (pk.parameters().ke0 > 0 && info.hasConcentration && !info.local) {
                info.ke0 = pk.parameters().ke0;
                info.effectState = off++;
            }
            drugInfo_.push_back(std::move(info));
        }
        // Each clone's integrated rates (births and deaths per cell, immigrants), accumulated while
        // it is a small clone: SmallCloneTracker advances it with their means over an interval.
        offsetQuad_ = off;
        off += 3 * nClones_;
        // Plasma compartments of the mediators that declare one (plasma_half_life): a linear state
        // each, fed by the tumour's interstitial drainage (docs/qsp.md, "Structure added for
        // calibration"). The constants are read only then, so models without them still run. Last in
        // the state vector, so that they take the colouring's last colour together (jacobianSparsity).
        for (Index k = 0; k < nMed_; ++k) {
            const auto& med = m.mediators()[k];
            if (med.plasmaHalfLife == kNoParam) continue;
            if (plasmaMeds_.empty()) {
                drainagePerDay_ = m.constant("qsp.tumour_fluid_drainage");
                plasmaVolumeMl_ = m.constant("qsp.plasma_volume") * kMillilitresPerLitre;
            }
            PlasmaMediator pm;
            pm.mediator = k;
            pm.state = off++;
            pm.clearance = std::numbers::ln2 / m.value(med.plasmaHalfLife) * kHoursPerDay;
            pm.baseline = m.valueOr(med.plasmaBaseline, 0.0);
            pm.formRatio = m.valueOr(med.plasmaFormRatio, 1.0);
            plasmaMeds_.push_back(pm);
        }
        size_ = off;
        // Which cell mechanisms act on which cells, resolved once (not per RHS): a population's
        // recruit/deplete, a cell product's recruit, and the lysis of the tumour cell type.
        for (std::size_t i = 0; i < cellMechs_.size(); ++i) {
            const CellMechanism& cm = cellMechs_[i];
            for (auto& p : pops_)
                if (cm.action != MechanismAction::Lyse && cm.matches(m, p.cellType)) p.mechanisms.push_back(i);
            for (auto& di : drugInfo_)
                if (di.product != kNoIndex && cm.action == MechanismAction::Recruit && cm.matches(m, di.product)) di.productRecruits.push_back(i);
            if (cm.action == MechanismAction::Lyse && cm.matches(m, spec.tumourCellType)) tumourLyses_.push_back(i);
        }
        inputRate.assign(spec.drugs.size(), 0.0);
        pkAnchor_.assign(pkSize_, 0.0);
        pkKnot_.assign(pkSize_, 0.0);
        pkNow_.assign(pkSize_, 0.0);
        knots_.assign(spec.drugs.size(), Knot{});
        rateChanges_.assign(spec.drugs.size(), {});
        for (Index k = 0; k < nMed_; ++k) {
            decay_.push_back(decayPerDay(m, k));
            const auto& med = m.mediators()[k];
            basal_.push_back(med.basalLevel != kNoParam ? m.value(med.basalLevel) : 0.0);
        }
        const auto fx = m.indexOf(Kind::Factor, "proliferation");
        const auto fv = m.indexOf(Kind::Factor, "viability");
        prolifFactor_ = fx ? *fx : kNoIndex;
        // TAM polarisation: with both an M1 and an M2 TAM population, cells switch between them,
        // driven by the "M2 polarisation" factor of each population's set-point.
        for (std::size_t i = 0; i < pops_.size(); ++i) {
            if (pops_[i].category != CellCategory::Tam) continue;
            const auto pol = m.cellTypes()[pops_[i].cellType].polarisation;
            if (pol == model::Polarisation::M1 && tamM1_ == kNone) tamM1_ = i;
            if (pol == model::Polarisation::M2 && tamM2_ == kNone) tamM2_ = i;
        }
        if (tamM1_ != kNone && tamM2_ != kNone) {
            std::vector<Index> types;
            for (const auto& ps : spec.populations) types.push_back(ps.cellType);
            if (const std::string why = populationsProblem(m, types); !why.empty()) throw InputError("simulate: " + why);
            m2Factor_ = *m.indexOf(Kind::Factor, "M2 polarisation");
        }
        viabilityFactor_ = fv ? *fv : kNoIndex;
        const auto ifng = m.indexOf(Kind::Mediator, "IFN-g");
        const auto tnfa = m.indexOf(Kind::Mediator, "TNF-a");
        ifng_ = ifng ? *ifng : nMed_;
        tnfa_ = tnfa ? *tnfa : nMed_;

        // Clones: factor multipliers become baseline overrides for the Regulator.
        const synapse::CellLevels base = regulator_.baseline(spec.tumourCellType);
        for (const auto& cl : spec.clones) {
            synapse::FactorBaselines fb;
            for (const auto& [f, mult] : cl.factorMultipliers) fb.emplace_back(f, base.factors[f] * mult);
            cloneVariant_.push_back(fb.empty() ? synapse::Regulator::VariantPlan{} : regulator_.variantPlan(spec.tumourCellType, fb));
            cloneBaselines_.push_back(std::move(fb));
        }
        clones_.resize(nClones_);
        frozen_.assign(nClones_, 0);
        smallCount_.assign(nClones_, 0.0);
        for (std::size_t c = 1; c < nClones_; ++c) switchSum_ += spec.clones[c].switchPerDivision;
        basalPlasma_ = synapse::basalMilieu(m);
        // The tumour's proliferation factor in the resting milieu (basal mediators, no contacts):
        // the cell type's doubling time is its own, without the help of a tumour's macrophages,
        // so growth is scaled by the factor relative to this.
        {
            synapse::CellLevels resting;
            regulator_.setPoint(spec.tumourCellType, basalPlasma_, synapse::Contacts::none(m), resting);
            restingProliferation_ = std::max(1e-12, tumourProliferation(resting.factors));
        }
        // Each population's factors in the resting plasma: the blood pool is at its steady state there.
        for (auto& p : pops_) {
            if (p.bloodState == kNone) continue;
            const auto lv = regulator_.setPoint(p.cellType, basalPlasma_, contacts_);
            p.restingNet = gainRate(p, lv.factors) - lossRate(p, lv.factors);
            // Margination is counted from the resting plasma's level (basal IL-15 and IL-21): the
            // resting blood count already includes the steady exchange with the vessel walls.
            if (marginationFactor_ != kNoIndex) p.restingMargination = lv.factors[marginationFactor_];
            // The blood pool's feedback levels start at their resting set-points (held there, the
            // set-point is the one above, so restingNet is the held pool's too).
            for (std::size_t k = 0; k < p.feedback.size(); ++k) p.bloodStart.push_back(lv.factors[p.feedback[k]]);
            if (!p.feedback.empty()) p.heldPlasma = p.bloodFeedbackSet = p.bloodStart;
        }
    }

    [[nodiscard]] std::size_t size() const override { return size_; }
    [[nodiscard]] std::string name() const override { return "tumour '" + m_.entities(Kind::CellType)[spec_.tumourCellType].name + "'"; }
    // No CVODE inequality constraints: a clone driven extinct approaches zero exponentially and
    // the constrained corrector then fails ("unable to satisfy inequality constraints"). Every
    // rate reads max(0, y) instead, and every loss term is proportional to its own state, so a
    // state at zero stays there (negatives are bounded by the absolute tolerance).
    [[nodiscard]] bool nonNegative(std::size_t) const override { return false; }
    void jacobianScope(bool entering) override { inJacobian_ = entering && freezeInJacobian_; }
    // With set-points frozen in the Jacobian (jacobianScope), a mediator moves the other equations
    // only through set-points: its column has its own decay alone. Cells, functional states and
    // drugs in the ODE read one another (kills, crowding, recruitment, volume). So all mediator
    // columns share one colour and a Jacobian costs (non-mediator states + 1) RHS evaluations.
    [[nodiscard]] std::vector<std::vector<std::size_t>> jacobianSparsity() const override {
        // Relaxing receptor levels likewise: frozen in the Jacobian, each column is its own relaxation.
        std::vector<char> diagonal(size_, 0);
        for (std::size_t k = 0; k < nMed_; ++k) diagonal[offsetMed_ + k] = 1;
        for (std::size_t k = 0; k < 3 * nClones_; ++k) diagonal[offsetQuad_ + k] = 1;  // no equation reads them
        for (const auto& pm : plasmaMeds_) diagonal[pm.state] = 1;  // no other equation reads a plasma level
        for (const auto& p : pops_) {
            for (const auto& rx : p.relaxing) diagonal[rx.state] = 1;
            // Feedback levels likewise: the set-points they move are frozen in the Jacobian.
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                diagonal[p.feedbackState + k] = 1;
                if (p.bloodFeedbackState != kNone) diagonal[p.bloodFeedbackState + k] = 1;
            }
        }
        std::vector<std::size_t> others;
        for (std::size_t j = 0; j < size_; ++j)
            if (diagonal[j] == 0) others.push_back(j);
        std::vector<std::vector<std::size_t>> deps(size_, others);
        for (std::size_t j = 0; j < size_; ++j)
            if (diagonal[j] != 0) deps[j].push_back(j);
        // A plasma level reads its own mediator's interstitial level (the drained flux) and the
        // cells (the tumour's volume); nothing reads it. Declared, so that its column is not
        // perturbed with its mediator's: one more colour, one more RHS per Jacobian.
        for (const auto& pm : plasmaMeds_) {
            deps[pm.state] = others;
            deps[pm.state].push_back(offsetMed_ + pm.mediator);
            deps[pm.state].push_back(pm.state);
        }
        return deps;
    }
    [[nodiscard]] std::string stateName(std::size_t i) const override {
        if (i < nClones_) return "clone." + spec_.clones[i].name;
        if (i >= offsetQuad_ && i < offsetQuad_ + 3 * nClones_) {
            static constexpr const char* kWhat[] = {"integrated births", "integrated deaths", "integrated immigrants"};
            return "clone." + spec_.clones[(i - offsetQuad_) / 3].name + "." + kWhat[(i - offsetQuad_) % 3];
        }
        for (const auto& p : pops_) {
            const std::string& n = m_.entities(Kind::CellType)[p.cellType].name;
            if (i == p.tumourState) return std::string(model::cellCategoryKey(p.category)) + "." + n;
            if (i == p.bloodState) return "blood." + n;
            if (i == p.marginatedState) return "marginated." + n;
            if (i == p.granuleState) return "granules." + n;
            if (i == p.exhaustionState) return "exhaustion." + n;
            for (const auto& rx : p.relaxing)
                if (i == rx.state) return "receptor." + n + "." + m_.entities(Kind::Receptor)[rx.receptor].name;
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                const std::string& f = m_.entities(Kind::Factor)[p.feedback[k]].name;
                if (i == p.feedbackState + k) return "feedback." + n + "." + f;
                if (p.bloodFeedbackState != kNone && i == p.bloodFeedbackState + k) return "blood feedback." + n + "." + f;
            }
        }
        if (i >= offsetMed_ && i < offsetMed_ + nMed_) return "mediator." + m_.entities(Kind::Mediator)[i - offsetMed_].name;
        for (const auto& pm : plasmaMeds_)
            if (i == pm.state) return "plasma." + m_.entities(Kind::Mediator)[pm.mediator].name;
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (drugInfo_[d].ke0 > 0 && i == drugInfo_[d].effectState) return drugs_[d].name() + ".effect";
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (!drugInfo_[d].analytic && i >= drugOffset_[d] && i < drugOffset_[d] + drugs_[d].stateCount())
                return drugs_[d].stateName(i - drugOffset_[d]);
        return "y[" + std::to_string(i) + "]";
    }

    [[nodiscard]] std::vector<double> initialState() const {
        std::vector<double> y(size_, 0.0);
        for (std::size_t c = 0; c < nClones_; ++c) y[c] = spec_.clones[c].initialCells;
        for (const auto& p : pops_) {
            y[p.tumourState] = p.spec->initialCells;
            if (p.bloodState != kNone) y[p.bloodState] = p.blood0;
            if (p.granuleState != kNone) y[p.granuleState] = 1.0;
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                y[p.feedbackState + k] = p.feedbackStart[k];
                if (p.bloodFeedbackState != kNone) y[p.bloodFeedbackState + k] = p.bloodStart[k];
            }
        }
        for (std::size_t k = 0; k < nMed_; ++k) y[offsetMed_ + k] = basal_[k];
        for (const auto& pm : plasmaMeds_) y[pm.state] = pm.baseline;  // a healthy plasma until equilibratePlasma
        return y;
    }

    /// Plasma concentration of drug d in nM (local therapies: their activity as nominal nM; 0 for
    /// a drug without a concentration).
    [[nodiscard]] double plasmaNm(std::span<const double> y, std::size_t d) const {
        return drugInfo_[d].hasConcentration ? std::max(0.0, drugs_[d].concentration(drugStates(y, d), drugOffset_[d])) : 0.0;
    }
    /// The concentration drug d acts with, nM: the effect compartment's C_e when the drug has one
    /// (pk.ke0), else the plasma concentration. Supplied cytokines use the plasma level instead.
    [[nodiscard]] double effectNm(std::span<const double> y, std::size_t d) const {
        return drugInfo_[d].ke0 > 0 ? std::max(0.0, y[drugInfo_[d].effectState]) : plasmaNm(y, d);
    }
    /// The vector holding drug d's states: y for a drug in the ODE, the exact PK at the time of the
    /// last rhs()/setPkTime() call for an analytic one.
    [[nodiscard]] std::span<const double> drugStates(std::span<const double> y, std::size_t d) const {
        return drugInfo_[d].analytic ? std::span<const double>(pkNow_) : y;
    }
    [[nodiscard]] bool analytic(std::size_t d) const { return drugInfo_[d].analytic; }

    /// Analytic drug d's infusion schedule: each time its total rate changes, with the rate from
    /// then on (amount/d). Set once by the driver, before the first advancePkAnchor().
    void setRateSchedule(std::size_t d, std::vector<std::pair<double, double>> changes) { rateChanges_[d] = std::move(changes); }

    /// Moves the analytic drugs' anchor to time t (the exact PK through every rate change in
    /// between) and makes it the current PK state. Called by the driver at every stop; boluses
    /// at t follow (bolusPk).
    void advancePkAnchor(double t) {
        if (pkSize_ == 0) return;
        if (t > anchorTime_) {
            pkNowTime_ = -1;  // force: the state at t from the left
            setPkTime(t);
            pkAnchor_ = pkNow_;
        }
        anchorTime_ = t;
        pkKnot_ = pkAnchor_;
        for (std::size_t d = 0; d < drugs_.size(); ++d) resetKnot(d);
        pkNow_ = pkAnchor_;
        pkNowTime_ = t;
    }
    /// A bolus into analytic drug d's anchor (after advancePkAnchor at the same time).
    void bolusPk(std::size_t d, double amount) {
        drugs_[d].applyBolus(pkAnchor_, drugOffset_[d], amount);
        pkKnot_ = pkAnchor_;
        for (std::size_t e = 0; e < drugs_.size(); ++e) resetKnot(e);
        pkNow_ = pkAnchor_;
    }
    /// Sets the current PK state to time t ≥ the anchor (for rhs() and the outputs): from the last
    /// rate change before t (the knot, moved forward as t advances, back to the anchor if CVODE
    /// retries an earlier time), one exact propagation with that rate. A change exactly at t does
    /// not matter: the states are continuous there.
    void setPkTime(double t) {
        if (pkSize_ == 0 || t == pkNowTime_) return;
        for (std::size_t d = 0; d < drugs_.size(); ++d) {
            if (!drugInfo_[d].analytic) continue;
            Knot& k = knots_[d];
            const auto o = static_cast<std::ptrdiff_t>(drugOffset_[d]);
            const auto len = static_cast<std::ptrdiff_t>(drugs_[d].stateCount());
            if (t < k.time) {  // earlier than the knot (CVODE retrying a step): from the anchor again
                std::copy(pkAnchor_.begin() + o, pkAnchor_.begin() + o + len, pkKnot_.begin() + o);
                resetKnot(d);
            }
            const auto& changes = rateChanges_[d];
            while (k.next < changes.size() && changes[k.next].first < t) {
                drugs_[d].advanceLinear(pkKnot_, drugOffset_[d], changes[k.next].first - k.time, k.rate);
                k.time = changes[k.next].first;
                k.rate = changes[k.next].second;
                ++k.next;
            }
            std::copy(pkKnot_.begin() + o, pkKnot_.begin() + o + len, pkNow_.begin() + o);
            if (t > k.time) drugs_[d].advanceLinear(pkNow_, drugOffset_[d], t - k.time, k.rate);
        }
        pkNowTime_ = t;
    }

    /// Drug column value: nM in plasma, circulating cells for a cell product, activity (1) for a
    /// local therapy, mg for a drug without molecular weight.
    [[nodiscard]] double drugOutput(std::span<const double> y, std::size_t d) const {
        const auto v = drugStates(y, d);
        return drugInfo_[d].hasConcentration ? drugs_[d].concentration(v, drugOffset_[d]) : drugs_[d].centralAmount(v, drugOffset_[d]);
    }
    /// Drug d's level as drugOutput() reports it, from its own PK states `v` (offset 0).
    [[nodiscard]] double drugLevel(std::span<const double> v, std::size_t d) const {
        return drugInfo_[d].hasConcentration ? drugs_[d].concentration(v, 0) : drugs_[d].centralAmount(v, 0);
    }
    [[nodiscard]] std::string drugUnit(std::size_t d) const {
        if (drugs_[d].isCellProduct()) return "cell";
        if (drugs_[d].isLocal()) return "1";
        return drugInfo_[d].hasConcentration ? "nM" : "mg";
    }

    void rhs(double t, std::span<const double> y, std::span<double> dydt) override {
        std::fill(dydt.begin(), dydt.end(), 0.0);
        setPkTime(t);
        double nTot = 0;
        for (std::size_t c = 0; c < nClones_; ++c) nTot += cloneCells(c, y);
        double immune = 0;
        for (const auto& p : pops_) immune += std::max(0.0, y[p.tumourState]);

        // ---- the tumour milieu and what depends on it only -------------------------------------
        milieu_.mediators.resize(nMed_);
        milieu_.therapies.assign(m_.therapies().size(), 0.0);
        for (std::size_t k = 0; k < nMed_; ++k) milieu_.mediators[k] = std::max(0.0, y[offsetMed_ + k]);
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (drugInfo_[d].hasConcentration) milieu_.therapies[spec_.drugs[d].therapy] += drugInfo_[d].partition * effectNm(y, d);
        // Contact densities (cell/mL of tumour tissue) of the populations that regulate by contact.
        std::fill(contacts_.cellTypes.begin(), contacts_.cellTypes.end(), 0.0);
        const double tissueCells = nTot + immune + 1.0;  // +1: never divide by zero
        for (const auto& p : pops_)
            if (p.contact) contacts_.cellTypes[p.cellType] += std::max(0.0, y[p.tumourState]) * tumourDensity_ / tissueCells;
        // Feedback levels (states) the set-points read: a change invalidates the cached set-points.
        // Inside a Jacobian they stay those of the state it is taken at, as the set-points do.
        if (!inJacobian_)
            for (auto& p : pops_)
                for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                    const double tumourLevel = std::max(0.0, y[p.feedbackState + k]);
                    if (tumourLevel != p.heldTumour[k]) {
                        p.heldTumour[k] = tumourLevel;
                        tumourValid_ = false;
                    }
                    if (p.bloodFeedbackState == kNone) continue;
                    const double bloodLevel = std::max(0.0, y[p.bloodFeedbackState + k]);
                    if (bloodLevel != p.heldPlasma[k]) {
                        p.heldPlasma[k] = bloodLevel;
                        plasmaValid_ = false;
                    }
                }
        refreshTumourSide();

        // ---- plasma, for the blood pools: drug concentrations and the cytokines they supply ------
        bool anyBlood = false;
        for (const auto& p : pops_) anyBlood = anyBlood || p.bloodState != kNone;
        if (anyBlood) {
            plasma_ = basalPlasma_;
            for (std::size_t d = 0; d < drugs_.size(); ++d) {
                if (!drugInfo_[d].hasConcentration || drugInfo_[d].local) continue;
                const double c = plasmaNm(y, d);
                // Only mechanisms the Regulator handles (inhibit, restore, neutralise) make a set-point
                // read a therapy; leaving the others at 0 lets the plasma set-points be reused
                // while only an antibody's level moves.
                if (drugInfo_[d].regulatorActs) plasma_.therapies[spec_.drugs[d].therapy] += effectNm(y, d);
                for (const auto& [k, perNm] : drugInfo_[d].supply) plasma_.mediators[k] += perNm * c;
            }
            refreshPlasmaSide();
        }

        // Exposure of each drug for the cell mechanisms: activity (local) or occupancy.
        auto exposure = [&](const CellMechanism& cm) {
            const double c = drugInfo_[cm.drug].partition * effectNm(y, cm.drug);
            return cm.ic50 > 0 ? c / (c + cm.ic50) : std::min(1.0, c);
        };
        // Stromal barrier: CAFs per tumour cell, halving lymphocyte infiltration at the ratio.
        double caf = 0;
        for (const auto& p : pops_)
            if (p.category == CellCategory::Caf) caf += std::max(0.0, y[p.tumourState]);
        const double exclusion = 1.0 / (1.0 + caf / ((nTot + 1.0) * c_.cafExclusion));

        // ---- effectors: the populations that kill, then the cell products' tumour share --------
        std::fill(killed_.begin(), killed_.end(), 0.0);
        killed_.resize(nClones_, 0.0);
        killRate_.assign(nClones_, 0.0);
        std::fill(secretion_.begin(), secretion_.end(), 0.0);
        secretion_.resize(nMed_, 0.0);
        // First pass: every engaging group (each killer population, each cell product's tumour
        // share) decides against every clone once, and the kills the clone's cells would receive
        // from all groups at target saturation are summed, Λ_c = Σ_g share_g·ε_eff,gc·P_gc·E_g
        // (cell/d). The second pass needs the whole sum: it is the target-side term of the
        // Beddington–DeAngelis response. Kills, not encounters: a scanning contact that does not
        // kill takes minutes and leaves the target to the next effector, while the ceiling
        // κ_max is the published ceiling of kills per target (de Pillis et al. 2005); counting
        // encounters let the endogenous NK cells' non-lethal scans use up that ceiling and shield
        // small tumours from CAR-NK cells.
        groups_.clear();
        pressure_.assign(nClones_, 0.0);
        decisions_.resize(nClones_ * (pops_.size() + drugs_.size()));
        auto prepareGroup = [&](synapse::NkState& nk, double cells, double specificShare) {
            const std::size_t gi = groups_.size();
            groups_.push_back(Group{cells, specificShare, cells > 0 && nTot > 0});
            if (!groups_.back().active) return gi;
            synapse_.prepare(context_, nk, effector_);  // the effector's half of every decision, once
            for (std::size_t c = 0; c < nClones_; ++c) {
                Engagement& en = decisions_[gi * nClones_ + c];
                if (!(cloneCells(c, y) > 0) && !allClones_ && frozen_[c] != 1) {
                    en = Engagement{};
                    continue;
                }
                const auto out = synapse_.decide(context_, effector_, clones_[c].target);
                en.contactDays = out.contactTime / kMinutesPerDay;
                // Each effector cell makes ε contacts a day, fewer when contacts are long.
                en.rate = specificShare * c_.encounterRate / (1.0 + c_.encounterRate * en.contactDays);
                en.killProbability = out.killProbability;
                en.ifng = out.ifng;
                en.tnfa = out.tnfa;
                pressure_[c] += en.rate * en.killProbability * cells;
            }
            return gi;
        };
        for (auto& p : pops_) {
            if (!p.killer) continue;
            const double g = std::clamp(y[p.granuleState], 0.0, 1.0);
            const double e = std::clamp(y[p.exhaustionState], 0.0, 1.0);
            p.nk.granules = g * p.granuleCapacity;
            p.nk.exhaustion = e;
            // Relaxing receptors: the synapse reads their levels in y. Inside a Jacobian the
            // levels of the state it is taken at are kept, as the set-points are (their columns
            // are their own relaxation alone).
            if (!inJacobian_)
                for (const Relaxing& rx : p.relaxing) p.nk.receptors[rx.receptor] = std::max(0.0, y[rx.state]);
            p.group = prepareGroup(p.nk, std::max(0.0, y[p.tumourState]), p.category == CellCategory::Cd8T ? c_.cd8Specific : 1.0);
        }
        productCells_.assign(drugs_.size(), 0.0);
        productGroup_.assign(drugs_.size(), kNone);
        for (std::size_t d = 0; d < drugs_.size(); ++d) {
            const Drug& info = drugInfo_[d];
            if (info.product == kNoIndex) continue;
            const double circulating = std::max(0.0, drugs_[d].centralAmount(y, drugOffset_[d]));
            double share = c_.productTumourFraction * info.productRecruit * exclusion;
            for (std::size_t i : info.productRecruits) share *= 1.0 + cellMechs_[i].size * exposure(cellMechs_[i]);
            share = std::min(share, 1.0);
            productCells_[d] = share * circulating;
            productGroup_[d] = prepareGroup(productState(info.product), productCells_[d], 1.0);
        }
        // Second pass. Group g's encounters with clone c, per effector cell and day:
        //   share_g · ε_eff,gc · N_c / (N + N_½ + Λ_c/κ_max)
        // (Beddington 1975; DeAngelis et al. 1975): N_½ saturates the effector's search in target
        // density, Λ_c/κ_max the targets' own capacity to be killed, so that a clone-c cell is
        // killed at Λ_c/(N + N_½ + Λ_c/κ_max) < κ_max per day however many effectors there are
        // and however few targets (the old form, without Λ_c/κ_max, grew without bound as the
        // tumour shrank and collapsed responding tumours to 0 in finite time). Where targets are
        // plentiful (N ≫ Λ_c/κ_max) it is the effector-limited form ε_eff·N_c/(N + N_½). Each
        // encounter kills with the synapse's probability. Returns kills per effector cell per day.
        denominator_.resize(nClones_);
        for (std::size_t c = 0; c < nClones_; ++c) denominator_[c] = killDenominator(pressure_[c], nTot, c_.encounterHalf, c_.engagementMax);
        auto engage = [&](std::size_t gi) {
            const Group& grp = groups_[gi];
            double killsPerCell = 0;
            if (!grp.active) return 0.0;
            for (std::size_t c = 0; c < nClones_; ++c) {
                const double nc = cloneCells(c, y);
                if (!(nc > 0) && !allClones_ && frozen_[c] != 1) continue;
                const Engagement& en = decisions_[gi * nClones_ + c];
                const double perTarget = en.rate / denominator_[c];
                const double encounters = perTarget * nc;
                killed_[c] += encounters * grp.cells * en.killProbability;
                killRate_[c] += perTarget * grp.cells * en.killProbability;
                killsPerCell += encounters * en.killProbability;
                // Share of the day in contact with this clone × secretion during a contact.
                const double inContact = encounters * en.contactDays;
                if (ifng_ < nMed_) secretion_[ifng_] += grp.cells * inContact * en.ifng;
                if (tnfa_ < nMed_) secretion_[tnfa_] += grp.cells * inContact * en.tnfa;
            }
            return killsPerCell;
        };

        for (std::size_t pi = 0; pi < pops_.size(); ++pi) {
            Population& p = pops_[pi];
            const double cells = std::max(0.0, y[p.tumourState]);
            const auto& lv = p.levels;
            // Constitutive secretion; a killer's IFN-γ and TNF-α come from its contacts instead.
            for (std::size_t k = 0; k < nMed_; ++k)
                if (!p.killer || (k != ifng_ && k != tnfa_)) secretion_[k] += cells * lv.secretion[k];
            double killsPerCell = 0;
            if (p.killer) {
                const double g = std::clamp(y[p.granuleState], 0.0, 1.0);
                const double e = std::clamp(y[p.exhaustionState], 0.0, 1.0);
                for (std::size_t k = 0; k < p.relaxing.size(); ++k) {
                    const Relaxing& rx = p.relaxing[k];
                    dydt[rx.state] = rx.rate * (p.setReceptors[k] - y[rx.state]);
                }
                const double share = groups_[p.group].share;
                killsPerCell = engage(p.group);
                // Granules and exhaustion are those of the cells that engage: for CD8 T cells the
                // tumour-reactive share, whose kills per cell are the population's over its share.
                const double perEngaging = killsPerCell / share;
                dydt[p.granuleState] = (1.0 - g) / p.refillDays - perEngaging / p.granuleCapacity;
                dydt[p.exhaustionState] = c_.exhaustionPerKill * perEngaging * (1.0 - e) - e / c_.exhaustionRecovery;
            }
            // Recruitment: resting influx plus tumour-driven influx, scaled by the blood pool,
            // raised by therapies that recruit this cell type, lowered by the stromal barrier.
            double influx = p.spec->influxPerDay + p.spec->influxPerTumourCell * nTot;
            if (p.bloodState != kNone) {
                // Recruitment follows the blood pool, but an expanded pool raises it at most
                // qsp.blood_influx_max_gain-fold: x(1 + K)/(x + K) with K = gain − 1 (1 at rest,
                // proportional for a depleted pool), because extravasation into a tumour is limited
                // by its vessels' adhesion molecules and chemokines, not by the blood count alone.
                const double x = std::max(0.0, y[p.bloodState]) / p.blood0;
                const double k = std::max(c_.bloodInfluxMaxGain - 1.0, 1e-9);
                influx *= x * (1.0 + k) / (x + k);
            }
            double recruit = 1.0, deplete = 0.0;
            for (std::size_t i : p.mechanisms) {
                const CellMechanism& cm = cellMechs_[i];
                if (cm.action == MechanismAction::Recruit) recruit += cm.size * exposure(cm);
                if (cm.action == MechanismAction::Deplete) deplete += cm.size * exposure(cm);
            }
            influx *= recruit * (p.excluded ? exclusion : 1.0);
            dydt[p.tumourState] = influx + cells * (gainRate(p, lv.factors) - lossRate(p, lv.factors) - deplete);
            if (p.bloodState != kNone) {
                const double b = std::max(0.0, y[p.bloodState]);
                // Homeostasis returns the pool to its resting size at the death rate; cytokines
                // add their excess net growth (proliferation and survival above the resting ones).
                // Expansion beyond the resting pool slows as the pool nears qsp.blood_pool_max_fold
                // times its resting size (the expanded cells consume the cytokine and crowd their niches).
                const double excess = gainRate(p, p.plasmaFactors) - lossRate(p, p.plasmaFactors) - p.restingNet;
                // A steep (fourth-power) brake: little effect below half the ceiling.
                // The ceiling counts marginated cells too: they are the same expanding pool.
                const double mg = p.marginatedState != kNone ? std::max(0.0, y[p.marginatedState]) : 0.0;
                const double fill = (b + mg) / (c_.bloodMaxFold * p.blood0);
                const double room = excess > 0 ? std::max(0.0, 1.0 - fill * fill * fill * fill) : 1.0;
                dydt[p.bloodState] = p.death * (p.blood0 - b) + b * (excess * room - deplete);
                if (p.marginatedState != kNone) {
                    // Margination: blood cells leave the circulation at marginationRate x (f - f0),
                    // f the "margination" factor in plasma, f0 its resting level (none leave at
                    // rest), and return at
                    // marginationReturn. Marginated cells keep dividing and dying as the blood pool
                    // does (same cytokine exposure) but are not replaced by homeostatic production,
                    // which refills the circulating pool.
                    const double f = std::max(0.0, p.plasmaFactors[marginationFactor_] - p.restingMargination);
                    const double out = marginationRate_ * f * b;
                    const double back = marginationReturn_ * mg;
                    dydt[p.bloodState] += back - out;
                    dydt[p.marginatedState] = out - back + mg * (excess * room - deplete - p.death);
                }
            }
            // Feedback levels relax toward their set-points (tumour milieu; plasma for the pool).
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                dydt[p.feedbackState + k] = p.feedbackRate[k] * (p.feedbackSet[k] - y[p.feedbackState + k]);
                if (p.bloodFeedbackState != kNone)
                    dydt[p.bloodFeedbackState + k] = p.feedbackRate[k] * (p.bloodFeedbackSet[k] - y[p.bloodFeedbackState + k]);
            }
        }

        // TAM polarisation: M1 -> M2 at r·f/(1 + f), M2 -> M1 at r/(1 + f), with f each
        // population's M2 drive (smooth, and balanced at the resting drive f = 1).
        if (m2Factor_ != kNoIndex) {
            const Population& p1 = pops_[tamM1_];
            const Population& p2 = pops_[tamM2_];
            const double f1 = std::max(0.0, p1.levels.factors[m2Factor_]), f2 = std::max(0.0, p2.levels.factors[m2Factor_]);
            const double toM2 = c_.tamPolarisation * f1 / (1.0 + f1) * std::max(0.0, y[p1.tumourState]);
            const double toM1 = c_.tamPolarisation / (1.0 + f2) * std::max(0.0, y[p2.tumourState]);
            dydt[p1.tumourState] += toM1 - toM2;
            dydt[p2.tumourState] += toM2 - toM1;
        }

        double effectorVolumeCells = immune;
        for (std::size_t d = 0; d < drugs_.size(); ++d) {
            const Drug& info = drugInfo_[d];
            if (info.product == kNoIndex) continue;
            const double circulating = std::max(0.0, drugs_[d].centralAmount(y, drugOffset_[d]));
            const double cells = productCells_[d];
            effectorVolumeCells += cells;
            const synapse::NkState& nk = productState(info.product);
            for (std::size_t k = 0; k < nMed_; ++k)
                if (k != ifng_ && k != tnfa_) secretion_[k] += cells * nk.secretion[k];
            const double killsPerCell = engage(productGroup_[d]);
            // Co-stimulated CARs: antigen-driven expansion of the cells in the tumour and a longer
            // persistence (the loss k is divided by the gain).
            if (info.carTherapy && info.costimulated) {
                const std::size_t cs = drugOffset_[d] + drugs_[d].centralState();
                dydt[cs] += c_.costimExpansion * killsPerCell / (1.0 + killsPerCell) * cells +
                            drugs_[d].k10() * (1.0 - 1.0 / c_.costimPersistence) * circulating;
            }
        }

        // ---- tumour: logistic growth, switching from the founding clone, killing, lysis --------
        const double crowding = 1.0 - nTot / capacity_;
        // Each clone divides at the cell type's rate times its regulated proliferation factor.
        const double g0 = growthRate_ * clones_[0].proliferation * cloneCells(0, y) * crowding;
        // Lysis rate of each clone by the lysing therapies (an antigen-sparing one spares antigen-high clones).
        auto lysisRate = [&](std::size_t c) {
            double lysis = 0;
            for (std::size_t i : tumourLyses_) {
                const CellMechanism& cm = cellMechs_[i];
                double r = cm.size * exposure(cm);
                if (cm.spares != kNoIndex) r *= cm.spareHalf / (cm.spareHalf + clones_[c].target.ligands[cm.spares]);
                lysis += r;
            }
            return lysis;
        };
        lysis_.resize(nClones_);
        for (std::size_t c = 0; c < nClones_; ++c) lysis_[c] = lysisRate(c);
        double switched = 0;
        for (std::size_t c = 1; c < nClones_; ++c) {
            const double nc = cloneCells(c, y);
            const double flux = spec_.clones[c].switchPerDivision * std::max(0.0, g0);
            switched += flux;
            dydt[c] = growthRate_ * clones_[c].proliferation * nc * crowding + flux - killed_[c] - lysis_[c] * nc;
        }
        dydt[0] = g0 - switched - killed_[0] - lysis_[0] * cloneCells(0, y);
        // Each clone's rates per cell, for the small clones (cloneRates()): births (the founding
        // clone's divisions that keep both daughters founding), deaths (immune kills, lysis,
        // crowding beyond the capacity) and the immigration of switched cells.
        rates_.resize(nClones_);
        for (std::size_t c = 0; c < nClones_; ++c) {
            const double net = growthRate_ * clones_[c].proliferation * crowding * (c == 0 && crowding > 0 ? 1.0 - switchSum_ : 1.0);
            rates_[c] = CloneRates{std::max(0.0, net), killRate_[c] + lysis_[c] + std::max(0.0, -net),
                                   c == 0 ? 0.0 : spec_.clones[c].switchPerDivision * std::max(0.0, g0)};
        }
        // A small clone is advanced outside the ODE (SmallCloneTracker): the other equations read
        // its frozen count, and its rates are integrated for the tracker.
        for (std::size_t c = 0; c < nClones_; ++c) {
            if (frozen_[c] == 0) continue;
            dydt[c] = 0.0;
            if (frozen_[c] != 1) continue;  // extinct: nothing to integrate
            dydt[offsetQuad_ + 3 * c] = rates_[c].birth;
            dydt[offsetQuad_ + 3 * c + 1] = rates_[c].death;
            dydt[offsetQuad_ + 3 * c + 2] = rates_[c].immigration;
        }

        // ---- mediators: secretion over the interstitial volume, loss toward basal + supplied -----
        for (std::size_t c = 0; c < nClones_; ++c) {
            const double nc = cloneCells(c, y);
            for (std::size_t k = 0; k < nMed_; ++k) secretion_[k] += nc * clones_[c].secretion[k];
        }
        const double volume = c_.volumePerCell * (nTot + effectorVolumeCells + 1.0);
        lastVolume_ = volume;
        std::fill(supplied_.begin(), supplied_.end(), 0.0);
        supplied_.resize(nMed_, 0.0);
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            for (const auto& [k, perNm] : drugInfo_[d].supply) supplied_[k] += drugInfo_[d].partition * perNm * plasmaNm(y, d);
        // Uptake: each cell clears its volume per hour of the mediator (first order in c).
        uptake_.assign(nMed_, 0.0);
        for (const auto& [k, u] : tumourUptake_) uptake_[k] += nTot * u;
        for (const auto& p : pops_)
            for (const auto& [k, u] : p.uptake) uptake_[k] += std::max(0.0, y[p.tumourState]) * u;
        for (std::size_t k = 0; k < nMed_; ++k) {
            const std::size_t i = offsetMed_ + k;
            dydt[i] = secretion_[k] * kHoursPerDay / volume - decay_[k] * (y[i] - basal_[k] - supplied_[k]) -
                      uptake_[k] * kHoursPerDay / volume * std::max(0.0, y[i]);
        }
        // Plasma: the drained interstitial fluid (drainage × volume, mL/d) carries the mediator at
        // its interstitial level, as the measured form (× form ratio), into the plasma volume;
        // the plasma clears it toward the healthy baseline with the measured form's half-life.
        // One-way: the drained amount is part of the interstitial loss (decay_), not taken again.
        for (const auto& pm : plasmaMeds_) {
            const double c = std::max(0.0, y[offsetMed_ + pm.mediator]);
            dydt[pm.state] = drainagePerDay_ * volume * c * pm.formRatio / plasmaVolumeMl_ - pm.clearance * (y[pm.state] - pm.baseline);
        }
        for (std::size_t d = 0; d < drugs_.size(); ++d) {
            if (!drugInfo_[d].analytic) {
                double targetNm = 0;
                // Marginated cells bind the cytokine too (they left the blood, not its reach).
                for (const std::size_t pi : drugInfo_[d].tmddPools) {
                    targetNm += std::max(0.0, y[pops_[pi].bloodState]);
                    if (pops_[pi].marginatedState != kNone) targetNm += std::max(0.0, y[pops_[pi].marginatedState]);
                }
                drugs_[d].addDerivatives(y, dydt, drugOffset_[d], inputRate[d], targetNm * drugInfo_[d].tmddNmPerCell);
            }
            if (drugInfo_[d].ke0 > 0) dydt[drugInfo_[d].effectState] = drugInfo_[d].ke0 * (plasmaNm(y, d) - y[drugInfo_[d].effectState]);
        }
    }

    std::vector<double> inputRate;  ///< current infusion rate per drug (amount/d), set by the driver

    /// Cells of clone c in state y: its frozen count if it is a small clone, else y[c] (≥ 0).
    [[nodiscard]] double cloneCells(std::size_t c, std::span<const double> y) const {
        return frozen_[c] != 0 ? smallCount_[c] : std::max(0.0, y[c]);
    }
    /// Clone c leaves the ODE with `cells` cells: its derivative is 0 from now on and every
    /// equation reads `cells` instead of y[c] (docs/qsp.md, "Small clones").
    void freezeClone(std::size_t c, double cells) {
        frozen_[c] = 1;
        smallCount_[c] = cells;
    }
    /// A small clone's new count (an update of SmallCloneTracker).
    void setSmallCount(std::size_t c, double cells) { smallCount_[c] = cells; }
    /// Clone c is extinct for good: 0 cells, outside the ODE, its rates no longer integrated.
    void markExtinct(std::size_t c) {
        frozen_[c] = 2;
        smallCount_[c] = 0.0;
    }
    /// Clone c rejoins the ODE: y[c] must then hold its cells (the driver reinitialises).
    void thawClone(std::size_t c) { frozen_[c] = 0; }
    [[nodiscard]] bool frozen(std::size_t c) const { return frozen_[c] != 0; }
    /// Index in y of clone c's integrated births per cell (1), then deaths per cell (1) and
    /// immigrants (cell): each grows by its rate while the clone is small, and stays put otherwise.
    [[nodiscard]] std::size_t integratedRates(std::size_t c) const { return offsetQuad_ + 3 * c; }

    /// One clone's rates at a state: births and deaths per cell (1/d) and immigrating cells (cell/d).
    struct CloneRates {
        double birth = 0;        ///< divisions per cell that add a cell to the clone (logistic growth; the founding clone's switching taken out)
        double death = 0;        ///< immune kills, lysis by therapies and crowding beyond the capacity, per cell
        double immigration = 0;  ///< cells switching in from the founding clone per day
    };
    /// Every clone's rates at (t, y), also those of clones without cells (whose kill rate the
    /// synapse is then asked for).
    [[nodiscard]] const std::vector<CloneRates>& cloneRates(double t, std::span<const double> y) {
        std::vector<double> dydt(size_, 0.0);
        allClones_ = true;
        try {
            rhs(t, y, dydt);
        } catch (...) {
            allClones_ = false;
            throw;
        }
        allClones_ = false;
        return rates_;
    }

    /// Puts every relaxing receptor level at its set-point in state y's milieu: cells that have
    /// been in the tumour long before the start.
    void settleRelaxingLevels(std::vector<double>& y) {
        std::vector<double> dydt(size_, 0.0);
        rhs(0.0, y, dydt);
        for (const auto& p : pops_) {
            for (std::size_t k = 0; k < p.relaxing.size(); ++k) y[p.relaxing[k].state] = p.setReceptors[k];
            // The tumour's feedback levels likewise (the blood pool's start at rest already).
            for (std::size_t k = 0; k < p.feedback.size(); ++k) y[p.feedbackState + k] = p.feedbackSet[k];
        }
    }

    /// Sets the mediators of `y` to their steady state with every other state held: each mediator
    /// moves by dc = f_c/(decay + uptake) — exact for its own linear loss — and the set-points
    /// that its new level changes are re-read, until no mediator moves by more than 1e-10 of its
    /// level. Why: an established tumour has had its cytokine milieu for months; starting it at
    /// the resting (basal) levels made the first days a transient of the initial condition
    /// (PGE2 from 0.05 to ~40 nM within hours) that cost 15 % of a patient-year's steps.
    /// \throws SolverError naming the mediator if 500 rounds do not settle it.
    void equilibrateMediators(std::vector<double>& y) {
        std::vector<double> dydt(size_, 0.0);
        constexpr int kRounds = 500;
        constexpr double kSettled = 1e-10;
        for (int round = 0; round < kRounds; ++round) {
            rhs(0.0, y, dydt);
            // The receptors follow at once (their set-points in this round's milieu), so that the
            // contacts' IFN-γ and TNF-α settle with them.
            for (const auto& p : pops_) {
                for (std::size_t k = 0; k < p.relaxing.size(); ++k) y[p.relaxing[k].state] = p.setReceptors[k];
                for (std::size_t k = 0; k < p.feedback.size(); ++k) y[p.feedbackState + k] = p.feedbackSet[k];
            }
            double worst = 0;
            std::size_t worstK = 0;
            for (std::size_t k = 0; k < nMed_; ++k) {
                const std::size_t i = offsetMed_ + k;
                const double loss = decay_[k] + uptake_[k] * kHoursPerDay / lastVolume_;
                if (!(loss > 0)) continue;  // no loss: no steady state of its own; it stays where it starts
                const double next = std::max(0.0, y[i] + dydt[i] / loss);
                const double change = std::abs(next - y[i]) / std::max({std::abs(next), std::abs(y[i]), 1e-300});
                if (change > worst) {
                    worst = change;
                    worstK = k;
                }
                y[i] = next;
            }
            if (worst <= kSettled) return;
            if (round + 1 == kRounds)
                throw SolverError(fmt::format("simulate: the initial steady state of mediator '{}' does not settle ({:.3g} relative change "
                                              "after {} rounds); start from the basal levels instead ([simulation] initial_mediators = \"basal\")",
                                              m_.entities(Kind::Mediator)[worstK].name, worst, kRounds));
        }
    }

    /// Sets every plasma level of `y` to its steady state with the tumour side held: the plasma
    /// equation is linear in its own level, so one step y += f/clearance is exact —
    /// P = baseline + drainage·V·C·ratio/(V_plasma·clearance). An established tumour has fed its
    /// plasma for months; the slowest half-life is days.
    void equilibratePlasma(std::vector<double>& y) {
        if (plasmaMeds_.empty()) return;
        std::vector<double> dydt(size_, 0.0);
        rhs(0.0, y, dydt);
        for (const auto& pm : plasmaMeds_) y[pm.state] += dydt[pm.state] / pm.clearance;
    }
    /// The plasma-level columns: (index in y, "plasma.<mediator>", the mediator's unit), and the
    /// reference level for tolerances (the healthy baseline, else 1 of the unit).
    [[nodiscard]] std::vector<std::tuple<std::size_t, std::string, std::string, double>> plasmaColumns() const {
        std::vector<std::tuple<std::size_t, std::string, std::string, double>> cols;
        for (const auto& pm : plasmaMeds_)
            cols.emplace_back(pm.state, stateName(pm.state), m_.mediators()[pm.mediator].unit, pm.baseline > 0 ? pm.baseline : 1.0);
        return cols;
    }

    /// Each clone's ligand and soluble-ligand secretion ratios to the founding clone at state y
    /// (see SimulationResult::cloneProfiles).
    [[nodiscard]] std::vector<std::map<std::string, double>> cloneProfiles(double t, std::span<const double> y) {
        std::vector<double> dydt(size_, 0.0);
        rhs(t, y, dydt);  // fills the set-point caches for this state
        std::vector<std::map<std::string, double>> out(nClones_);
        const auto& f = clones_[0];
        for (std::size_t c = 0; c < nClones_; ++c) {
            for (std::size_t l = 0; l < m_.ligands().size(); ++l)
                if (f.target.ligands[l] > 0) out[c][m_.entities(Kind::Ligand)[l].name] = clones_[c].target.ligands[l] / f.target.ligands[l];
            for (std::size_t k = 0; k < nMed_; ++k) {
                const Index lig = m_.mediators()[k].ligandOf;
                if (lig == kNoIndex || !(f.secretion[k] > 0)) continue;
                out[c][m_.entities(Kind::Ligand)[lig].name + " shedding"] = clones_[c].secretion[k] / f.secretion[k];
            }
        }
        return out;
    }

    [[nodiscard]] const std::vector<DrugPk>& drugs() const noexcept { return drugs_; }
    [[nodiscard]] std::size_t drugOffset(std::size_t d) const { return drugOffset_[d]; }
    [[nodiscard]] std::size_t clones() const noexcept { return nClones_; }
    [[nodiscard]] std::size_t mediatorOffset() const noexcept { return offsetMed_; }
    [[nodiscard]] std::size_t mediatorCount() const noexcept { return nMed_; }

    /// The effect-compartment columns: (index in y, "effect.<therapy>", "nM").
    [[nodiscard]] std::vector<std::tuple<std::size_t, std::string, std::string>> effectColumns() const {
        std::vector<std::tuple<std::size_t, std::string, std::string>> cols;
        for (std::size_t d = 0; d < drugs_.size(); ++d)
            if (drugInfo_[d].ke0 > 0) cols.emplace_back(drugInfo_[d].effectState, "effect." + m_.entities(Kind::Therapy)[spec_.drugs[d].therapy].name, "nM");
        return cols;
    }
    /// The per-population state columns, in state order: (index in y, name, unit).
    /// The granule and exhaustion states (fractions, 0…1).
    [[nodiscard]] std::vector<std::size_t> fractionStates() const {
        std::vector<std::size_t> out;
        for (const auto& p : pops_) {
            if (p.granuleState != kNone) out.push_back(p.granuleState);
            if (p.exhaustionState != kNone) out.push_back(p.exhaustionState);
            // Feedback levels are relative (1 at rest) too.
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                out.push_back(p.feedbackState + k);
                if (p.bloodFeedbackState != kNone) out.push_back(p.bloodFeedbackState + k);
            }
        }
        return out;
    }
    [[nodiscard]] std::vector<std::tuple<std::size_t, std::string, std::string>> populationColumns() const {
        std::vector<std::tuple<std::size_t, std::string, std::string>> cols;
        for (const auto& p : pops_) {
            cols.emplace_back(p.tumourState, stateName(p.tumourState), "cell");
            if (p.bloodState != kNone) cols.emplace_back(p.bloodState, stateName(p.bloodState), "cell");
            if (p.marginatedState != kNone) cols.emplace_back(p.marginatedState, stateName(p.marginatedState), "cell");
            if (p.granuleState != kNone) cols.emplace_back(p.granuleState, stateName(p.granuleState), "1");
            if (p.exhaustionState != kNone) cols.emplace_back(p.exhaustionState, stateName(p.exhaustionState), "1");
            for (const auto& rx : p.relaxing) cols.emplace_back(rx.state, stateName(rx.state), "molecule/cell");
            for (std::size_t k = 0; k < p.feedback.size(); ++k) {
                cols.emplace_back(p.feedbackState + k, stateName(p.feedbackState + k), "1");
                if (p.bloodFeedbackState != kNone) cols.emplace_back(p.bloodFeedbackState + k, stateName(p.bloodFeedbackState + k), "1");
            }
        }
        return cols;
    }

private:
    static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

    struct Relaxing {
        Index receptor = kNoIndex;
        std::size_t state = static_cast<std::size_t>(-1);
        double rate = 0;  // 1/d: 1/tau
    };
    struct Population {
        const PopulationSpec* spec = nullptr;
        Index cellType = kNoIndex;
        CellCategory category = CellCategory::Nk;
        double proliferation = 0, death = 0;  // 1/d, the cell type's own
        bool killer = false, excluded = false, contact = false;
        std::size_t tumourState = kNone, bloodState = kNone, granuleState = kNone, exhaustionState = kNone;
        std::size_t marginatedState = kNone;  // blood pool's cells marginated out of the circulation (cells)
        double blood0 = 0;        // resting blood pool, cells
        double restingNet = 0;    // net growth rate of the blood pool in resting plasma, 1/d
        double restingMargination = 1;  // the margination factor in resting plasma (1)
        double granuleCapacity = 1, refillDays = 0.25;
        std::vector<std::pair<Index, double>> uptake;  // mediator, mL/(cell.h) cleared per cell
        std::vector<std::size_t> mechanisms;           // cellMechs_ that recruit or deplete these cells
        synapse::CellLevels levels;        // set-point in the tumour milieu
        synapse::NkState nk;               // the same as an effector (killers); relaxing receptors from y
        std::vector<Relaxing> relaxing;    // killers: receptors that relax toward their set-points
        std::vector<double> setReceptors;  // their set-points (nk.receptors before y's levels replace them)
        std::vector<double> plasmaFactors; // factor levels in plasma (blood pool)
        // Feedback factors (Regulator::feedbackFactors): their states, relaxation rates (1/d),
        // starting levels (1), the held levels the cached set-points were computed with, and
        // their own set-points (what the states relax toward), in the tumour and in plasma.
        std::vector<Index> feedback;
        std::vector<double> feedbackRate, feedbackStart, bloodStart;
        std::size_t feedbackState = kNone, bloodFeedbackState = kNone;
        std::vector<double> heldTumour, heldPlasma, feedbackSet, bloodFeedbackSet;
        std::size_t group = kNone;         // killers: index in groups_ at the last rhs()
    };
    // An engaging group of effector cells at the last rhs(): a killer population or a cell
    // product's tumour share.
    struct Group {
        double cells = 0;   // effector cells in the tumour
        double share = 1;   // share of them that engage the tumour (CD8 T: the tumour-reactive share)
        bool active = false;
    };
    // One group's decision against one clone.
    struct Engagement {
        double rate = 0;             // share × ε_eff: encounters per effector cell per day at target saturation, 1/d
        double contactDays = 0;      // d per contact
        double killProbability = 0;  // per contact
        double ifng = 0, tnfa = 0;   // secretion during a contact (the synapse's units)
    };
    struct Drug {
        Index product = kNoIndex;  // cell therapies: the product cell type
        bool local = false, hasConcentration = false, carTherapy = false, costimulated = false;
        bool analytic = false;     // PK propagated exactly outside the ODE (see the constructor)
        bool regulatorActs = false;  // has a mechanism the Regulator reads (inhibit, restore, neutralise)
        double ke0 = 0;              // effect-compartment rate, 1/d (0: effects follow the plasma level)
        std::size_t effectState = static_cast<std::size_t>(-1);  // C_e in y, nM
        double partition = 1;      // tumour interstitium / plasma
        double productRecruit = 1; // a product's own recruit gain (1 = infiltrates like the default share)
        std::vector<std::pair<Index, double>> supply;  // mediator, its unit per nM of drug
        std::vector<std::size_t> productRecruits;       // cellMechs_ that recruit this cell product
        // Target-mediated disposition of a supplied cytokine (pk.tmdd_sites): the blood pools
        // whose cells the supplied mediator regulates, and nM of binding sites per pool cell.
        std::vector<std::size_t> tmddPools;  // indices into pops_
        double tmddNmPerCell = 0;
    };
    struct Clone {
        synapse::TargetState target;
        std::vector<double> secretion;
        /// The clone's regulated "proliferation" factor (1 at its baseline): multiplies the tumour
        /// cell type's growth rate (e.g. raised by macrophage-derived EGF).
        double proliferation = 1.0;
    };
    [[nodiscard]] double tumourProliferation(const std::vector<double>& factors) const {
        return prolifFactor_ != kNoIndex && prolifFactor_ < factors.size() ? std::max(0.0, factors[prolifFactor_]) : 1.0;
    }
    double restingProliferation_ = 1.0;  // the tumour's proliferation factor in the resting milieu

    [[nodiscard]] double gainRate(const Population& p, const std::vector<double>& factors) const {
        return p.proliferation * (prolifFactor_ != kNoIndex ? factors[prolifFactor_] : 1.0);
    }
    [[nodiscard]] double lossRate(const Population& p, const std::vector<double>& factors) const {
        const double viability = viabilityFactor_ != kNoIndex ? std::max(factors[viabilityFactor_], 1e-3) : 1.0;
        return p.death / viability;
    }

    // Set-points depend on the milieu and the contacts only. CVODE's difference-quotient Jacobian
    // perturbs one state at a time, mostly cells, which usually leaves both bit-for-bit the same:
    // reuse them then (exact equality, so results do not depend on the cache).
    void refreshTumourSide() {
        // In a Jacobian's difference quotients keep the set-points of the state the Jacobian is
        // taken at: their response to one perturbed cell count or mediator is left out of the
        // Jacobian (an approximation CVODE's Newton tolerates), and every column costs a cheap RHS.
        if (inJacobian_ && tumourValid_) return;
        if (tumourValid_ && milieu_.mediators == cachedMilieu_.mediators && milieu_.therapies == cachedMilieu_.therapies &&
            contacts_.cellTypes == cachedContacts_)
            return;
        cachedMilieu_ = milieu_;
        cachedContacts_ = contacts_.cellTypes;
        tumourValid_ = true;
        synapse_.context(milieu_, context_);
        for (std::size_t c = 0; c < nClones_; ++c) {
            const auto& cs = spec_.clones[c];
            // Clones without factor changes share the founding clone's set-point.
            if (c > 0 && cloneBaselines_[c].empty()) {
                clones_[c].target.ligands = clones_[0].baseLigands;
                clones_[c].secretion = clones_[0].baseSecretion;
                clones_[c].proliferation = clones_[0].proliferation;
            } else if (c == 0) {
                // The founding clone has no factor changes (checkSpec): the cell type's own set-point,
                // kept whole because the variants are evaluated beside it.
                regulator_.setPoint(spec_.tumourCellType, milieu_, contacts_, foundingLevels_);
                clones_[0].target.ligands = foundingLevels_.ligands;
                clones_[0].secretion = foundingLevels_.secretion;
                clones_[0].baseLigands = clones_[0].target.ligands;
                clones_[0].baseSecretion = clones_[0].secretion;
                clones_[0].proliferation = tumourProliferation(foundingLevels_.factors) / restingProliferation_;
            } else {
                // Only the levels downstream of the clone's changed factors are evaluated; the rest
                // are the founding clone's (bit-identical to a full evaluation).
                regulator_.setPoint(cloneVariant_[c], foundingLevels_, milieu_, contacts_, levelScratch_);
                clones_[c].target.ligands = levelScratch_.ligands;
                clones_[c].secretion = levelScratch_.secretion;
                clones_[c].proliferation = tumourProliferation(levelScratch_.factors) / restingProliferation_;
            }
            for (const auto& [lig, mult] : cs.ligandMultipliers) clones_[c].target.ligands[lig] *= mult;
            for (const auto& [med, mult] : cs.secretionMultipliers) clones_[c].secretion[med] *= mult;
        }
        for (auto& p : pops_) {
            const synapse::HeldFactors held{p.feedback, p.heldTumour, p.feedbackSet};
            if (p.killer) {
                if (p.feedback.empty()) regulator_.nkState(p.cellType, milieu_, contacts_, p.nk, levelScratch_);
                else regulator_.nkState(p.cellType, milieu_, contacts_, held, p.nk, levelScratch_);
                p.levels.factors = p.nk.factors;
                p.levels.secretion = p.nk.secretion;
                p.setReceptors.resize(p.relaxing.size());
                for (std::size_t k = 0; k < p.relaxing.size(); ++k) p.setReceptors[k] = p.nk.receptors[p.relaxing[k].receptor];
            } else if (p.feedback.empty()) {
                regulator_.setPoint(p.cellType, milieu_, contacts_, p.levels);
            } else {
                regulator_.setPoint(p.cellType, milieu_, contacts_, held, p.levels);
            }
        }
        products_.clear();
    }
    void refreshPlasmaSide() {
        if (inJacobian_ && plasmaValid_) return;
        if (plasmaValid_ && plasma_.mediators == cachedPlasma_.mediators && plasma_.therapies == cachedPlasma_.therapies) return;
        cachedPlasma_ = plasma_;
        plasmaValid_ = true;
        for (auto& p : pops_)
            if (p.bloodState != kNone) {
                if (p.feedback.empty()) regulator_.setPoint(p.cellType, plasma_, noContacts_, levelScratch_);
                else regulator_.setPoint(p.cellType, plasma_, noContacts_, synapse::HeldFactors{p.feedback, p.heldPlasma, p.bloodFeedbackSet}, levelScratch_);
                p.plasmaFactors = levelScratch_.factors;
            }
    }
    synapse::NkState& productState(Index cellType) {
        for (auto& [ct, st] : products_)
            if (ct == cellType) return st;
        products_.emplace_back(cellType, regulator_.nkState(cellType, milieu_, contacts_));
        return products_.back().second;
    }

    struct CloneCache : Clone {
        std::vector<double> baseLigands, baseSecretion;
    };

    const CompiledModel& m_;
    const SimulationSpec& spec_;
    Constants c_;
    const synapse::Regulator& regulator_;  // the EngineModel's (shared, read-only)
    const synapse::Synapse& synapse_;
    synapse::Contacts contacts_;
    double growthRate_ = 0, capacity_ = 0, tumourDensity_ = 0;
    double lastVolume_ = 1;  // interstitial volume at the last rhs(), mL
    std::vector<std::pair<Index, double>> tumourUptake_;  // mediator, mL/(cell.h) per tumour cell
    std::vector<double> uptake_;                           // Σ cells × clearance per mediator, mL/h
    std::size_t nClones_ = 0, nMed_ = 0, offsetMed_ = 0, offsetQuad_ = 0, size_ = 0;
    std::vector<Population> pops_;
    std::vector<DrugPk> drugs_;
    std::vector<std::size_t> drugOffset_;  // into y, or into the PK vectors for an analytic drug
    std::size_t pkSize_ = 0;
    // Analytic drugs' PK: their states at the anchor (the last stop), at the knot (each drug's last
    // rate change reached since the anchor), and now.
    struct Knot {
        double time = 0;
        double rate = 0;        // amount/d from `time` on
        std::size_t next = 0;   // first entry of rateChanges_ after `time`
    };
    std::vector<double> pkAnchor_, pkKnot_, pkNow_;
    std::vector<Knot> knots_;
    std::vector<std::vector<std::pair<double, double>>> rateChanges_;  // per drug: (time, rate from then on)
    double anchorTime_ = 0, pkNowTime_ = 0;
    // Drug d's knot at the anchor: the rate in force just after it, the changes still ahead.
    void resetKnot(std::size_t d) {
        Knot& k = knots_[d];
        const auto& changes = rateChanges_[d];
        k.time = anchorTime_;
        k.next = static_cast<std::size_t>(std::upper_bound(changes.begin(), changes.end(), anchorTime_,
                                                           [](double t, const std::pair<double, double>& c) { return t < c.first; }) -
                                          changes.begin());
        k.rate = k.next > 0 ? changes[k.next - 1].second : 0.0;
    }
    std::vector<Drug> drugInfo_;
    std::vector<CellMechanism> cellMechs_;
    std::vector<std::size_t> tumourLyses_;  // cellMechs_ that lyse the tumour
    std::vector<synapse::FactorBaselines> cloneBaselines_;
    std::vector<synapse::Regulator::VariantPlan> cloneVariant_;  // each clone's variant plan (empty: the cell type's own)
    synapse::CellLevels foundingLevels_;                          // the founding clone's whole set-point
    std::vector<double> decay_, basal_;
    // A mediator's plasma compartment (Mediator::plasmaHalfLife).
    struct PlasmaMediator {
        Index mediator = kNoIndex;
        std::size_t state = static_cast<std::size_t>(-1);
        double clearance = 0;   // 1/d, ln 2 / plasma half-life
        double baseline = 0;    // healthy plasma level, the mediator's unit
        double formRatio = 1;   // measured form per unit of the modelled interstitial form
    };
    std::vector<PlasmaMediator> plasmaMeds_;
    double drainagePerDay_ = 0;   // qsp.tumour_fluid_drainage, mL of fluid per mL of tumour per day
    double plasmaVolumeMl_ = 1;   // qsp.plasma_volume, mL
    Index prolifFactor_ = kNoIndex, viabilityFactor_ = kNoIndex, m2Factor_ = kNoIndex;
    Index marginationFactor_ = kNoIndex;  // factor "margination" where the model has one
    double marginationRate_ = 0;          // 1/d per unit of the factor above 1: leaving the circulation
    double marginationReturn_ = 0;        // 1/d: return of marginated cells to the circulation
    std::size_t tamM1_ = static_cast<std::size_t>(-1), tamM2_ = static_cast<std::size_t>(-1);  // population indices
    std::size_t ifng_ = 0, tnfa_ = 0;  // mediator indices; nMed_ when the model has none
    synapse::Milieu basalPlasma_;
    // Work buffers and the caches of the milieu-dependent quantities (see refreshTumourSide).
    synapse::Milieu milieu_, plasma_;
    std::vector<double> killed_, secretion_, supplied_;
    std::vector<double> killRate_;          // per clone: immune kills per target cell per day, 1/d
    std::vector<double> pressure_;          // per clone: Λ_c, kills its cells would receive per day at target saturation, cell/d
    std::vector<double> denominator_;       // per clone: N + N_½ + Λ_c/κ_max, cell
    std::vector<Group> groups_;
    std::vector<Engagement> decisions_;     // groups_ × clones
    std::vector<double> productCells_;      // per drug: a cell product's cells in the tumour
    std::vector<std::size_t> productGroup_; // per drug: its index in groups_ (kNone if not a product)
    // Decide for clones without cells too (cloneRates). A small clone is always decided for: its
    // integrated death rate must not jump when its count leaves or reaches 0.
    bool allClones_ = false;
    std::vector<double> lysis_;             // per clone: lysis by therapies per cell, 1/d
    std::vector<CloneRates> rates_;         // per clone, at the last rhs()
    std::vector<char> frozen_;              // per clone: 0 in the ODE, 1 a small clone (outside it), 2 extinct
    std::vector<double> smallCount_;        // per clone: a small clone's cells
    double switchSum_ = 0;                  // Σ switch probabilities of the variant clones
    std::vector<CloneCache> clones_;
    bool tumourValid_ = false, plasmaValid_ = false;
    bool inJacobian_ = false;
    bool freezeInJacobian_ = true;
    synapse::Milieu cachedMilieu_, cachedPlasma_;
    std::vector<double> cachedContacts_;
    synapse::SynapseContext context_;
    synapse::PreparedEffector effector_;  // engage()'s work buffer
    synapse::CellLevels levelScratch_;
    synapse::Contacts noContacts_ = synapse::Contacts::none(m_);
    std::vector<std::pair<Index, synapse::NkState>> products_;
};

// ---- small clones --------------------------------------------------------------------------------

// The random numbers of SmallClones::Stochastic: Philox4x64-10 in counter mode, as the assay's
// cells and the RECIST readings draw theirs. The key is the seed; the counter is (stream, event,
// block, 0), where `event` numbers the run's random events in the order the run meets them (a
// clone's rounding, one clone's walk over one interval) — so the numbers depend on nothing but
// (seed, stream, event), not on threads, time or other patients.
class CloneStream {
public:
    CloneStream(std::uint64_t seed, std::uint64_t stream, std::uint64_t event) {
        key_ = {{seed, 0x736d616c6c63ULL}};  // second key word: "smallc", fixed
        ctr_ = {{stream, event, 0, 0}};
    }
    /// Uniform on [0, 1), 53 random bits.
    double uniform() {
        if (next_ == 4) {
            const auto out = r123::Philox4x64()(ctr_, key_);
            for (std::size_t i = 0; i < 4; ++i) buf_[i] = out[i];
            ++ctr_[2];
            next_ = 0;
        }
        return static_cast<double>(buf_[next_++] >> 11) * 0x1.0p-53;
    }
    /// Exponential waiting time with `rate` > 0.
    double exponential(double rate) { return -std::log1p(-uniform()) / rate; }  // 1 − u in (0, 1]: finite

private:
    r123::Philox4x64::key_type key_{};
    r123::Philox4x64::ctr_type ctr_{};
    std::uint64_t buf_[4] = {0, 0, 0, 0};
    std::size_t next_ = 4;
};

// Where a small clone's walk over an interval ended.
struct WalkEnd {
    double cells = 0;
    double extinctAt = -1;  // d after the interval's start when it reached 0 for good; −1: it did not
};

// Why a cap on events per walk: an interval lasts Δ ≤ 0.5/(b + d) and at most the time in which
// half the threshold immigrates, so a walk has ~(b + d)·n·Δ + ι·Δ ≲ the threshold's order of
// events; the cap only guards a pathological input (the walk then ends early, with the count it
// reached).
constexpr long kMaxWalkEvents = 10'000'000;

// Exact birth–death–immigration path (Gillespie 1977) from `n0` whole cells over `duration`
// days with per-cell birth b and death d (1/d) and immigration ι (cell/d) held constant; when
// `absorbing` (no immigration can ever come), 0 cells is extinction and ends the walk.
WalkEnd gillespieWalk(double n0, double b, double d, double iota, double duration, bool absorbing, CloneStream rng) {
    double t = 0, n = n0;
    for (long k = 0; k < kMaxWalkEvents; ++k) {
        if (n <= 0 && absorbing) return {0.0, t};
        const double a = (b + d) * n + iota;
        if (!(a > 0)) break;
        t += rng.exponential(a);
        if (t > duration) break;
        const double u = rng.uniform() * a;
        if (u < b * n) n += 1;
        else if (u < (b + d) * n) n -= 1;
        else n += 1;  // an immigrant
    }
    return {n, -1.0};
}

// The mean of that process: N(Δ) = N e^{gΔ} + ι (e^{gΔ} − 1)/g with g = b − d.
WalkEnd meanWalk(double n0, double b, double d, double iota, double duration) {
    const double g = b - d;
    const double grow = std::exp(g * duration);
    const double n = n0 * grow + (g == 0 ? iota * duration : iota * std::expm1(g * duration) / g);
    // A clone the continuous model drove down by more than ~700 e-folds stays at the smallest
    // positive double instead of underflowing to 0, which would read as extinction: the
    // continuous model has none.
    return {std::max(n, n0 > 0 || iota > 0 ? std::numeric_limits<double>::min() : 0.0), -1.0};
}

// Follows the clones below qsp.stochastic_clone_threshold outside the ODE (docs/qsp.md, "Small
// clones"). A small clone's derivative is held at 0 and the other equations read its count,
// while the ODE integrates its per-cell birth and death rates and its immigration. Every update
// stop ends an interval for all small clones at once: each count is advanced over the interval
// with the mean rates (the integrals' increase over its length) — a Gillespie walk, or that
// walk's mean — so the rates' change within the interval (a drug wearing off, the killers'
// numbers) is counted exactly in the mean growth; freezing them at the interval's start made
// cures after a waning treatment ~1 e-fold too likely. An interval lasts
// Δ = clamp(min(0.5/(b + d), 0.5·threshold/ι), 0.1 d, 7 d) at the rates of its start, for the
// fastest small clone (about half an event per cell, and half the threshold immigrating, so the
// count the other equations see stays close to the walk's), and ends at every output time too.
// An update that changes a count restarts the solver (the other equations' derivatives jump
// there); a clone leaving or rejoining the ODE restarts it with a new Jacobian.
class SmallCloneTracker {
public:
    /// `cellAtol`: the solver's absolute tolerance of the clone states (cell).
    SmallCloneTracker(const SimulationSpec& spec, TumourSystem& sys, double threshold, double cellAtol, std::vector<SimulationEvent>& events)
        : spec_(spec), sys_(sys), threshold_(threshold), cellAtol_(cellAtol), stochastic_(spec.smallClones == SimulationSpec::SmallClones::Stochastic),
          events_(events), clones_(spec.clones.size()) {}

    /// At t = 0 (SmallClones::Stochastic): every clone below the threshold is whole cells from the
    /// start, its count rounded at random (floor + Bernoulli of the fraction).
    void start(std::span<const double> y) {
        if (!stochastic_) return;
        for (std::size_t c = 0; c < clones_.size(); ++c) {
            const double n = std::max(0.0, y[c]);
            if (n >= threshold_) continue;
            if (n == 0 && (c == 0 || spec_.clones[c].switchPerDivision == 0)) {
                clones_[c].mode = Mode::Extinct;  // never had cells, and none can come: absent, no event
                sys_.markExtinct(c);
                continue;
            }
            enterSmall(0.0, c, n, true);
        }
        settle(0.0);
        begin(0.0, y);
    }

    /// The next update stop (d), +inf without small clones.
    [[nodiscard]] double nextUpdate() const { return small_.empty() ? kInf : t0_ + length_; }
    /// Root function values: N_c − threshold for the clones in the ODE, 1 for the others.
    void roots(std::span<const double> y, std::span<double> g) const {
        for (std::size_t c = 0; c < clones_.size(); ++c) g[c] = clones_[c].mode == Mode::Ode ? y[c] - threshold_ : 1.0;
    }

    /// At a root at t: the clones in the ODE whose root fell (`directions[c]` = −1) become small,
    /// after the small clones' interval is ended at t. Returns whether any did (the driver then
    /// restarts the solver at t with y, since its last step went past t with the clone in the ODE).
    bool rootAt(double t, std::vector<double>& y, std::span<const int> directions) {
        std::vector<std::size_t> falling;
        for (std::size_t c = 0; c < clones_.size(); ++c)
            if (directions[c] < 0 && clones_[c].mode == Mode::Ode) falling.push_back(c);
        if (falling.empty()) return false;
        close(t, y);
        for (std::size_t c : falling) enterSmall(t, c, std::max(0.0, y[c]), false);
        settle(t);
        begin(t, y);
        return true;
    }

    /// What the driver must do after an update: nothing (no count changed by more than the cells'
    /// absolute tolerance, below which the solver resolves nothing anyway), restart the solver (a
    /// count changed: the other equations' derivatives jump with it, which a multistep method must
    /// not step across — the mediators secreted by a tumour of a few cells jump by most of their
    /// level), or restart it with a new Jacobian (a clone rejoined the ODE).
    enum class Restart { None, SameEquations, NewEquations };
    /// At the update stop t (= nextUpdate()), y the state there: the small clones' new counts; a
    /// clone at twice the threshold or more rejoins the ODE with its cells in y.
    Restart update(double t, std::vector<double>& y) {
        const Restart restart = close(t, y);
        settle(t);
        begin(t, y);
        return restart;
    }

private:
    enum class Mode { Ode, Small, Extinct };
    struct Clone {
        Mode mode = Mode::Ode;
        double n = 0;            // cells (a small clone's, at the interval's start)
        double integrals[3] = {0, 0, 0};  // its integrated rates at the interval's start
        double extinctAt = 0;    // d: when it reached 0 for good
    };
    static constexpr double kInf = std::numeric_limits<double>::infinity();
    // The interval's bounds (d): a fast clone's count must not drift far from the one the other
    // equations see; a slow one is still revisited weekly.
    static constexpr double kMinInterval = 0.1, kMaxInterval = 7.0;

    [[nodiscard]] const std::string& name(std::size_t c) const { return spec_.clones[c].name; }
    // Whether clone c at 0 cells stays there for good: no immigration can ever come (the
    // founding clone has none; a variant needs a switch rate and a living founding clone).
    [[nodiscard]] bool absorbing(std::size_t c) const {
        return c == 0 || spec_.clones[c].switchPerDivision == 0 || clones_[0].mode == Mode::Extinct;
    }
    // Clone c becomes small at t with `n` cells (whole cells when stochastic: floor + Bernoulli).
    void enterSmall(double t, std::size_t c, double n, bool atStart) {
        double cells = n;
        if (stochastic_) {
            CloneStream rng(spec_.seed, spec_.stream, nextEvent_++);
            cells = std::floor(n);
            if (rng.uniform() < n - cells) cells += 1;
            events_.push_back({t, "clone stochastic",
                               fmt::format("clone '{}': {:.6g} cells, {} {:g} cells: followed as {:g} whole cells", name(c), n,
                                           atStart ? "at the start below" : "fallen below", threshold_, cells)});
        }
        clones_[c].mode = Mode::Small;
        clones_[c].n = cells;
        sys_.freezeClone(c, cells);
        small_.push_back(c);
    }
    // Extinctions: a small clone at 0 that no immigration can reach (again once the founding
    // clone has died out), and the tumour when every clone is extinct.
    void settle(double t) {
        for (bool changed = true; changed;) {
            changed = false;
            for (std::size_t c : small_) {
                if (clones_[c].mode != Mode::Small || clones_[c].n > 0 || !absorbing(c)) continue;
                clones_[c].mode = Mode::Extinct;
                sys_.markExtinct(c);
                clones_[c].extinctAt = std::max(clones_[c].extinctAt, c == 0 ? 0.0 : clones_[0].extinctAt);
                clones_[c].extinctAt = std::min(clones_[c].extinctAt, t);
                events_.push_back({clones_[c].extinctAt, "clone extinct", fmt::format("clone '{}': 0 cells, and no cells can switch into it", name(c))});
                changed = true;
            }
        }
        std::erase_if(small_, [&](std::size_t c) { return clones_[c].mode != Mode::Small; });
        if (!tumourExtinct_ && std::all_of(clones_.begin(), clones_.end(), [](const Clone& k) { return k.mode == Mode::Extinct; })) {
            tumourExtinct_ = true;
            double at = 0;
            for (const Clone& k : clones_) at = std::max(at, k.extinctAt);
            events_.push_back({at, "tumour extinct", "every clone extinct: the tumour is cured"});
        }
    }
    // A new interval at t for the small clones: its length from their rates at (t, y), and their
    // integrated rates there.
    void begin(double t, std::span<const double> y) {
        t0_ = t;
        length_ = 0;
        if (small_.empty()) return;
        const auto& rates = sys_.cloneRates(t, y);
        double delta = kMaxInterval;
        for (std::size_t c : small_) {
            const auto& r = rates[c];
            // A count below the cells' absolute tolerance (a continuous mean deep below one cell,
            // or 0) is nothing the other equations feel, and its mean growth is exact over any
            // interval (integrated rates): its turnover does not shorten the interval.
            if (r.birth + r.death > 0 && clones_[c].n >= cellAtol_) delta = std::min(delta, 0.5 / (r.birth + r.death));
            if (r.immigration > 0) delta = std::min(delta, 0.5 * threshold_ / r.immigration);
            for (std::size_t k = 0; k < 3; ++k) clones_[c].integrals[k] = y[sys_.integratedRates(c) + k];
        }
        length_ = std::clamp(delta, kMinInterval, kMaxInterval);
    }
    // Ends the interval at t: each small clone's count advanced over [t0, t] with its mean rates
    // there (the integrals' increase over the length).
    Restart close(double t, std::span<double> y) {
        const double span = t - t0_;
        bool rejoined = false, changed = false;
        for (std::size_t c : small_) {
            Clone& k = clones_[c];
            double mean[3];
            for (std::size_t q = 0; q < 3; ++q) mean[q] = span > 0 ? std::max(0.0, y[sys_.integratedRates(c) + q] - k.integrals[q]) / span : 0.0;
            WalkEnd e;
            if (stochastic_) e = gillespieWalk(k.n, mean[0], mean[1], mean[2], span, absorbing(c), CloneStream(spec_.seed, spec_.stream, nextEvent_++));
            else e = meanWalk(k.n, mean[0], mean[1], mean[2], span);
            changed = changed || std::abs(e.cells - k.n) > cellAtol_;
            k.n = e.cells;
            if (e.extinctAt >= 0) k.extinctAt = t0_ + e.extinctAt;
            rejoined = rejoined || k.n >= 2 * threshold_;
        }
        // Back in the ODE: the clones at twice the threshold or more; and, when one is (the solver
        // restarts with a new Jacobian anyway), every clone at or above the threshold with it —
        // a numerical choice that saves a restart and a Jacobian each (variants arising together
        // in a large tumour rejoin at one stop, not two or three), still clear of the root.
        for (std::size_t c : small_) {
            Clone& k = clones_[c];
            if (rejoined && k.n >= threshold_) {
                k.mode = Mode::Ode;
                sys_.thawClone(c);
                y[c] = k.n;
                if (stochastic_)
                    events_.push_back({t, "clone continuous", fmt::format("clone '{}': {:g} cells: back in the ODE", name(c), k.n)});
            } else {
                sys_.setSmallCount(c, k.n);
            }
        }
        std::erase_if(small_, [&](std::size_t c) { return clones_[c].mode != Mode::Small; });
        return rejoined ? Restart::NewEquations : changed ? Restart::SameEquations : Restart::None;
    }

    const SimulationSpec& spec_;
    TumourSystem& sys_;
    double threshold_;
    double cellAtol_;
    bool stochastic_;
    std::vector<SimulationEvent>& events_;
    std::vector<Clone> clones_;
    std::vector<std::size_t> small_;  // the clones in Mode::Small, in the order they became small
    double t0_ = 0, length_ = 0;      // the current interval
    std::uint64_t nextEvent_ = 0;     // the random events so far (CloneStream's event word)
    bool tumourExtinct_ = false;
};

// ---- the driver's times -----------------------------------------------------------------------

// One change of a drug's input: the bolus at t and the infusion rate before and after it.
struct Input {
    double t = 0;
    double bolus = 0;       // amount given at t
    double rateBefore = 0;  // amount/d just before t
    double rateAfter = 0;   // amount/d from t on
};

// Each drug's input changes, once: O(n log n) in its n doses (DosingRegimen's lookups are
// binary searches).
std::vector<std::vector<Input>> inputChanges(const SimulationSpec& spec) {
    std::vector<std::vector<Input>> inputs(spec.drugs.size());
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        const auto& reg = spec.drugs[d].regimen;
        double rate = 0;
        for (double t : reg.eventTimes()) {
            const double next = reg.infusionRate(t);
            inputs[d].push_back(Input{t, reg.bolusAt(t), t > 0 ? rate : 0.0, next});
            rate = next;
        }
    }
    return inputs;
}

// What happens at a driver time (bits): an output is recorded, a drug's input changes, the
// solver lands there.
enum : unsigned { kOutput = 1, kInput = 2, kStop = 4 };
using TimePlan = std::map<double, unsigned>;

// Marks `what` at t; times within 1e-9 d of each other are one time (the regimen's own
// tolerance), so round-off cannot split one time in two. Returns the time as kept.
double markTime(TimePlan& times, double t, unsigned what) {
    auto it = times.lower_bound(t - 1e-9);
    if (it != times.end() && it->first <= t + 1e-9) it->second |= what;
    else it = times.emplace(t, what).first;
    return it->first;
}

// Every analytic drug's infusion (start, end) must be seen by a stop (see the comment inside):
// adds the stops to `times` that are missing.
void addSamplingStops(const SimulationSpec& spec, TumourSystem& sys, const std::vector<std::vector<Input>>& inputs,
                      const std::vector<std::vector<std::pair<double, double>>>& infusions, TimePlan& times) {
    auto mark = [&times](double t, unsigned what) { return markTime(times, t, what); };
    // Every infusion of an analytic drug is sampled. A drug whose level halves after the infusion
    // sooner than the infusion lasted (IL-2: 7 min after 15 min) follows its input: its level
    // nearly jumps at both ends, a pulse the solver must resolve anyway, so both ends are stops,
    // as for a restart. Otherwise (an antibody: 2 days after an hour) the infusion acts like a
    // slow bolus, and it suffices that some stop after its start, before the drug's next input,
    // sees at least half the level reached at the infusion's end; else a short pulse could fall
    // between two steps unseen. Where no stop does, one is added at the latest such time found
    // by halving (the farther from the start, the less it cuts the steps).
    std::set<double> stops;
    for (const auto& [t, what] : times)
        if ((what & kStop) != 0) stops.insert(t);
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        if (infusions[d].empty()) continue;
        const DrugPk& pk = sys.drugs()[d];
        // The drug's exact PK on its own: its states just after each input change.
        std::vector<double> at, rateAfter;
        std::vector<std::vector<double>> after;
        {
            std::vector<double> x(pk.stateCount(), 0.0);
            double t0 = 0, r = 0;
            if (inputs[d].front().t > 0) {  // nothing given at 0
                at.push_back(0.0);
                rateAfter.push_back(0.0);
                after.push_back(x);
            }
            for (const Input& in : inputs[d]) {
                if (in.t > t0) pk.advanceLinear(x, 0, in.t - t0, r);
                t0 = in.t;
                if (in.bolus > 0) pk.applyBolus(x, 0, in.bolus);
                r = in.rateAfter;
                at.push_back(in.t);
                rateAfter.push_back(r);
                after.push_back(x);
            }
        }
        std::vector<double> x(pk.stateCount());
        auto level = [&](double t) {
            const auto k = static_cast<std::size_t>(std::upper_bound(at.begin(), at.end(), t) - at.begin()) - 1;
            x = after[k];
            if (t > at[k]) pk.advanceLinear(x, 0, t - at[k], rateAfter[k]);
            return sys.drugLevel(x, d);
        };
        for (const auto& [start, end] : infusions[d]) {
            const double peak = level(end);
            const auto nextInput = std::upper_bound(at.begin(), at.end(), end);
            const double bound = std::min(nextInput != at.end() ? *nextInput : spec.durationDays, spec.durationDays);
            double tau = bound - end;  // how long the level stays above half the peak, by halving
            while (tau > 1e-6 && level(end + tau) < 0.5 * peak) tau *= 0.5;
            if (tau < end - start) {
                for (double t : {start, end})
                    if (t < spec.durationDays) stops.insert(mark(t, kStop));
                continue;
            }
            // The first stop after the start samples the pulse if it comes by end + τ (the level
            // falls after the end) and, during the infusion, once the level is half the peak.
            const auto s = stops.upper_bound(start);
            if (s != stops.end() && *s <= end + tau && (*s >= end || level(*s) >= 0.5 * peak)) continue;
            const double t = end + tau;
            if (t < spec.durationDays) stops.insert(mark(t, kStop));  // (the end is a stop)
        }
    }
}

// The driver's times: outputs, input changes and stops (below), and each analytic drug's rate
// schedule given to the system.
TimePlan planTimes(const SimulationSpec& spec, TumourSystem& sys, const std::vector<std::vector<Input>>& inputs) {
    TimePlan times;
    auto mark = [&times](double t, unsigned what) { return markTime(times, t, what); };
    // Stops, where the solver lands exactly: the end; a dose that makes a state or a
    // concentration jump (the solver restarts there); any input change of a drug in the ODE
    // (restarts); an analytic drug's dose into a depot; and an output at an input change, whose
    // state must be the one just before it. Elsewhere outputs are CVODE's interpolant of the step
    // across them (within that step's error tolerance), and an analytic drug's infusion starting
    // or ending is a kink of the forcing, which rhs() sees through the exact PK and the error test
    // resolves. Landing on both ends of an hour-long infusion cut the step to an hour and cost ~7
    // steps per dose to grow it back (docs/qsp.md, "Cost"). What landing on the end did for
    // safety is kept below: every infusion is sampled near its peak.
    mark(spec.durationDays, kOutput | kStop);
    const auto nOut = static_cast<std::size_t>(std::floor(spec.durationDays / spec.outputIntervalDays + 1e-9));
    std::vector<std::vector<std::pair<double, double>>> infusions(spec.drugs.size());  // analytic: (start, end)
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        std::vector<std::pair<double, double>> changes;  // (time, rate from then on)
        double rise = 0;
        for (const Input& in : inputs[d]) {
            if (in.t <= 0) {
                if (in.rateAfter > 0) changes.emplace_back(0.0, in.rateAfter);
                continue;
            }
            const bool stop = spec.landOnEveryEvent || in.bolus > 0 || !sys.analytic(d);
            if (in.rateAfter != in.rateBefore) {
                if (in.rateAfter > in.rateBefore) rise = in.t;
                else if (sys.analytic(d)) infusions[d].emplace_back(rise, in.t);
                changes.emplace_back(in.t, in.rateAfter);
            }
            if (in.t < spec.durationDays) mark(in.t, kInput | (stop ? kStop : 0u));
        }
        if (sys.analytic(d)) sys.setRateSchedule(d, std::move(changes));
    }
    for (std::size_t i = 1; i <= nOut; ++i) mark(static_cast<double>(i) * spec.outputIntervalDays, kOutput);
    for (auto& [t, what] : times)
        if (spec.landOnEveryEvent || ((what & kInput) != 0 && (what & kOutput) != 0)) what |= kStop;
    addSamplingStops(spec, sys, inputs, infusions, times);
    return times;
}

void checkSpec(const CompiledModel& m, const SimulationSpec& s) {
    const auto cellName = [&](Index i) { return m.entities(Kind::CellType).at(i).name; };
    if (s.tumourCellType >= m.cellTypes().size() || m.cellTypes()[s.tumourCellType].category != CellCategory::Tumour)
        throw InputError("simulate: the tumour cell type must be a cell type of category tumour");
    if (s.clones.empty()) throw InputError("simulate: give at least the founding clone");
    if (!(s.mediatorRtol >= 0) || !(s.mediatorAtol >= 0) || !std::isfinite(s.mediatorRtol) || !std::isfinite(s.mediatorAtol))
        throw InputError("simulate: mediator tolerances must be finite and >= 0 (0: the ODE's own)");
    if (!(s.stopAtTumourCells >= 0) || !std::isfinite(s.stopAtTumourCells))
        throw InputError("simulate: the tumour burden that ends the run must be finite and >= 0 cells (0: never)");
    if (!(s.fractionAtol >= 0) || !std::isfinite(s.fractionAtol))
        throw InputError("simulate: the fractions' absolute tolerance must be finite and >= 0 (0: the ODE's own)");
    if (!(s.tumourImmunogenicity >= 0) || !std::isfinite(s.tumourImmunogenicity))
        throw InputError(fmt::format("simulate: the tumour's immunogenicity must be finite and >= 0 (1: the template tumour's), got {:g}", s.tumourImmunogenicity));
    if (!(s.durationDays > 0) || !(s.outputIntervalDays > 0) || !std::isfinite(s.durationDays) || !std::isfinite(s.outputIntervalDays))
        throw InputError("simulate: duration and output interval must be finite and > 0 days");
    if (s.maxRunSteps < 0) throw InputError("simulate: the run's step budget must be >= 0 steps (0: none), got " + std::to_string(s.maxRunSteps));
    // Why: the output count becomes an integer and a vector size; far past any budget a file run
    // passes (docs/limits.md), this keeps programs that call simulate() directly from undefined
    // conversions and unbounded allocation.
    if (s.durationDays / s.outputIntervalDays > 1e9)
        throw InputError("simulate: " + std::to_string(s.durationDays / s.outputIntervalDays) +
                         " output times (duration / output interval); at most 1e9 (docs/limits.md)");
    std::set<std::string> names;
    auto finiteNonNeg = [](double v) { return v >= 0 && std::isfinite(v); };
    for (std::size_t c = 0; c < s.clones.size(); ++c) {
        const auto& cl = s.clones[c];
        if (!names.insert(cl.name).second) throw InputError("simulate: clone name '" + cl.name + "' is used twice");
        if (!finiteNonNeg(cl.initialCells)) throw InputError("simulate: clone '" + cl.name + "': initial cells must be >= 0");
        if (!(cl.switchPerDivision >= 0 && cl.switchPerDivision <= 1)) throw InputError("simulate: clone '" + cl.name + "': switch probability must be in [0, 1]");
        // The founding clone's levels are the cell type's own, the base the variants' factor changes
        // start from; its ligand and secretion multipliers (a virtual patient's phenotype, applied
        // to every clone alike) act after the set-point, like every clone's.
        if (c == 0 && (cl.switchPerDivision != 0 || !cl.factorMultipliers.empty()))
            throw InputError("simulate: clone '" + cl.name + "' is the founding clone: it has no factor multipliers and no switch rate");
        for (const auto& [i, mult] : cl.ligandMultipliers)
            if (i >= m.ligands().size() || !finiteNonNeg(mult)) throw InputError("simulate: clone '" + cl.name + "': a ligand multiplier names no ligand or is not a finite number >= 0");
        for (const auto& [i, mult] : cl.factorMultipliers)
            if (i >= m.factors().size() || !finiteNonNeg(mult)) throw InputError("simulate: clone '" + cl.name + "': a factor multiplier names no factor or is not a finite number >= 0");
        for (const auto& [i, mult] : cl.secretionMultipliers)
            if (i >= m.mediators().size() || !finiteNonNeg(mult)) throw InputError("simulate: clone '" + cl.name + "': a secretion multiplier names no mediator or is not a finite number >= 0");
    }
    std::set<Index> seen;
    for (const auto& p : s.populations) {
        if (p.cellType >= m.cellTypes().size() || m.cellTypes()[p.cellType].category == CellCategory::Tumour)
            throw InputError("simulate: a population must be a cell type that is not a tumour");
        if (!seen.insert(p.cellType).second) throw InputError("simulate: population '" + cellName(p.cellType) + "' is given twice");
        if (!finiteNonNeg(p.initialCells) || !finiteNonNeg(p.influxPerDay) || !finiteNonNeg(p.influxPerTumourCell))
            throw InputError("simulate: population '" + cellName(p.cellType) + "': cells and influx must be finite and >= 0");
    }
    for (const auto& d : s.drugs)
        if (d.therapy >= m.therapies().size()) throw InputError("simulate: a drug regimen names no therapy");
}

}  // namespace

std::string populationProblem(const CompiledModel& m, Index cellType, Index tumourCellType) {
    if (cellType >= m.cellTypes().size() || tumourCellType >= m.cellTypes().size()) return "cell type does not exist";
    bool contact = false;
    for (const auto& r : m.regulations()) contact = contact || (r.by.valid() && r.by.kind == Kind::CellType && r.by.index == cellType);
    if (contact && !(m.valueOr(m.cellTypes()[tumourCellType].param(CellParam::Density), 0.0) > 0))
        return "population '" + m.entities(Kind::CellType)[cellType].name + "' regulates other cells by contact, which needs the tumour cell type '" +
               m.entities(Kind::CellType)[tumourCellType].name + "' to give its density (cell/mL)";
    return "";
}

std::string populationsProblem(const CompiledModel& m, std::span<const Index> cellTypes) {
    bool m1 = false, m2 = false;
    for (Index ct : cellTypes) {
        if (ct >= m.cellTypes().size() || m.cellTypes()[ct].category != CellCategory::Tam) continue;
        m1 = m1 || m.cellTypes()[ct].polarisation == model::Polarisation::M1;
        m2 = m2 || m.cellTypes()[ct].polarisation == model::Polarisation::M2;
    }
    if (m1 && m2 && !m.indexOf(Kind::Factor, "M2 polarisation"))
        return "TAM M1 and M2 populations switch by the factor 'M2 polarisation', which model '" + m.info().name + "' does not declare";
    return "";
}

std::string dosingProblem(const CompiledModel& m, Index therapy) {
    if (therapy >= m.therapies().size()) return "therapy #" + std::to_string(therapy) + " does not exist";
    const auto& th = m.therapies()[therapy];
    const std::string who = "therapy '" + m.entities(Kind::Therapy)[therapy].name + "'";
    std::optional<DrugPk> pk;
    try {
        pk.emplace(DrugPk::fromTherapy(m, therapy));
    } catch (const InputError& e) {
        return e.what();
    }
    const bool product = pk->isCellProduct(), local = pk->isLocal();
    const bool concentration = local || (!product && th.molecularWeight != kNoParam);
    for (const auto& mech : th.mechanisms) {
        const std::string action(model::mechanismActionKey(mech.action));
        // Mechanisms that read the drug's concentration cannot act without one: say so rather
        // than give a drug that silently does nothing.
        const bool reads = mech.action == MechanismAction::Inhibit || mech.action == MechanismAction::Restore ||
                           mech.action == MechanismAction::Block || mech.action == MechanismAction::Opsonise ||
                           mech.action == MechanismAction::Engage || mech.action == MechanismAction::Neutralise ||
                           mech.action == MechanismAction::Supply;
        if (reads && !concentration && !product)
            return who + ": mechanism " + action + " needs the drug's concentration, but the therapy has no molecular_weight";
        if (mech.action == MechanismAction::Supply) {
            const auto& med = m.mediators()[mech.target.index];
            if (med.unitPerNanomolar == 0 && med.molecularWeight == kNoParam)
                return who + " supplies mediator '" + m.entities(Kind::Mediator)[mech.target.index].name +
                       "', whose unit is a mass concentration but which has no molecular_weight";
        }
        const bool onCells = mech.action == MechanismAction::Lyse || mech.action == MechanismAction::Recruit ||
                             mech.action == MechanismAction::Deplete;
        const bool ownRecruit = product && mech.action == MechanismAction::Recruit;  // how the product infiltrates
        if (onCells && !ownRecruit && !local) {
            if (!concentration) return who + ": mechanism " + action + " needs the drug's concentration, but the therapy has no molecular_weight";
            if (mech.param("ic50") == kNoParam) return who + ": mechanism " + action + " of a systemic drug needs ic50 (the concentration of half effect)";
        }
    }
    return "";
}

double perTargetKillRate(double pressure, double targets, double halfSaturation, double maxPerTarget) {
    auto bad = [](double v) { return !std::isfinite(v) || v < 0; };
    if (bad(pressure) || bad(targets) || bad(halfSaturation) || bad(maxPerTarget) || !(halfSaturation > 0) || !(maxPerTarget > 0))
        throw InputError(fmt::format("perTargetKillRate: pressure {:g} cell/d, targets {:g} cell, half saturation {:g} cell and ceiling {:g} /d must "
                                     "be finite and >= 0 (the last two > 0)",
                                     pressure, targets, halfSaturation, maxPerTarget));
    return pressure / killDenominator(pressure, targets, halfSaturation, maxPerTarget);
}

double cd8TumourReactiveShare(double baseShare, double immunogenicity) {
    if (!std::isfinite(baseShare) || !std::isfinite(immunogenicity) || baseShare < 0 || baseShare > 1 || immunogenicity < 0)
        throw InputError(fmt::format("cd8TumourReactiveShare: base share {:g} must be in [0, 1] and immunogenicity {:g} finite and >= 0",
                                     baseShare, immunogenicity));
    // Proportional: twice the recognised antigens, twice the T-cell clones that see one of them —
    // until every infiltrating CD8 T cell does.
    return std::min(1.0, baseShare * immunogenicity);
}

std::size_t SimulationResult::column(std::string_view name) const {
    for (std::size_t j = 0; j < columns.size(); ++j)
        if (columns[j] == name) return j;
    throw InputError(fmt::format("simulation result has no column '{}'", name));
}

double SimulationResult::final(std::string_view name) const {
    const std::size_t j = column(name);
    if (rows.empty()) throw InputError("simulation result has no rows");
    return rows.back()[j];
}

double SimulationResult::at(std::string_view name, double t_d) const {
    const std::size_t j = column(name);
    if (rows.empty()) throw InputError("simulation result has no rows");
    std::size_t best = 0;
    for (std::size_t i = 1; i < times.size(); ++i)
        if (std::abs(times[i] - t_d) < std::abs(times[best] - t_d)) best = i;
    return rows[best][j];
}

SimulationResult simulate(const CompiledModel& m, const SimulationSpec& spec) { return simulate(EngineModel(m), spec); }

SimulationResult simulate(const EngineModel& engine, const SimulationSpec& spec) {
    const CompiledModel& m = engine.model();
    checkSpec(m, spec);
    TumourSystem sys(engine, spec);
    SimulationResult res;
    // Columns: tumour, clones, populations (and their blood pools and functional states),
    // mediators, drugs.
    std::vector<std::size_t> stateOfColumn;  // y index per column after the first
    res.columns.push_back("tumour.cells");
    res.units.push_back("cell");
    for (std::size_t c = 0; c < spec.clones.size(); ++c) {
        res.columns.push_back("clone." + spec.clones[c].name);
        res.units.push_back("cell");
        stateOfColumn.push_back(c);
    }
    for (const auto& [i, name, unit] : sys.populationColumns()) {
        res.columns.push_back(name);
        res.units.push_back(unit);
        stateOfColumn.push_back(i);
    }
    for (std::size_t k = 0; k < m.mediators().size(); ++k) {
        res.columns.push_back("mediator." + m.entities(Kind::Mediator)[k].name);
        res.units.push_back(m.mediators()[k].unit);
        stateOfColumn.push_back(sys.mediatorOffset() + k);
    }
    const auto plasmaCols = sys.plasmaColumns();
    for (const auto& [i, name, unit, reference] : plasmaCols) {
        res.columns.push_back(name);
        res.units.push_back(unit);
        stateOfColumn.push_back(i);
    }
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        res.columns.push_back("drug." + m.entities(Kind::Therapy)[spec.drugs[d].therapy].name);
        res.units.push_back(sys.drugUnit(d));
    }
    const auto effects = sys.effectColumns();
    for (const auto& [i, name, unit] : effects) {
        res.columns.push_back(name);
        res.units.push_back(unit);
    }
    auto record = [&](double t, std::span<const double> y) {
        std::vector<double> row;
        row.reserve(res.columns.size());
        double tot = 0;
        for (std::size_t c = 0; c < sys.clones(); ++c) tot += sys.cloneCells(c, y);
        row.push_back(tot);
        // Cells and concentrations are reported clipped at zero: a state driven extinct may sit a
        // hair below zero, within the absolute tolerance (the solver has no inequality constraints).
        for (std::size_t i : stateOfColumn) row.push_back(i < sys.clones() ? sys.cloneCells(i, y) : std::max(0.0, y[i]));
        sys.setPkTime(t);
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) row.push_back(sys.drugOutput(y, d));
        for (const auto& e : effects) row.push_back(std::max(0.0, y[std::get<0>(e)]));
        res.times.push_back(t);
        res.rows.push_back(std::move(row));
    };

    const auto inputs = inputChanges(spec);
    const TimePlan times = planTimes(spec, sys, inputs);
    // Doses starting at or after the end are not given (the end is an output, recorded before any
    // dose there would act): say so once per drug rather than drop them without a word.
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        const auto& reg = spec.drugs[d].regimen;
        const std::size_t late = reg.dosesFrom(spec.durationDays);
        if (late == 0) continue;
        const Dose& first = reg.doses()[reg.doses().size() - late];
        res.warnings.push_back(fmt::format("therapy '{}': {} of {} doses start at or after the end of the run (t = {:g} d; the first at "
                                           "t = {:g} d) and are not given",
                                           m.entities(Kind::Therapy)[spec.drugs[d].therapy].name, late, reg.doses().size(),
                                           spec.durationDays, first.time_d));
    }

    std::vector<double> y = sys.initialState();
    if (spec.initialMediators == InitialMediators::SteadyState) sys.equilibrateMediators(y);  // before any dose
    sys.settleRelaxingLevels(y);
    if (spec.initialMediators == InitialMediators::SteadyState) sys.equilibratePlasma(y);  // fed by the settled tumour
    // The name of state i in the result (its column), for errors; the solver's name otherwise.
    auto columnOfState = [&](std::size_t i) {
        for (std::size_t j = 0; j < stateOfColumn.size(); ++j)
            if (stateOfColumn[j] == i) return res.columns[j + 1];
        return sys.stateName(i);
    };
    // Drug d's input change at t (within the regimen's 1e-9 d), or none; the times come in order,
    // so each drug's cursor only moves forward.
    std::vector<std::size_t> cursor(spec.drugs.size(), 0);
    auto inputAt = [&](std::size_t d, double t) -> const Input* {
        auto& k = cursor[d];
        while (k < inputs[d].size() && inputs[d][k].t < t - 1e-9) ++k;
        return k < inputs[d].size() && inputs[d][k].t <= t + 1e-9 ? &inputs[d][k] : nullptr;
    };
    // Boluses at t: into the exact PK of an analytic drug, or into y (a cell product, a TMDD drug);
    // and the events. Returns whether the solver must restart (y or the forcing jumped).
    // Each drug's next dose to log: every dose given gets its own event row, in dose order, once.
    std::vector<std::size_t> logged(spec.drugs.size(), 0);
    auto applyBoluses = [&](double t) {
        bool odeChanged = false;
        if (t >= spec.durationDays - 1e-9) return odeChanged;  // at the end: not given (see warnings)
        for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
            const Input* in = inputAt(d, t);
            if (in == nullptr) continue;
            const double amount = in->bolus;
            const std::string& name = m.entities(Kind::Therapy)[spec.drugs[d].therapy].name;
            const auto& reg = spec.drugs[d].regimen;
            for (auto& k = logged[d]; k < reg.doses().size() && reg.doses()[k].time_d <= t + 1e-9; ++k) {
                const Dose& dose = reg.doses()[k];
                if (dose.duration_d > 0)
                    res.events.push_back({t, "infusion start",
                                          fmt::format("{} {:g} {} over {:g} h", name, dose.amount, reg.unit(), dose.duration_d * kHoursPerDay)});
                else if (dose.amount > 0)
                    res.events.push_back({t, "dose", fmt::format("{} {:g} {}", name, dose.amount, reg.unit())});
            }
            if (amount > 0) {
                if (sys.analytic(d)) {
                    sys.bolusPk(d, amount);
                    // A bolus into the central compartment (or a local therapy's activity) makes
                    // the concentration jump, which the mediators feel at once: restart then. A
                    // dose into a depot only bends it.
                    if (sys.drugs()[d].doseState() == sys.drugs()[d].centralState()) odeChanged = true;
                } else {
                    sys.drugs()[d].applyBolus(y, sys.drugOffset(d), amount);
                    odeChanged = true;
                }
            }
        }
        return odeChanged;
    };
    sys.advancePkAnchor(0.0);
    (void)applyBoluses(0.0);
    for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
        const Input* in = inputAt(d, 0.0);
        sys.inputRate[d] = in != nullptr ? in->rateAfter : 0.0;
    }
    // The start must be finite: a non-finite state or derivative at t = 0 comes from the inputs
    // (a parameter or override of 1e308, a 0/0 in a rate), and CVODE would only report it as a
    // failed step somewhere later. Named here, as an input error.
    {
        std::vector<double> dydt(y.size(), 0.0);
        sys.rhs(0.0, y, dydt);
        std::string bad;
        std::size_t nBad = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
            if (std::isfinite(y[i]) && std::isfinite(dydt[i])) continue;
            if (nBad++ < 8)
                bad += fmt::format("{}{} = {:g} ({:g} per d)", bad.empty() ? "" : ", ", columnOfState(i), y[i], dydt[i]);
        }
        if (nBad > 8) bad += fmt::format(" and {} more", nBad - 8);
        if (nBad > 0)
            throw ModelInputError(fmt::format("simulate: {} state{} not finite at t = 0 (value or rate of change): {}; check the model's "
                                              "parameters and the scenario's overrides",
                                              nBad, nBad == 1 ? " is" : "s are", bad));
    }
    // Small clones (docs/qsp.md, "Small clones"): with SmallClones::Stochastic every clone below
    // the threshold is whole cells from the start.
    const double threshold = m.constant("qsp.stochastic_clone_threshold");
    SmallCloneTracker small(spec, sys, threshold, spec.ode.atolPerState.empty() ? spec.ode.atol : spec.ode.atolPerState[0], res.events);
    small.start(y);
    record(0.0, y);
    res.cloneProfiles = sys.cloneProfiles(0.0, y);
    auto tumourCells = [&](std::span<const double> v) {
        double total = 0;
        for (std::size_t c = 0; c < sys.clones(); ++c) total += sys.cloneCells(c, v);
        return total;
    };
    const bool burdenStop = spec.stopAtTumourCells > 0;
    auto reachBurden = [&](double t) {
        res.stoppedAt_d = t;
        res.events.push_back({t, "tumour burden reached", fmt::format("{:g} tumour cells: the run ends here", spec.stopAtTumourCells)});
    };
    if (burdenStop && tumourCells(y) >= spec.stopAtTumourCells) {  // at or above the burden from the start
        reachBurden(0.0);
        return res;
    }
    OdeOptions ode = spec.ode;
    if (spec.mediatorRtol > 0 && ode.rtolPerState.empty()) {
        ode.rtolPerState.assign(sys.size(), ode.rtol);
        for (std::size_t k = 0; k < sys.mediatorCount(); ++k) ode.rtolPerState[sys.mediatorOffset() + k] = spec.mediatorRtol;
        for (const auto& pc : plasmaCols) ode.rtolPerState[std::get<0>(pc)] = spec.mediatorRtol;
    }
    if ((spec.mediatorAtol > 0 || spec.fractionAtol > 0) && ode.atolPerState.empty()) {
        ode.atolPerState.assign(sys.size(), ode.atol);
        if (spec.mediatorAtol > 0)
            for (std::size_t k = 0; k < sys.mediatorCount(); ++k) {
                const auto& med = m.mediators()[k];
                const double basal = med.basalLevel != kNoParam ? m.value(med.basalLevel) : 0.0;
                ode.atolPerState[sys.mediatorOffset() + k] = spec.mediatorAtol * (basal > 0 ? basal : 1.0);
            }
        if (spec.mediatorAtol > 0)
            for (const auto& pc : plasmaCols) ode.atolPerState[std::get<0>(pc)] = spec.mediatorAtol * std::get<3>(pc);
        if (spec.fractionAtol > 0)
            for (std::size_t i : sys.fractionStates()) ode.atolPerState[i] = spec.fractionAtol;
    }
    // For each time, the next stop at or after it (one pass from the end; the last time is the end).
    const std::vector<std::pair<double, unsigned>> at(times.begin(), times.end());
    std::vector<double> nextStop(at.size());
    for (std::size_t i = at.size(); i-- > 0;) nextStop[i] = (at[i].second & kStop) != 0 ? at[i].first : nextStop[i + 1];
    OdeSolver solver(sys, 0.0, y, ode);
    // Roots: each clone in the ODE falling through the threshold (it becomes a small clone), and
    // the tumour rising through the burden that ends the run.
    const std::size_t nClones = sys.clones();
    solver.setRoots(nClones + (burdenStop ? 1 : 0), [&](double, std::span<const double> v, std::span<double> g) {
        small.roots(v, g);
        if (burdenStop) g[nClones] = tumourCells(v) - spec.stopAtTumourCells;
    });
    const long perStop = ode.maxSteps;
    auto advance = [&](double target, double stopAt) {
        long left = 0;
        if (spec.maxRunSteps > 0) {
            left = spec.maxRunSteps - solver.stats().steps;
            if (left <= 0)
                throw StepBudgetError(fmt::format("simulate: the run's budget of {} solver steps is spent at t = {:.9g} d (integrating to {:.9g} d)",
                                                  spec.maxRunSteps, solver.time(), target));
            solver.setMaxSteps(std::min(perStop, left));
        }
        try {
            return solver.advanceTo(target, stopAt);
        } catch (const SolverError& e) {
            if (spec.maxRunSteps > 0 && left < perStop && solver.stats().steps >= spec.maxRunSteps)
                throw StepBudgetError(fmt::format("simulate: the run's budget of {} solver steps is spent at t = {:.9g} d (integrating to {:.9g} d)",
                                                  spec.maxRunSteps, solver.time(), target));
            // Before the first output the system has not been integrable at all: the inputs are
            // the likely cause (a rate constant far too large, a tolerance far too tight), so it is
            // an input error. Later failures are the solver's (exit 1).
            if (res.times.size() > 1) throw;
            throw ModelInputError(fmt::format("simulate: the solver failed before the first output time (t = {:g} d), so the model's "
                                              "parameters or the scenario's overrides or tolerances likely make the system impossible "
                                              "to integrate; the states with the largest weighted local error are the ones to check: {}",
                                              std::min(spec.outputIntervalDays, spec.durationDays), e.what()));
        }
    };
    auto takeState = [&] {
        const auto st = solver.state();
        y.assign(st.begin(), st.end());
    };
    // A root at r.t: the burden is reached (the run ends there: returns true), or clones fell
    // below the threshold (they become small clones; the solver restarts there, since its last
    // step went past r.t with them in the ODE). A rising clone root needs nothing.
    auto onRoot = [&](const AdvanceResult& r) {
        takeState();
        if (burdenStop && r.roots[nClones] > 0) {
            if (res.times.empty() || r.t > res.times.back()) record(r.t, y);
            reachBurden(r.t);
            return true;
        }
        if (small.rootAt(r.t, y, r.roots)) solver.reinitialize(r.t, y, false);
        return false;
    };
    // A Jacobian taken at one tumour size steers Newton poorly after the tumour has grown or
    // shrunk ten-fold (its couplings scale with the cells): ask for a fresh one then.
    double jacobianTumour = tumourCells(y);
    auto refreshIfMoved = [&] {
        const double now = tumourCells(y);
        if ((now + 1) > 10 * (jacobianTumour + 1) || 10 * (now + 1) < jacobianTumour + 1) {
            solver.refreshJacobian();
            jacobianTumour = now;
        }
    };
    auto restartAfter = [&](SmallCloneTracker::Restart restart, double t) {
        if (restart != SmallCloneTracker::Restart::None) solver.reinitialize(t, y, restart == SmallCloneTracker::Restart::SameEquations);
    };
    constexpr double kSameTime = 1e-9;  // d: the regimens' own tolerance (markTime)
    bool ended = false;
    for (std::size_t i = 0; i < at.size() && !ended; ++i) {
        const auto [t, what] = at[i];
        if (t == 0) continue;  // an output or dose at 0 was handled above
        if ((what & (kStop | kOutput)) == 0) {
            (void)applyBoluses(t);  // an infusion starting, stepped over: recorded, nothing to do
            continue;
        }
        // To t, through the small clones' updates before it (solver stops, and restarts where a
        // count changed) and the roots on the way. The solver never steps past the next update,
        // so that it can stop there; while there are small clones it lands on t too, and their
        // interval ends there, so that an output holds their counts at t.
        bool smallAtT = false;
        while (true) {
            const double tu = small.nextUpdate();
            AdvanceResult r;
            if (tu < t - kSameTime) {
                r = advance(tu, tu);
                if (!r.rootFound) {
                    takeState();
                    restartAfter(small.update(tu, y), tu);
                    continue;
                }
            } else {
                smallAtT = tu < std::numeric_limits<double>::infinity();
                r = advance(t, smallAtT ? t : std::min(nextStop[i], tu));
                if (!r.rootFound) break;
            }
            if (onRoot(r)) {
                ended = true;
                break;
            }
        }
        if (ended) break;
        takeState();
        if (smallAtT) restartAfter(small.update(t, y), t);
        refreshIfMoved();
        if ((what & kStop) != 0) {
            // The exact PK to t, then this time's doses and rates.
            sys.advancePkAnchor(t);
            const bool jumped = applyBoluses(t);
            bool odeInputChanged = false;
            for (std::size_t d = 0; d < spec.drugs.size(); ++d) {
                const Input* in = inputAt(d, t);
                if (in == nullptr) continue;  // no change at t: the rate stands
                if (in->rateAfter != sys.inputRate[d] && !sys.analytic(d)) odeInputChanged = true;
                sys.inputRate[d] = in->rateAfter;
            }
            // A jump in the ODE's states, its inputs or a drug concentration: restart the
            // multistep method here. A kink of an analytic drug's forcing needs no restart.
            if (jumped || odeInputChanged) solver.reinitialize(t, y);
        }
        if ((what & kOutput) != 0) record(t, y);
    }
    // Events in time order: an infusion start stepped over is logged when the loop passes its
    // time, a small clone's update when the solver reaches it.
    std::stable_sort(res.events.begin(), res.events.end(), [](const SimulationEvent& a, const SimulationEvent& b) { return a.time_d < b.time_d; });
    res.stats = solver.stats();
    return res;
}

}  // namespace nkscape::qsp
