// The one regulation function of nkscape: a cell type's baseline levels, and how therapies,
// mediators, contacts and signalling pathways move them to a set-point (docs/synapse.md,
// "Regulation"). Everything that needs a name or a graph walk is resolved in the constructor;
// setPoint() only indexes vectors.

#include "nkscape/synapse/regulation.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "nkscape/error.hpp"

namespace nkscape::synapse {

using model::CellCategory;
using model::EntityRef;
using model::Index;
using model::Kind;
using model::MechanismAction;
using model::RegulationMode;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
/// Gauss–Seidel passes allowed for a cycle (a level that depends on itself through regulations
/// and edges). An acyclic model needs one pass (levels are visited in dependency order); a
/// contracting cycle with gain ½ per pass needs about 40 to reach the tolerance, so 64 leaves
/// room without hiding a real oscillation.
constexpr int kMaxPasses = 64;
constexpr double kSettleTolerance = 1e-12;  ///< relative change per pass that counts as settled
/// Smallest relative level a pathway edge reads. Why: a power law with a negative exponent
/// diverges at 0 (a fully inhibited upstream inhibitor); the floor keeps the target finite
/// (at most 10^(6·weight)-fold) instead of producing inf/NaN that would poison a whole simulation.
constexpr double kRatioFloor = 1e-6;

std::size_t slotOf(CellCategory c) { return static_cast<std::size_t>(c); }

/// `n` as a small integer exponent (−4 … 4, not 0) when it is one exactly, else 0. Every Hill
/// coefficient and nearly every pathway weight of the default model is 1, 2 or 3, and pow() was
/// the largest single cost of a set-point (which engines evaluate at nearly every RHS call).
int smallInteger(double n) {
    return (n == std::round(n) && n != 0 && std::abs(n) <= 4) ? static_cast<int>(n) : 0;
}

/// x^n, by multiplication when `nInt` (smallInteger(n)) is not 0. Within an ulp or two of
/// std::pow(x, n) (pow is not always correctly rounded either), far below any tolerance. Always
/// inlined: a call per regulation and edge was a tenth of a set-point's instructions.
[[gnu::always_inline]] inline double power(double x, double n, int nInt) {
    switch (nInt) {
        case 1: return x;
        case 2: return x * x;
        case 3: return x * x * x;
        case 4: return (x * x) * (x * x);
        case -1: return 1.0 / x;
        case -2: return 1.0 / (x * x);
        case -3: return 1.0 / (x * x * x);
        case -4: return 1.0 / ((x * x) * (x * x));
        default: return std::pow(x, n);
    }
}

/// Hill fraction h of the header: c^n/(c^n + EC50^n) (high) or EC50^n/(c^n + EC50^n) (low),
/// written as 1/(1 + (EC50/c)^n) and 1/(1 + (c/EC50)^n) so that a huge c or a tiny EC50 gives
/// 1/(1 + ∞) = 0, never ∞/∞. `nInt` is smallInteger(n).
[[gnu::always_inline]] inline double hillFraction(double c, double ec50, double n, int nInt, bool low) {
    if (c <= 0) return low ? 1.0 : 0.0;  // below zero is a solver undershoot: read it as none
    return 1.0 / (1.0 + power(low ? c / ec50 : ec50 / c, n, nInt));
}

/// A scratch vector of doubles on the stack for models of ordinary size, on the heap beyond;
/// sized and filled by assign(), which returns its storage. Why: setPoint() is called at nearly
/// every RHS evaluation of an engine; its scratch must not allocate, and buffers a call does not
/// need (restore shares without a restoring drug) cost nothing.
class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    double* assign(std::size_t n, double fill) {
        if (n > kStackSize) {
            heap_.assign(n, fill);
            return heap_.data();
        }
        std::fill_n(stack_.begin(), n, fill);
        return stack_.data();
    }
    double* assign(const std::vector<double>& from) {
        if (from.size() > kStackSize) {
            heap_ = from;
            return heap_.data();
        }
        std::copy(from.begin(), from.end(), stack_.begin());
        return stack_.data();
    }

private:
    static constexpr std::size_t kStackSize = 128;
    std::array<double, kStackSize> stack_;  // NOLINT(cppcoreguidelines-pro-type-member-init): first n written by assign()
    std::vector<double> heap_;
};

/// Fractional occupancy of a drug at free concentration C (nM) with potency K (IC50 or Kd, nM).
double occupancy(double c, double k) { return c / (c + k); }

double& levelOf(CellLevels& lv, Kind k, Index i) {
    switch (k) {
        case Kind::Receptor: return lv.receptors[i];
        case Kind::Ligand: return lv.ligands[i];
        case Kind::Mediator: return lv.secretion[i];
        default: return lv.factors[i];
    }
}

/// Which CellLevels vector holds a level of kind k, as levelOf() picks it: 0 receptors, 1 ligands,
/// 2 factors, 3 secretion (for setPointFrom()'s table of the four vectors).
std::uint8_t levelArray(Kind k) {
    switch (k) {
        case Kind::Receptor: return 0;
        case Kind::Ligand: return 1;
        case Kind::Mediator: return 3;
        default: return 2;
    }
}

CellLevels sizedLevels(const model::CompiledModel& m, double v) {
    return CellLevels{std::vector<double>(m.receptors().size(), v), std::vector<double>(m.ligands().size(), v),
                      std::vector<double>(m.factors().size(), v), std::vector<double>(m.mediators().size(), v)};
}

std::string quoted(const model::CompiledModel& m, EntityRef r) { return "'" + m.name(r) + "'"; }

}  // namespace

Milieu basalMilieu(const model::CompiledModel& m) {
    Milieu out = Milieu::empty(m);
    for (std::size_t i = 0; i < m.mediators().size(); ++i) out.mediators[i] = m.valueOr(m.mediators()[i].basalLevel, 0.0);
    return out;
}

Regulator::Regulator(const model::CompiledModel& m) : model_(&m) {
    const auto& cellTypes = m.cellTypes();

    // ---- baselines ------------------------------------------------------------------------------
    // Factors default to the factor's own baseline (1 if absent). Traits are the mean heritable
    // levels of a clone (the default model gives TNBC's MICA/B, HLA-I and PD-L1 only as traits),
    // so they are levels too; an explicit expression/secretion/factors entry of the same target
    // wins over a trait, because it is the plainer statement of the cell type's level.
    baselines_.reserve(cellTypes.size());
    for (std::size_t ct = 0; ct < cellTypes.size(); ++ct) {
        CellLevels b = sizedLevels(m, 0.0);
        for (std::size_t f = 0; f < m.factors().size(); ++f) b.factors[f] = m.valueOr(m.factors()[f].baseline, 1.0);
        auto put = [&](const model::LevelEntry& e) {
            switch (e.target.kind) {
                case Kind::Receptor:
                case Kind::Ligand:
                case Kind::Factor:
                case Kind::Mediator: levelOf(b, e.target.kind, e.target.index) = m.value(e.param); break;
                default:
                    throw InputError("cell type '" + m.entities(Kind::CellType)[ct].name + "': a level of " +
                                     std::string(model::kindKey(e.target.kind)) + " " + quoted(m, e.target) +
                                     " is not a receptor, ligand, factor or mediator");
            }
        };
        const auto& c = cellTypes[ct];
        for (const auto& e : c.traits) put(e);
        for (const auto& e : c.expression) put(e);
        for (const auto& e : c.secretion) put(e);
        for (const auto& e : c.factors) put(e);
        baselines_.push_back(std::move(b));
    }

    // ---- regulations and pathways, per category ---------------------------------------------------
    // Every level that a regulation or a pathway edge sets in a category is a Node; its set-point is
    //     x = x_start · Π_regulations (1 ± Emax·h) · Π_edges (from/from₀)^(sign·weight),
    // then restore (if any). Nodes are evaluated in dependency order — a node after the nodes its
    // state regulations and edges read — so that a chain comes out right whatever the declaration
    // order (IL-2 → ADAM17 ⊣ CD16; TGF-β → miR-183 (pathway) ⊣ DAP12 (regulation)), and a
    // regulation by a factor reads the level that the pathways gave it. Only a genuine cycle is
    // iterated.
    for (auto& p : plans_) {
        p.tau = sizedLevels(m, kInf);
        p.computedFactor.assign(m.factors().size(), 0);
        p.computedLigand.assign(m.ligands().size(), 0);
    }
    struct Draft {
        EntityRef target;
        std::vector<Reg> regs;
        std::vector<Edge> edges;
        std::vector<EntityRef> reads;  // levels it reads: state regulations' factors, edges' sources
    };
    std::array<std::vector<Draft>, model::kCellCategoryCount> drafts;
    auto draftOf = [&](std::size_t c, EntityRef target) -> Draft& {
        auto& list = drafts[c];
        auto it = std::find_if(list.begin(), list.end(), [&](const Draft& d) { return d.target == target; });
        if (it != list.end()) return *it;
        list.push_back(Draft{target, {}, {}, {}});
        return list.back();
    };
    for (std::size_t i = 0; i < m.regulations().size(); ++i) {
        const auto& r = m.regulations()[i];
        const std::string label = "regulation '" + m.entities(Kind::Regulation)[i].name + "'";
        static constexpr Kind byKind[] = {Kind::Mediator, Kind::CellType, Kind::Factor};  // by RegulationMode
        if (!r.by.valid() || r.by.kind != byKind[static_cast<int>(r.mode)])
            throw InputError(label + ": 'by' is not a mediator (concentration), cell type (contact) or factor (state) matching its mode");
        if (!r.target.valid() || (r.target.kind != Kind::Receptor && r.target.kind != Kind::Ligand && r.target.kind != Kind::Factor &&
                                  r.target.kind != Kind::Mediator))
            throw InputError(label + ": 'target' is not a receptor, ligand, factor or mediator");
        Reg g;
        g.mode = r.mode;
        g.by = r.by.index;
        g.up = r.direction == model::Direction::Up;
        g.low = r.trigger == model::Trigger::Low;
        g.ec50 = m.value(r.ec50);
        g.emax = m.value(r.emax);
        g.hill = m.value(r.hill);
        if (r.scaledBy.valid()) {
            if (r.scaledBy.kind != Kind::Factor) throw InputError(label + ": 'scaled_by' is not a factor");
            g.scaleBy = r.scaledBy.index;
            g.scaleReference = m.valueOr(m.factors()[r.scaledBy.index].baseline, 1.0);
            if (!(g.scaleReference > 0))
                throw InputError(label + ": 'scaled_by' factor " + quoted(m, r.scaledBy) +
                                 " has baseline 0, so a level relative to it is undefined");
        }
        g.hillInt = smallInteger(g.hill);
        const double tau = m.value(r.tau);
        for (CellCategory c : r.on) {
            double& t = levelOf(plans_[slotOf(c)].tau, r.target.kind, r.target.index);
            t = std::min(t, tau);
            Draft& d = draftOf(slotOf(c), r.target);
            d.regs.push_back(g);
            if (g.mode == RegulationMode::State) d.reads.push_back(r.by);
            if (r.scaledBy.valid()) d.reads.push_back(r.scaledBy);
        }
    }
    for (std::size_t c = 0; c < model::kCellCategoryCount; ++c) {
        const auto category = static_cast<CellCategory>(c);
        const std::string catName(model::cellCategoryKey(category));
        // Pathway edges of this category. All pathways acting here form one graph, so two pathways
        // sharing a node (HER2 → PI3K → AKT, then AKT ⊣ GSK-3β …) compose whichever comes first.
        struct Raw {
            model::PathwayEdge edge;
            Index pathway;
        };
        std::vector<Raw> raw;
        for (std::size_t p = 0; p < m.pathways().size(); ++p) {
            const auto& pw = m.pathways()[p];
            if (std::find(pw.cells.begin(), pw.cells.end(), category) == pw.cells.end()) continue;
            for (const auto& e : pw.edges) {
                for (EntityRef r : {e.from, e.to}) {
                    if (!r.valid() || (r.kind != Kind::Factor && r.kind != Kind::Receptor && r.kind != Kind::Ligand && r.kind != Kind::Mediator))
                        throw InputError("pathway '" + m.entities(Kind::Pathway)[p].name +
                                         "': an edge node is not a factor, receptor, ligand or mediator");
                }
                raw.push_back(Raw{e, static_cast<Index>(p)});
            }
        }
        // A mediator that an edge produces in this cell is an intracellular node (ROS in a tumour
        // cell): its relative level (the product of the effects on it) is kept in a slot, and it
        // scales the cell's secretion of that mediator. Any other mediator an edge reads is the
        // milieu's.
        std::map<Index, std::int32_t> slot;
        for (const auto& rw : raw)
            if (rw.edge.to.kind == Kind::Mediator && !slot.count(rw.edge.to.index))
                slot.emplace(rw.edge.to.index, static_cast<std::int32_t>(slot.size()));
        for (const auto& rw : raw) {
            Edge e;
            e.fromKind = rw.edge.from.kind;
            e.from = rw.edge.from.index;
            e.exponent = rw.edge.sign * m.value(rw.edge.weight);
            e.exponentInt = smallInteger(e.exponent);
            if (e.fromKind == Kind::Mediator) {
                if (auto it = slot.find(e.from); it != slot.end()) e.fromSlot = it->second;
                else e.fromScale = m.valueOr(m.mediators()[e.from].basalLevel, 0.0);
            }
            e.fromArray = levelArray(e.fromKind);
            e.source = e.fromKind != Kind::Mediator ? EdgeSource::Level
                       : e.fromSlot >= 0           ? EdgeSource::Slot
                       : e.fromScale > 0           ? EdgeSource::Milieu
                                                   : EdgeSource::Skipped;
            Draft& d = draftOf(c, rw.edge.to);
            d.edges.push_back(e);
            // A milieu mediator is not a level of the cell, even if the cell secretes it.
            if (e.fromKind != Kind::Mediator || e.fromSlot >= 0) d.reads.push_back(rw.edge.from);
        }
        // A power-law cascade that feeds itself has no meaning the model could give a number for:
        // refuse a cycle made of pathway edges alone (cycles through regulations are iterated).
        {
            std::map<std::pair<int, Index>, std::vector<EntityRef>> succ;
            std::map<std::pair<int, Index>, int> state;  // 0 new, 1 on the stack, 2 done
            auto key = [](EntityRef r) { return std::make_pair(static_cast<int>(r.kind), r.index); };
            for (const auto& rw : raw) succ[key(rw.edge.from)].push_back(rw.edge.to);
            std::function<void(EntityRef)> visit = [&](EntityRef v) {
                int& st = state[key(v)];
                if (st == 2) return;
                if (st == 1) {
                    std::string through;
                    for (const auto& rw : raw)
                        if (rw.edge.to == v) through = m.entities(Kind::Pathway)[rw.pathway].name;
                    throw InputError("pathways acting in cells of category '" + catName + "' form a cycle through " + quoted(m, v) +
                                     " (pathway '" + through + "'): a power-law cascade needs an acyclic graph");
                }
                st = 1;
                for (EntityRef w : succ[key(v)]) visit(w);
                state[key(v)] = 2;
            };
            for (const auto& rw : raw) visit(rw.edge.from);
        }
        // Order the nodes (Kahn's algorithm, ties in declaration order).
        auto& list = drafts[c];
        const std::size_t n = list.size();
        std::vector<std::vector<std::size_t>> readers(n);
        std::vector<std::size_t> indegree(n, 0);
        for (std::size_t v = 0; v < n; ++v) {
            for (EntityRef r : list[v].reads) {
                auto it = std::find_if(list.begin(), list.end(), [&](const Draft& d) { return d.target == r; });
                if (it == list.end()) continue;  // not set here: a constant for this category
                readers[static_cast<std::size_t>(it - list.begin())].push_back(v);
                ++indegree[v];
            }
        }
        std::vector<std::size_t> order;
        std::vector<bool> placed(n, false);
        for (bool progress = true; progress;) {
            progress = false;
            for (std::size_t v = 0; v < n; ++v) {
                if (placed[v] || indegree[v] != 0) continue;
                placed[v] = true;
                order.push_back(v);
                for (std::size_t rd : readers[v]) --indegree[rd];
                progress = true;
            }
        }
        CategoryPlan& plan = plans_[c];
        for (std::size_t v = 0; v < n; ++v) {
            if (placed[v]) continue;
            plan.cyclic = true;  // on a cycle or downstream of one: settled by iteration
            order.push_back(v);
        }
        plan.mediatorSlots = slot.size();
        for (std::size_t v : order) {
            const Draft& d = list[v];
            Node node;
            node.kind = d.target.kind;
            node.array = levelArray(node.kind);
            node.index = d.target.index;
            node.regBegin = static_cast<std::uint32_t>(plan.regs.size());
            plan.regs.insert(plan.regs.end(), d.regs.begin(), d.regs.end());
            node.regEnd = static_cast<std::uint32_t>(plan.regs.size());
            node.edgeBegin = static_cast<std::uint32_t>(plan.edges.size());
            plan.edges.insert(plan.edges.end(), d.edges.begin(), d.edges.end());
            node.edgeEnd = static_cast<std::uint32_t>(plan.edges.size());
            if (node.kind == Kind::Mediator)
                if (auto it = slot.find(node.index); it != slot.end()) node.slot = it->second;
            if (node.kind == Kind::Factor) plan.computedFactor[node.index] = 1;
            if (node.kind == Kind::Ligand) plan.computedLigand[node.index] = 1;
            plan.nodes.push_back(node);
        }
    }

    factorReference_.resize(m.factors().size());
    for (std::size_t f = 0; f < m.factors().size(); ++f) factorReference_[f] = m.valueOr(m.factors()[f].baseline, 1.0);

    // ---- therapies ------------------------------------------------------------------------------
    // Only mechanisms that change a cell's levels or the milieu it reads are handled here. `supply`
    // raises a mediator's concentration in the tissue: that is the engines' PK/field business, and
    // the milieu they pass in already contains it. `block`, `opsonise`, `engage` act at the synapse
    // (SynapseContext); `lyse`, `recruit`, `deplete` act on cell numbers.
    cars_.assign(cellTypes.size(), std::nullopt);
    for (std::size_t t = 0; t < m.therapies().size(); ++t) {
        const auto& th = m.therapies()[t];
        const std::string& tname = m.entities(Kind::Therapy)[t].name;
        for (const auto& mech : th.mechanisms) {
            auto need = [&](std::string_view k) {
                const model::ParamId p = mech.param(k);
                if (p == model::kNoParam)
                    throw InputError("therapy '" + tname + "': mechanism " + std::string(model::mechanismActionKey(mech.action)) +
                                     " needs '" + std::string(k) + "'");
                return m.value(p);
            };
            TherapyEffect fx;
            fx.therapy = static_cast<Index>(t);
            fx.action = mech.action;
            fx.target = mech.target;
            switch (mech.action) {
                case MechanismAction::Inhibit:
                    fx.emax = need("emax");
                    fx.potency = need("ic50");
                    break;
                case MechanismAction::Restore:
                    fx.emax = need("emax");
                    fx.potency = need("ic50");
                    break;
                case MechanismAction::Neutralise:
                    fx.potency = need("kd");
                    break;
                case MechanismAction::Car:
                    if (th.kind == model::TherapyKind::CellTherapy && th.product != model::kNoIndex && mech.target.valid()) {
                        CarSpec car;
                        car.antigen = mech.target.index;
                        car.gain = need("gain");
                        car.therapies = tname;
                        auto& slotCar = cars_[th.product];
                        if (!slotCar) slotCar = car;
                        else if (slotCar->antigen != car.antigen || slotCar->gain != car.gain) {
                            slotCar->conflict = true;
                            slotCar->therapies += "', '" + tname;
                        }
                    }
                    continue;
                default: continue;
            }
            const Kind k = fx.target.kind;
            const bool fits = fx.action == MechanismAction::Neutralise ? k == Kind::Mediator
                              : fx.action == MechanismAction::Restore  ? (k == Kind::Factor || k == Kind::Ligand)
                                                                       : (k == Kind::Factor || k == Kind::Mediator || k == Kind::Receptor || k == Kind::Ligand);
            if (!fx.target.valid() || !fits)
                throw InputError("therapy '" + tname + "': mechanism " + std::string(model::mechanismActionKey(mech.action)) +
                                 " has no target of a kind it can act on");
            effects_.push_back(fx);
            if (effectGroups_.empty() || effectGroups_.back().therapy != fx.therapy)
                effectGroups_.push_back(EffectGroup{fx.therapy, static_cast<std::uint32_t>(effects_.size() - 1), 0});
            effectGroups_.back().end = static_cast<std::uint32_t>(effects_.size());
        }
    }
    if (auto c = m.indexOf(Kind::Constant, "synapse.car_level"); c && *c < m.constants().size())
        carLevel_ = m.value(m.constants()[*c]);
}

CellLevels Regulator::baseline(Index cellType) const { return baselines_.at(cellType); }

void Regulator::checkSizes(Index cellType, const Milieu& milieu, const Contacts& contacts) const {
    const auto& m = *model_;
    if (cellType >= m.cellTypes().size())
        throw Error("regulation: cell type #" + std::to_string(cellType) + " does not exist (the model has " +
                    std::to_string(m.cellTypes().size()) + ")");
    auto check = [](std::size_t got, std::size_t want, const char* what) {
        if (got != want)
            throw Error(std::string("regulation: ") + what + " has " + std::to_string(got) + " entries, the model has " + std::to_string(want));
    };
    check(milieu.mediators.size(), m.mediators().size(), "milieu.mediators");
    check(milieu.therapies.size(), m.therapies().size(), "milieu.therapies");
    check(contacts.cellTypes.size(), m.cellTypes().size(), "contacts.cellTypes");
}

CellLevels Regulator::setPoint(Index cellType, const Milieu& milieu, const Contacts& contacts) const {
    CellLevels out;
    setPoint(cellType, milieu, contacts, out);
    return out;
}

void Regulator::setPoint(Index cellType, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const {
    checkSizes(cellType, milieu, contacts);
    setPointFrom(cellType, baselines_[cellType], milieu, contacts, out);
}

CellLevels Regulator::setPoint(Index cellType, const Milieu& milieu, const Contacts& contacts, const FactorBaselines& factorBaselines) const {
    checkSizes(cellType, milieu, contacts);
    CellLevels out;
    if (factorBaselines.empty()) {
        setPointFrom(cellType, baselines_[cellType], milieu, contacts, out);
        return out;
    }
    setPointFrom(cellType, variantBaseline(cellType, factorBaselines), milieu, contacts, out);
    return out;
}

CellLevels Regulator::variantBaseline(Index cellType, const FactorBaselines& factorBaselines) const {
    const auto& m = *model_;
    if (cellType >= baselines_.size()) throw Error("regulation: cell type #" + std::to_string(cellType) + " does not exist");
    // The variant's baseline is the cell type's with the factors replaced; everything downstream
    // (therapies, regulations, pathway edges' resting levels, a ligand's restore goal) reads it as
    // it would read a cell type that declared those levels.
    CellLevels base = baselines_[cellType];
    for (const auto& [f, v] : factorBaselines) {
        if (f >= base.factors.size())
            throw Error("regulation: factor #" + std::to_string(f) + " does not exist (the model has " + std::to_string(base.factors.size()) +
                        ") in the baseline override of cell type '" + m.entities(Kind::CellType)[cellType].name + "'");
        if (!(v >= 0) || !std::isfinite(v))
            throw Error("regulation: baseline level " + std::to_string(v) + " of factor '" + m.entities(Kind::Factor)[f].name +
                        "' for cell type '" + m.entities(Kind::CellType)[cellType].name + "' must be finite and >= 0");
        base.factors[f] = v;
    }
    return base;
}

void Regulator::setPoint(Index cellType, const CellLevels& variantBase, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const {
    checkSizes(cellType, milieu, contacts);
    const CellLevels& own = baselines_[cellType];
    if (variantBase.receptors.size() != own.receptors.size() || variantBase.ligands.size() != own.ligands.size() ||
        variantBase.factors.size() != own.factors.size() || variantBase.secretion.size() != own.secretion.size())
        throw Error("regulation: a variant baseline for cell type '" + model_->entities(Kind::CellType)[cellType].name +
                    "' is not sized for the model (build it with variantBaseline())");
    setPointFrom(cellType, variantBase, milieu, contacts, out);
}

Regulator::VariantPlan Regulator::variantPlan(Index cellType, const FactorBaselines& factorBaselines) const {
    VariantPlan v;
    v.cellType = cellType;
    v.base = variantBaseline(cellType, factorBaselines);
    const CategoryPlan& plan = plans_[slotOf(model_->cellTypes()[cellType].category)];
    v.affected.assign(plan.nodes.size(), 1);
    if (plan.cyclic) return v;  // Gauss–Seidel passes mix every node's level: evaluate them all
    // Levels that can differ from the cell type's own: the replaced factors, then, in the plan's
    // (dependency) order, every node that reads one — by a state regulation, a `scaled_by`, a
    // pathway edge from a level, or the slot of an affected node.
    std::array<std::vector<char>, 4> changed = {std::vector<char>(v.base.receptors.size(), 0), std::vector<char>(v.base.ligands.size(), 0),
                                                std::vector<char>(v.base.factors.size(), 0), std::vector<char>(v.base.secretion.size(), 0)};
    for (const auto& [f, level] : factorBaselines) changed[levelArray(Kind::Factor)][f] = 1;
    std::vector<char> slotChanged(plan.mediatorSlots, 0);
    for (std::size_t k = 0; k < plan.nodes.size(); ++k) {
        const Node& node = plan.nodes[k];
        bool reads = changed[node.array][node.index] != 0;
        for (std::uint32_t r = node.regBegin; r < node.regEnd && !reads; ++r) {
            const Reg& reg = plan.regs[r];
            reads = (reg.mode == RegulationMode::State && changed[levelArray(Kind::Factor)][reg.by] != 0) ||
                    (reg.scaleBy != model::kNoIndex && changed[levelArray(Kind::Factor)][reg.scaleBy] != 0);
        }
        for (std::uint32_t e = node.edgeBegin; e < node.edgeEnd && !reads; ++e) {
            const Edge& edge = plan.edges[e];
            reads = (edge.source == EdgeSource::Level && changed[edge.fromArray][edge.from] != 0) ||
                    (edge.source == EdgeSource::Slot && slotChanged[static_cast<std::size_t>(edge.fromSlot)] != 0);
        }
        v.affected[k] = reads ? 1 : 0;
        if (reads) {
            changed[node.array][node.index] = 1;
            if (node.slot >= 0) slotChanged[static_cast<std::size_t>(node.slot)] = 1;
        }
    }
    v.partial = true;
    return v;
}

void Regulator::setPoint(const VariantPlan& variant, const CellLevels& own, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const {
    checkSizes(variant.cellType, milieu, contacts);
    const CellLevels& b = baselines_[variant.cellType];
    const CategoryPlan& plan = plans_[slotOf(model_->cellTypes()[variant.cellType].category)];
    auto sized = [&](const CellLevels& x) {
        return x.receptors.size() == b.receptors.size() && x.ligands.size() == b.ligands.size() && x.factors.size() == b.factors.size() &&
               x.secretion.size() == b.secretion.size();
    };
    if (!sized(variant.base) || !sized(own) || variant.affected.size() != plan.nodes.size())
        throw Error("regulation: a variant plan or the own set-point for cell type '" + model_->entities(Kind::CellType)[variant.cellType].name +
                    "' is not sized for the model (build them with variantPlan() and setPoint())");
    setPointFrom(variant.cellType, variant.base, milieu, contacts, out, variant.partial ? &variant : nullptr, &own);
}

void Regulator::setPoint(Index cellType, const Milieu& milieu, const Contacts& contacts, const HeldFactors& held, CellLevels& out) const {
    checkSizes(cellType, milieu, contacts);
    if (held.levels.size() != held.factors.size() || held.setPoints.size() != held.factors.size())
        throw Error("regulation: held factors for cell type '" + model_->entities(Kind::CellType)[cellType].name + "' give " +
                    std::to_string(held.factors.size()) + " factors, " + std::to_string(held.levels.size()) + " levels and " +
                    std::to_string(held.setPoints.size()) + " set-point slots");
    for (const Index f : held.factors)
        if (f >= model_->factors().size())
            throw Error("regulation: held factor #" + std::to_string(f) + " does not exist (the model has " +
                        std::to_string(model_->factors().size()) + " factors)");
    setPointFrom(cellType, baselines_[cellType], milieu, contacts, out, nullptr, nullptr, held.factors.empty() ? nullptr : &held);
}

std::vector<Index> Regulator::feedbackFactors(Index cellType) const {
    const CellLevels& tau = relaxationHours(cellType);
    std::vector<Index> out;
    for (std::size_t f = 0; f < tau.factors.size(); ++f)
        if (model_->factors()[f].role == model::FactorRole::Feedback && std::isfinite(tau.factors[f]) && tau.factors[f] > 0)
            out.push_back(static_cast<Index>(f));
    return out;
}

void Regulator::setPointFrom(Index cellType, const CellLevels& base, const Milieu& milieu, const Contacts& contacts, CellLevels& lv,
                             const VariantPlan* variant, const CellLevels* own, const HeldFactors* held) const {
    const CategoryPlan& plan = plans_[slotOf(model_->cellTypes()[cellType].category)];
    // Copy-assignment reuses lv's storage: no allocation when the caller passes the same buffer again.
    lv.receptors = base.receptors;
    lv.ligands = base.ligands;
    lv.factors = base.factors;
    lv.secretion = base.secretion;
    // The milieu as this cell reads it: milieu.mediators itself, or a copy once a therapy changes
    // a mediator for this cell.
    const double* med = milieu.mediators.data();
    Scratch medCopy;
    double* ownMed = nullptr;
    auto writableMed = [&] {
        if (ownMed == nullptr) med = ownMed = medCopy.assign(milieu.mediators);
        return ownMed;
    };
    // Share of the way back to the reference, per factor and ligand: only when a restoring drug is
    // present (`restoring`); without one nothing below reads them.
    Scratch restoreFactorBuf, restoreLigandBuf;
    double* restoreFactor = nullptr;
    double* restoreLigand = nullptr;
    bool restoring = false;

    // (1) Therapies, first, because they change what the regulations read (an ADAM17 inhibitor
    // must lower ADAM17 before ADAM17 sheds CD16). Occupancy is C/(C + IC50 or Kd).
    for (const EffectGroup& group : effectGroups_) {
        const double conc = milieu.therapies[group.therapy];
        if (!(conc > 0)) continue;
        for (std::uint32_t g = group.begin; g < group.end; ++g) {
            const TherapyEffect& fx = effects_[g];
            const Index i = fx.target.index;
            switch (fx.action) {
                case MechanismAction::Inhibit: {
                    // Lowers the target's activity by at most Emax: a factor's level, a receptor's or
                    // ligand's functional expression, or (mediator) the concentration this cell reads,
                    // which is how a receptor antagonist of a soluble signal acts on one cell.
                    const double f = 1.0 - fx.emax * occupancy(conc, fx.potency);
                    if (fx.target.kind == Kind::Mediator) writableMed()[i] *= f;
                    else levelOf(lv, fx.target.kind, i) *= f;
                    break;
                }
                case MechanismAction::Restore: {
                    // Returns the target a share Emax·occupancy of the way to its reference; several
                    // restoring drugs combine like independent ones: 1 − Π(1 − share).
                    if (!restoring) {
                        restoreFactor = restoreFactorBuf.assign(lv.factors.size(), 0.0);
                        restoreLigand = restoreLigandBuf.assign(lv.ligands.size(), 0.0);
                        restoring = true;
                    }
                    const double share = fx.emax * occupancy(conc, fx.potency);
                    if (fx.target.kind == Kind::Factor) restoreFactor[i] = 1.0 - (1.0 - restoreFactor[i]) * (1.0 - share);
                    else if (fx.target.kind == Kind::Ligand) restoreLigand[i] = 1.0 - (1.0 - restoreLigand[i]) * (1.0 - share);
                    break;
                }
                case MechanismAction::Neutralise:
                    // A binder with Kd leaves the free fraction 1/(1 + C/Kd) when the drug is in excess.
                    if (fx.target.kind == Kind::Mediator) writableMed()[i] /= 1.0 + conc / fx.potency;
                    break;
                default: break;
            }
        }
    }
    // Restore is applied where the target's level is final: for a level nothing else sets in this
    // category, now; for a node, after its regulations and edges (below). Why "toward a reference"
    // rather than a plain factor: it undoes silencing in either direction — a methylation mark
    // (reference 0.05) falls, an APM integrity or GSK-3β activity (reference 1) rises, a ligand
    // returns toward the cell type's own expression — and never overshoots the reference.
    auto restoreFactorLevel = [&](Index f, double x) { return x + restoreFactor[f] * (factorReference_[f] - x); };
    auto restoreLigandLevel = [&](Index l, double x) { return x + restoreLigand[l] * (base.ligands[l] - x); };
    if (restoring) {
        for (std::size_t f = 0; f < lv.factors.size(); ++f)
            if (restoreFactor[f] > 0 && !plan.computedFactor[f]) lv.factors[f] = restoreFactorLevel(static_cast<Index>(f), lv.factors[f]);
        for (std::size_t l = 0; l < lv.ligands.size(); ++l)
            if (restoreLigand[l] > 0 && !plan.computedLigand[l]) lv.ligands[l] = restoreLigandLevel(static_cast<Index>(l), lv.ligands[l]);
    }
    if (held != nullptr)
        for (std::size_t j = 0; j < held->factors.size(); ++j) {
            const Index f = held->factors[j];
            if (plan.computedFactor[f]) continue;  // a node: held where it is evaluated (hold below)
            held->setPoints[j] = lv.factors[f];
            lv.factors[f] = held->levels[j];
        }
    if (plan.nodes.empty()) return;

    // (2) Regulations and (3) pathway edges, node by node in dependency order. The four level
    // vectors by levelArray(), and what each regulation mode reads (indexed by RegulationMode),
    // so that the loops below index instead of switching on kinds.
    double* const levels[4] = {lv.receptors.data(), lv.ligands.data(), lv.factors.data(), lv.secretion.data()};
    const double* const baseLevels[4] = {base.receptors.data(), base.ligands.data(), base.factors.data(), base.secretion.data()};
    const double* const signals[3] = {med, contacts.cellTypes.data(), lv.factors.data()};
    Scratch slotBuf;
    double* const slot = slotBuf.assign(plan.mediatorSlots, 1.0);
    const Reg* const regs = plan.regs.data();
    const Edge* const edges = plan.edges.data();
    // Inlined into both passes below (a call per node cost more than the loop around it).
    auto evaluate = [&](const Node& node, double x0) __attribute__((always_inline)) {
        double mult = 1.0;
        for (std::uint32_t k = node.regBegin; k < node.regEnd; ++k) {
            const Reg& r = regs[k];
            const double h = hillFraction(signals[static_cast<std::size_t>(r.mode)][r.by], r.ec50, r.hill, r.hillInt, r.low);
            // `scaled_by`: Emax times the factor's level relative to its healthy reference (a
            // clone's responsiveness); a down-regulation still removes at most all of the target.
            double emax = r.emax;
            if (r.scaleBy != model::kNoIndex) {
                emax *= std::max(levels[2][r.scaleBy], 0.0) / r.scaleReference;
                if (!r.up) emax = std::min(emax, 1.0);
            }
            mult *= r.up ? 1.0 + emax * h : 1.0 - emax * h;
        }
        // Pathway edges: (from/from₀)^(sign·weight). from₀ is the from-node's baseline in this cell
        // type, so a cell type's declared levels are its pathways' resting state and only changes
        // relative to them propagate. A zero baseline has no relative change to pass on: the edge
        // is skipped. A mediator from the milieu has no baseline in the cell; it is read as
        // 1 + c/c_basal — 1 without it, as for the regulations, whose effects vanish at c = 0 — and
        // skipped if the model gives no basal level.
        for (std::uint32_t k = node.edgeBegin; k < node.edgeEnd; ++k) {
            const Edge& e = edges[k];
            double ratio;
            switch (e.source) {
                case EdgeSource::Level: {
                    const double b = baseLevels[e.fromArray][e.from];
                    if (!(b > 0)) continue;
                    ratio = levels[e.fromArray][e.from] / b;
                    break;
                }
                case EdgeSource::Slot: ratio = slot[static_cast<std::size_t>(e.fromSlot)]; break;
                case EdgeSource::Milieu: ratio = 1.0 + std::max(med[e.from], 0.0) / e.fromScale; break;
                default: continue;
            }
            mult *= power(std::max(ratio, kRatioFloor), e.exponent, e.exponentInt);
        }
        if (node.slot >= 0) slot[static_cast<std::size_t>(node.slot)] = mult;
        double x = x0 * mult;
        if (restoring) {
            if (node.kind == Kind::Factor && restoreFactor[node.index] > 0) x = restoreFactorLevel(node.index, x);
            else if (node.kind == Kind::Ligand && restoreLigand[node.index] > 0) x = restoreLigandLevel(node.index, x);
        }
        return x;
    };
    // A held factor (HeldFactors): its evaluated level is its set-point, reported; what the
    // levels downstream read is the held level (an engine's state lagging the set-point).
    auto hold = [&](const Node& node, double x) {
        if (held == nullptr || node.kind != Kind::Factor) return x;
        for (std::size_t j = 0; j < held->factors.size(); ++j)
            if (held->factors[j] == node.index) {
                held->setPoints[j] = x;
                return held->levels[j];
            }
        return x;
    };
    if (!plan.cyclic) {
        // One pass is exact: every node reads only nodes evaluated before it, and no node's level
        // changes before its own evaluation (each level is one node), so it starts from itself.
        if (variant == nullptr) {
            if (held != nullptr) {
                for (const Node& node : plan.nodes) {
                    double& level = levels[node.array][node.index];
                    level = hold(node, evaluate(node, level));
                }
                return;
            }
            for (const Node& node : plan.nodes) {
                double& level = levels[node.array][node.index];
                level = evaluate(node, level);
            }
            return;
        }
        // A variant beside its cell type's own set-point: a node the replaced factors cannot reach
        // reads the same inputs as in `own`, so its level is `own`'s (bit for bit). Nodes keeping a
        // slot are evaluated anyway: later nodes read the slot, which `own` does not keep.
        const double* const ownLevels[4] = {own->receptors.data(), own->ligands.data(), own->factors.data(), own->secretion.data()};
        for (std::size_t k = 0; k < plan.nodes.size(); ++k) {
            const Node& node = plan.nodes[k];
            double& level = levels[node.array][node.index];
            if (variant->affected[k] == 0 && node.slot < 0) level = ownLevels[node.array][node.index];
            else level = evaluate(node, level);
        }
        return;
    }
    // A cycle: Gauss–Seidel passes from the levels before regulation, until settled.
    Scratch startBuf;
    double* const start = startBuf.assign(plan.nodes.size(), 0.0);
    for (std::size_t k = 0; k < plan.nodes.size(); ++k) start[k] = levels[plan.nodes[k].array][plan.nodes[k].index];
    // `measure`: track the largest relative change (only the later passes need it; skipping it
    // saves a division per node on the first pass).
    auto pass = [&](bool measure) {
        double worst = 0;
        std::size_t worstNode = 0;
        for (std::size_t k = 0; k < plan.nodes.size(); ++k) {
            const Node& node = plan.nodes[k];
            double& level = levels[node.array][node.index];
            const double x = hold(node, evaluate(node, start[k]));
            if (!measure) {
                level = x;
                continue;
            }
            double change = x == level ? 0.0 : std::abs(x - level) / std::max(std::abs(x), std::abs(level));
            if (std::isnan(change)) change = kInf;  // a NaN level never counts as settled
            if (change > worst) {
                worst = change;
                worstNode = k;
            }
            level = x;
        }
        return std::make_pair(worst, worstNode);
    };
    pass(false);
    for (int p = 2;; ++p) {
        const auto [change, k] = pass(true);
        if (change <= kSettleTolerance) break;
        if (p >= kMaxPasses) {
            const Node& node = plan.nodes[k];
            std::ostringstream msg;
            msg << "regulation cycle does not settle: " << model::kindKey(node.kind) << " '"
                << model_->name(EntityRef{node.kind, node.index}) << "' in cell type '"
                << model_->entities(Kind::CellType)[cellType].name << "' still changes by " << change << " (relative) after "
                << kMaxPasses << " passes";
            throw Error(msg.str());
        }
    }
}

std::vector<Index> Regulator::mediatorsRead(Index cellType) const {
    const auto& m = *model_;
    if (cellType >= m.cellTypes().size())
        throw Error("regulation: cell type #" + std::to_string(cellType) + " does not exist (the model has " +
                    std::to_string(m.cellTypes().size()) + ")");
    // Exactly what setPointFrom() reads from `med`: signal() of concentration regulations, and
    // edges from a milieu mediator with a basal level (the others are skipped there).
    const CategoryPlan& plan = plans_[slotOf(m.cellTypes()[cellType].category)];
    std::vector<Index> out;
    for (const Reg& r : plan.regs)
        if (r.mode == RegulationMode::Concentration) out.push_back(r.by);
    for (const Edge& e : plan.edges)
        if (e.fromKind == Kind::Mediator && e.fromSlot < 0 && e.fromScale > 0) out.push_back(e.from);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

const CellLevels& Regulator::relaxationHours(Index cellType) const {
    if (cellType >= model_->cellTypes().size())
        throw Error("regulation: cell type #" + std::to_string(cellType) + " does not exist (the model has " +
                    std::to_string(model_->cellTypes().size()) + ")");
    return plans_[slotOf(model_->cellTypes()[cellType].category)].tau;
}

void Regulator::relax(Index cellType, CellLevels& levels, const CellLevels& target, double dtHours) const {
    const auto& m = *model_;
    if (cellType >= m.cellTypes().size()) throw Error("regulation: cell type #" + std::to_string(cellType) + " does not exist");
    if (!(dtHours >= 0)) throw Error("regulation: relax() needs a time step >= 0 h, got " + std::to_string(dtHours));
    const CategoryPlan& plan = plans_[slotOf(m.cellTypes()[cellType].category)];
    // Exact solution of dx/dt = (x* − x)/τ over dt with x* fixed: x* + (x − x*)·e^(−dt/τ). Why exact
    // rather than an Euler step: it is stable for any dt and engines step at very different rates.
    auto one = [&](std::vector<double>& x, const std::vector<double>& xs, const std::vector<double>& tau, const char* what) {
        if (x.size() != tau.size() || xs.size() != tau.size())
            throw Error(std::string("regulation: relax() ") + what + " have " + std::to_string(x.size()) + " and " +
                        std::to_string(xs.size()) + " entries, the model has " + std::to_string(tau.size()));
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (tau[i] == kInf) continue;
            x[i] = xs[i] + (x[i] - xs[i]) * std::exp(-dtHours / tau[i]);
        }
    };
    one(levels.receptors, target.receptors, plan.tau.receptors, "receptors");
    one(levels.ligands, target.ligands, plan.tau.ligands, "ligands");
    one(levels.factors, target.factors, plan.tau.factors, "factors");
    one(levels.secretion, target.secretion, plan.tau.secretion, "secretion");
}

NkState Regulator::nkState(Index cellType, const Milieu& milieu, const Contacts& contacts) const {
    return nkState(cellType, milieu, contacts, {});
}

NkState Regulator::nkState(Index cellType, const Milieu& milieu, const Contacts& contacts, const FactorBaselines& factorBaselines) const {
    CellLevels lv = setPoint(cellType, milieu, contacts, factorBaselines);
    NkState s;
    s.receptors = std::move(lv.receptors);
    s.factors = std::move(lv.factors);
    s.secretion = std::move(lv.secretion);
    finishNkState(cellType, s);
    return s;
}

void Regulator::nkState(Index cellType, const Milieu& milieu, const Contacts& contacts, NkState& out, CellLevels& scratch) const {
    setPoint(cellType, milieu, contacts, scratch);
    // Copy-assignment reuses out's storage (no allocation once out has been filled before).
    out.receptors = scratch.receptors;
    out.factors = scratch.factors;
    out.secretion = scratch.secretion;
    out.exhaustion = 0;
    out.fitness = 1;
    out.cd16Affinity = 1;
    out.car.reset();
    finishNkState(cellType, out);
}

void Regulator::nkState(Index cellType, const Milieu& milieu, const Contacts& contacts, const HeldFactors& held, NkState& out,
                        CellLevels& scratch) const {
    setPoint(cellType, milieu, contacts, held, scratch);
    out.receptors = scratch.receptors;
    out.factors = scratch.factors;
    out.secretion = scratch.secretion;
    out.exhaustion = 0;
    out.fitness = 1;
    out.cd16Affinity = 1;
    out.car.reset();
    finishNkState(cellType, out);
}

void Regulator::finishNkState(Index cellType, NkState& s) const {
    const auto& ct = model_->cellTypes()[cellType];
    s.granules = model_->valueOr(ct.param(model::CellParam::GranuleCapacity), 1.0);
    s.killTime = model_->valueOr(ct.param(model::CellParam::KillTime), 0.0);
    if (const auto& car = cars_[cellType]) {
        if (car->conflict)
            throw InputError("cell type '" + model_->entities(Kind::CellType)[cellType].name +
                             "' is the product of cell therapies with different CARs ('" + car->therapies + "')");
        // Without the constant, model::constant() throws the error that names it and the model.
        const double level = carLevel_ ? *carLevel_ : model_->constant("synapse.car_level");
        s.car = CarState{car->antigen, level, car->gain};
    }
}

TargetState Regulator::targetState(Index cellType, const Milieu& milieu, const Contacts& contacts) const {
    return TargetState{setPoint(cellType, milieu, contacts).ligands};
}

TargetState Regulator::targetState(Index cellType, const Milieu& milieu, const Contacts& contacts,
                                   const FactorBaselines& factorBaselines) const {
    return TargetState{setPoint(cellType, milieu, contacts, factorBaselines).ligands};
}

}  // namespace nkscape::synapse
