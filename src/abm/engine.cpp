// The spatial engine's loop: placement, phenotype (division, necrosis, secretion), contacts and
// killing through the Synapse, motility, sources into the fields. docs/abm.md, "Agents".

#include "nkscape/abm/engine.hpp"

#include <Random123/philox.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <istream>
#include <limits>
#include <numbers>
#include <ostream>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nkscape/error.hpp"
#include "nkscape/qsp/engine.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

namespace nkscape::abm {

namespace {

using model::CellCategory;
using model::Index;
using model::kNoIndex;
using model::kNoParam;

// The Philox streams (the key's second word): each use of random numbers has its own, so adding
// one never shifts another.
enum Purpose : std::uint64_t {
    kPlaceTumour = 1,
    kPlacePopulation = 2,
    kPlaceVessel = 3,
    kNecrosis = 10,
    kDivision = 11,
    kEngage = 20,
    kMove = 21,
};

/// Four uniform numbers in (0, 1) from (seed, purpose; a, b, c).
std::array<double, 4> uniforms(std::uint64_t seed, std::uint64_t purpose, std::uint64_t a, std::uint64_t b, std::uint64_t c = 0) {
    const r123::Philox4x64::key_type key = {{seed, purpose}};
    const r123::Philox4x64::ctr_type ctr = {{a, b, c, 0}};
    const auto r = r123::Philox4x64()(ctr, key);
    std::array<double, 4> u{};
    for (int i = 0; i < 4; ++i) u[static_cast<std::size_t>(i)] = (static_cast<double>(r.v[i] >> 11) + 0.5) * 0x1.0p-53;
    return u;
}

constexpr std::array<std::array<int, 3>, 6> kFaces{{{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}}};

constexpr double kMinutesPerHour = 60.0;

/// A kind of agent: the tumour (kind 0) or one population.
struct KindInfo {
    Index cellType = kNoIndex;
    CellCategory category = CellCategory::Tumour;
    std::string name;
    bool killer = false;       ///< NK or CD8 T: engages tumour cells through the synapse
    bool motile = false;
    double speedUmPerMin = 0;
    double granuleCapacity = 1;
    double refillMin = 360;    ///< time to refill one kill's worth of granules, min
    std::vector<double> uptakePerMin;  ///< per field, 1/min per cell in a voxel
};

/// Per-thread working storage for the Regulator and the Synapse (allocation-free reuse).
struct Scratch {
    synapse::Milieu milieu;
    synapse::Contacts contacts;
    synapse::CellLevels levels, levels2;
    synapse::NkState nk;
    synapse::TargetState target;
    synapse::SynapseContext ctx;
};

/// What one agent wants to do this phase (computed in parallel, applied serially).
struct Proposal {
    std::uint8_t what = 0;       ///< 0 nothing, 1 end contact, 2 engage, 3 move, 4 die, 5 divide
    std::int64_t voxel = -1;     ///< move/divide target, or the engaged target's voxel
    std::int64_t partner = -1;
    double durationMin = 0, ifng = 0, killProbability = 0;
    bool kill = false;
    std::int32_t clone = 0;      ///< daughter's clone
    std::int8_t dir = -1;
};

}  // namespace

struct Engine::Impl {
    const model::CompiledModel& m;
    const AbmScenario& s;
    int threads;
    qsp::EngineModel prepared;  // the one Regulator and Synapse, as the well-mixed engine prepares them
    Grid grid;
    FieldSet fields;
    Agents agents;
    std::vector<KindInfo> kinds;
    std::vector<synapse::CellLevels> cloneBase;  // per clone: the variant's baseline (empty for clone 0)
    std::vector<char> cloneHasFactors;
    std::vector<std::int32_t> tumourAt;   // per voxel: agent index of its tumour cell, -1 none
    std::vector<std::uint8_t> immuneAt;   // per voxel: non-tumour cells
    std::vector<std::vector<std::uint8_t>> kindAt;  // per population kind with contact effects or CAF: per voxel count
    std::vector<std::int64_t> vessels;
    std::vector<double> secretion;        // per agent × field, <unit>.mL/(cell.h)
    std::vector<std::size_t> fieldMediator;  // per field: mediator index
    std::vector<std::int64_t> mediatorField; // per mediator: field index or -1
    std::size_t o2 = 0;
    std::int64_t ifngField = -1, chemoField = -1;
    std::int64_t cafKind = -1;
    synapse::Milieu baseMilieu;
    std::vector<Scratch> scratch;
    std::vector<Proposal> proposals;
    std::vector<std::uint32_t> decideList;  // proposals (indices into mobile) that need a synapse decision this step
    std::vector<std::uint32_t> mobile;  // indices of the non-tumour agents (the effector phase loops over these only)
    std::int64_t nextId = 0;
    double necrotic = 0, divisions = 0, killsTotal = 0, contactsStarted = 0;
    double agentStepsDone = 0;
    Timeseries ts;
    PhaseTimes times;
    bool record = false;
    std::vector<ContactRecord> contactLog;
    std::vector<double> contactStart;  // per agent: start of its current contact, min (only while recording)
    std::vector<double> contactP;      // per agent: kill probability at engagement (only while recording)
    std::int64_t phenoEvery = 1, fieldEvery = 1, outputEvery = 1, snapshotEvery = 0;
    double voxelMl = 0, secScale = 0, blockMl = 0;

    Impl(const model::CompiledModel& model, const AbmScenario& sc, int nThreads)
        : m(model), s(sc), threads(std::max(1, nThreads)), prepared(model), grid(sc.grid), fields(sc.grid, fieldSpecs(sc)) {
        if (s.reactionStepLimit > 0) fields.setReactionStepLimit(s.reactionStepLimit);
        voxelMl = grid.voxelVolumeUm3() * 1e-12;
        secScale = 1.0 / (voxelMl * kMinutesPerHour);
        blockMl = voxelMl * (grid.is3d() ? 27.0 : 9.0);
        mediatorField.assign(m.mediators().size(), -1);
        for (std::size_t f = 0; f < s.fields.size(); ++f) {
            fieldMediator.push_back(static_cast<std::size_t>(s.fields[f].mediator));
            mediatorField[static_cast<std::size_t>(s.fields[f].mediator)] = static_cast<std::int64_t>(f);
        }
        const auto o2m = m.indexOf(model::Kind::Mediator, "O2");
        if (!o2m || mediatorField[*o2m] < 0) throw InputError("abm: the scenario has no O2 field");
        o2 = static_cast<std::size_t>(mediatorField[*o2m]);
        if (auto i = m.indexOf(model::Kind::Mediator, "IFN-g")) ifngField = mediatorField[*i];
        if (!s.chemotaxisField.empty()) chemoField = static_cast<std::int64_t>(fields.index(s.chemotaxisField));
        baseMilieu = synapse::basalMilieu(m);
        for (const auto& d : s.drugs) baseMilieu.therapies[d.therapy] = d.concentrationNm;
        // Kinds.
        kinds.push_back(kindInfo(s.tumourCellType, false));
        for (const auto& p : s.populations) kinds.push_back(kindInfo(p.cellType, p.motile));
        kindAt.resize(kinds.size());
        for (std::size_t k = 1; k < kinds.size(); ++k) {
            kindAt[k].assign(grid.voxels(), 0);
            if (kinds[k].category == CellCategory::Caf) cafKind = static_cast<std::int64_t>(k);
        }
        // Clones: factor multipliers become the variant's baseline (as the well-mixed engine).
        const auto& reg = prepared.regulator();
        const synapse::CellLevels base = reg.baseline(s.tumourCellType);
        for (const auto& c : s.clones) {
            synapse::FactorBaselines fb;
            for (const auto& [f, mult] : c.factorMultipliers) fb.emplace_back(f, base.factors[f] * mult);
            cloneHasFactors.push_back(fb.empty() ? 0 : 1);
            cloneBase.push_back(fb.empty() ? synapse::CellLevels{} : reg.variantBaseline(s.tumourCellType, fb));
        }
        tumourAt.assign(grid.voxels(), -1);
        immuneAt.assign(grid.voxels(), 0);
        scratch.resize(static_cast<std::size_t>(threads));
        for (auto& sc2 : scratch) {
            sc2.milieu = baseMilieu;
            sc2.contacts = synapse::Contacts::none(m);
        }
        auto every = [&](double interval) { return std::max<std::int64_t>(1, std::llround(interval / s.agentStepMin)); };
        phenoEvery = every(s.phenotypeStepMin);
        fieldEvery = every(s.fieldStepMin);
        outputEvery = every(s.outputIntervalMin);
        snapshotEvery = s.snapshotIntervalMin > 0 ? every(s.snapshotIntervalMin) : 0;
        ts.columns = {"time_min", "tumour"};
        for (const auto& c : s.clones) ts.columns.push_back("clone." + c.name);
        for (std::size_t k = 1; k < kinds.size(); ++k) ts.columns.push_back(kinds[k].name);
        for (const char* c : {"necrotic_total", "divisions_total", "kills_total", "contacts_total", "contacts_active"}) ts.columns.emplace_back(c);
        for (std::size_t f = 0; f < fields.size(); ++f)
            for (const char* q : {"mean", "min", "max"}) ts.columns.push_back("field." + fields.spec(f).name + "." + q);
    }

    static std::vector<FieldSpec> fieldSpecs(const AbmScenario& sc) {
        std::vector<FieldSpec> out;
        for (const auto& f : sc.fields) out.push_back(f.spec);
        return out;
    }

    KindInfo kindInfo(Index cellType, bool motile) const {
        KindInfo k;
        const auto& ct = m.cellTypes()[cellType];
        k.cellType = cellType;
        k.category = ct.category;
        k.name = m.entities(model::Kind::CellType)[cellType].name;
        k.killer = ct.category == CellCategory::Nk || ct.category == CellCategory::Cd8T;
        const auto speed = ct.param(model::CellParam::Speed);
        k.motile = motile && speed != kNoParam;
        k.speedUmPerMin = speed != kNoParam ? m.value(speed) / kMinutesPerHour : 0.0;  // internal um/h
        if (const auto g = ct.param(model::CellParam::GranuleCapacity); g != kNoParam) k.granuleCapacity = m.value(g);
        const auto refill = ct.param(model::CellParam::GranuleRefillTime);
        k.refillMin = (refill != kNoParam ? m.value(refill) : m.constant("assay.granule_refill_time")) * kMinutesPerHour;  // internal h
        k.uptakePerMin.assign(s.fields.size(), 0.0);
        for (const auto& u : ct.uptake) {
            if (u.target.kind != model::Kind::Mediator) continue;
            const auto f = mediatorField[u.target.index];
            if (f >= 0) k.uptakePerMin[static_cast<std::size_t>(f)] = m.value(u.param) * secScale;  // mL/(cell.h) → 1/min per cell in a voxel
        }
        return k;
    }

    [[nodiscard]] std::array<int, 3> coords(std::int64_t v) const {
        const auto nx = static_cast<std::int64_t>(grid.nx), ny = static_cast<std::int64_t>(grid.ny);
        return {static_cast<int>(v % nx), static_cast<int>((v / nx) % ny), static_cast<int>(v / (nx * ny))};
    }
    [[nodiscard]] double radiusUm(int x, int y, int z) const {
        const double cx = grid.nx * 0.5, cy = grid.ny * 0.5, cz = grid.nz * 0.5;
        const double dx = (x + 0.5 - cx), dy = (y + 0.5 - cy), dz = grid.is3d() ? (z + 0.5 - cz) : 0.0;
        return std::sqrt(dx * dx + dy * dy + dz * dz) * grid.voxelUm;
    }
    [[nodiscard]] int faces() const { return grid.is3d() ? 6 : 4; }
    /// Neighbour of voxel v across face d, or -1 outside the lattice.
    [[nodiscard]] std::int64_t neighbour(std::int64_t v, int d) const {
        auto c = coords(v);
        const auto& f = kFaces[static_cast<std::size_t>(d)];
        const int x = c[0] + f[0], y = c[1] + f[1], z = c[2] + f[2];
        if (!grid.contains(x, y, z)) return -1;
        return static_cast<std::int64_t>(grid.index(x, y, z));
    }

    void addAgentAt(int kind, std::int64_t v, int clone) {
        const auto& k = kinds[static_cast<std::size_t>(kind)];
        agents.add(nextId++, kind, v, kind == 0 ? clone : -1, k.killer ? k.granuleCapacity : 0.0);
        const auto i = static_cast<std::int32_t>(agents.size() - 1);
        if (kind == 0) tumourAt[static_cast<std::size_t>(v)] = i;
        else {
            mobile.push_back(static_cast<std::uint32_t>(i));
            ++immuneAt[static_cast<std::size_t>(v)];
            ++kindAt[static_cast<std::size_t>(kind)][static_cast<std::size_t>(v)];
        }
        secretion.resize(agents.size() * fields.size(), 0.0);
        if (record) {
            contactStart.resize(agents.size(), 0.0);
            contactP.resize(agents.size(), 0.0);
        }
    }

    void place() {
        // Tumour: every voxel within the radius, in voxel order; the clone by the shares.
        for (int z = 0; z < grid.nz; ++z)
            for (int y = 0; y < grid.ny; ++y)
                for (int x = 0; x < grid.nx; ++x) {
                    if (radiusUm(x, y, z) > s.tumourRadiusUm) continue;
                    const auto v = static_cast<std::int64_t>(grid.index(x, y, z));
                    const double u = uniforms(s.seed, kPlaceTumour, static_cast<std::uint64_t>(v), 0)[0];
                    int clone = 0;
                    double acc = 0;
                    for (std::size_t c = 1; c < s.clones.size(); ++c) {
                        acc += s.clones[c].share;
                        if (u < acc) {
                            clone = static_cast<int>(c);
                            break;
                        }
                    }
                    addAgentAt(0, v, clone);
                }
        // Populations: rejection sampling in the shell (or the lattice), room permitting.
        for (std::size_t p = 0; p < s.populations.size(); ++p) {
            const auto& pop = s.populations[p];
            const int kind = static_cast<int>(p + 1);
            for (std::int64_t i = 0; i < pop.count; ++i) {
                bool placed = false;
                for (std::uint64_t attempt = 0; attempt < 10000 && !placed; ++attempt) {
                    const auto u = uniforms(s.seed, kPlacePopulation, (static_cast<std::uint64_t>(p) << 40) | static_cast<std::uint64_t>(i), attempt);
                    const int x = std::min(grid.nx - 1, static_cast<int>(u[0] * grid.nx));
                    const int y = std::min(grid.ny - 1, static_cast<int>(u[1] * grid.ny));
                    const int z = std::min(grid.nz - 1, static_cast<int>(u[2] * grid.nz));
                    if (pop.placement == Placement::Shell) {
                        const double r = radiusUm(x, y, z);
                        if (r < pop.innerRadiusUm || r > pop.outerRadiusUm) continue;
                    }
                    const auto v = static_cast<std::int64_t>(grid.index(x, y, z));
                    if (immuneAt[static_cast<std::size_t>(v)] >= s.immunePerVoxel) continue;
                    addAgentAt(kind, v, -1);
                    placed = true;
                }
                if (!placed)
                    throw InputError("abm: population '" + kinds[static_cast<std::size_t>(kind)].name + "': cannot place cell " + std::to_string(i + 1) +
                                     " of " + std::to_string(pop.count) + " in its shell (no room after 10,000 tries): widen the shell or lower count");
            }
        }
        // Vessels.
        for (std::int64_t i = 0; i < s.vesselCount; ++i) {
            bool placed = false;
            for (std::uint64_t attempt = 0; attempt < 10000 && !placed; ++attempt) {
                const auto u = uniforms(s.seed, kPlaceVessel, static_cast<std::uint64_t>(i), attempt);
                const int x = std::min(grid.nx - 1, static_cast<int>(u[0] * grid.nx));
                const int y = std::min(grid.ny - 1, static_cast<int>(u[1] * grid.ny));
                const int z = std::min(grid.nz - 1, static_cast<int>(u[2] * grid.nz));
                if (radiusUm(x, y, z) < s.vesselMinRadiusUm) continue;
                vessels.push_back(static_cast<std::int64_t>(grid.index(x, y, z)));
                placed = true;
            }
            if (!placed) throw InputError("abm: [vessels]: cannot place vessel " + std::to_string(i + 1) + " outside min_radius");
        }
        std::sort(vessels.begin(), vessels.end());
        vessels.erase(std::unique(vessels.begin(), vessels.end()), vessels.end());
    }

    void rebuildMobile() {
        mobile.clear();
        for (std::size_t i = 0; i < agents.size(); ++i)
            if (agents.kind[i] != 0) mobile.push_back(static_cast<std::uint32_t>(i));
    }

    void rebuildOccupancy() {
        rebuildMobile();
        std::fill(tumourAt.begin(), tumourAt.end(), -1);
        std::fill(immuneAt.begin(), immuneAt.end(), 0);
        for (auto& k : kindAt) std::fill(k.begin(), k.end(), 0);
        for (std::size_t i = 0; i < agents.size(); ++i) {
            if (!agents.alive[i]) continue;
            const auto v = static_cast<std::size_t>(agents.voxel[i]);
            if (agents.kind[i] == 0) tumourAt[v] = static_cast<std::int32_t>(i);
            else {
                ++immuneAt[v];
                ++kindAt[static_cast<std::size_t>(agents.kind[i])][v];
            }
        }
    }

    [[nodiscard]] int threadIndex() const {
#ifdef _OPENMP
        return omp_get_thread_num();
#else
        return 0;
#endif
    }

    /// The milieu at voxel v: field mediators at their voxel values, the others basal; drugs constant.
    void milieuAt(std::int64_t v, synapse::Milieu& out) const {
        for (std::size_t f = 0; f < fields.size(); ++f) out.mediators[fieldMediator[f]] = fields.values(f)[static_cast<std::size_t>(v)];
    }
    /// Density of each population's cells in the 3×3(×3) block around v (cell/mL), for contact regulations.
    void contactsAt(std::int64_t v, synapse::Contacts& out) const {
        std::fill(out.cellTypes.begin(), out.cellTypes.end(), 0.0);
        const auto c = coords(v);
        const int zr = grid.is3d() ? 1 : 0;
        for (std::size_t k = 1; k < kinds.size(); ++k) {
            double n = 0;
            for (int dz = -zr; dz <= zr; ++dz)
                for (int dy = -1; dy <= 1; ++dy)
                    for (int dx = -1; dx <= 1; ++dx) {
                        const int x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
                        if (grid.contains(x, y, z)) n += kindAt[k][grid.index(x, y, z)];
                    }
            out.cellTypes[kinds[k].cellType] += n / blockMl;
        }
    }
    [[nodiscard]] double cafCountAt(std::int64_t v) const {
        if (cafKind < 0) return 0;
        const auto c = coords(v);
        const int zr = grid.is3d() ? 1 : 0;
        double n = 0;
        for (int dz = -zr; dz <= zr; ++dz)
            for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx) {
                    const int x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
                    if (grid.contains(x, y, z)) n += kindAt[static_cast<std::size_t>(cafKind)][grid.index(x, y, z)];
                }
        return n;
    }

    /// The tumour cell i's levels in the milieu/contacts of `sc` into sc.levels (clone traits applied).
    void tumourLevels(std::size_t i, Scratch& sc) const {
        const auto clone = static_cast<std::size_t>(agents.clone[i]);
        const auto& reg = prepared.regulator();
        if (cloneHasFactors[clone]) reg.setPoint(s.tumourCellType, cloneBase[clone], sc.milieu, sc.contacts, sc.levels);
        else reg.setPoint(s.tumourCellType, sc.milieu, sc.contacts, sc.levels);
        for (const auto& [lig, mult] : s.clones[clone].ligandMultipliers) sc.levels.ligands[lig] *= mult;
        for (const auto& [med, mult] : s.clones[clone].secretionMultipliers) sc.levels.secretion[med] *= mult;
    }

    // ---- phenotype: division, necrosis, secretion -------------------------------------------------

    void phenotype(std::int64_t stepIndex) {
        const double dt = s.phenotypeStepMin;
        const std::size_t n = agents.size();
        proposals.assign(n, Proposal{});
        const auto o2v = fields.values(o2);
        const double ln2 = std::numbers::ln2;
        const double sat = s.o2SaturationMm, hyp = s.o2HypoxicMm;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (std::int64_t ii = 0; ii < static_cast<std::int64_t>(n); ++ii) {
            const auto i = static_cast<std::size_t>(ii);
            if (!agents.alive[i] || agents.kind[i] != 0) continue;
            const auto v = agents.voxel[i];
            const double c = o2v[static_cast<std::size_t>(v)];
            const auto u = uniforms(s.seed, kDivision, static_cast<std::uint64_t>(agents.id[i]), static_cast<std::uint64_t>(stepIndex));
            Proposal& p = proposals[i];
            if (c < s.o2NecrosisMm) {
                if (u[0] < -std::expm1(-s.necrosisRatePerMin * dt)) p.what = 4;
                continue;
            }
            const double g = ln2 / s.cycleTimeMin * std::clamp((c - hyp) / (sat - hyp), 0.0, 1.0);
            if (!(u[1] < -std::expm1(-g * dt))) continue;
            // A free face neighbour, chosen uniformly among the free ones (growth limited by space).
            std::array<std::int64_t, 6> free{};
            int nFree = 0;
            for (int d = 0; d < faces(); ++d) {
                const auto w = neighbour(v, d);
                if (w >= 0 && tumourAt[static_cast<std::size_t>(w)] < 0) free[static_cast<std::size_t>(nFree++)] = w;
            }
            if (nFree == 0) continue;
            p.what = 5;
            p.voxel = free[static_cast<std::size_t>(std::min(nFree - 1, static_cast<int>(u[2] * nFree)))];
            p.clone = agents.clone[i];
            if (p.clone == 0) {
                double acc = 0;
                for (std::size_t cl = 1; cl < s.clones.size(); ++cl) {
                    acc += s.clones[cl].switchPerDivision;
                    if (u[3] < acc) {
                        p.clone = static_cast<std::int32_t>(cl);
                        break;
                    }
                }
            }
        }
        // Apply in agent order: the lowest id wins a contested voxel.
        for (std::size_t i = 0; i < n; ++i) {
            const Proposal& p = proposals[i];
            if (p.what == 4) {
                agents.alive[i] = 0;
                tumourAt[static_cast<std::size_t>(agents.voxel[i])] = -1;
                ++necrotic;
            } else if (p.what == 5 && tumourAt[static_cast<std::size_t>(p.voxel)] < 0) {
                addAgentAt(0, p.voxel, p.clone);
                ++divisions;
            }
        }
        compact();
        computeSecretion();
    }


    void compact() {
        const std::vector<std::uint8_t> alive = agents.alive;
        if (std::all_of(alive.begin(), alive.end(), [](std::uint8_t a) { return a != 0; })) return;
        const std::size_t nf = fields.size();
        std::size_t w = 0;
        for (std::size_t r = 0; r < alive.size(); ++r) {
            if (!alive[r]) continue;
            std::copy_n(secretion.begin() + static_cast<std::ptrdiff_t>(r * nf), nf, secretion.begin() + static_cast<std::ptrdiff_t>(w * nf));
            if (record) {
                contactStart[w] = contactStart[r];
                contactP[w] = contactP[r];
            }
            ++w;
        }
        secretion.resize(w * nf);
        if (record) {
            contactStart.resize(w);
            contactP.resize(w);
        }
        agents.compact();
        rebuildOccupancy();
    }

    /// Every agent's secretion set-point of the field mediators in its voxel's milieu.
    void computeSecretion() {
        const std::size_t n = agents.size(), nf = fields.size();
        secretion.assign(n * nf, 0.0);
        const auto& reg = prepared.regulator();
#pragma omp parallel for schedule(static) num_threads(threads)
        for (std::int64_t ii = 0; ii < static_cast<std::int64_t>(n); ++ii) {
            const auto i = static_cast<std::size_t>(ii);
            Scratch& sc = scratch[static_cast<std::size_t>(threadIndex())];
            milieuAt(agents.voxel[i], sc.milieu);
            std::fill(sc.contacts.cellTypes.begin(), sc.contacts.cellTypes.end(), 0.0);
            if (agents.kind[i] == 0) tumourLevels(i, sc);
            else reg.setPoint(kinds[static_cast<std::size_t>(agents.kind[i])].cellType, sc.milieu, sc.contacts, sc.levels);
            for (std::size_t f = 0; f < nf; ++f) secretion[i * nf + f] = sc.levels.secretion[fieldMediator[f]];
        }
    }

    // ---- effectors and motility -------------------------------------------------------------------

    void effectorsAndMoves(std::int64_t stepIndex) {
        const double dt = s.agentStepMin;
        const std::size_t n = mobile.size();
        proposals.assign(n, Proposal{});
        const auto& syn = prepared.synapse();
        const auto& reg = prepared.regulator();
        const double sigma2 = std::log1p(s.killTimeCv * s.killTimeCv);
        // Pass 1 (cheap, serial): contact ends, which free effectors meet a target, moves. The
        // synapse decisions, the expensive part, are listed and computed in pass 2 in parallel.
        // Why two passes: a parallel region per agent step over thousands of cheap agents costs
        // more in barriers than it saves (badly so on a loaded machine); decisions are few and dear.
        decideList.clear();
        for (std::int64_t jj = 0; jj < static_cast<std::int64_t>(n); ++jj) {
            const auto i = static_cast<std::size_t>(mobile[static_cast<std::size_t>(jj)]);
            if (!agents.alive[i]) continue;
            const auto& k = kinds[static_cast<std::size_t>(agents.kind[i])];
            Proposal& p = proposals[static_cast<std::size_t>(jj)];
            const auto v = agents.voxel[i];
            const auto id = static_cast<std::uint64_t>(agents.id[i]);
            if (k.killer) {
                if (agents.contact[i] != static_cast<std::uint8_t>(ContactState::Free)) {
                    if (agents.contactLeftMin[i] - dt <= 0) p.what = 1;
                    continue;  // engaged cells do not move
                }
                // Free: a tumour cell in the voxel or across a face is met (contact formation).
                std::array<std::int64_t, 7> near{};
                int nNear = 0;
                if (tumourAt[static_cast<std::size_t>(v)] >= 0) near[static_cast<std::size_t>(nNear++)] = v;
                for (int d = 0; d < faces(); ++d) {
                    const auto w = neighbour(v, d);
                    if (w >= 0 && tumourAt[static_cast<std::size_t>(w)] >= 0) near[static_cast<std::size_t>(nNear++)] = w;
                }
                if (nNear > 0) {
                    const auto u = uniforms(s.seed, kEngage, id, static_cast<std::uint64_t>(stepIndex));
                    const auto tv = near[static_cast<std::size_t>(std::min(nNear - 1, static_cast<int>(u[0] * nNear)))];
                    p.what = 2;
                    p.voxel = tv;
                    p.partner = agents.id[static_cast<std::size_t>(tumourAt[static_cast<std::size_t>(tv)])];
                    decideList.push_back(static_cast<std::uint32_t>(jj));
                    continue;
                }
            }
            if (!k.motile) continue;
            // Persistent random walk on the faces, biased up the chemokine gradient, slowed by CAFs.
            const auto u = uniforms(s.seed, kMove, id, static_cast<std::uint64_t>(stepIndex));
            double rate = k.speedUmPerMin * dt / grid.voxelUm;
            if (s.cafHalfCount > 0) rate /= 1.0 + cafCountAt(v) / s.cafHalfCount;
            if (!(u[0] < rate)) continue;
            std::array<double, 6> w{};
            std::array<double, 3> grad{0, 0, 0};
            if (chemoField >= 0 && s.chemotaxisBias > 0) {
                const auto vals = fields.values(static_cast<std::size_t>(chemoField));
                for (int d = 0; d < faces(); d += 2) {
                    const auto a = neighbour(v, d), b = neighbour(v, d + 1);
                    const double ca = a >= 0 ? vals[static_cast<std::size_t>(a)] : vals[static_cast<std::size_t>(v)];
                    const double cb = b >= 0 ? vals[static_cast<std::size_t>(b)] : vals[static_cast<std::size_t>(v)];
                    grad[static_cast<std::size_t>(d / 2)] = ca - cb;
                }
                const double norm = std::sqrt(grad[0] * grad[0] + grad[1] * grad[1] + grad[2] * grad[2]);
                if (norm > 0)
                    for (auto& g : grad) g /= norm;
            }
            double total = 0;
            for (int d = 0; d < faces(); ++d) {
                const double sign = (d % 2 == 0) ? 1.0 : -1.0;
                double e = s.chemotaxisBias * sign * grad[static_cast<std::size_t>(d / 2)];
                if (agents.dir[i] == d) e += s.persistence;
                w[static_cast<std::size_t>(d)] = std::exp(e);
                total += w[static_cast<std::size_t>(d)];
            }
            double pick = u[1] * total;
            int d = 0;
            for (; d < faces() - 1; ++d) {
                pick -= w[static_cast<std::size_t>(d)];
                if (pick < 0) break;
            }
            const auto to = neighbour(v, d);
            if (to < 0) continue;
            p.what = 3;
            p.voxel = to;
            p.dir = static_cast<std::int8_t>(d);
        }
        // Pass 2: the synapse decisions of this step's engagements (pure functions of the state at
        // the start of the step and of (seed, id, step): the same for any thread count).
        const auto nd = static_cast<std::int64_t>(decideList.size());
#pragma omp parallel for schedule(static) num_threads(threads) if (nd >= 64)
        for (std::int64_t q = 0; q < nd; ++q) {
            const std::size_t j = decideList[static_cast<std::size_t>(q)];
            const auto i = static_cast<std::size_t>(mobile[j]);
            Proposal& p = proposals[j];
            const auto& k = kinds[static_cast<std::size_t>(agents.kind[i])];
            const auto v = agents.voxel[i];
            const auto tv = p.voxel;
            const auto t = static_cast<std::size_t>(tumourAt[static_cast<std::size_t>(tv)]);
            const auto u = uniforms(s.seed, kEngage, static_cast<std::uint64_t>(agents.id[i]), static_cast<std::uint64_t>(stepIndex));
            Scratch& sc = scratch[static_cast<std::size_t>(threadIndex())];
            // The effector in its milieu and contacts (MDSC contact lowers NKG2D/CD247 through
            // the Regulator's contact regulations); the target in its own voxel's milieu.
            milieuAt(v, sc.milieu);
            contactsAt(v, sc.contacts);
            reg.nkState(k.cellType, sc.milieu, sc.contacts, sc.nk, sc.levels2);
            sc.nk.granules = agents.granules[i];
            syn.context(sc.milieu, sc.ctx);
            milieuAt(tv, sc.milieu);
            std::fill(sc.contacts.cellTypes.begin(), sc.contacts.cellTypes.end(), 0.0);
            tumourLevels(t, sc);
            sc.target.ligands = sc.levels.ligands;
            const synapse::SynapseOutcome o = syn.decide(sc.ctx, sc.nk, sc.target);
            p.kill = u[1] < o.killProbability;
            p.killProbability = o.killProbability;
            const double mean = p.kill ? o.killTime : (o.contactTime > 0 ? o.contactTime : o.killTime);
            // Log-normal duration with the stated mean and CV (Jenkins et al. 2015: 12.8 ± 1.1 min).
            const double z = std::sqrt(-2.0 * std::log(u[2])) * std::cos(2.0 * std::numbers::pi * u[3]);
            p.durationMin = mean * std::exp(std::sqrt(sigma2) * z - 0.5 * sigma2);
            p.ifng = o.ifng;
        }
        // Apply in agent order.
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t i = mobile[j];
            const Proposal& p = proposals[j];
            if (p.what == 0) {
                if (agents.contact[i] != static_cast<std::uint8_t>(ContactState::Free)) agents.contactLeftMin[i] -= dt;
                else if (kinds[static_cast<std::size_t>(agents.kind[i])].killer) refill(i, dt);
                continue;
            }
            if (p.what == 1) {
                const bool killing = agents.contact[i] == static_cast<std::uint8_t>(ContactState::Killing);
                const auto tv = static_cast<std::size_t>(agents.partnerVoxel[i]);
                const auto t = tumourAt[tv];
                bool killed = false;
                if (killing) {
                    agents.granules[i] = std::max(0.0, agents.granules[i] - 1.0);
                    if (t >= 0 && agents.id[static_cast<std::size_t>(t)] == agents.partner[i] && agents.alive[static_cast<std::size_t>(t)]) {
                        agents.alive[static_cast<std::size_t>(t)] = 0;
                        tumourAt[tv] = -1;
                        ++agents.kills[i];
                        ++killsTotal;
                        killed = true;
                    }
                }
                if (record)
                    contactLog.push_back(ContactRecord{agents.id[i], agents.partner[i], contactStart[i],
                                                       static_cast<double>(stepIndex + 1) * dt - contactStart[i], contactP[i], killed});
                agents.contact[i] = static_cast<std::uint8_t>(ContactState::Free);
                agents.partner[i] = -1;
                agents.partnerVoxel[i] = -1;
                agents.contactLeftMin[i] = 0;
                agents.contactIfng[i] = 0;
            } else if (p.what == 2) {
                const auto t = tumourAt[static_cast<std::size_t>(p.voxel)];
                if (t < 0 || agents.id[static_cast<std::size_t>(t)] != p.partner) continue;  // killed earlier in this step
                agents.contact[i] = static_cast<std::uint8_t>(p.kill ? ContactState::Killing : ContactState::Failing);
                agents.partner[i] = p.partner;
                agents.partnerVoxel[i] = p.voxel;
                agents.contactLeftMin[i] = p.durationMin;
                agents.contactIfng[i] = p.ifng;
                ++contactsStarted;
                if (record) {
                    contactStart[i] = static_cast<double>(stepIndex + 1) * dt;  // the contact holds from the end of this step
                    contactP[i] = p.killProbability;
                }
            } else if (p.what == 3) {
                const auto to = static_cast<std::size_t>(p.voxel);
                if (immuneAt[to] >= s.immunePerVoxel) continue;
                const auto from = static_cast<std::size_t>(agents.voxel[i]);
                const auto kind = static_cast<std::size_t>(agents.kind[i]);
                --immuneAt[from];
                --kindAt[kind][from];
                ++immuneAt[to];
                ++kindAt[kind][to];
                agents.voxel[i] = p.voxel;
                agents.dir[i] = p.dir;
                if (kinds[kind].killer) refill(i, dt);
            }
        }
    }

    void refill(std::size_t i, double dt) {
        const auto& k = kinds[static_cast<std::size_t>(agents.kind[i])];
        agents.granules[i] = std::min(k.granuleCapacity, agents.granules[i] + dt / k.refillMin);
    }

    // ---- fields -----------------------------------------------------------------------------------

    void writeSources() {
        const std::size_t nf = fields.size();
        for (std::size_t f = 0; f < nf; ++f) {
            auto src = fields.source(f);
            auto up = fields.uptake(f);
            std::fill(src.begin(), src.end(), 0.0);
            std::fill(up.begin(), up.end(), 0.0);
        }
        for (std::size_t i = 0; i < agents.size(); ++i) {
            if (!agents.alive[i]) continue;
            const auto v = static_cast<std::size_t>(agents.voxel[i]);
            const auto& k = kinds[static_cast<std::size_t>(agents.kind[i])];
            for (std::size_t f = 0; f < nf; ++f) {
                const double sec = secretion[i * nf + f];
                if (sec > 0) fields.source(f)[v] += sec * secScale;
                if (k.uptakePerMin[f] > 0) fields.uptake(f)[v] += k.uptakePerMin[f];
            }
            if (agents.kind[i] == 0) fields.uptake(o2)[v] += s.o2UptakePerMin;
            if (ifngField >= 0 && agents.contactIfng[i] > 0) fields.source(static_cast<std::size_t>(ifngField))[v] += agents.contactIfng[i] * secScale;
        }
        for (const auto v : vessels) {
            fields.uptake(o2)[static_cast<std::size_t>(v)] += s.vesselExchangePerMin;
            fields.source(o2)[static_cast<std::size_t>(v)] += s.vesselExchangePerMin * s.vesselO2Mm;
        }
    }

    void recordRow(double tMin) {
        std::vector<double> row{tMin};
        std::vector<double> byKind(kinds.size(), 0.0), byClone(s.clones.size(), 0.0);
        double active = 0;
        for (std::size_t i = 0; i < agents.size(); ++i) {
            if (!agents.alive[i]) continue;
            byKind[static_cast<std::size_t>(agents.kind[i])] += 1;
            if (agents.kind[i] == 0) byClone[static_cast<std::size_t>(agents.clone[i])] += 1;
            if (agents.contact[i] != static_cast<std::uint8_t>(ContactState::Free)) active += 1;
        }
        row.push_back(byKind[0]);
        row.insert(row.end(), byClone.begin(), byClone.end());
        row.insert(row.end(), byKind.begin() + 1, byKind.end());
        for (double c : {necrotic, divisions, killsTotal, contactsStarted, active}) row.push_back(c);
        for (std::size_t f = 0; f < fields.size(); ++f) {
            const auto vals = fields.values(f);
            double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
            for (double x : vals) {
                sum += x;
                lo = std::min(lo, x);
                hi = std::max(hi, x);
            }
            row.push_back(sum / static_cast<double>(vals.size()));
            row.push_back(lo);
            row.push_back(hi);
        }
        ts.rows.push_back(std::move(row));
    }
};

Engine::Engine(const model::CompiledModel& m, const AbmScenario& s, int threads, bool place) : impl_(std::make_unique<Impl>(m, s, threads)) {
    if (!(s.agentStepMin > 0) || !(s.durationMin > 0)) throw InputError("abm: duration and agent_step must be > 0");
    totalSteps_ = std::llround(s.durationMin / s.agentStepMin);
    if (place) impl_->place();
    impl_->computeSecretion();
    impl_->recordRow(0.0);
}

Engine::~Engine() = default;

std::int64_t Engine::addAgent(int kind, int x, int y, int z, int clone) {
    auto& d = *impl_;
    if (kind < 0 || static_cast<std::size_t>(kind) >= d.kinds.size()) throw InputError("abm: no agent kind " + std::to_string(kind));
    if (!d.grid.contains(x, y, z)) throw InputError("abm: voxel outside the lattice");
    const auto v = static_cast<std::int64_t>(d.grid.index(x, y, z));
    if (kind == 0 && d.tumourAt[static_cast<std::size_t>(v)] >= 0) throw InputError("abm: voxel already holds a tumour cell");
    if (kind != 0 && d.immuneAt[static_cast<std::size_t>(v)] >= d.s.immunePerVoxel) throw InputError("abm: voxel is full");
    if (kind == 0 && (clone < 0 || static_cast<std::size_t>(clone) >= d.s.clones.size())) throw InputError("abm: no clone " + std::to_string(clone));
    d.addAgentAt(kind, v, clone);
    d.computeSecretion();
    return d.nextId - 1;
}

void Engine::advance() {
    if (done()) return;
    auto& d = *impl_;
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    if (step_ % d.phenoEvery == 0 && step_ > 0) {
        d.phenotype(step_);
        auto t1 = clock::now();
        d.times.phenotype += std::chrono::duration<double>(t1 - t0).count();
        t0 = t1;
    }
    d.effectorsAndMoves(step_);
    std::size_t living = 0;
    for (auto a : d.agents.alive) living += a;
    d.agentStepsDone += static_cast<double>(living);
    auto t1 = clock::now();
    d.times.agents += std::chrono::duration<double>(t1 - t0).count();
    ++step_;
    if (step_ % d.fieldEvery == 0) {
        d.writeSources();
        d.fields.step(d.s.fieldStepMin, d.threads);
        d.times.fields += std::chrono::duration<double>(clock::now() - t1).count();
    }
    if (step_ % d.outputEvery == 0 || step_ == totalSteps_) d.recordRow(timeMin());
}

double Engine::timeMin() const noexcept { return static_cast<double>(step_) * impl_->s.agentStepMin; }
bool Engine::snapshotDue() const noexcept {
    return step_ == totalSteps_ || (impl_->snapshotEvery > 0 && step_ % impl_->snapshotEvery == 0);
}
const Grid& Engine::grid() const noexcept { return impl_->grid; }
const FieldSet& Engine::fields() const noexcept { return impl_->fields; }
FieldSet& Engine::fields() noexcept { return impl_->fields; }
const Agents& Engine::agents() const noexcept { return impl_->agents; }
const Timeseries& Engine::timeseries() const noexcept { return impl_->ts; }
const PhaseTimes& Engine::phaseTimes() const noexcept { return impl_->times; }
double Engine::agentSteps() const noexcept { return impl_->agentStepsDone; }
void Engine::recordContacts(bool on) {
    impl_->record = on;
    impl_->contactStart.assign(impl_->agents.size(), 0.0);
    impl_->contactP.assign(impl_->agents.size(), 0.0);
}
const std::vector<ContactRecord>& Engine::contacts() const noexcept { return impl_->contactLog; }

std::vector<std::string> Engine::kindNames() const {
    std::vector<std::string> out;
    for (const auto& k : impl_->kinds) out.push_back(k.name);
    return out;
}

AgentColumns Engine::agentColumns() const {
    const auto& d = *impl_;
    AgentColumns c;
    c.kindNames = kindNames();
    std::vector<double> granules, kills, contact;
    for (std::size_t i = 0; i < d.agents.size(); ++i) {
        if (!d.agents.alive[i]) continue;
        const auto xyz = d.coords(d.agents.voxel[i]);
        c.id.push_back(d.agents.id[i]);
        c.x.push_back(xyz[0]);
        c.y.push_back(xyz[1]);
        c.z.push_back(xyz[2]);
        c.kind.push_back(d.agents.kind[i]);
        c.clone.push_back(d.agents.clone[i]);
        granules.push_back(d.agents.granules[i]);
        kills.push_back(d.agents.kills[i]);
        contact.push_back(d.agents.contact[i]);
    }
    c.extra.emplace_back("granules", std::move(granules));
    c.extra.emplace_back("kills", std::move(kills));
    c.extra.emplace_back("contact", std::move(contact));
    return c;
}

namespace {
constexpr char kMagic[8] = {'N', 'K', 'A', 'B', 'M', 'C', 'K', '1'};
template <class T>
void putPod(std::ostream& o, const T& v) {
    o.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <class T>
void getPod(std::istream& in, T& v) {
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    if (!in) throw IoError("checkpoint: truncated");
}
}  // namespace

void Engine::save(std::ostream& out) const {
    const auto& d = *impl_;
    out.write(kMagic, sizeof kMagic);
    putPod(out, d.s.seed);
    putPod(out, totalSteps_);
    putPod(out, step_);
    putPod(out, d.nextId);
    for (double c : {d.necrotic, d.divisions, d.killsTotal, d.contactsStarted, d.agentStepsDone}) putPod(out, c);
    d.agents.save(out);
    const std::uint64_t ns = d.secretion.size();
    putPod(out, ns);
    out.write(reinterpret_cast<const char*>(d.secretion.data()), static_cast<std::streamsize>(ns * sizeof(double)));
    const std::uint64_t rows = d.ts.rows.size(), cols = d.ts.columns.size();
    putPod(out, rows);
    putPod(out, cols);
    for (const auto& r : d.ts.rows) out.write(reinterpret_cast<const char*>(r.data()), static_cast<std::streamsize>(cols * sizeof(double)));
    d.fields.save(out);
    if (!out) throw IoError("checkpoint: cannot write the engine state");
}

void Engine::load(std::istream& in) {
    auto& d = *impl_;
    char magic[8];
    in.read(magic, sizeof magic);
    if (!in || std::memcmp(magic, kMagic, sizeof magic) != 0) throw IoError("checkpoint: not an nkscape abm checkpoint");
    std::uint64_t seed = 0;
    std::int64_t total = 0;
    getPod(in, seed);
    getPod(in, total);
    if (seed != d.s.seed || total != totalSteps_) throw InputError("checkpoint: written for another scenario (seed or duration differ)");
    getPod(in, step_);
    getPod(in, d.nextId);
    for (double* c : {&d.necrotic, &d.divisions, &d.killsTotal, &d.contactsStarted, &d.agentStepsDone}) getPod(in, *c);
    d.agents.load(in);
    std::uint64_t ns = 0;
    getPod(in, ns);
    if (ns != d.agents.size() * d.fields.size()) throw IoError("checkpoint: secretion table does not match the agents");
    d.secretion.resize(ns);
    in.read(reinterpret_cast<char*>(d.secretion.data()), static_cast<std::streamsize>(ns * sizeof(double)));
    std::uint64_t rows = 0, cols = 0;
    getPod(in, rows);
    getPod(in, cols);
    if (cols != d.ts.columns.size() || rows > (std::uint64_t{1} << 32)) throw InputError("checkpoint: written for another scenario (columns differ)");
    d.ts.rows.assign(rows, std::vector<double>(cols));
    for (auto& r : d.ts.rows) in.read(reinterpret_cast<char*>(r.data()), static_cast<std::streamsize>(cols * sizeof(double)));
    if (!in) throw IoError("checkpoint: truncated timeseries");
    d.fields.load(in);
    for (const auto v : d.agents.voxel)
        if (v < 0 || static_cast<std::size_t>(v) >= d.grid.voxels()) throw IoError("checkpoint: an agent lies outside the lattice");
    for (const auto k : d.agents.kind)
        if (k < 0 || static_cast<std::size_t>(k) >= d.kinds.size()) throw IoError("checkpoint: unknown agent kind");
    d.rebuildOccupancy();
    if (d.record) {
        d.contactStart.assign(d.agents.size(), 0.0);
        d.contactP.assign(d.agents.size(), 0.0);
    }
}

}  // namespace nkscape::abm
