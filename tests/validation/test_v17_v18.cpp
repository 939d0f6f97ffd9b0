// Validation of the well-mixed engine against shared/VALIDATION.md: V11 (STAT3 inhibition slows
// tumour growth), V13 (PD-1 blockade restores control of PD-L1-high TNBC), V14 (IL-15 expands NK
// cells, IL-15 + IL-21 raises IFN-γ, IL-2 expands Tregs more than the superkine), V17
// (immunoediting) and V18 (CAR-NK and oncolytic HSV-1), with the default model that passes V1–V16.
// The findings are qualitative (more, less, about ten-fold); each tolerance asks for an effect
// well outside solver error (rtol 1e-6) and says why it is the size it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nkscape/analysis/immunoediting.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/qsp/scenario.hpp"

#include "default_model.hpp"

using namespace nkscape;
using namespace nkscape::model;
using namespace nkscape::qsp;

namespace {

using nkscape::testing::defaultModel;

Index cell(const CompiledModel& m, const char* name) { return m.require(Kind::CellType, name); }

/// A 1e9-cell tumour of `tumour` with the resting infiltrate of the shipped scenarios: NK and CD8 T
/// cells recruited in proportion to the tumour (CD8 T cells about 2 per 100 tumour cells, at their
/// steady state).
SimulationSpec baseSpec(const CompiledModel& m, const char* tumour, double days, bool withImmuneMicroenvironment = true) {
    SimulationSpec s;
    s.tumourCellType = cell(m, tumour);
    s.clones.push_back(CloneSpec{.name = "founding", .initialCells = 1e9});
    s.populations.push_back(PopulationSpec{.cellType = cell(m, "CD56dim NK"), .initialCells = 1e7, .influxPerTumourCell = 3e-4, .blood = true});
    if (withImmuneMicroenvironment) {
        s.populations.push_back(PopulationSpec{.cellType = cell(m, "CD8 T"), .initialCells = 2e7, .influxPerTumourCell = 4e-4, .blood = true});
        s.populations.push_back(PopulationSpec{.cellType = cell(m, "Treg"), .initialCells = 1e7, .influxPerDay = 5e5, .blood = true});
        s.populations.push_back(PopulationSpec{.cellType = cell(m, "MDSC"), .initialCells = 2e7, .influxPerTumourCell = 6e-3});
        s.populations.push_back(PopulationSpec{.cellType = cell(m, "TAM M2"), .initialCells = 5e7, .influxPerTumourCell = 2.5e-3});
        s.populations.push_back(PopulationSpec{.cellType = cell(m, "CAF"), .initialCells = 1e8});
    }
    s.durationDays = days;
    s.outputIntervalDays = 7;
    return s;
}

void dose(const CompiledModel& m, SimulationSpec& s, const char* therapy, const char* amount, const char* schedule,
          const char* infusion = "", double start = 0) {
    const Index t = m.require(Kind::Therapy, therapy);
    DosingSpec d;
    d.amount = amount;
    d.schedule = schedule;
    d.infusion = infusion;
    d.startDay = start;
    s.drugs.push_back(DrugRegimen{t, DosingRegimen::parse(d, DrugPk::fromTherapy(m, t), BodySize{70.0, 1.8})});
}

/// ∫ column dt by the trapezoid rule over the output times (unit × d).
double integral(const SimulationResult& r, std::string_view column) {
    const std::size_t j = r.column(column);
    double s = 0;
    for (std::size_t i = 1; i < r.times.size(); ++i) s += 0.5 * (r.rows[i][j] + r.rows[i - 1][j]) * (r.times[i] - r.times[i - 1]);
    return s;
}

double peak(const SimulationResult& r, std::string_view column) {
    const std::size_t j = r.column(column);
    double p = 0;
    for (const auto& row : r.rows) p = std::max(p, row[j]);
    return p;
}

analysis::ImmunoeditingResult classify(const SimulationResult& r) {
    analysis::TumourTrajectory t;
    t.name = "test";
    t.times_d = r.times;
    const std::size_t j = r.column("tumour.cells");
    for (const auto& row : r.rows) t.totalCells.push_back(row[j]);
    return analysis::classifyImmunoediting(t);
}

}  // namespace

// ---- V17: immunoediting ------------------------------------------------------------------------

TEST(V17, StrongPressureEliminatesTheTumour) {
    // Strong NK and T-cell pressure: a large, fresh infiltrate with high recruitment.
    const auto& m = defaultModel();
    SimulationSpec s = baseSpec(m, "TNBC", 365);
    s.clones[0].initialCells = 1e8;
    s.populations[0] = PopulationSpec{.cellType = cell(m, "CD56dim NK"), .initialCells = 1e9, .influxPerDay = 1e8, .blood = true};
    s.populations[1] = PopulationSpec{.cellType = cell(m, "CD8 T"), .initialCells = 1e9, .influxPerDay = 1e8, .blood = true};
    const auto r = simulate(m, s);
    EXPECT_LT(r.final("tumour.cells"), 1.0);  // below one cell: eliminated
    EXPECT_EQ(classify(r).phaseAt(r.times.back()), analysis::Phase::Elimination);
}

TEST(V17, IntermediatePressureHoldsTheTumourInEquilibrium) {
    // Recruitment that grows with the tumour (infiltrate per tumour cell) makes killing scale with
    // tumour size, so the tumour neither grows nor shrinks much: equilibrium.
    const auto& m = defaultModel();
    SimulationSpec s = baseSpec(m, "TNBC", 365);
    s.populations[0] = PopulationSpec{.cellType = cell(m, "CD56dim NK"), .initialCells = 3e7, .influxPerTumourCell = 1e-3};
    s.populations[1] = PopulationSpec{.cellType = cell(m, "CD8 T"), .initialCells = 5e7, .influxPerDay = 5e6, .influxPerTumourCell = 1e-2, .blood = true};
    const auto r = simulate(m, s);
    const double fold = r.final("tumour.cells") / 1e9;
    // The untreated tumour grows ~9-fold in a year (the shipped scenario); within 2-fold of the
    // start either way is held.
    EXPECT_GT(fold, 0.5);
    EXPECT_LT(fold, 2.0);
    EXPECT_EQ(classify(r).phaseAt(r.times.back()), analysis::Phase::Equilibrium);
}

TEST(V17, EvasiveVariantsEscapeAndTheEscapedTumourIsEnrichedForThem) {
    // Pressure that first shrinks the tumour; variants arise by switching (1e-4 per division each)
    // and the tumour regrows from them.
    const auto& m = defaultModel();
    SimulationSpec s = baseSpec(m, "TNBC", 1095);
    s.populations[0] = PopulationSpec{.cellType = cell(m, "CD56dim NK"), .initialCells = 3e7, .influxPerTumourCell = 1e-3};
    s.populations[1] = PopulationSpec{.cellType = cell(m, "CD8 T"), .initialCells = 5e7, .influxPerDay = 5e6, .influxPerTumourCell = 2e-2, .blood = true};
    const Index hla = m.require(Kind::Ligand, "HLA-I"), hlae = m.require(Kind::Ligand, "HLA-E"), mica = m.require(Kind::Ligand, "MICA/B"),
                pdl1 = m.require(Kind::Ligand, "PD-L1");
    s.clones.push_back(CloneSpec{.name = "HLA-I loss, HLA-E up, MICA low", .ligandMultipliers = {{hla, 0.05}, {hlae, 5}, {mica, 0.05}, {pdl1, 5}},
                                 .switchPerDivision = 1e-4});
    s.clones.push_back(CloneSpec{.name = "MICA low, PD-L1 high", .ligandMultipliers = {{mica, 0.2}, {pdl1, 5}}, .switchPerDivision = 1e-4});
    const auto r = simulate(m, s);
    const std::size_t j = r.column("tumour.cells");
    double nadir = r.rows.front()[j];
    for (const auto& row : r.rows) nadir = std::min(nadir, row[j]);
    const double total = r.final("tumour.cells");
    const double evasive = r.final("clone.HLA-I loss, HLA-E up, MICA low") + r.final("clone.MICA low, PD-L1 high");
    EXPECT_GT(total, 2 * nadir);  // regrown from its nadir
    // Growing over the last year. (The classifier labels this slow regrowth, ~0.003/d,
    // "equilibrium": its escape threshold is a faster growth; the escape is still under way.)
    std::vector<double> t, n;
    for (std::size_t i = 0; i < r.times.size(); ++i)
        if (r.times[i] >= 730) t.push_back(r.times[i]), n.push_back(r.rows[i][j]);
    EXPECT_GT(analysis::netGrowthRate(t, n), 0.0);
    // Evasive clones start at 0 and arise at 2e-4 per division: without selection they would stay
    // well under 1 % of the tumour; enrichment means they make a large part of it (over a quarter,
    // at least 25 times their share at day 30).
    const double early = (r.at("clone.HLA-I loss, HLA-E up, MICA low", 30) + r.at("clone.MICA low, PD-L1 high", 30)) / r.at("tumour.cells", 30);
    EXPECT_LT(early, 0.01);
    EXPECT_GT(evasive / total, 0.25);
    EXPECT_GT(evasive / total, 25 * early);
}

// V17 without constructed pressure: the shipped untreated TNBC scenario (its own infiltrate per
// tumour cell, its three evasive variants arising at 1e-4 per division), followed over five years
// of its natural history from 1e7 cells (every population's starting size scaled with the tumour's,
// so the immune cells per tumour cell are the scenario's), untreated. Selection must emerge from
// the endogenous NK and CD8 T-cell killing alone: compared with the same tumour without killers
// (the counterfactual of neutral drift, where every variant keeps its switching share), the clones
// that evade T cells (HLA-I loss with HLA-E up; PD-L1 high) are enriched. The tumour is at the
// immunogenicity of the median PD-L1+ metastatic TNBC of the shipped population (3.6,
// TrialPopulation.TnbcImmunogenicityFollowsPdL1); measured 2026-12-03: HLA-I loss 1.61x, PD-L1
// high 1.82x, MICA shedding 1.14x their neutral shares (at immunogenicity 1: 1.28x, 1.35x, 1.13x;
// at 10: 6.4x, 8.1x). The MICA-shedding clone gains least: it escapes NK cells, which hold back
// less of this tumour than its reactive T cells do.
TEST(V17, UntreatedTnbcSelectsEvasiveVariantsWithoutConstructedPressure) {
    const auto loaded = loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate/tnbc-untreated.toml"));
    const auto& m = loaded.model;
    SimulationSpec s = loaded.spec;
    const double scale = 1e7 / s.clones[0].initialCells;
    s.clones[0].initialCells = 1e7;
    for (auto& p : s.populations) p.initialCells *= scale;
    s.durationDays = 5 * 365.25;
    s.outputIntervalDays = 30;
    s.tumourImmunogenicity = 3.6;
    SimulationSpec neutral = s;
    const Index nk = cell(m, "CD56dim NK"), cd8 = cell(m, "CD8 T");
    std::erase_if(neutral.populations, [&](const PopulationSpec& p) { return p.cellType == nk || p.cellType == cd8; });
    ASSERT_EQ(neutral.populations.size() + 2, s.populations.size());
    const auto edited = simulate(m, s);
    const auto drift = simulate(m, neutral);
    auto share = [](const SimulationResult& r, const char* clone) { return r.final(std::string("clone.") + clone) / r.final("tumour.cells"); };
    const double hla = share(edited, "HLA-I loss, HLA-E up") / share(drift, "HLA-I loss, HLA-E up");
    const double pdl1 = share(edited, "PD-L1 high") / share(drift, "PD-L1 high");
    const double mica = share(edited, "MICA shedding") / share(drift, "MICA shedding");
    RecordProperty("enrichment", std::to_string(hla) + " " + std::to_string(pdl1) + " " + std::to_string(mica));
    // Without killers the variants keep nearly one share (same switching; their traits move the
    // milieu a little: 0.16 % apart).
    EXPECT_NEAR(share(drift, "HLA-I loss, HLA-E up") / share(drift, "PD-L1 high"), 1.0, 1e-2);
    // Selection: far beyond solver error (rtol 1e-5), and strongest for the T-cell escapes.
    EXPECT_GT(hla, 1.4);
    EXPECT_GT(pdl1, 1.4);
    EXPECT_GT(mica, 1.0);
    EXPECT_GT(hla, 1.2 * mica);
    // Still an untreated tumour that grows (not eliminated): escape, not control.
    EXPECT_GT(edited.final("tumour.cells"), 100 * 1e7);
}

// ---- V18: CAR-NK cells and oncolytic HSV-1 -------------------------------------------------------

namespace {
/// `therapy` (1e9 CAR-NK cells weekly × 4) leaves less than half the untreated `tumour` after 90 days.
void expectCarNkHalvesTheTumour(const char* tumour, const char* therapy) {
    const auto& m = defaultModel();
    SimulationSpec untreated = baseSpec(m, tumour, 90);
    SimulationSpec treated = untreated;
    dose(m, treated, therapy, "1e9 cell", "q1w x 4");
    const double a = simulate(m, untreated).final("tumour.cells");
    const double b = simulate(m, treated).final("tumour.cells");
    EXPECT_LT(b, 0.5 * a) << "untreated " << a << ", " << therapy << " " << b;
}
}  // namespace

TEST(V18, Her2CarNkSuppressesHer2PositiveTumourGrowth) { expectCarNkHalvesTheTumour("HER2-enriched", "HER2 CAR-NK therapy"); }

TEST(V18, EgfrCarNkActsInTnbc) { expectCarNkHalvesTheTumour("TNBC", "EGFR CAR-NK therapy"); }

TEST(V18, CoStimulationImprovesExpansionAndPersistence) {
    // The same HER2 CAR-NK product with its CD28 domain removed (first generation), from a copy of
    // the default model: the product's cells over time (expansion and persistence).
    const auto& m = defaultModel();
    const auto dir = std::filesystem::temp_directory_path() / "nkscape-v18-costim";
    std::filesystem::remove_all(dir);
    std::filesystem::copy(NKSCAPE_SOURCE_DIR "/models", dir, std::filesystem::copy_options::recursive);
    {
        std::ifstream in(dir / "therapies.toml");
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        const auto at = text.find("name = \"HER2 CAR-NK therapy\"");
        ASSERT_NE(at, std::string::npos);
        const auto cs = text.find("costimulation = \"CD28\"", at);
        ASSERT_NE(cs, std::string::npos);
        text.replace(cs, std::string("costimulation = \"CD28\"").size(), "costimulation = \"none\"");
        std::ofstream(dir / "therapies.toml") << text;
    }
    const auto firstGen = loadModel(dir / "default.toml");
    SimulationSpec s = baseSpec(m, "HER2-enriched", 60);
    dose(m, s, "HER2 CAR-NK therapy", "1e9 cell", "once");
    const auto cd28 = simulate(m, s);
    const auto none = simulate(firstGen, s);
    const std::string col = "drug.HER2 CAR-NK therapy";
    // Expansion: the peak and the exposure (cell·days) are higher; persistence: more cells remain
    // at day 28. A 1.5-fold margin: co-stimulation doubles persistence in the model
    // (qsp.costimulation_persistence_gain = 2), so smaller differences would not be the effect.
    EXPECT_GT(integral(cd28, col), 1.5 * integral(none, col));
    EXPECT_GE(peak(cd28, col), peak(none, col));
    EXPECT_GT(cd28.at(col, 28), 1.5 * none.at(col, 28));
    std::filesystem::remove_all(dir);
}

TEST(V18, OncolyticHsvClearsTheEgfrLowCellsThatEgfrCarNkLeaves) {
    const auto& m = defaultModel();
    SimulationSpec s = baseSpec(m, "TNBC", 90);
    const Index egfr = m.require(Kind::Ligand, "EGFR");
    s.clones.push_back(CloneSpec{.name = "EGFR low", .ligandMultipliers = {{egfr, 0.002}}, .initialCells = 1e8});
    SimulationSpec car = s, both = s;
    dose(m, car, "EGFR CAR-NK therapy", "1e9 cell", "q1w x 4");
    dose(m, both, "EGFR CAR-NK therapy", "1e9 cell", "q1w x 4");
    dose(m, both, "oncolytic HSV-1", "1e8 PFU", "q1w x 4");
    const auto rs = simulate(m, s), rc = simulate(m, car), rb = simulate(m, both);
    // CAR-NK alone kills the EGFR-high founding clone but leaves a large part of the EGFR-low cells
    // (its endogenous receptors still kill some) ...
    EXPECT_LT(rc.final("clone.founding"), 0.5 * rs.final("clone.founding"));
    EXPECT_GT(rc.final("clone.EGFR low"), 0.3 * rs.final("clone.EGFR low"));
    // ... which the virus clears (at least ten-fold fewer than with CAR-NK alone).
    EXPECT_LT(rb.final("clone.EGFR low"), 0.1 * rc.final("clone.EGFR low"));
}

// ---- V11, V13, V14: the tumour-level parts -----------------------------------------------------

// STAT3 inhibition restores NK levels (test_v10_v16.cpp) and so the killing NK cells do; it can
// slow the tumour only by the share of growth that NK cells hold back. In the shipped scenarios'
// sparse infiltrate (NK cells ~1 % of the tumour's cells, killing ~5 % of what grows) that is ~2 %;
// the finding is tested where NK cells matter: an MDSC-rich tumour with an NK-rich infiltrate
// (NK cells about a tenth of the tumour's cells, recruited in proportion), as in the murine
// models where STAT3 inhibition slowed growth.
TEST(V11, Stat3InhibitionSlowsTumourGrowth) {
    const auto& m = defaultModel();
    SimulationSpec untreated = baseSpec(m, "TNBC", 182);
    untreated.populations[0] = PopulationSpec{.cellType = cell(m, "CD56dim NK"), .initialCells = 1e8, .influxPerTumourCell = 3e-3, .blood = true};
    // An MDSC-rich tumour (MDSCs about a fifth of the cells), where their suppression matters.
    untreated.populations[3] = PopulationSpec{.cellType = cell(m, "MDSC"), .initialCells = 2e8, .influxPerTumourCell = 6e-2};
    SimulationSpec treated = untreated;
    dose(m, treated, "STAT3 inhibitor", "480 mg", "q12h x 364");  // napabucasin-like oral dosing
    const double a = simulate(m, untreated).final("tumour.cells");
    const double b = simulate(m, treated).final("tumour.cells");
    // Slower growth: at least 10 % fewer cells after six months (the untreated tumour still grows,
    // ~1.8-fold over that time; the inhibitor leaves ~18 % fewer cells).
    EXPECT_LT(b, 0.9 * a) << "untreated " << a << ", STAT3 inhibitor " << b;
}

TEST(V13, Pd1BlockadeRestoresControlOfPdL1HighTnbc) {
    const auto& m = defaultModel();
    SimulationSpec untreated = baseSpec(m, "TNBC", 182);
    const Index pdl1 = m.require(Kind::Ligand, "PD-L1"), induc = m.require(Kind::Factor, "PD-L1 inducibility");
    untreated.clones[0].initialCells = 1;  // the tumour is the PD-L1-high clone
    // PD-L1-high TNBC is the T-cell-inflamed kind (IFN-γ-driven adaptive resistance needs T cells;
    // PD-L1 goes with TILs in TNBC): a CD8 infiltrate several-fold the shipped scenarios' resting
    // one, recruited at 5e6 /d.
    untreated.populations[1] = PopulationSpec{.cellType = cell(m, "CD8 T"), .initialCells = 5e7, .influxPerDay = 5e6, .blood = true};
    untreated.clones.push_back(CloneSpec{.name = "PD-L1 high", .ligandMultipliers = {{pdl1, 5}}, .factorMultipliers = {{induc, 3}}, .initialCells = 1e9});
    SimulationSpec treated = untreated;
    dose(m, treated, "pembrolizumab", "200 mg", "q3w x 9", "30 min");
    const auto ra = simulate(m, untreated), rb = simulate(m, treated);
    // Tumour control restored in part: at least 15 % fewer cells after six months (single-agent
    // pembrolizumab helps a minority of PD-L1-positive TNBC; a modest, clear effect is the finding).
    EXPECT_LT(rb.final("tumour.cells"), 0.85 * ra.final("tumour.cells")) << "untreated " << ra.final("tumour.cells") << ", pembrolizumab " << rb.final("tumour.cells");
    // NK function: more IFN-γ in the tumour under blockade.
    EXPECT_GT(rb.at("mediator.IFN-g", 60), ra.at("mediator.IFN-g", 60));
}

TEST(V14, SystemicIl15ExpandsTheNkCompartmentAboutTenFold) {
    const auto& m = defaultModel();
    SimulationSpec s = baseSpec(m, "TNBC", 42, false);
    s.outputIntervalDays = 1;
    dose(m, s, "IL-15 therapy", "2 ug/kg", "qd x 10", "24 h");  // continuous infusion, 10 days
    const auto r = simulate(m, s);
    const double fold = peak(r, "blood.CD56dim NK") / r.rows.front()[r.column("blood.CD56dim NK")];
    // The review's "ten-fold expansion of the NK-cell compartment" cites the first IL-15 trials;
    // the blood count this engine follows rose 38-fold (20-60) under this continuous infusion
    // (Conlon et al. 2019, calibration target TC1) and 34-fold under 3-5 ug/kg/d x 5 d (Dubois et
    // al. 2021, PMID 33883258), more than the whole compartment, which also holds tissue NK
    // cells. Accept from "about ten-fold" (4, a factor of 2.5 below) to the top of TC1's band (60).
    EXPECT_GT(fold, 4.0);
    EXPECT_LT(fold, 60.0);
}

// Daily IL-21 boluses (t½ 1.5 h) raise tumour IFN-γ for the first ~12 h after each dose and
// IFN-γ clears within hours (t½ 1 h): sampled once a day the integral sees only the troughs, so
// it is taken over hourly output (the finding, more IFN-γ with IL-21, is unchanged).
TEST(V14, Il15PlusIl21RaisesIfnGammaAboveIl15Alone) {
    const auto& m = defaultModel();
    SimulationSpec il15 = baseSpec(m, "TNBC", 10);
    il15.outputIntervalDays = 1.0 / 24;
    dose(m, il15, "IL-15 therapy", "2 ug/kg", "qd x 10", "24 h");
    SimulationSpec both = il15;
    dose(m, both, "IL-21 therapy", "30 ug/kg", "qd x 10");
    const auto a = simulate(m, il15), b = simulate(m, both);
    EXPECT_GT(integral(b, "mediator.IFN-g"), 1.1 * integral(a, "mediator.IFN-g"));
}

// IL-2's 10-min half-life leaves short pulses, each far above the Tregs' CD25 EC50 (150 pg/mL)
// for about two hours: the expansion comes from IL-2-driven Treg division (regulation 'IL-2
// raises Treg proliferation'), and the superkine's Treg-biased (CD25-dependent) part is small
// (its potency on the IL-2 mediator), its NK activity IL-15-like.
TEST(V14, Il2ExpandsTregsAndTheSuperkineLess) {
    const auto& m = defaultModel();
    SimulationSpec none = baseSpec(m, "TNBC", 28);
    none.outputIntervalDays = 1;
    SimulationSpec il2 = none, superkine = none;
    // Equal mass (≈ equimolar: 15.3 kDa both), every 8 h, 14 doses.
    dose(m, il2, "IL-2 therapy", "2.5 mg", "q8h x 14");  // high-dose aldesleukin: 600,000 IU/kg q8h (label), 70 kg
    dose(m, superkine, "IL-2 superkine", "2.5 mg", "q8h x 14");
    const auto r0 = simulate(m, none), r1 = simulate(m, il2), r2 = simulate(m, superkine);
    const double t0 = peak(r0, "blood.Treg"), t1 = peak(r1, "blood.Treg"), t2 = peak(r2, "blood.Treg");
    EXPECT_GT(t1, 1.2 * t0);               // IL-2 expands Tregs
    EXPECT_LT(t2 - t0, 0.5 * (t1 - t0));   // the superkine at most half as much
    // Low IL-2 impairs NK persistence: blood NK cells are higher with IL-2 support than without.
    EXPECT_GT(peak(r1, "blood.CD56dim NK"), 1.1 * peak(r0, "blood.CD56dim NK"));
}

// ---- Calibration of the shipped scenarios (scenarios/simulate) ----------------------------------

namespace {
SimulationResult runShipped(const char* file) {
    const auto sc = loadSimulationScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/simulate") / file);
    return simulate(sc.model, sc.spec);
}
}  // namespace

TEST(Calibration, EveryUntreatedSubtypeEscapesAndTnbcGrowsFastest) {
    // A 1e9-cell tumour under the resting infiltrate of the shipped scenarios is past immune
    // control (V17 escape): it grows over the year, at most at its subtype's doubling time
    // (PARAMETERS.md, Ryu et al. 2014: ER+ 241 d, HER2+ 162 d, TNBC 103 d), so TNBC fastest.
    double tnbcFold = 0, otherFold = 0;
    for (const char* f : {"luminal-a-untreated.toml", "luminal-b-untreated.toml", "her2-untreated.toml", "tnbc-untreated.toml"}) {
        const auto r = runShipped(f);
        const double fold = r.final("tumour.cells") / r.rows.front()[r.column("tumour.cells")];
        EXPECT_GT(fold, 1.0) << f << " shrinks: " << fold << "-fold over " << r.times.back() << " d";
        EXPECT_GT(r.times.back(), 360.0) << f;
        if (std::string_view(f) == "tnbc-untreated.toml") tnbcFold = fold;
        else otherFold = std::max(otherFold, fold);
    }
    EXPECT_GT(tnbcFold, otherFold);
}

TEST(Calibration, N803AloneDoesNotEliminateTnbc) {
    // Single agents give partial responses at most in the shipped scenarios: N-803 alone slows or
    // shrinks the 1e9-cell TNBC over its 26 weeks but leaves at least 1 % of it (not a cure), and it
    // does act (fewer cells than untreated at the same time).
    const auto treated = runShipped("tnbc-n803.toml");
    const auto untreated = runShipped("tnbc-untreated.toml");
    const double t = treated.times.back();
    EXPECT_GT(treated.final("tumour.cells"), 0.01 * treated.rows.front()[treated.column("tumour.cells")]);
    EXPECT_LT(treated.final("tumour.cells"), untreated.at("tumour.cells", t));
}
