#pragma once
/// \file
/// The states the synapse reads: one NK cell, one target cell, and the milieu around them. Vectors
/// are indexed like the compiled model's entity vectors (receptors(), ligands(), factors(),
/// mediators(), therapies()), in the model's internal units. Engines own these; the synapse only
/// reads them.

#include <optional>
#include <vector>

#include "nkscape/model/model.hpp"

namespace nkscape::synapse {

/// A chimeric antigen receptor carried by an NK cell.
struct CarState {
    model::Index antigen = model::kNoIndex;  ///< ligand index of the target antigen
    double level = 0;                        ///< CAR molecules per cell (molecule/cell)
    double gain = 1;                         ///< signal per complex relative to NKG2D (1)
};

/// One NK cell.
struct NkState {
    std::vector<double> receptors;  ///< surface level per receptor (adaptors too), molecule/cell
    std::vector<double> factors;    ///< level per factor, relative to a healthy reference (1)
    std::vector<double> secretion;  ///< maximal secretion per mediator, <mediator unit>.mL/(cell.h)
    double granules = 1;            ///< kills' worth of cytotoxic granules in store (≥ 0)
    double exhaustion = 0;          ///< 0 fresh … 1 fully exhausted
    double fitness = 1;             ///< metabolic fitness 0 … 1 (mTOR, hypoxia)
    double cd16Affinity = 1;        ///< FcγRIIIa affinity relative to V158 (F158 ≈ 0.6)
    double killTime = 0;            ///< contact-to-detachment per kill for this cell, min (0: use the synapse's default)
    std::optional<CarState> car;
};

/// One target cell.
struct TargetState {
    std::vector<double> ligands;  ///< surface level per ligand, molecule/cell
};

/// Concentrations around a contact.
struct Milieu {
    std::vector<double> mediators;  ///< per mediator, in that mediator's unit
    std::vector<double> therapies;  ///< free drug per therapy, nM (cell therapies: unused)

    /// All zero, sized for `m`.
    [[nodiscard]] static Milieu empty(const model::CompiledModel& m) {
        return Milieu{std::vector<double>(m.mediators().size(), 0.0), std::vector<double>(m.therapies().size(), 0.0)};
    }
};

}  // namespace nkscape::synapse
