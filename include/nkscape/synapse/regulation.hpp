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
/// laws: to ← to · (from/from₀)^(±weight). Levels relax toward the set-point with each regulation's
/// time constant tau (relax()). See docs/synapse.md, "Regulation".

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

/// Precompiled regulations, pathways and therapy effects of a model.
class Regulator {
public:
    /// \throws InputError if the model is not usable (e.g. a regulation by an unknown kind).
    explicit Regulator(const model::CompiledModel& m);

    /// The cell type's own levels (inheritance resolved), no regulation applied.
    [[nodiscard]] CellLevels baseline(model::Index cellType) const;

    /// Steady-state levels of `cellType` in `milieu` with `contacts` (see the file comment).
    [[nodiscard]] CellLevels setPoint(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;

    /// Moves `levels` toward `target` over `dt` hours: each level relaxes with the time constant of
    /// the regulations acting on it (the fastest one; levels without a regulation stay put).
    void relax(model::Index cellType, CellLevels& levels, const CellLevels& target, double dtHours) const;

    /// An NK state at the set-point of `cellType` (receptors, factors, secretion, the cell type's
    /// kill time and granule capacity, and its CAR if a cell therapy of the model uses it as product).
    [[nodiscard]] NkState nkState(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;

    /// A target state at the set-point of `cellType`.
    [[nodiscard]] TargetState targetState(model::Index cellType, const Milieu& milieu, const Contacts& contacts) const;

private:
    const model::CompiledModel* model_;  ///< not owned; must outlive the Regulator
};

}  // namespace nkscape::synapse
