// Writes a small known snapshot series for tests/abm/test_snapshot_h5py.py to read back with h5py:
// OUT/snap_0.h5, OUT/snap_1.h5, OUT/series.xdmf, OUT/section.png. The values follow formulas
// the Python test recomputes: field "O2" at (x, y, z) is 100·z + 10·y + x + 0.25 at step 0 and twice
// that at step 1; field "TGF-β" is x·y·z / 7; agent i has id 1000 + i, voxel (i mod nx, i mod ny,
// i mod nz), kind i mod 3, clone i mod 2 − (i == 0), and "granules" = i / 2.

#include <cstdio>
#include <exception>
#include <filesystem>

#include "nkscape/abm/snapshot.hpp"

using namespace nkscape::abm;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path out = argv[1];
        std::filesystem::create_directories(out);
        const Grid g{5, 4, 3, 20.0};
        FieldSpec o2{.name = "O2", .diffusionUm2PerMin = 1e5, .decayPerMin = 0.1, .boundary = Boundary::Dirichlet, .boundaryValue = 38.0,
                     .initialValue = 0.0, .unit = "mmHg"};
        FieldSpec tgf{.name = "TGF-β", .diffusionUm2PerMin = 1e3, .decayPerMin = 0.01, .boundary = Boundary::Neumann, .boundaryValue = 0.0,
                      .initialValue = 0.0, .unit = "ng/mL"};
        FieldSet fs(g, {o2, tgf});
        AgentColumns a;
        a.kindNames = {"tumour", "NK", "CAF"};
        for (int i = 0; i < 7; ++i) {
            a.id.push_back(1000 + i);
            a.x.push_back(i % g.nx);
            a.y.push_back(i % g.ny);
            a.z.push_back(i % g.nz);
            a.kind.push_back(i % 3);
            a.clone.push_back(i == 0 ? -1 : i % 2);
        }
        a.extra.push_back({"granules", {}});
        for (int i = 0; i < 7; ++i) a.extra[0].second.push_back(i / 2.0);
        std::vector<std::pair<std::filesystem::path, Snapshot>> series;
        for (int step = 0; step < 2; ++step) {
            for (int z = 0; z < g.nz; ++z)
                for (int y = 0; y < g.ny; ++y)
                    for (int x = 0; x < g.nx; ++x) {
                        fs.values(0)[g.index(x, y, z)] = (step + 1) * (100.0 * z + 10.0 * y + x + 0.25);
                        fs.values(1)[g.index(x, y, z)] = x * y * z / 7.0;
                    }
            const Snapshot s{.timeMin = 30.0 * step, .step = 300 * step, .grid = &g, .fields = &fs, .agents = &a};
            const auto file = out / ("snap_" + std::to_string(step) + ".h5");
            writeSnapshotHdf5(file, s);
            series.emplace_back(file, s);
            writeXdmf(out / "series.xdmf", series);
            if (step == 1) writeSectionPng(out / "section.png", s, 1, "O2");
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "snapshot_writer: %s\n", e.what());
        return 1;
    }
    return 0;
}
