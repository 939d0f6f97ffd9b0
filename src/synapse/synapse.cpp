// The synapse decision. decide() is the fast path over flattened tables; decideReference() is the
// oracle, written straight from the model without precomputation. docs/synapse.md has the maths.

#include "nkscape/synapse/synapse.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <string>

#include "nkscape/error.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::synapse {

using model::CompiledModel;
using model::Index;
using model::Kind;
using model::kNoIndex;
using model::kNoParam;

namespace {

constexpr std::uint32_t kNone = 0xffffffffu;

// Occupancy of a target by a drug at free concentration c (nM) with dissociation constant kd (nM).
double occupancy(double c, double kd) { return c > 0 ? c / (c + kd) : 0.0; }

// Kill probability's dependence on A at threshold θ: A^h / (A^h + θ^h), written to need one pow;
// integer h (the usual case) avoids pow, which would be most of a decision's cost.
double hillActivation(double a, double theta, double h, int hInt) {
    if (a <= 0) return 0.0;
    const double r = theta / a;
    double rh;
    switch (hInt) {
        case 1: rh = r; break;
        case 2: rh = r * r; break;
        case 3: rh = r * r * r; break;
        case 4: rh = (r * r) * (r * r); break;
        default: rh = std::pow(r, h); break;
    }
    return 1.0 / (1.0 + rh);
}

struct Constants {
    int hillInt = 0;  // hill when it is a small integer (1-4), else 0
    double confinement, referenceComplexes, threshold, inhibitionScale, hill, maxKill, scanTime, killTime, killTimeNoGranzyme,
        killTimeNoPerforin, deathReceptorEfficacy, adaptorHalf, carHalfAntigen;
};

Constants readConstants(const CompiledModel& m) {
    // CompiledModel::constant throws an InputError naming the missing constant.
    return Constants{0, m.constant("synapse.confinement"),        m.constant("synapse.reference_complexes"),
                     m.constant("synapse.threshold"),          m.constant("synapse.inhibition_scale"),
                     m.constant("synapse.hill"),               m.constant("synapse.max_kill_probability"),
                     m.constant("synapse.scan_time"),          m.constant("synapse.kill_time"),
                     m.constant("synapse.kill_time_no_granzyme"), m.constant("synapse.kill_time_no_perforin"),
                     m.constant("synapse.death_receptor_efficacy"), m.constant("synapse.adaptor_half"),
                     m.constant("synapse.car_half_antigen")};
}

// Factor to turn a mediator's concentration (its own unit) into nM, for soluble decoys.
void requireMolecularWeight(const CompiledModel& m, Index mediator) {
    const auto& med = m.mediators()[mediator];
    if (med.molecularWeight == kNoParam) {
        throw InputError("mediator '" + m.entities(Kind::Mediator)[mediator].name + "' is a soluble decoy measured in " + med.unit +
                         " but has no molecular_weight to turn it into nM (" + m.entities(Kind::Mediator)[mediator].where.str() + ")");
    }
}

// The oracle's version: converts with a unit system of its own (independent of the factors the
// loader precomputed, which the fast path uses).
double toNanomolar(const CompiledModel& m, Index mediator, const model::UnitSystem& units) {
    const auto& med = m.mediators()[mediator];
    if (units.convertible(med.unit, "nM")) return units.convertOrThrow(1.0, med.unit, "nM");
    requireMolecularWeight(m, mediator);
    // mass concentration → g/L, divided by g/mol (kDa × 1000) → mol/L → nM.
    const double gPerL = units.convertOrThrow(1.0, med.unit, "g/L");
    return gPerL / (m.value(med.molecularWeight) * 1000.0) * 1e9;
}

// The fast path's version, from the factors the loader resolved (Mediator::nanomolarPerUnit,
// gramsPerLitrePerUnit). Why: building a udunits2 unit system here was most of the cost of
// constructing a Synapse, i.e. about a third of a whole one-year engine run.
double toNanomolar(const CompiledModel& m, Index mediator) {
    const auto& med = m.mediators()[mediator];
    if (std::isfinite(med.nanomolarPerUnit)) return med.nanomolarPerUnit;
    requireMolecularWeight(m, mediator);
    if (!std::isfinite(med.gramsPerLitrePerUnit)) {
        throw InputError("mediator '" + m.entities(Kind::Mediator)[mediator].name + "' is a soluble decoy measured in " + med.unit +
                         ", which is neither an amount nor a mass concentration (" + m.entities(Kind::Mediator)[mediator].where.str() + ")");
    }
    return med.gramsPerLitrePerUnit / (m.value(med.molecularWeight) * 1000.0) * 1e9;
}

}  // namespace

struct Synapse::Tables {
    Constants c{};
    std::size_t nReceptors = 0, nLigands = 0, nFactors = 0, nMediators = 0, nTherapies = 0;

    // Receptors: class, weight, activating share; adaptors in CSR form.
    std::vector<std::uint8_t> isAdaptor;
    std::vector<double> actShare;  // share of the signal that activates (1, 0 or f for mixed)
    std::vector<double> weight;
    std::vector<std::uint32_t> adaptorStart, adaptorList;

    // Membrane interactions grouped by ligand (CSR).
    struct Pair {
        std::uint32_t receptor;
        double confinedAffinity;  // s / Kd: multiply by receptor copies to get x
        bool fc;                  // CD16 on the Fc of bound IgG: scaled by the cell's FcγRIIIa affinity
    };
    std::vector<std::uint32_t> pairStart;
    std::vector<Pair> pairs;
    std::vector<std::uint32_t> boundLigands;     // ligands that some receptor binds
    std::vector<std::uint32_t> signalling;       // non-adaptor receptors that bind something
    std::vector<std::uint32_t> adaptorsUsed;     // adaptors some receptor needs

    // The hot loop's view of the same data, as flat arrays (structure of arrays).
    struct LigandBlock {
        std::uint32_t ligand, begin, end;
    };
    std::vector<LigandBlock> ligandBlocks;
    std::vector<std::uint32_t> pairReceptor;
    std::vector<double> pairAffinity;
    std::vector<std::uint8_t> pairFc;
    std::vector<std::uint32_t> adaptorA, adaptorB;  // per receptor; nReceptors = none (alpha 1)
    std::vector<double> actWeight, inhWeight;       // per receptor: weight × share / N_ref
    std::uint32_t opsoninLigand = kNone;

    // Soluble decoys (interaction whose ligand is a soluble_ligand mediator).
    struct Decoy {
        std::uint32_t receptor, mediator;
        double toNm, kd;
    };
    std::vector<Decoy> decoys;

    // Therapy mechanisms that act at the synapse.
    struct Block {
        std::uint32_t therapy, target;
        bool onReceptor;
        double kd;
    };
    struct Opsonise {
        std::uint32_t therapy, antigen;
        double kd, fcGain;
    };
    struct Engage {
        std::uint32_t therapy, antigen;
        double kd, gain;
        std::vector<std::uint32_t> receptors;
    };
    std::vector<Block> blocks;
    std::vector<Opsonise> opsonises;
    std::vector<Engage> engages;

    std::uint32_t ifng = kNone, tnfa = kNone, perforin = kNone, granzyme = kNone, fasl = kNone;
};

Synapse::Synapse(const CompiledModel& m) : model_(&m) {
    auto t = std::make_shared<Tables>();
    t->c = readConstants(m);
    t->c.hillInt = (t->c.hill == std::round(t->c.hill) && t->c.hill >= 1 && t->c.hill <= 4) ? static_cast<int>(t->c.hill) : 0;
    t->nReceptors = m.receptors().size();
    t->nLigands = m.ligands().size();
    t->nFactors = m.factors().size();
    t->nMediators = m.mediators().size();
    t->nTherapies = m.therapies().size();

    t->adaptorStart.push_back(0);
    for (const auto& r : m.receptors()) {
        t->isAdaptor.push_back(r.cls == model::ReceptorClass::Adaptor);
        t->weight.push_back(r.weight == kNoParam ? 0.0 : m.value(r.weight));
        switch (r.cls) {
            case model::ReceptorClass::Activating: t->actShare.push_back(1.0); break;
            case model::ReceptorClass::Inhibitory: t->actShare.push_back(0.0); break;
            case model::ReceptorClass::Mixed: t->actShare.push_back(m.value(r.activatingFraction)); break;
            case model::ReceptorClass::Adaptor: t->actShare.push_back(0.0); break;
        }
        for (Index a : r.adaptors) t->adaptorList.push_back(a);
        t->adaptorStart.push_back(static_cast<std::uint32_t>(t->adaptorList.size()));
    }

    for (std::size_t j = 0; j < m.ligands().size(); ++j)
        if (m.ligands()[j].category == model::LigandCategory::Opsonin) t->opsoninLigand = static_cast<std::uint32_t>(j);

    std::vector<std::vector<Tables::Pair>> byLigand(t->nLigands);
    for (const auto& x : m.interactions()) {
        const double kd = m.value(x.kd);
        if (x.ligand.kind == Kind::Ligand) {
            const bool fc = x.ligand.index == t->opsoninLigand;
            byLigand[x.ligand.index].push_back(Tables::Pair{x.receptor, t->c.confinement / kd, fc});
        } else {
            t->decoys.push_back(Tables::Decoy{x.receptor, x.ligand.index, toNanomolar(m, x.ligand.index), kd});
        }
    }
    std::stable_sort(t->decoys.begin(), t->decoys.end(), [](const Tables::Decoy& a, const Tables::Decoy& b) { return a.receptor < b.receptor; });
    t->pairStart.push_back(0);
    std::vector<std::uint8_t> binds(t->nReceptors, 0), usedAdaptor(t->nReceptors, 0);
    for (std::size_t j = 0; j < byLigand.size(); ++j) {
        if (!byLigand[j].empty()) t->boundLigands.push_back(static_cast<std::uint32_t>(j));
        for (const auto& p : byLigand[j]) binds[p.receptor] = 1;
        t->pairs.insert(t->pairs.end(), byLigand[j].begin(), byLigand[j].end());
        t->pairStart.push_back(static_cast<std::uint32_t>(t->pairs.size()));
    }
    for (std::size_t k = 0; k < t->nReceptors; ++k) {
        if (binds[k] && !t->isAdaptor[k]) t->signalling.push_back(static_cast<std::uint32_t>(k));
        for (std::uint32_t a = t->adaptorStart[k]; a < t->adaptorStart[k + 1]; ++a) usedAdaptor[t->adaptorList[a]] = 1;
    }
    for (std::size_t k = 0; k < t->nReceptors; ++k)
        if (usedAdaptor[k]) t->adaptorsUsed.push_back(static_cast<std::uint32_t>(k));
    for (std::uint32_t j : t->boundLigands) t->ligandBlocks.push_back(Tables::LigandBlock{j, t->pairStart[j], t->pairStart[j + 1]});
    for (const auto& p : t->pairs) {
        t->pairReceptor.push_back(p.receptor);
        t->pairAffinity.push_back(p.confinedAffinity);
        t->pairFc.push_back(p.fc ? 1 : 0);
    }
    const auto none = static_cast<std::uint32_t>(t->nReceptors);
    for (std::size_t k = 0; k < t->nReceptors; ++k) {
        const std::uint32_t n = t->adaptorStart[k + 1] - t->adaptorStart[k];
        if (n > 2) {
            throw InputError("receptor '" + m.entities(Kind::Receptor)[k].name + "' lists " + std::to_string(n) +
                             " adaptors; the synapse supports at most 2 per receptor (" + m.entities(Kind::Receptor)[k].where.str() + ")");
        }
        t->adaptorA.push_back(n >= 1 ? t->adaptorList[t->adaptorStart[k]] : none);
        t->adaptorB.push_back(n >= 2 ? t->adaptorList[t->adaptorStart[k] + 1] : none);
        t->actWeight.push_back(t->weight[k] * t->actShare[k] / t->c.referenceComplexes);
        t->inhWeight.push_back(t->weight[k] * (1.0 - t->actShare[k]) / t->c.referenceComplexes);
    }

    for (std::size_t th = 0; th < m.therapies().size(); ++th) {
        for (const auto& mech : m.therapies()[th].mechanisms) {
            const auto ti = static_cast<std::uint32_t>(th);
            switch (mech.action) {
                case model::MechanismAction::Block:
                    t->blocks.push_back(Tables::Block{ti, mech.target.index, mech.target.kind == Kind::Receptor, m.value(mech.param("kd"))});
                    break;
                case model::MechanismAction::Opsonise:
                    t->opsonises.push_back(Tables::Opsonise{ti, mech.target.index, m.value(mech.param("kd")), m.value(mech.param("fc_gain"))});
                    break;
                case model::MechanismAction::Engage: {
                    Tables::Engage e{ti, mech.target.index, m.value(mech.param("kd")), m.value(mech.param("gain")), {}};
                    for (Index r : mech.receptors) e.receptors.push_back(r);
                    t->engages.push_back(std::move(e));
                    break;
                }
                default: break;  // other actions act on levels (Regulator) or on populations (engines)
            }
        }
    }
    auto optional = [&](Kind k, const char* name) {
        auto i = m.indexOf(k, name);
        return i ? static_cast<std::uint32_t>(*i) : kNone;
    };
    t->ifng = optional(Kind::Mediator, "IFN-g");
    t->tnfa = optional(Kind::Mediator, "TNF-a");
    t->perforin = optional(Kind::Factor, "perforin");
    t->granzyme = optional(Kind::Factor, "granzyme B");
    t->fasl = optional(Kind::Factor, "FasL");
    tables_ = std::move(t);
}

std::vector<model::Index> Synapse::mediatorsRead() const {
    std::vector<model::Index> out;
    for (const auto& d : tables_->decoys) out.push_back(d.mediator);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

SynapseContext Synapse::context(const Milieu& milieu) const {
    SynapseContext ctx;
    context(milieu, ctx);
    return ctx;
}

void Synapse::context(const Milieu& milieu, SynapseContext& ctx) const {
    const Tables& t = *tables_;
    if (milieu.mediators.size() != t.nMediators || milieu.therapies.size() != t.nTherapies) {
        throw InputError("synapse: the milieu is sized for another model (" + std::to_string(milieu.mediators.size()) + " mediators, " +
                         std::to_string(milieu.therapies.size()) + " therapies; the model has " + std::to_string(t.nMediators) + " and " +
                         std::to_string(t.nTherapies) + ")");
    }
    // assign/clear keep the vectors' storage: no allocation when `ctx` is passed again.
    ctx.receptorFree.assign(t.nReceptors, 1.0);
    ctx.ligandFree.assign(t.nLigands, 1.0);
    ctx.opsonin.assign(t.nLigands, 0.0);
    // Several antibodies on one target block independently: free = Π (1 − occupancy).
    for (const auto& b : t.blocks) {
        const double occ = occupancy(milieu.therapies[b.therapy], b.kd);
        (b.onReceptor ? ctx.receptorFree : ctx.ligandFree)[b.target] *= 1.0 - occ;
    }
    // A soluble decoy occupies receptors as a competitive 3-D ligand: free = 1 / (1 + Σ c/Kd).
    // t.decoys is grouped by receptor (stable, so each receptor's terms are summed in the model's
    // order, as a per-receptor array would): one run per receptor, no scratch array.
    for (std::size_t a = 0; a < t.decoys.size();) {
        const std::uint32_t r = t.decoys[a].receptor;
        double load = 0.0;
        for (; a < t.decoys.size() && t.decoys[a].receptor == r; ++a) load += milieu.mediators[t.decoys[a].mediator] * t.decoys[a].toNm / t.decoys[a].kd;
        ctx.receptorFree[r] /= 1.0 + load;
    }
    for (const auto& o : t.opsonises) ctx.opsonin[o.antigen] += occupancy(milieu.therapies[o.therapy], o.kd) * o.fcGain;
    ctx.opsonised.clear();
    for (std::size_t j = 0; j < t.nLigands; ++j)
        if (ctx.opsonin[j] > 0) ctx.opsonised.push_back(static_cast<model::Index>(j));
    ctx.engaged.clear();
    for (const auto& e : t.engages) ctx.engaged.push_back(occupancy(milieu.therapies[e.therapy], e.kd));
}

namespace {

// Small fixed-size scratch so that decide() never allocates for models of ordinary size.
constexpr std::size_t kStack = 128;

}  // namespace

SynapseOutcome Synapse::decide(const SynapseContext& ctx, const NkState& nk, const TargetState& target) const {
    const Tables& t = *tables_;
    const Constants& c = t.c;
    const std::size_t nR = t.nReceptors;
    // Scratch on the stack for models of ordinary size (no zero-fill: every used slot is written).
    std::array<double, kStack + 1> freeBuf, totBuf, alphaBuf;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::array<double, kStack> xBuf;                           // NOLINT(cppcoreguidelines-pro-type-member-init)
    std::vector<double> heap;
    double* __restrict rf = freeBuf.data();
    double* __restrict tot = totBuf.data();
    double* __restrict alpha = alphaBuf.data();
    double* __restrict xs = xBuf.data();
    if (nR + 1 > freeBuf.size() || t.pairs.size() > xBuf.size()) {
        heap.assign(3 * (nR + 1) + t.pairs.size(), 0.0);
        rf = heap.data();
        tot = rf + nR + 1;
        alpha = tot + nR + 1;
        xs = alpha + nR + 1;
    }
    const double* __restrict rec = nk.receptors.data();
    const double* __restrict lig = target.ligands.data();
    const double* __restrict rFree = ctx.receptorFree.data();
    const double* __restrict lFree = ctx.ligandFree.data();
    for (std::size_t k = 0; k < nR; ++k) {
        rf[k] = rec[k] * rFree[k];
        tot[k] = 0.0;
    }
    alpha[nR] = 1.0;  // "no adaptor"
    for (std::uint32_t a : t.adaptorsUsed) alpha[a] = rec[a] / (rec[a] + c.adaptorHalf);
    // Opsonin (Fc of bound IgG) density: antigen copies × occupancy × Fc gain, over antigens.
    double fcDensity = 0.0;
    for (model::Index j : ctx.opsonised) fcDensity += lig[j] * lFree[j] * ctx.opsonin[j];
    const double fcScale[2] = {1.0, nk.cd16Affinity};
    // Engagement: each ligand is shared by the receptors that bind it in proportion to
    // x = s·R_free/Kd, and a fraction 1/(1 + Σx) stays unbound.
    const std::uint32_t* __restrict pRec = t.pairReceptor.data();
    const double* __restrict pAff = t.pairAffinity.data();
    const std::uint8_t* __restrict pFc = t.pairFc.data();
    for (const auto& b : t.ligandBlocks) {
        double l = lig[b.ligand] * lFree[b.ligand];
        if (b.ligand == t.opsoninLigand) l += fcDensity;
        if (l <= 0) continue;
        if (b.end == b.begin + 1) {  // one receptor for this ligand (most ligands): no competition loop
            const std::uint32_t p = b.begin;
            const double x = rf[pRec[p]] * pAff[p] * fcScale[pFc[p]];
            tot[pRec[p]] += l / (1.0 + x) * x;
            continue;
        }
        double denom = 1.0;
        for (std::uint32_t p = b.begin; p < b.end; ++p) {
            xs[p] = rf[pRec[p]] * pAff[p] * fcScale[pFc[p]];
            denom += xs[p];
        }
        const double share = l / denom;
        for (std::uint32_t p = b.begin; p < b.end; ++p) tot[pRec[p]] += share * xs[p];
    }
    return signalAndFinish(ctx, nk, target, tot, rf, alpha, t.signalling);
}

SynapseOutcome Synapse::signalAndFinish(const SynapseContext& ctx, const NkState& nk, const TargetState& target, const double* tot,
                                        const double* rf, const double* alpha, std::span<const std::uint32_t> signalling) const {
    const Tables& t = *tables_;
    const Constants& c = t.c;
    const double* __restrict rec = nk.receptors.data();
    const double* __restrict lig = target.ligands.data();
    const double* __restrict lFree = ctx.ligandFree.data();
    // A receptor cannot form more complexes than it has free copies; adaptors scale the signal.
    double act = 0.0, inh = 0.0;
    const double* __restrict wA = t.actWeight.data();
    const double* __restrict wI = t.inhWeight.data();
    const std::uint32_t* __restrict adA = t.adaptorA.data();
    const std::uint32_t* __restrict adB = t.adaptorB.data();
    for (std::uint32_t k : signalling) {
        const double s = std::min(tot[k], rf[k]) * alpha[adA[k]] * alpha[adB[k]];
        act += wA[k] * s;
        inh += wI[k] * s;
    }
    // Engagers bridge NK receptors to an antigen, whatever the endogenous ligands.
    const double invRef = 1.0 / c.referenceComplexes;
    for (std::size_t ei = 0; ei < t.engages.size(); ++ei) {
        const auto& eg = t.engages[ei];
        const double bound = lig[eg.antigen] * lFree[eg.antigen] * ctx.engaged[ei];
        if (bound <= 0) continue;
        for (std::uint32_t r : eg.receptors) {
            // The bridged receptor's adaptors must be counted even if it binds no endogenous ligand.
            double s = eg.gain * t.weight[r] * std::min(rf[r], bound) * invRef;
            for (std::uint32_t a = t.adaptorStart[r]; a < t.adaptorStart[r + 1]; ++a) s *= rec[t.adaptorList[a]] / (rec[t.adaptorList[a]] + c.adaptorHalf);
            act += s;
        }
    }
    if (nk.car && nk.car->antigen != kNoIndex) {
        const double l = lig[nk.car->antigen] * lFree[nk.car->antigen];
        act += nk.car->gain * nk.car->level * l / (l + c.carHalfAntigen) * invRef;
    }
    return finish(nk, act, inh);
}

void Synapse::prepare(const SynapseContext& ctx, const NkState& nk, PreparedEffector& out) const {
    // decide()'s effector-side steps, in the same order with the same operations.
    const Tables& t = *tables_;
    const Constants& c = t.c;
    const std::size_t nR = t.nReceptors;
    out.nk = &nk;
    out.receptorFree.resize(nR);
    out.alpha.resize(nR + 1);
    out.pairX.resize(t.pairs.size());
    out.denominator.resize(t.ligandBlocks.size());
    const double* rec = nk.receptors.data();
    double* rf = out.receptorFree.data();
    double* alpha = out.alpha.data();
    for (std::size_t k = 0; k < nR; ++k) rf[k] = rec[k] * ctx.receptorFree[k];
    alpha[nR] = 1.0;  // "no adaptor"
    for (std::uint32_t a : t.adaptorsUsed) alpha[a] = rec[a] / (rec[a] + c.adaptorHalf);
    const double fcScale[2] = {1.0, nk.cd16Affinity};
    out.activeBlocks.clear();
    out.activePairs.clear();
    out.activeSignalling.clear();
    for (std::size_t bi = 0; bi < t.ligandBlocks.size(); ++bi) {
        const auto& b = t.ligandBlocks[bi];
        double denom = 1.0;
        const auto first = static_cast<std::uint32_t>(out.activePairs.size());
        for (std::uint32_t p = b.begin; p < b.end; ++p) {
            const double x = rf[t.pairReceptor[p]] * t.pairAffinity[p] * fcScale[t.pairFc[p]];
            out.pairX[p] = x;
            denom += x;
            if (x != 0) out.activePairs.push_back(p);  // NaN ≠ 0: kept, so that it propagates
        }
        out.denominator[bi] = denom;
        const auto end = static_cast<std::uint32_t>(out.activePairs.size());
        if (end > first) out.activeBlocks.push_back({static_cast<std::uint32_t>(bi), first, end});
    }
    for (std::uint32_t k : t.signalling)
        if (!(rf[k] == 0)) out.activeSignalling.push_back(k);  // rf = 0 signals min(tot, 0) = 0
}

SynapseOutcome Synapse::decide(const SynapseContext& ctx, const PreparedEffector& effector, const TargetState& target) const {
    const Tables& t = *tables_;
    const NkState& nk = *effector.nk;
    const std::size_t nR = t.nReceptors;
    std::array<double, kStack> totBuf;  // NOLINT(cppcoreguidelines-pro-type-member-init): first nR zeroed below
    std::vector<double> heap;
    double* __restrict tot = totBuf.data();
    if (nR > totBuf.size()) {
        heap.assign(nR, 0.0);
        tot = heap.data();
    }
    std::fill_n(tot, nR, 0.0);
    const double* __restrict lig = target.ligands.data();
    const double* __restrict lFree = ctx.ligandFree.data();
    const double* __restrict rf = effector.receptorFree.data();
    const double* __restrict alpha = effector.alpha.data();
    const double* __restrict xs = effector.pairX.data();
    double fcDensity = 0.0;
    for (model::Index j : ctx.opsonised) fcDensity += lig[j] * lFree[j] * ctx.opsonin[j];
    // Engagement as in decide(): the ligand's share l/(1 + Σx) to each receptor in proportion to x.
    const std::uint32_t* __restrict pRec = t.pairReceptor.data();
    // Only pairs with x ≠ 0 (PreparedEffector::activePairs): the others add exactly 0.
    const std::uint32_t* __restrict active = effector.activePairs.data();
    for (const auto& [bi, first, end] : effector.activeBlocks) {
        const auto& b = t.ligandBlocks[bi];
        double l = lig[b.ligand] * lFree[b.ligand];
        if (b.ligand == t.opsoninLigand) l += fcDensity;
        if (l <= 0) continue;
        const double share = l / effector.denominator[bi];
        for (std::uint32_t q = first; q < end; ++q) tot[pRec[active[q]]] += share * xs[active[q]];
    }
    return signalAndFinish(ctx, nk, target, tot, rf, alpha, effector.activeSignalling);
}

SynapseOutcome Synapse::finish(const NkState& nk, double act, double inh) const {
    const Tables& t = *tables_;
    const Constants& c = t.c;
    SynapseOutcome out;
    out.activation = act;
    out.inhibition = inh;
    // Inhibition raises the threshold rather than subtracting from activation: missing self,
    // induced self and checkpoints all follow from this one rule.
    out.threshold = c.threshold * (1.0 + inh / c.inhibitionScale);
    const double pAct = hillActivation(act, out.threshold, c.hill, c.hillInt);
    const double prf = t.perforin == kNone ? 1.0 : std::min(1.0, nk.factors[t.perforin]);
    const double gzm = t.granzyme == kNone ? 1.0 : std::min(1.0, nk.factors[t.granzyme]);
    const double fasl = t.fasl == kNone ? 1.0 : std::min(1.0, nk.factors[t.fasl]);
    const double granuleRoute = std::clamp(nk.granules, 0.0, 1.0) * prf;
    const double capacity = granuleRoute + (1.0 - granuleRoute) * c.deathReceptorEfficacy * fasl;
    const double armed = std::max(0.0, 1.0 - nk.exhaustion) * std::clamp(nk.fitness, 0.0, 1.0);
    out.killProbability = c.maxKill * pAct * capacity * armed;
    // Kill time: the granule route slows without granzymes; the death-receptor route is the
    // no-perforin time. Weighted by each route's share of the killing.
    const double base = nk.killTime > 0 ? nk.killTime : c.killTime;
    const double granuleTime = base + (c.killTimeNoGranzyme - base) * (1.0 - gzm);
    out.killTime = capacity > 0 ? (granuleRoute * granuleTime + (capacity - granuleRoute) * c.killTimeNoPerforin) / capacity
                                : c.killTimeNoPerforin;
    out.contactTime = out.killProbability * out.killTime + (1.0 - out.killProbability) * c.scanTime;
    // Cytokine release needs less signal than killing (no Hill steepness): A/(A + θ).
    const double pCyt = act > 0 ? act / (act + out.threshold) : 0.0;
    out.ifng = t.ifng == kNone ? 0.0 : nk.secretion[t.ifng] * pCyt * armed;
    out.tnfa = t.tnfa == kNone ? 0.0 : nk.secretion[t.tnfa] * pCyt * armed;
    return out;
}

// Compiled twice, for AVX2 and for baseline x86-64, chosen at run time: the lanes loops below are
// 4 doubles wide on AVX2. Floating-point contraction is off (ISO C++ mode), so both clones give
// the same numbers.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
void Synapse::decideBatch(const SynapseContext& ctx, const NkState* nk, const TargetState* target, SynapseOutcome* out,
                          std::size_t n) const {
    // The same equations as decide(), in the same order per contact (so the numbers are
    // identical), but laid out contact-innermost: blocks of kLanes contacts in structure-of-arrays
    // form, so that every per-pair step is a loop the compiler vectorises.
    constexpr std::size_t kLanes = 64;
    const Tables& t = *tables_;
    const Constants& c = t.c;
    const std::size_t nR = t.nReceptors, nL = t.nLigands, nP = t.pairs.size();
    // Uninitialised on purpose: every slot is written before it is read.
    const auto scratch = std::make_unique_for_overwrite<double[]>((3 * (nR + 1) + nL + nP + 6) * kLanes);
    double* __restrict rf = scratch.get();           // [nR][lanes]
    double* __restrict tot = rf + nR * kLanes;       // [nR][lanes]
    double* __restrict alpha = tot + nR * kLanes;    // [nR + 1][lanes]
    double* __restrict lg = alpha + (nR + 1) * kLanes;  // [nL][lanes]
    double* __restrict xs = lg + nL * kLanes;        // [nP][lanes]
    double* __restrict denom = xs + nP * kLanes;
    double* __restrict share = denom + kLanes;
    double* __restrict cd16 = share + kLanes;
    double* __restrict act = cd16 + kLanes;
    double* __restrict inh = act + kLanes;
    double* __restrict fcd = inh + kLanes;
    const double* rFree = ctx.receptorFree.data();
    const double* lFree = ctx.ligandFree.data();
    std::fill(alpha + nR * kLanes, alpha + (nR + 1) * kLanes, 1.0);  // "no adaptor"
    for (std::size_t base = 0; base < n; base += kLanes) {
        const std::size_t w = std::min(kLanes, n - base);
        const NkState* nkb = nk + base;
        const TargetState* tgb = target + base;
        // Transpose into lanes.
        for (std::size_t i = 0; i < w; ++i) {
            // The states live in separate heap blocks: fetch a few contacts ahead so the transpose
            // is not one cache miss after another.
            if (i + 4 < w) {
                __builtin_prefetch(nkb[i + 4].receptors.data());
                __builtin_prefetch(nkb[i + 4].receptors.data() + 8);
                __builtin_prefetch(nkb[i + 4].receptors.data() + 16);
                __builtin_prefetch(tgb[i + 4].ligands.data());
                __builtin_prefetch(tgb[i + 4].ligands.data() + 8);
                __builtin_prefetch(tgb[i + 4].ligands.data() + 16);
            }
            const double* rec = nkb[i].receptors.data();
            for (std::size_t k = 0; k < nR; ++k) rf[k * kLanes + i] = rec[k] * rFree[k];
            for (std::uint32_t a : t.adaptorsUsed) alpha[a * kLanes + i] = rec[a] / (rec[a] + c.adaptorHalf);
            const double* lig = tgb[i].ligands.data();
            for (std::size_t j = 0; j < nL; ++j) lg[j * kLanes + i] = lig[j] * lFree[j];
            double f = 0.0;
            for (model::Index j : ctx.opsonised) f += lig[j] * lFree[j] * ctx.opsonin[j];
            fcd[i] = f;
            cd16[i] = nkb[i].cd16Affinity;
            act[i] = 0.0;
            inh[i] = 0.0;
        }
        std::fill(tot, tot + nR * kLanes, 0.0);
        if (t.opsoninLigand != kNone)
            for (std::size_t i = 0; i < w; ++i) lg[t.opsoninLigand * kLanes + i] += fcd[i];
        for (const auto& b : t.ligandBlocks) {
            const double* __restrict l = lg + b.ligand * kLanes;
            for (std::size_t i = 0; i < w; ++i) denom[i] = 1.0;
            for (std::uint32_t p = b.begin; p < b.end; ++p) {
                const double aff = t.pairAffinity[p];
                const double* __restrict r = rf + t.pairReceptor[p] * kLanes;
                double* __restrict x = xs + p * kLanes;
                if (t.pairFc[p]) {
                    for (std::size_t i = 0; i < w; ++i) x[i] = r[i] * aff * cd16[i];
                } else {
                    for (std::size_t i = 0; i < w; ++i) x[i] = r[i] * aff * 1.0;
                }
                for (std::size_t i = 0; i < w; ++i) denom[i] += x[i];
            }
            // max(l, 0): a target without the ligand adds nothing (as decide() skips it).
            for (std::size_t i = 0; i < w; ++i) share[i] = std::max(l[i], 0.0) / denom[i];
            for (std::uint32_t p = b.begin; p < b.end; ++p) {
                double* __restrict tr = tot + t.pairReceptor[p] * kLanes;
                const double* __restrict x = xs + p * kLanes;
                for (std::size_t i = 0; i < w; ++i) tr[i] += share[i] * x[i];
            }
        }
        for (std::uint32_t k : t.signalling) {
            const double* __restrict tk = tot + k * kLanes;
            const double* __restrict rk = rf + k * kLanes;
            const double* __restrict aa = alpha + t.adaptorA[k] * kLanes;
            const double* __restrict ab = alpha + t.adaptorB[k] * kLanes;
            const double wa = t.actWeight[k], wi = t.inhWeight[k];
            for (std::size_t i = 0; i < w; ++i) {
                const double sig = std::min(tk[i], rk[i]) * aa[i] * ab[i];
                act[i] += wa * sig;
                inh[i] += wi * sig;
            }
        }
        // Engagers, CARs and the decision rule per contact, as in decide().
        const double invRef = 1.0 / c.referenceComplexes;
        for (std::size_t i = 0; i < w; ++i) {
            double a = act[i];
            const double* rec = nkb[i].receptors.data();
            const double* lig = tgb[i].ligands.data();
            for (std::size_t ei = 0; ei < t.engages.size(); ++ei) {
                const auto& eg = t.engages[ei];
                const double bound = lig[eg.antigen] * lFree[eg.antigen] * ctx.engaged[ei];
                if (bound <= 0) continue;
                for (std::uint32_t r : eg.receptors) {
                    double sg = eg.gain * t.weight[r] * std::min(rf[r * kLanes + i], bound) * invRef;
                    for (std::uint32_t q = t.adaptorStart[r]; q < t.adaptorStart[r + 1]; ++q)
                        sg *= rec[t.adaptorList[q]] / (rec[t.adaptorList[q]] + c.adaptorHalf);
                    a += sg;
                }
            }
            if (nkb[i].car && nkb[i].car->antigen != kNoIndex) {
                const double l = lig[nkb[i].car->antigen] * lFree[nkb[i].car->antigen];
                a += nkb[i].car->gain * nkb[i].car->level * l / (l + c.carHalfAntigen) * invRef;
            }
            out[base + i] = finish(nkb[i], a, inh[i]);
        }
    }
}

std::vector<double> Synapse::engagement(const SynapseContext& ctx, const NkState& nk, const TargetState& target) const {
    // Same competition as decide(), reported per interaction, before the receptor cap.
    const Tables& t = *tables_;
    const CompiledModel& m = *model_;
    std::vector<double> out(m.interactions().size(), 0.0);
    double fcDensity = 0.0;
    for (std::size_t j = 0; j < t.nLigands; ++j) fcDensity += target.ligands[j] * ctx.ligandFree[j] * ctx.opsonin[j];
    for (std::size_t i = 0; i < m.interactions().size(); ++i) {
        const auto& x = m.interactions()[i];
        if (x.ligand.kind != Kind::Ligand) continue;
        const Index j = x.ligand.index;
        double lig = target.ligands[j] * ctx.ligandFree[j] + (j == t.opsoninLigand ? fcDensity : 0.0);
        if (lig <= 0) continue;
        double denom = 1.0, mine = 0.0;
        for (const auto& y : m.interactions()) {
            if (y.ligand.kind != Kind::Ligand || y.ligand.index != j) continue;
            const double xv = nk.receptors[y.receptor] * ctx.receptorFree[y.receptor] * t.c.confinement / m.value(y.kd) *
                              (j == t.opsoninLigand ? nk.cd16Affinity : 1.0);
            denom += xv;
            if (&y == &x) mine = xv;
        }
        out[i] = lig * mine / denom;
    }
    return out;
}

SynapseOutcome Synapse::decideReference(const Milieu& milieu, const NkState& nk, const TargetState& target) const {
    // Deliberately plain: everything from the model, nothing precomputed. The oracle for decide().
    const CompiledModel& m = *model_;
    const Constants c = readConstants(m);
    const std::size_t nR = m.receptors().size(), nL = m.ligands().size();
    std::vector<double> rFree(nR, 1.0), lFree(nL, 1.0), opsonin(nL, 0.0), decoy(nR, 0.0);
    for (std::size_t th = 0; th < m.therapies().size(); ++th) {
        const double conc = milieu.therapies.at(th);
        for (const auto& mech : m.therapies()[th].mechanisms) {
            if (mech.action == model::MechanismAction::Block) {
                const double occ = conc > 0 ? conc / (conc + m.value(mech.param("kd"))) : 0.0;
                if (mech.target.kind == Kind::Receptor) rFree[mech.target.index] *= 1.0 - occ;
                else lFree[mech.target.index] *= 1.0 - occ;
            } else if (mech.action == model::MechanismAction::Opsonise) {
                const double occ = conc > 0 ? conc / (conc + m.value(mech.param("kd"))) : 0.0;
                opsonin[mech.target.index] += occ * m.value(mech.param("fc_gain"));
            }
        }
    }
    model::UnitSystem units;
    for (const auto& x : m.interactions())
        if (x.ligand.kind == Kind::Mediator)
            decoy[x.receptor] += milieu.mediators.at(x.ligand.index) * toNanomolar(m, x.ligand.index, units) / m.value(x.kd);
    std::vector<double> free(nR);
    for (std::size_t k = 0; k < nR; ++k) free[k] = nk.receptors.at(k) * rFree[k] / (1.0 + decoy[k]);

    Index opsoninLigand = kNoIndex;
    for (std::size_t j = 0; j < nL; ++j)
        if (m.ligands()[j].category == model::LigandCategory::Opsonin) opsoninLigand = static_cast<Index>(j);
    double fc = 0.0;
    if (opsoninLigand != kNoIndex)
        for (std::size_t j = 0; j < nL; ++j) fc += target.ligands.at(j) * lFree[j] * opsonin[j];

    std::vector<double> complexes(nR, 0.0);
    for (std::size_t j = 0; j < nL; ++j) {
        double lig = target.ligands.at(j) * lFree[j] + (j == opsoninLigand ? fc : 0.0);
        if (lig <= 0) continue;
        double sum = 0.0;
        for (const auto& x : m.interactions())
            if (x.ligand.kind == Kind::Ligand && x.ligand.index == j)
                sum += c.confinement * free[x.receptor] / m.value(x.kd) * (j == opsoninLigand ? nk.cd16Affinity : 1.0);
        for (const auto& x : m.interactions())
            if (x.ligand.kind == Kind::Ligand && x.ligand.index == j)
                complexes[x.receptor] += lig * (c.confinement * free[x.receptor] / m.value(x.kd) * (j == opsoninLigand ? nk.cd16Affinity : 1.0)) / (1.0 + sum);
    }
    auto adaptorFactor = [&](const model::Receptor& r) {
        double alpha = 1.0;
        for (Index a : r.adaptors) alpha *= nk.receptors.at(a) / (nk.receptors.at(a) + c.adaptorHalf);
        return alpha;
    };
    double act = 0.0, inh = 0.0;
    for (std::size_t k = 0; k < nR; ++k) {
        const auto& r = m.receptors()[k];
        if (r.cls == model::ReceptorClass::Adaptor || complexes[k] <= 0) continue;
        const double signal = std::min(complexes[k], free[k]) / c.referenceComplexes * m.value(r.weight) * adaptorFactor(r);
        if (r.cls == model::ReceptorClass::Activating) act += signal;
        else if (r.cls == model::ReceptorClass::Inhibitory) inh += signal;
        else {
            const double f = m.value(r.activatingFraction);
            act += f * signal;
            inh += (1.0 - f) * signal;
        }
    }
    for (std::size_t th = 0; th < m.therapies().size(); ++th) {
        const double conc = milieu.therapies.at(th);
        for (const auto& mech : m.therapies()[th].mechanisms) {
            if (mech.action != model::MechanismAction::Engage) continue;
            const double occ = conc > 0 ? conc / (conc + m.value(mech.param("kd"))) : 0.0;
            const double bound = target.ligands.at(mech.target.index) * lFree[mech.target.index] * occ;
            if (bound <= 0) continue;
            for (Index r : mech.receptors)
                act += m.value(mech.param("gain")) * m.value(m.receptors()[r].weight) * adaptorFactor(m.receptors()[r]) * std::min(free[r], bound) / c.referenceComplexes;
        }
    }
    if (nk.car && nk.car->antigen != kNoIndex) {
        const double lig = target.ligands.at(nk.car->antigen) * lFree[nk.car->antigen];
        act += nk.car->gain * nk.car->level * lig / (lig + c.carHalfAntigen) / c.referenceComplexes;
    }
    return finish(nk, act, inh);
}

}  // namespace nkscape::synapse
