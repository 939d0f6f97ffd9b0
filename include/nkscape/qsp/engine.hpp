#pragma once
/// \file
/// The well-mixed engine, first version: one tumour of clones, NK-cell populations, the tumour's
/// mediators and the drugs of a regimen, as one ODE system generated from the compiled model and
/// solved with CVODE (qsp/ode.hpp). Kill rates come from the synapse (the same function the assay
/// uses), cell levels from the Regulator. docs/qsp.md, "The engine", states the equations.
///
/// Not yet in this version (explicit, see docs/qsp.md): blood compartment and trafficking,
/// microenvironment cell dynamics (CAF, MDSC, TAM, Treg, CD8 T), clone switching beyond a fixed
/// per-division rate from the founding clone, CD8 T-cell killing, calibration against V10–V18.
/// Scenario files for it are read by qsp/scenario.hpp (`nkscape simulate`).

#include <string>
#include <utility>
#include <vector>

#include "nkscape/model/model.hpp"
#include "nkscape/qsp/ode.hpp"
#include "nkscape/qsp/pk.hpp"

namespace nkscape::qsp {

/// A tumour clone: the founding tumour cell type with its ligand levels multiplied.
struct CloneSpec {
    std::string name;
    std::vector<std::pair<model::Index, double>> ligandMultipliers;  ///< ligand index → multiplier (1)
    double initialCells = 0;          ///< cells at t = 0
    double switchPerDivision = 0;     ///< probability per division of the founding clone of becoming this clone (1)
};

/// An NK-cell population in the tumour.
struct NkPopulationSpec {
    model::Index cellType = model::kNoIndex;  ///< category nk
    double initialCells = 0;                   ///< cells in the tumour at t = 0
    double influxPerDay = 0;                   ///< recruitment into the tumour, cell/d
};

/// One drug and its doses.
struct DrugRegimen {
    model::Index therapy = model::kNoIndex;
    DosingRegimen regimen;
};

/// What to simulate.
struct SimulationSpec {
    model::Index tumourCellType = model::kNoIndex;  ///< category tumour: growth and ligand profile
    std::vector<CloneSpec> clones;                   ///< clone 0 is the founding clone (no multipliers)
    std::vector<NkPopulationSpec> nk;
    std::vector<DrugRegimen> drugs;
    double durationDays = 0;        ///< > 0
    double outputIntervalDays = 1;  ///< > 0
    OdeOptions ode;
};

/// A dose or another event, for events.csv.
struct SimulationEvent {
    double time_d = 0;
    std::string kind;    ///< "dose", …
    std::string detail;  ///< "trastuzumab 420 mg"
};

/// The trajectory: one column per named quantity, one row per output time.
struct SimulationResult {
    std::vector<std::string> columns;  ///< quantity names ("tumour.cells", "clone.HLA-I-loss", "nk.CD56dim NK", "mediator.IFN-g", "drug.trastuzumab")
    std::vector<std::string> units;    ///< unit of each column
    std::vector<double> times;         ///< d
    std::vector<std::vector<double>> rows;  ///< rows[i][j]: column j at times[i]
    std::vector<SimulationEvent> events;
    OdeStats stats;
};

/// Runs the simulation. \throws InputError naming what is wrong with `spec` (wrong category, no
/// clone, non-positive duration, a constant the model lacks); SolverError if CVODE fails.
[[nodiscard]] SimulationResult simulate(const model::CompiledModel& m, const SimulationSpec& spec);

}  // namespace nkscape::qsp
