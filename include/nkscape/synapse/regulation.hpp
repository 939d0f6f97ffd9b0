#pragma once
/// \file
/// How mediators, contacts, therapies and signalling pathways set a cell's levels: the one
/// regulation function of nkscape, used by the assay, the ODE engine and the agents alike.
///
/// For a cell type in a milieu, the set-point of each level (receptor and ligand expression,
/// factor levels, secretion rates) is its baseline from the cell type, times the effect of every
/// [[regulation]] acting on the cell's category:
///     down: x · (1 − Emax·h),  up: x · (1 + Emax·h),
///     h = c^n/(c^n + EC50^n)  (trigger high)   or   EC50^n/(c^n + EC50^n)  (trigger low),
/// where c is the mediator concentration, the density of the contacting cell type (cell/mL), or the
/// level of the regulating factor. Therapies act first on factors and ligands (inhibit, restore,
/// block) and on mediators (supply, neutralise). Pathway edges propagate relative levels as power
/// laws: to ← to · (from/from₀)^(±weight). Regulations and edges are evaluated together in
/// dependency order (a regulation by a factor reads it after the pathways that set it), and a
/// `restore` returns its target part of the way to its reference level. Levels relax toward the
/// set-point with each regulation's time constant tau (relax()). See docs/synapse.md, "Regulation".

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/model/model.hpp"
#include "nkscape/synapse/state.hpp"

namespace nkscape::synapse {

/// Densities of the cells a cell touches, for contact regulations (MDSC contact lowers NKG2D):
/// cell/mL per cell type, indexed like cellTypes().
struct Contacts {
    std::vector<double> cellTypes;
    [[nodiscard]] static Contacts none(const model::CompiledModel& m) { return Contacts{std::vector<double>(m.cellTypes().size(), 0.0)}; }
};

/// Every level of one cell, internal units, indexed like the model's entity vectors.
struct CellLevels {
    std::vector<double> receptors;  ///< molecule/cell
    std::vector<double> ligands;    ///< molecule/cell
    std::vector<double> factors;    ///< relative (1)
    std::vector<double> secretion;  ///< per mediator, <mediator unit>.mL/(cell.h)
};

/// A milieu with every mediator at its `basal_level` (0 where the model gives none) and no drug: the
/// healthy-tissue reference. Milieu::empty() is not that: it has no O₂, so every trigger-"low"
/// regulation (hypoxia) is at full effect.
[[nodiscard]] Milieu basalMilieu(const model::CompiledModel& m);

/// Factor levels that replace a cell type's own baseline: (factor index, relative level ≥ 0).
/// Later entries for the same factor win.
using FactorBaselines = std::vector<std::pair<model::Index, double>>;

/// Factor levels an engine keeps as states (FactorRole::Feedback: CIS induced by IL-15), for
/// setPoint(…, HeldFactors, …): each listed factor's level is replaced by its held level before any
/// level downstream reads it, and its own set-point in the milieu (what the state relaxes toward)
/// is written to `setPoints`. The three spans have one entry per held factor.
struct HeldFactors {
    std::span<const model::Index> factors;  ///< factor indices
    std::span<const double> levels;         ///< their held levels (1, relative)
    std::span<double> setPoints;            ///< out: their set-points in the milieu (1)
};

/// Precompiled regulations, pathways and therapy effects of a model.
class Regulator {
public:
    /// \throws InputError if the model is not usable (e.g. a regulation by an unknown kind).
    explicit Regulator(const model::CompiledModel& m);

    /// The cell type's own levels (inheritance resolved), no regulation applied.
    [[nodiscard]] CellLevels baseline(model::Index cellType) const;

    /// Steady-state levels of `cellType` in `milieu` with `contacts` (see the file comment).
    [[nodiscard]] CellLevels setPoint(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;

    /// The same, written into `out` (resized as needed). The allocation-free form for engines that
    /// evaluate set-points at every RHS call: passing the same `out` again reuses its storage, so
    /// after the first call nothing is allocated (models of up to 128 mediators and regulated
    /// levels). Results equal setPoint(cellType, milieu, contacts) exactly.
    void setPoint(model::Index cellType, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const;

    /// The same for a variant of `cellType` whose baseline factor levels are replaced by
    /// `factorBaselines` before anything acts on them: a cell line that over-expresses a sheddase
    /// (ADAM10 = 4). Therapies, regulations and pathway edges then act on the new baseline exactly as
    /// on a cell type that declared it — an inhibitor lowers it, regulations by the factor read it,
    /// and pathway edges out of the factor take it as their resting level (so the override alone
    /// does not move the pathway's downstream nodes). `restore` still returns a factor toward the
    /// factor's own (healthy) baseline. An empty list gives setPoint(cellType, milieu, contacts).
    /// \throws Error if an index is not a factor of the model or a level is negative or not finite.
    [[nodiscard]] CellLevels setPoint(model::Index cellType, const Milieu& milieu, const Contacts& contacts,
                                      const FactorBaselines& factorBaselines) const;

    /// A variant's baseline: the cell type's own levels with `factorBaselines` replaced (checked as
    /// by setPoint(…, factorBaselines)). Engines that evaluate one variant (a tumour clone) at every
    /// RHS build it once and pass it to the overload below.
    /// \throws Error if an index is not a factor of the model or a level is negative or not finite.
    [[nodiscard]] CellLevels variantBaseline(model::Index cellType, const FactorBaselines& factorBaselines) const;
    /// setPoint(cellType, milieu, contacts, factorBaselines) from the variant's baseline
    /// (variantBaseline()), written into `out`: allocation-free when `out` is reused. Equal results.
    /// \throws Error if `variantBase` is not sized for the model.
    void setPoint(model::Index cellType, const CellLevels& variantBase, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const;

    /// A variant of a cell type (factor baselines replaced, as for variantBaseline()) prepared for
    /// set-points evaluated beside the cell type's own at every RHS: its baseline, and which of its
    /// category's regulated levels can differ from the cell type's own in the same milieu (those
    /// downstream of the replaced factors through regulations, `scaled_by` and pathway edges).
    struct VariantPlan {
        model::Index cellType = model::kNoIndex;
        CellLevels base;              ///< variantBaseline(cellType, factorBaselines)
        std::vector<char> affected;   ///< per node of the category's plan: can differ (1)
        bool partial = false;         ///< false: every node is evaluated (a cyclic plan)
    };
    /// \throws Error as variantBaseline().
    [[nodiscard]] VariantPlan variantPlan(model::Index cellType, const FactorBaselines& factorBaselines) const;
    /// The variant's set-point, given `own` = setPoint(variant.cellType, milieu, contacts) in the
    /// same milieu and contacts: levels the replaced factors cannot reach are copied from `own`,
    /// only the others are evaluated. Bit-identical to setPoint(cellType, variant.base, milieu,
    /// contacts, out) — the same operations in the same order on the same inputs — at a fraction
    /// of its cost when few levels are downstream. Allocation-free when `out` is reused.
    /// \throws Error if `own` or the plan is not sized for the model.
    void setPoint(const VariantPlan& variant, const CellLevels& own, const Milieu& milieu, const Contacts& contacts, CellLevels& out) const;

    /// The mediators whose milieu concentration setPoint(cellType, …) reads (sorted, unique):
    /// those of the concentration regulations acting on the cell type's category and of pathway
    /// edges from the milieu. A change in any other mediator leaves the set-point bit-for-bit the
    /// same. Why: engines cache set-points per milieu and build Jacobian sparsity patterns; most
    /// difference-quotient columns perturb a mediator that this cell type does not read.
    /// \throws Error if cellType is not a cell type of the model.
    [[nodiscard]] std::vector<model::Index> mediatorsRead(model::Index cellType) const;

    /// The set-point with the factors of `held` held at their levels (see HeldFactors): what a
    /// cell reads while a slow feedback node lags its signal. With every held level equal to its
    /// set-point the result equals setPoint(cellType, milieu, contacts) exactly. Allocation-free
    /// when `out` is reused.
    /// \throws Error if the spans' sizes differ or an index is not a factor of the model.
    void setPoint(model::Index cellType, const Milieu& milieu, const Contacts& contacts, const HeldFactors& held, CellLevels& out) const;

    /// The factors of role `feedback` that regulations set in cells of `cellType` with a finite
    /// relaxation time (relaxationHours()): the levels an engine keeps as states relaxing toward
    /// their set-points, in factor order. Empty for a model without feedback factors.
    /// \throws Error if cellType is not a cell type of the model.
    [[nodiscard]] std::vector<model::Index> feedbackFactors(model::Index cellType) const;

    /// Moves `levels` toward `target` over `dt` hours: each level relaxes with the time constant of
    /// the regulations acting on it (the fastest one; levels without a regulation stay put).
    void relax(model::Index cellType, CellLevels& levels, const CellLevels& target, double dtHours) const;
    /// Each level's relaxation time in cells of `cellType`, h: the smallest tau of the regulations
    /// acting on it, +inf where none does (relax() leaves those levels where they are). The
    /// reference is into the Regulator: valid while it lives.
    /// \throws Error if cellType is not a cell type of the model.
    [[nodiscard]] const CellLevels& relaxationHours(model::Index cellType) const;

    /// An NK state at the set-point of `cellType` (receptors, factors, secretion, the cell type's
    /// kill time and granule capacity, and its CAR if a cell therapy of the model uses it as product).
    [[nodiscard]] NkState nkState(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;
    /// The same, written into `out`, with `scratch` as working storage: allocation-free after the
    /// first call when the same `out` and `scratch` are passed again (see setPoint(…, out)). Every
    /// field of `out` is set (exhaustion 0, fitness 1, cd16Affinity 1 as in a fresh NkState).
    void nkState(model::Index cellType, const Milieu& milieu, const Contacts& contacts, NkState& out, CellLevels& scratch) const;
    /// The same with the cell type's baseline factor levels replaced (see setPoint()).
    [[nodiscard]] NkState nkState(model::Index cellType, const Milieu& milieu, const Contacts& contacts,
                                  const FactorBaselines& factorBaselines) const;
    /// nkState(cellType, milieu, contacts, out, scratch) with the factors of `held` held (see
    /// setPoint(…, HeldFactors, …)).
    void nkState(model::Index cellType, const Milieu& milieu, const Contacts& contacts, const HeldFactors& held, NkState& out,
                 CellLevels& scratch) const;

    /// A target state at the set-point of `cellType`.
    [[nodiscard]] TargetState targetState(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;
    /// The same with the cell type's baseline factor levels replaced (see setPoint()).
    [[nodiscard]] TargetState targetState(model::Index cellType, const Milieu& milieu, const Contacts& contacts,
                                          const FactorBaselines& factorBaselines) const;

private:
    /// One [[regulation]], resolved: what it reads and its numbers (the target is its Node's).
    struct Reg {
        model::RegulationMode mode = model::RegulationMode::Concentration;
        model::Index by = model::kNoIndex;  ///< mediator, cell type or factor index
        bool up = false;
        bool low = false;                   ///< trigger = "low"
        double ec50 = 1, emax = 0, hill = 1;
        model::Index scaleBy = model::kNoIndex;  ///< `scaled_by` factor, or kNoIndex
        double scaleReference = 1;                ///< that factor's healthy baseline (> 0)
        int hillInt = 1;  ///< hill as a small integer (pow by multiplication), 0 if it is not one
    };
    /// Where an Edge reads its ratio (resolved once so that setPoint() does not branch on kinds).
    enum class EdgeSource : std::uint8_t { Level, Slot, Milieu, Skipped };
    /// One pathway edge into a Node; `exponent` = sign·weight.
    struct Edge {
        model::Kind fromKind = model::Kind::Factor;
        model::Index from = model::kNoIndex;
        double exponent = 0;
        int exponentInt = 0;  ///< exponent as a small integer (±1 … ±4), 0 if it is not one
        std::int32_t fromSlot = -1;  ///< from a mediator produced in the cell by an edge: its slot
        double fromScale = 0;        ///< from a mediator of the milieu: its basal level (0 → skipped)
        EdgeSource source = EdgeSource::Level;
        std::uint8_t fromArray = 0;  ///< Level: which CellLevels vector (levelArray())
    };
    /// A level that regulations or pathway edges set in cells of one category.
    struct Node {
        model::Kind kind = model::Kind::Factor;  ///< Receptor, Ligand, Factor or Mediator (secretion)
        std::uint8_t array = 0;                  ///< its CellLevels vector (levelArray(kind))
        model::Index index = model::kNoIndex;
        std::uint32_t regBegin = 0, regEnd = 0;    ///< its regulations, in CategoryPlan::regs
        std::uint32_t edgeBegin = 0, edgeEnd = 0;  ///< its incoming edges, in CategoryPlan::edges
        std::int32_t slot = -1;  ///< mediator produced by an edge: where its relative level is kept
    };
    /// Everything setPoint()/relax() need for cells of one category.
    struct CategoryPlan {
        std::vector<Node> nodes;      ///< in dependency order (an acyclic prefix, then any cycle)
        std::vector<Reg> regs;
        std::vector<Edge> edges;
        bool cyclic = false;          ///< some level depends on itself: iterate to a fixed point
        std::size_t mediatorSlots = 0;
        std::vector<char> computedFactor, computedLigand;  ///< per factor/ligand: is it a Node
        CellLevels tau;               ///< per quantity: the smallest tau (h), +inf if none
    };
    /// A therapy mechanism that changes levels or the milieu a cell sees.
    struct TherapyEffect {
        model::Index therapy = model::kNoIndex;
        model::MechanismAction action = model::MechanismAction::Inhibit;  ///< Inhibit, Restore or Neutralise
        model::EntityRef target;
        double emax = 0;
        double potency = 1;  ///< ic50 (inhibit, restore) or kd (neutralise), nM
    };
    /// The CAR of a cell therapy's product.
    struct CarSpec {
        model::Index antigen = model::kNoIndex;
        double gain = 1;
        bool conflict = false;  ///< two cell therapies give this product different CARs
        std::string therapies;  ///< their names, for the error
    };

    void checkSizes(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;
    /// setPoint() from the baseline `base` (the cell type's, or one with factors replaced), into
    /// `out` (must not alias `base`).
    /// With `variant` and `own` (both or neither): nodes the variant does not affect take their
    /// level from `own` instead of being evaluated (see setPoint(const VariantPlan&, …)).
    /// With `held`: the held factors' levels replace their evaluated ones (HeldFactors); not with `variant`.
    void setPointFrom(model::Index cellType, const CellLevels& base, const Milieu& milieu, const Contacts& contacts, CellLevels& out,
                      const VariantPlan* variant = nullptr, const CellLevels* own = nullptr, const HeldFactors* held = nullptr) const;
    /// The NkState fields that do not come from the set-point: granules, kill time, CAR.
    void finishNkState(model::Index cellType, NkState& s) const;

    const model::CompiledModel* model_;  ///< not owned; must outlive the Regulator
    std::array<CategoryPlan, model::kCellCategoryCount> plans_;
    std::vector<TherapyEffect> effects_;  ///< in therapy order
    /// The therapies with effects: (therapy, its effects_ range). Why: setPoint() tests each
    /// therapy's concentration once, not once per effect.
    struct EffectGroup {
        model::Index therapy = model::kNoIndex;
        std::uint32_t begin = 0, end = 0;
    };
    std::vector<EffectGroup> effectGroups_;
    std::vector<double> factorReference_;  ///< per factor: its healthy baseline (restore's goal)
    std::vector<CellLevels> baselines_;   ///< per cell type
    std::vector<std::optional<CarSpec>> cars_;  ///< per cell type
    std::optional<double> carLevel_;      ///< constant synapse.car_level, if the model has it
};

}  // namespace nkscape::synapse
