#pragma once
/// \file
/// The immune synapse: what happens when one NK cell meets one target cell. One function, used by
/// the killing assay, the ODE engine (averaged over a clone's ligand profile) and the agents.
/// docs/synapse.md states the equations and why each has its form.

#include <cstddef>
#include <memory>
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "nkscape/model/model.hpp"
#include "nkscape/synapse/state.hpp"

namespace nkscape::synapse {

/// What one contact gives.
struct SynapseOutcome {
    double killProbability = 0;  ///< per contact, 0 … 1
    double contactTime = 0;      ///< expected contact duration, min
    double killTime = 0;         ///< contact duration when it kills, min
    double ifng = 0;             ///< IFN-γ secretion during the contact, <IFN-g unit>.mL/(cell.h)
    double tnfa = 0;             ///< TNF-α secretion during the contact, <TNF-a unit>.mL/(cell.h)
    double activation = 0;       ///< activating signal A (units of synapse.reference_complexes)
    double inhibition = 0;       ///< inhibitory signal I
    double threshold = 0;        ///< activation threshold θ = θ0·(1 + I/I_s)
};

/// Milieu-dependent quantities, computed once per milieu and reused for every contact in it:
/// receptor- and ligand-side antibody occupancy, soluble-decoy occupancy, opsonisation and engager
/// bridging per antigen.
struct SynapseContext {
    std::vector<double> receptorFree;   ///< per receptor: fraction not blocked nor decoyed (0 … 1)
    std::vector<double> ligandFree;     ///< per ligand: fraction not blocked (0 … 1)
    std::vector<double> opsonin;        ///< per ligand: Fc-IgG per antigen molecule (occupancy × Fc gain, summed)
    std::vector<model::Index> opsonised;  ///< ligands with opsonin > 0
    std::vector<double> engaged;        ///< per engager mechanism of the model: occupancy of its antigen arm (0 … 1)
};

/// What decide() computes from the effector and the milieu alone — free receptors, adaptor
/// factors, each receptor–ligand pair's weight x and each ligand's competition denominator 1 + Σx —
/// prepared once (Synapse::prepare) and reused against every target the effector meets. Why: an
/// engine decides each effector population against each tumour clone at every RHS call, and this
/// half of decide() does not depend on the clone.
struct PreparedEffector {
    const NkState* nk = nullptr;       ///< the effector (not owned); read again by decide() for its granules, exhaustion, …
    std::vector<double> receptorFree;  ///< per receptor: copies × free fraction
    std::vector<double> alpha;         ///< per receptor: adaptor factor (used adaptors only), then 1 for "no adaptor"
    std::vector<double> pairX;         ///< per receptor–ligand pair (ligand-grouped)
    std::vector<double> denominator;   ///< per bound ligand: 1 + Σ its pairs' x
    /// Pairs with x > 0 grouped by ligand block: (block, first, end) into activePairs. Why: a
    /// CD8 T cell carries 7 of the model's receptors, so most pairs add exactly 0; skipping them
    /// leaves every sum unchanged (bit for bit).
    std::vector<std::array<std::uint32_t, 3>> activeBlocks;
    std::vector<std::uint32_t> activePairs;
    std::vector<std::uint32_t> activeSignalling;  ///< signalling receptors with free copies (> 0)
};

/// The synapse of a compiled model. Construction resolves every index and constant once; decide()
/// is then allocation-free and does no name lookups.
class Synapse {
public:
    /// \throws InputError naming what is missing (a [[constant]] synapse.*, the IFN-g mediator, …).
    explicit Synapse(const model::CompiledModel& m);

    /// Precomputes the milieu's effects (see SynapseContext).
    [[nodiscard]] SynapseContext context(const Milieu& milieu) const;
    /// The same, written into `ctx`: allocation-free when the same `ctx` is passed again (its
    /// vectors keep their storage), for engines that recompute the context at every RHS call.
    void context(const Milieu& milieu, SynapseContext& ctx) const;

    /// The mediators that context() reads (soluble decoys), sorted and unique: a change in any
    /// other mediator leaves the context bit-for-bit the same (for engines' caches and Jacobian
    /// sparsity patterns; see Regulator::mediatorsRead).
    [[nodiscard]] std::vector<model::Index> mediatorsRead() const;

    /// The fast path: one decision.
    [[nodiscard]] SynapseOutcome decide(const SynapseContext& ctx, const NkState& nk, const TargetState& target) const;

    /// Prepares `nk` in `ctx` for decide(ctx, out, …) below; allocation-free when the same `out` is
    /// passed again. `out` keeps a pointer to `nk`, whose receptors and CD16 affinity must not
    /// change until it is prepared again (its granules, exhaustion, fitness may: decide() reads them).
    void prepare(const SynapseContext& ctx, const NkState& nk, PreparedEffector& out) const;
    /// decide(ctx, *effector.nk, target) from a prepared effector: the same numbers, bit for bit
    /// (for finite levels; a NaN ligand level reaches the outcome only through pairs with x ≠ 0).
    [[nodiscard]] SynapseOutcome decide(const SynapseContext& ctx, const PreparedEffector& effector, const TargetState& target) const;

    /// Many decisions: out[i] = decide(ctx, nk[i], target[i]) for i < n.
    void decideBatch(const SynapseContext& ctx, const NkState* nk, const TargetState* target, SynapseOutcome* out, std::size_t n) const;

    /// The test oracle: the same equations written plainly from the model (no precomputation, no
    /// flattening), slow. decide() must agree with it to rounding.
    [[nodiscard]] SynapseOutcome decideReference(const Milieu& milieu, const NkState& nk, const TargetState& target) const;

    /// Receptor–ligand complexes per interaction (molecule/cell, indexed like interactions()),
    /// after competition, blocking and decoys: for inspection and the V4 test.
    [[nodiscard]] std::vector<double> engagement(const SynapseContext& ctx, const NkState& nk, const TargetState& target) const;

    [[nodiscard]] const model::CompiledModel& model() const noexcept { return *model_; }

private:
    /// The decision rule shared by decide() and decideReference(): threshold, kill probability,
    /// kill and contact time, cytokines from the summed signals.
    [[nodiscard]] SynapseOutcome finish(const NkState& nk, double activation, double inhibition) const;
    /// decide()'s second half: signalling of the `signalling` receptors from their complexes
    /// `tot` (free copies `rf`, adaptor factors `alpha`), engagers, the CAR, then finish().
    [[nodiscard]] SynapseOutcome signalAndFinish(const SynapseContext& ctx, const NkState& nk, const TargetState& target, const double* tot,
                                                 const double* rf, const double* alpha, std::span<const std::uint32_t> signalling) const;

    const model::CompiledModel* model_;  ///< not owned; must outlive the Synapse
    struct Tables;
    std::shared_ptr<const Tables> tables_;  ///< flattened index arrays and constants (immutable, shared by copies)
};

}  // namespace nkscape::synapse
