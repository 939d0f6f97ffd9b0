#pragma once
/// \file
/// The spatial engine's loop (docs/abm.md, "Agents" and "Determinism"): agents on the lattice of
/// abm::Grid, fields of abm::FieldSet, decisions through the one Synapse and levels through the one
/// Regulator (the same objects the well-mixed engine prepares: qsp::EngineModel).
///
/// One agent step (scenario `agent_step`) does, in this order: every `phenotype_step` the tumour's
/// divisions and necrosis and every agent's secretion set-point; then the effectors' contacts
/// (end, kill, engage) and every motile cell's move; then, every `field_step`, the agents' sources
/// and uptake are written into the fields and the fields advance. Each phase first computes one
/// proposal per agent in parallel (OpenMP) from the state at the start of the phase and random
/// numbers keyed by (seed, purpose, agent id, step) (Random123 Philox4x64), then applies the
/// proposals serially in agent order (ascending id): a conflict (two divisions into one voxel, two
/// moves into the last free place) goes to the lowest id. So results are bit-identical for any
/// thread count.

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "nkscape/abm/agents.hpp"
#include "nkscape/abm/field.hpp"
#include "nkscape/abm/grid.hpp"
#include "nkscape/abm/scenario.hpp"
#include "nkscape/abm/snapshot.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::abm {

/// The timeseries: one row every output interval (and one at t = 0).
struct Timeseries {
    std::vector<std::string> columns;        ///< "time_min", "tumour", "clone.<name>", "<cell type>", counters, "field.<name>.mean|min|max"
    std::vector<std::vector<double>> rows;
};

/// One finished effector contact (recorded when Engine::recordContacts is on; for tests).
struct ContactRecord {
    std::int64_t effector = 0, target = 0;
    double startMin = 0, durationMin = 0;
    double killProbability = 0;  ///< the synapse's kill probability at engagement
    bool kill = false;           ///< the contact was a killing one (the target died at its end, if still alive)
};

/// Wall-clock seconds spent in each part of the loop.
struct PhaseTimes {
    double fields = 0, agents = 0, phenotype = 0;
};

class Engine {
public:
    /// Prepares the model (Regulator, Synapse), the fields and, if `place`, the initial tumour,
    /// populations and vessels of `s`. `m` and `s` must outlive the engine.
    /// \throws InputError when the scenario cannot be set up (cells that do not fit the lattice, a
    /// model without what the rules read); NotImplementedError for parts not built yet.
    Engine(const model::CompiledModel& m, const AbmScenario& s, int threads, bool place = true);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Adds one agent of `kind` (0 tumour, p+1 population p) at voxel (x, y, z). For tests and
    /// setup. \throws InputError if the voxel is outside the lattice or full.
    std::int64_t addAgent(int kind, int x, int y, int z, int clone = 0);

    /// Advances one agent step (and records a timeseries row when one is due).
    void advance();
    [[nodiscard]] std::int64_t step() const noexcept { return step_; }
    [[nodiscard]] std::int64_t totalSteps() const noexcept { return totalSteps_; }
    [[nodiscard]] bool done() const noexcept { return step_ >= totalSteps_; }
    [[nodiscard]] double timeMin() const noexcept;
    /// True when the current step is a snapshot time (every snapshot interval, and the last step).
    [[nodiscard]] bool snapshotDue() const noexcept;

    [[nodiscard]] const Grid& grid() const noexcept;
    [[nodiscard]] const FieldSet& fields() const noexcept;
    [[nodiscard]] FieldSet& fields() noexcept;
    [[nodiscard]] const Agents& agents() const noexcept;
    [[nodiscard]] const Timeseries& timeseries() const noexcept;
    [[nodiscard]] std::vector<std::string> kindNames() const;
    /// Living agents as snapshot columns (granules and kills as extra columns).
    [[nodiscard]] AgentColumns agentColumns() const;
    [[nodiscard]] const PhaseTimes& phaseTimes() const noexcept;
    /// Agent-steps done so far (agents alive at each step, summed): "cell-updates".
    [[nodiscard]] double agentSteps() const noexcept;

    /// Records every finished contact in contacts() (off by default).
    void recordContacts(bool on);
    [[nodiscard]] const std::vector<ContactRecord>& contacts() const noexcept;

    /// The whole state (step, agents, fields, counters, timeseries) exactly: random numbers are
    /// counter-based, so nothing else is needed to continue bit-identically.
    /// \throws IoError on a failed stream; InputError when the checkpoint is of another scenario.
    void save(std::ostream& out) const;
    void load(std::istream& in);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::int64_t step_ = 0, totalSteps_ = 0;
};

}  // namespace nkscape::abm
