#pragma once
/// \file
/// The diffusible fields of the spatial engine (O₂, chemokines, TGF-β, adenosine, sMICA, drugs):
/// one concentration per voxel per field, advanced by
///
///     ∂c/∂t = D ∇²c − (λ + u(x)) c + s(x)
///
/// (D diffusion coefficient µm²/min, λ decay 1/min, u per-voxel uptake 1/min set by the agents, s
/// per-voxel production unit/min set by the agents) with an unconditionally stable scheme. The scheme,
/// its order and the sub-cycling rule are in docs/abm.md ("Fields") and at FieldSet::step.

#include <cstddef>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nkscape/abm/grid.hpp"

namespace nkscape::abm {

/// Boundary condition on all six faces of the box (four in 2-D). An axis one voxel long (the z of
/// a 2-D grid, the y of an nx × 1 line) is not a dimension of the domain: nothing diffuses along
/// it and it has no faces.
enum class Boundary {
    Dirichlet,  ///< the value just outside each face (a ghost voxel centre, one voxel beyond) is boundaryValue
    Neumann,    ///< no flux through the faces: the amount of substance changes only by decay, uptake and sources
};

/// One field's physics. Every number is checked by FieldSet's constructor.
struct FieldSpec {
    std::string name;                  ///< unique, non-empty; no '/', no leading '.', no control characters (it names an HDF5 dataset)
    double diffusionUm2PerMin = 0.0;   ///< D, µm²/min, ≥ 0
    double decayPerMin = 0.0;          ///< λ, 1/min, ≥ 0
    Boundary boundary = Boundary::Neumann;
    double boundaryValue = 0.0;        ///< Dirichlet value outside the domain, unit; finite, ≥ 0 (unused for Neumann)
    double initialValue = 0.0;         ///< value of every voxel at construction, unit; finite, ≥ 0
    std::string unit;                  ///< concentration unit as text (e.g. "mmHg", "ng/mL"); written to snapshots
    /// Longest sub-step this field may take, min; 0 (the default) means "no cap" (the automatic rule
    /// of FieldSet::substeps alone decides). Added to the contract for fields whose sources change
    /// faster than the engine's field step.
    double maxStepMin = 0.0;
};

/// All fields of one simulation on one grid. Storage is one contiguous array per field (and per
/// source and uptake) in Grid::index order.
class FieldSet {
public:
    /// Makes the fields, every voxel at its initialValue, sources and uptake zero. Throws InputError
    /// naming the field and the key for a bad spec (empty or duplicate name, negative or non-finite
    /// number) or a bad grid (a dimension < 1, voxelUm ≤ 0 or non-finite).
    FieldSet(const Grid& grid, std::vector<FieldSpec> specs);

    /// Number of fields.
    std::size_t size() const { return specs_.size(); }
    /// The spec of field f (f < size()).
    const FieldSpec& spec(std::size_t f) const { return specs_.at(f); }
    /// The grid the fields live on.
    const Grid& grid() const { return grid_; }
    /// Index of the field named `name`; throws InputError naming the unknown field and listing the known ones.
    std::size_t index(std::string_view name) const;

    /// Concentrations of field f, unit, one per voxel in Grid::index order.
    std::span<double> values(std::size_t f) { return values_.at(f); }
    std::span<const double> values(std::size_t f) const { return values_.at(f); }
    /// Per-voxel production of field f, unit/min (≥ 0; agents set it before step(); kept between steps).
    std::span<double> source(std::size_t f) { return source_.at(f); }
    std::span<const double> source(std::size_t f) const { return source_.at(f); }
    /// Per-voxel first-order uptake rate of field f, 1/min (≥ 0; cells consuming; kept between steps).
    std::span<double> uptake(std::size_t f) { return uptake_.at(f); }
    std::span<const double> uptake(std::size_t f) const { return uptake_.at(f); }

    /// Advances every field by dtMin minutes (> 0, finite) on `threads` OpenMP threads (≥ 1).
    ///
    /// Each sub-step of length h is backward Euler approximately factorised by direction
    /// (Douglas–Gunn, delta form): with F(c) = D∇²c − (λ+u)c + s, solve (1 − hD∂xx + h(λ+u))Δ₁ =
    /// h·F(cⁿ), (1 − hD∂yy)Δ₂ = Δ₁, (1 − hD∂zz)Δ₃ = Δ₂ and set cⁿ⁺¹ = cⁿ + Δ₃ — tridiagonal
    /// systems solved by the Thomas algorithm over many lines at once. Decay, uptake and source are
    /// implicit (in the x factor). Unconditionally stable; first order in time, second in space;
    /// its steady state is the exact discrete one for any h. Field f takes substeps(f, dtMin) equal
    /// sub-steps. The result does not depend on `threads` (bit-identical): each line is solved by
    /// one thread with the same operations whatever the split.
    /// Throws InputError for a bad dtMin or threads, InternalError when a source or uptake is
    /// negative or non-finite (the agents' bug, named with field and voxel).
    void step(double dtMin, int threads);

    /// Number of equal sub-steps field f takes in a step of dtMin minutes: the smallest n with
    /// dtMin/n ≤ maxStepMin (when set) and dtMin/n · (λ + max u) ≤ reactionStepLimit, i.e. no sub-step
    /// is long against the field's fastest local relaxation time (docs/abm.md, "Fields").
    int substeps(std::size_t f, double dtMin) const;

    /// Bound on (λ + max u)·h per sub-step used by substeps() (dimensionless, > 0). Default 2: on
    /// the reference workload's O₂ (uptake 10 /min) it keeps the error below ~0.5 % of the
    /// boundary value (docs/abm.md, "Fields").
    void setReactionStepLimit(double limit);
    double reactionStepLimit() const { return reactionStepLimit_; }

    /// Amount of field f in the domain, unit·µm³ (Σ values · voxel volume); sums in voxel order,
    /// so it is the same for any thread count.
    double total(std::size_t f) const;

    /// Exact serialisation for checkpoints (bit-identical restart): a short header (magic, field
    /// count, voxel count, field names) and the raw doubles of every field's values in native byte
    /// order. Sources and uptake are not saved (the agents set them before each step).
    /// save throws IoError when the stream fails; load throws IoError for a truncated or foreign
    /// stream and InputError when the saved fields or grid size differ from this FieldSet's.
    void save(std::ostream& out) const;
    void load(std::istream& in);

private:
    Grid grid_;
    std::vector<FieldSpec> specs_;
    std::vector<std::vector<double>> values_;
    std::vector<std::vector<double>> source_;
    std::vector<std::vector<double>> uptake_;
    double reactionStepLimit_ = 2.0;
    std::vector<double> delta_;  // the increment of one sub-step (scratch, one field at a time)
};

}  // namespace nkscape::abm
