#pragma once
/// \file
/// The spatial scenario file (`nkscape abm SCENARIO.toml`, docs/abm.md "Scenario file"): the model,
/// the lattice, the time steps, where the tumour, immune and stromal cells and the vessels start,
/// the fields and constant drug exposures. Read with the same checker as every other scenario
/// (io::detail::ScenarioChecker): every error of the file and of its model is reported together,
/// each with file:line:column, and the CLI exits 2.

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "nkscape/abm/field.hpp"
#include "nkscape/abm/grid.hpp"
#include "nkscape/io/budget.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::abm {

/// Where a population starts, relative to the centre of the lattice.
enum class Placement {
    Shell,    ///< uniformly in the shell inner_radius ≤ r ≤ outer_radius around the centre
    Uniform,  ///< uniformly over the whole lattice
};

/// A tumour clone: the tumour cell type with heritable levels multiplied (as qsp::CloneSpec).
struct AbmClone {
    std::string name;
    std::vector<std::pair<model::Index, double>> ligandMultipliers;     ///< ligand → multiplier of its set-point (1)
    std::vector<std::pair<model::Index, double>> factorMultipliers;     ///< factor → multiplier of the baseline (1)
    std::vector<std::pair<model::Index, double>> secretionMultipliers;  ///< mediator → multiplier of its secretion (1)
    double share = 0;              ///< fraction of the initial tumour cells (1); the founding clone takes the rest
    double switchPerDivision = 0;  ///< probability per division of a founding-clone cell that the daughter is this clone (1)
};

/// A population of non-tumour cells (NK, CD8 T, CAF, MDSC, TAM, Treg, DC) placed at the start.
struct AbmPopulation {
    model::Index cellType = model::kNoIndex;
    std::int64_t count = 0;
    Placement placement = Placement::Shell;
    double innerRadiusUm = 0, outerRadiusUm = 0;  ///< Shell only, µm from the lattice centre
    bool motile = true;  ///< moves at the cell type's `speed` (false: stays where placed, e.g. CAFs)
};

/// One field of the run: a mediator of the model (O₂ included) with its transport.
struct AbmField {
    model::Index mediator = model::kNoIndex;
    FieldSpec spec;  ///< name = the mediator's name; unit = the mediator's unit
};

/// A drug at a constant free concentration in the tissue (nM) for the whole run. Why constant: the
/// PK coupling of the well-mixed engine to vessel sources is not built yet (docs/abm.md, "Not yet").
struct AbmDrug {
    model::Index therapy = model::kNoIndex;
    double concentrationNm = 0;
};

/// Where keys are, for the resource budget's messages.
struct AbmKeyLocations {
    model::SourceLocation grid, duration, agentStep, fieldStep, populations, snapshot;
};

/// A checked spatial scenario; every number is in the unit named by its member.
struct AbmScenario {
    std::string name, description, modelFile;
    std::uint64_t seed = 0;
    Grid grid;
    double durationMin = 0;
    double agentStepMin = 0.1;       ///< motility and contacts
    double phenotypeStepMin = 6;     ///< division, necrosis, secretion set-points
    double fieldStepMin = 1;         ///< fields advance by this (FieldSet::step sub-cycles inside)
    double outputIntervalMin = 6;    ///< a timeseries.csv row every this
    bool snapshots = false;          ///< a [snapshots] table is given: write HDF5 snapshots, series.xdmf and section PNGs
    double snapshotIntervalMin = 0;  ///< a snapshot every this; 0 = at the start and the end only
    int snapshotLayer = -1;          ///< z layer of the section PNG; -1 = the middle
    std::string snapshotField;       ///< field drawn in the PNG; "" = the first field
    int threadsCap = 0;              ///< at most this many threads (0 = no cap beyond --threads)
    double reactionStepLimit = 0;    ///< FieldSet::setReactionStepLimit; 0 = the solver's default

    // Tumour.
    model::Index tumourCellType = model::kNoIndex;
    double tumourRadiusUm = 0;       ///< disc (2-D) or sphere (3-D) around the centre, every voxel filled
    double cycleTimeMin = 0;         ///< division time of a cell with enough O₂ and room, min
    double o2UptakePerMin = 0;       ///< O₂ uptake rate of a voxel holding a tumour cell, 1/min
    double o2SaturationMm = 0;       ///< O₂ above which division runs at full rate, mM
    double o2HypoxicMm = 0;          ///< O₂ below which a cell does not divide, mM
    double o2NecrosisMm = 0;         ///< O₂ below which a cell dies at necrosisRatePerMin, mM
    double necrosisRatePerMin = 0;
    std::vector<AbmClone> clones;    ///< clone 0 is the founding clone (no multipliers)

    // Immune and stromal cells.
    std::vector<AbmPopulation> populations;
    int immunePerVoxel = 2;          ///< at most this many non-tumour cells share a voxel
    double persistence = 1;          ///< NK/T persistent walk: weight of the previous direction (1)
    std::string chemotaxisField;     ///< field whose gradient biases motile immune cells ("" = none)
    double chemotaxisBias = 0;       ///< weight of the gradient direction (1)
    double cafHalfCount = 0;         ///< CAFs in the 3×3(×3) block that halve a cell's speed (0 = no slowing)
    double killTimeCv = 0.086;       ///< coefficient of variation of contact durations (1)

    // Vessels: O₂ (and drug) sources.
    std::int64_t vesselCount = 0;
    double vesselMinRadiusUm = 0;    ///< vessels are placed at least this far from the centre
    double vesselExchangePerMin = 0; ///< vessel voxel exchange rate with the blood, 1/min
    double vesselO2Mm = 0;           ///< blood O₂, mM

    std::vector<AbmField> fields;
    std::vector<AbmDrug> drugs;
    AbmKeyLocations where;
};

/// A scenario with the model it names, loaded.
struct LoadedAbmScenario {
    model::CompiledModel model;
    AbmScenario scenario;
};

/// Lattices larger than this many voxels are refused (docs/limits.md): 1e8 voxels is ~8 GB per field.
inline constexpr double kMaxVoxels = 2e8;
/// Agent-steps (agents × agent steps) a run may be estimated to need without --allow-large.
inline constexpr double kMaxAgentSteps = 1e11;
/// Voxel-field updates (voxels × fields × field steps) allowed without --allow-large.
inline constexpr double kMaxVoxelFieldUpdates = 1e12;

/// Reads `file`, loads its model and checks the scenario against it.
/// \throws model::ModelError listing every problem of the scenario and of its model, with file:line:column.
[[nodiscard]] LoadedAbmScenario loadAbmScenario(const std::filesystem::path& file);

/// Checks the scenario text `toml` (named `path`) against the loaded model `m`; the `model` key is
/// still required but not loaded. For tests. \throws model::ModelError listing every problem.
[[nodiscard]] AbmScenario parseAbmScenario(const std::string& toml, const std::string& path, const model::CompiledModel& m);

/// Work (agent-steps, voxel-field updates, snapshots) and peak memory of running `s`: the largest
/// number of agents is bounded by one tumour cell per voxel plus the placed populations.
[[nodiscard]] io::ResourceEstimate estimateResources(const AbmScenario& s);

}  // namespace nkscape::abm
