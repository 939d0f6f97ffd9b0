// Snapshot writers (docs/abm.md, "Snapshot layout"): bad agent columns, sections and scales are
// input errors naming what is wrong; an unwritable place is an IoError; and the write time of one
// reference-size snapshot (75³ voxels, two fields, 25,500 agents), which must stay a small share
// of a run. The files' contents are read back with h5py in test_snapshot_h5py.py.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <unistd.h>

#include "nkscape/abm/snapshot.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"

using namespace nkscape;
using namespace nkscape::abm;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
    const fs::path p = fs::temp_directory_path() / ("nkscape-abm-snapshot-" + std::to_string(::getpid())) / name;
    fs::create_directories(p);
    return p;
}

FieldSet twoFields(const Grid& g) {
    FieldSpec o2;
    o2.name = "O2";
    o2.diffusionUm2PerMin = 1e5;
    o2.decayPerMin = 0.1;
    o2.unit = "mmHg";
    FieldSpec ck = o2;
    ck.name = "chemokine";
    ck.diffusionUm2PerMin = 1e3;
    ck.unit = "ng/mL";
    return FieldSet(g, {o2, ck});
}

AgentColumns someAgents(const Grid& g, std::size_t n) {
    AgentColumns a;
    a.kindNames = {"tumour", "NK"};
    a.extra.push_back({"granules", {}});
    for (std::size_t i = 0; i < n; ++i) {
        a.id.push_back(static_cast<std::int64_t>(i));
        a.x.push_back(static_cast<std::int32_t>(i % static_cast<std::size_t>(g.nx)));
        a.y.push_back(static_cast<std::int32_t>((i / 7) % static_cast<std::size_t>(g.ny)));
        a.z.push_back(static_cast<std::int32_t>((i / 13) % static_cast<std::size_t>(g.nz)));
        a.kind.push_back(static_cast<std::int32_t>(i % 2));
        a.clone.push_back(0);
        a.extra[0].second.push_back(1.0);
    }
    return a;
}

}  // namespace

TEST(AbmSnapshot, BadInputsNameTheProblem) {
    const Grid g{6, 5, 4, 20.0};
    FieldSet f = twoFields(g);
    AgentColumns a = someAgents(g, 4);
    const fs::path dir = scratch("bad");
    Snapshot s{.timeMin = 1.0, .step = 10, .grid = &g, .fields = &f, .agents = &a};
    a.clone.pop_back();
    try {
        writeSnapshotHdf5(dir / "a.h5", s);
        ADD_FAILURE();
    } catch (const InputError& e) {
        EXPECT_STREQ(e.what(), "snapshot: agent column 'clone' has 3 entries, 'id' has 4");
    }
    a.clone.push_back(0);
    a.kind[2] = 2;
    try {
        writeSnapshotHdf5(dir / "a.h5", s);
        ADD_FAILURE();
    } catch (const InputError& e) {
        EXPECT_STREQ(e.what(), "snapshot: agent 2 has kind 2, but there are 2 kind names");
    }
    a.kind[2] = 1;
    a.extra.push_back({"kind", std::vector<double>(4, 0.0)});
    EXPECT_THROW(writeSnapshotHdf5(dir / "a.h5", s), InputError);
    a.extra.pop_back();
    try {
        writeSectionPng(dir / "a.png", s, 4, "O2");
        ADD_FAILURE();
    } catch (const InputError& e) {
        EXPECT_STREQ(e.what(), "snapshot: section z = 4 is outside the grid (0 to 3)");
    }
    EXPECT_THROW(writeSectionPng(dir / "a.png", s, 0, "O3"), InputError);
    EXPECT_THROW(writeSectionPng(dir / "a.png", s, 0, "O2", 1.0, 1.0), InputError);
    EXPECT_THROW(writeSnapshotHdf5(dir / "no-such-folder" / "a.h5", s), IoError);
    EXPECT_THROW(writeXdmf(dir / "no-such-folder" / "series.xdmf", {{dir / "a.h5", s}}), IoError);
    // And a good write leaves the files there; the same snapshot twice gives the same bytes (no
    // object time stamps).
    writeSnapshotHdf5(dir / "a.h5", s);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    writeSnapshotHdf5(dir / "b.h5", s);
    EXPECT_EQ(io::readFile(dir / "a.h5", 1 << 24), io::readFile(dir / "b.h5", 1 << 24));
    writeSectionPng(dir / "a.png", s, 0, "O2");
    EXPECT_GT(fs::file_size(dir / "a.h5"), 6u * 5u * 4u * 8u * 2u);
    EXPECT_GT(fs::file_size(dir / "a.png"), 100u);
    fs::remove_all(dir.parent_path());
}

// One snapshot of the reference workload's size: 421,875 voxels × 2 fields (6.75 MB of doubles)
// and 25,500 agents. Written uncompressed, it takes a few tens of milliseconds; the bound is loose
// (a shared, busy machine) but an accidental quadratic or per-element write would fail it.
TEST(AbmSnapshot, ReferenceSizeWriteTime) {
    const Grid g{75, 75, 75, 20.0};
    FieldSet f = twoFields(g);
    for (std::size_t i = 0; i < g.voxels(); ++i) f.values(0)[i] = static_cast<double>(i % 97);
    const AgentColumns a = someAgents(g, 25500);
    const Snapshot s{.timeMin = 60.0, .step = 600, .grid = &g, .fields = &f, .agents = &a};
    const fs::path dir = scratch("reference");
    const auto t0 = std::chrono::steady_clock::now();
    writeSnapshotHdf5(dir / "snap.h5", s);
    const auto t1 = std::chrono::steady_clock::now();
    writeXdmf(dir / "series.xdmf", {{dir / "snap.h5", s}});
    writeSectionPng(dir / "section.png", s, 37, "O2");
    const auto t2 = std::chrono::steady_clock::now();
    const double h5 = std::chrono::duration<double>(t1 - t0).count();
    const double rest = std::chrono::duration<double>(t2 - t1).count();
    std::printf("reference snapshot: HDF5 %.1f ms (%.1f MB), XDMF + PNG %.1f ms\n", 1e3 * h5, double(fs::file_size(dir / "snap.h5")) / 1e6, 1e3 * rest);
    RecordProperty("hdf5_ms", std::to_string(1e3 * h5));
    EXPECT_LT(h5, 1.0);
    EXPECT_LT(rest, 1.0);
    fs::remove_all(dir.parent_path());
}
