// `nkscape abm`: load the spatial scenario, check the budget, run the engine with a progress bar,
// snapshots and checkpoints, write timeseries.csv, summary.json and the snapshots through one
// io::RunFolder (whole run or nothing). docs/abm.md, "Running".

#include "abm_command.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "nkscape/abm/engine.hpp"
#include "nkscape/abm/scenario.hpp"
#include "nkscape/abm/snapshot.hpp"
#include "nkscape/error.hpp"
#include "nkscape/io/csv.hpp"
#include "nkscape/io/file.hpp"
#include "nkscape/io/json.hpp"
#include "nkscape/io/run.hpp"
#include "nkscape/version.hpp"
#include "progress.hpp"

namespace nkscape::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;
constexpr std::string_view kStateFile = "state.bin";

int reportErrors(const std::string& path, const model::ModelError& e) {
    std::cerr << e.what() << "\n";
    std::cerr << fmt::format("{}: {} error{}\n", path, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s");
    return kExitBadInput;
}

/// One snapshot written so far: its files and what the XDMF sidecar needs to list it again.
struct WrittenSnapshot {
    std::string h5, png;
    double timeMin = 0;
    int step = 0;
    abm::AgentColumns agents;
};

template <class T>
void putVec(std::ostream& o, const std::vector<T>& v) {
    const std::uint64_t n = v.size();
    o.write(reinterpret_cast<const char*>(&n), sizeof n);
    o.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
}
template <class T>
void getVec(std::istream& in, std::vector<T>& v) {
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    if (!in || n > (std::uint64_t{1} << 34)) throw IoError("checkpoint: snapshot list is truncated or corrupt");
    v.resize(n);
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
    if (!in) throw IoError("checkpoint: snapshot list is truncated");
}
void putStr(std::ostream& o, const std::string& s) { putVec(o, std::vector<char>(s.begin(), s.end())); }
std::string getStr(std::istream& in) {
    std::vector<char> v;
    getVec(in, v);
    return {v.begin(), v.end()};
}

void saveSnapshots(std::ostream& o, const std::vector<WrittenSnapshot>& list) {
    putVec(o, std::vector<std::uint64_t>{list.size()});
    for (const auto& w : list) {
        putStr(o, w.h5);
        putStr(o, w.png);
        putVec(o, std::vector<double>{w.timeMin, static_cast<double>(w.step)});
        putVec(o, w.agents.id);
        putVec(o, w.agents.x);
        putVec(o, w.agents.y);
        putVec(o, w.agents.z);
        putVec(o, w.agents.kind);
        putVec(o, w.agents.clone);
        putVec(o, std::vector<std::uint64_t>{w.agents.extra.size(), w.agents.kindNames.size()});
        for (const auto& [name, values] : w.agents.extra) {
            putStr(o, name);
            putVec(o, values);
        }
        for (const auto& k : w.agents.kindNames) putStr(o, k);
    }
}

std::vector<WrittenSnapshot> loadSnapshots(std::istream& in) {
    std::vector<std::uint64_t> n;
    getVec(in, n);
    if (n.size() != 1) throw IoError("checkpoint: snapshot list is corrupt");
    std::vector<WrittenSnapshot> out(n[0]);
    for (auto& w : out) {
        w.h5 = getStr(in);
        w.png = getStr(in);
        std::vector<double> ts;
        getVec(in, ts);
        if (ts.size() != 2) throw IoError("checkpoint: snapshot list is corrupt");
        w.timeMin = ts[0];
        w.step = static_cast<int>(ts[1]);
        getVec(in, w.agents.id);
        getVec(in, w.agents.x);
        getVec(in, w.agents.y);
        getVec(in, w.agents.z);
        getVec(in, w.agents.kind);
        getVec(in, w.agents.clone);
        std::vector<std::uint64_t> counts;
        getVec(in, counts);
        if (counts.size() != 2) throw IoError("checkpoint: snapshot list is corrupt");
        for (std::uint64_t e = 0; e < counts[0]; ++e) {
            std::string name = getStr(in);
            std::vector<double> values;
            getVec(in, values);
            w.agents.extra.emplace_back(std::move(name), std::move(values));
        }
        for (std::uint64_t k = 0; k < counts[1]; ++k) w.agents.kindNames.push_back(getStr(in));
    }
    return out;
}

/// Peak resident memory of this process, bytes (Linux /proc; 0 elsewhere).
double peakRssBytes() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) * 1024.0;
    return 0;
}

}  // namespace

int runAbmCommand(const AbmCommandOptions& o) {
    int threads = o.threads ? io::parseThreads(*o.threads) : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    threads = std::min(threads, io::maxThreads());
    if (o.replicates < 1) throw InputError(fmt::format("--replicates must be >= 1, got {}", o.replicates));
    if (o.replicates > 1) throw NotImplementedError("nkscape abm --replicates: ensembles of replicates across MPI ranks (docs/abm.md, \"Not yet\")");
    if (o.stopAtMin && !(*o.stopAtMin > 0 && std::isfinite(*o.stopAtMin)))
        throw InputError(fmt::format("--stop-at must be a positive number of simulated minutes, got {}", *o.stopAtMin));
    if (o.checkpointEveryMin && !(*o.checkpointEveryMin > 0 && std::isfinite(*o.checkpointEveryMin)))
        throw InputError(fmt::format("--checkpoint-every must be a positive number of simulated minutes, got {}", *o.checkpointEveryMin));
    std::optional<abm::LoadedAbmScenario> loaded;
    try {
        loaded = abm::loadAbmScenario(o.scenarioPath);
        io::checkBudget(abm::estimateResources(loaded->scenario), o.limits);
    } catch (const model::ModelError& e) {
        return reportErrors(o.scenarioPath, e);
    }
    const abm::AbmScenario& sc = loaded->scenario;
    if (sc.threadsCap > 0) threads = std::min(threads, sc.threadsCap);
    // Before the computation: an unusable --out is refused now (exit 2), not after it.
    io::RunFolder run(std::filesystem::path(o.outDir), "abm");
    // Snapshots and checkpoints are written into a work folder next to --out (kept when the run is
    // interrupted, so --resume finds them; removed when the run completes).
    const std::filesystem::path work = o.resumeDir.empty() ? std::filesystem::path(o.outDir + ".checkpoint") : std::filesystem::path(o.resumeDir);
    std::error_code ec;
    if (o.resumeDir.empty()) {
        // Only a folder of ours is replaced: state.bin, snapshots, section PNGs, series.xdmf.
        if (std::filesystem::exists(work, ec)) {
            if (!std::filesystem::is_directory(work, ec))
                throw InputError("the work folder '" + work.string() + "' exists and is not a folder; remove it or choose another --out");
            for (const auto& e : std::filesystem::directory_iterator(work)) {
                const std::string n = e.path().filename().string();
                const bool ours = n == kStateFile || n == "series.xdmf" || (n.rfind("snapshot_", 0) == 0 && n.ends_with(".h5")) ||
                                  (n.rfind("section_", 0) == 0 && n.ends_with(".png")) || (n.rfind(".", 0) == 0 && n.ends_with(".tmp"));
                if (!ours || !e.is_regular_file())
                    throw InputError("the work folder '" + work.string() + "' holds '" + n +
                                     "', which nkscape did not write; remove it or choose another --out");
            }
        }
        std::filesystem::remove_all(work, ec);
        std::filesystem::create_directories(work, ec);
        if (ec) throw InputError("cannot create the work folder '" + work.string() + "': " + ec.message());
    } else if (!std::filesystem::is_regular_file(work / kStateFile)) {
        throw InputError("--resume '" + o.resumeDir + "': no " + std::string(kStateFile) + " there (a folder written by --checkpoint-every)");
    }

    const auto start = std::chrono::steady_clock::now();
    abm::Engine engine(loaded->model, sc, threads);
    std::vector<WrittenSnapshot> snaps;
    if (!o.resumeDir.empty()) {
        std::ifstream in(work / kStateFile, std::ios::binary);
        engine.load(in);
        snaps = loadSnapshots(in);
    }
    const std::string field = sc.snapshotField.empty() ? engine.fields().spec(0).name : sc.snapshotField;
    const int layer = sc.snapshotLayer >= 0 ? sc.snapshotLayer : sc.grid.nz / 2;
    double outputSeconds = 0;
    auto snapshot = [&] {
        if (!sc.snapshots) return;
        const auto t0 = std::chrono::steady_clock::now();
        WrittenSnapshot w;
        w.timeMin = engine.timeMin();
        w.step = static_cast<int>(engine.step());
        w.h5 = fmt::format("snapshot_{:07d}.h5", w.step);
        w.png = fmt::format("section_{:07d}.png", w.step);
        w.agents = engine.agentColumns();
        const abm::Snapshot s{w.timeMin, w.step, &engine.grid(), &engine.fields(), &w.agents};
        abm::writeSnapshotHdf5(work / w.h5, s);
        abm::writeSectionPng(work / w.png, s, layer, field);
        snaps.push_back(std::move(w));
        outputSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const std::int64_t checkpointEvery =
        o.checkpointEveryMin ? std::max<std::int64_t>(1, std::llround(*o.checkpointEveryMin / sc.agentStepMin)) : 0;
    auto checkpoint = [&] {
        const auto t0 = std::chrono::steady_clock::now();
        std::ostringstream out(std::ios::binary);
        engine.save(out);
        saveSnapshots(out, snaps);
        io::writeFileAtomic(work / kStateFile, out.str());
        outputSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    if (o.resumeDir.empty()) snapshot();

    const char* ci = std::getenv("CI");
    std::optional<ProgressBar> bar;
    if (!o.quiet && ::isatty(::fileno(stderr)) && !(ci && *ci)) bar.emplace("steps");
    while (!engine.done()) {
        engine.advance();
        if (engine.snapshotDue()) snapshot();
        if (checkpointEvery > 0 && engine.step() % checkpointEvery == 0 && !engine.done()) checkpoint();
        if (bar) bar->update(static_cast<std::size_t>(engine.step()), static_cast<std::size_t>(engine.totalSteps()));
        if (o.stopAtMin && engine.timeMin() >= *o.stopAtMin - 1e-9 && !engine.done()) {
            checkpoint();
            bar.reset();
            if (!o.quiet)
                fmt::print("abm '{}': stopped at {:g} min; the state is in {} (continue with --resume {})\n", sc.name, engine.timeMin(),
                           work.string(), work.string());
            return kExitOk;  // --out is not written: the RunFolder's staging folder is removed
        }
    }
    bar.reset();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // Outputs.
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::pair<std::filesystem::path, abm::Snapshot>> series;
    for (const auto& w : snaps) series.emplace_back(work / w.h5, abm::Snapshot{w.timeMin, w.step, &engine.grid(), &engine.fields(), &w.agents});
    if (sc.snapshots) abm::writeXdmf(work / "series.xdmf", series);
    const auto& ts = engine.timeseries();
    io::CsvTable table(ts.columns);
    for (const auto& r : ts.rows) {
        std::vector<io::CsvCell> cells;
        for (double v : r) cells.emplace_back(v);
        table.addRow(std::move(cells));
    }
    run.add("timeseries.csv", table.str());
    for (const auto& w : snaps) {
        run.add(w.h5, io::readFile(work / w.h5, std::size_t{1} << 40));
        run.add(w.png, io::readFile(work / w.png, std::size_t{1} << 40));
    }
    if (sc.snapshots) run.add("series.xdmf", io::readFile(work / "series.xdmf"));
    const double outputWrite = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto& times = engine.phaseTimes();
    const auto& last = ts.rows.back();
    io::Json j;
    j["kind"] = "abm";
    j["nkscape_version"] = kVersion;
    j["scenario"] = {{"name", sc.name}, {"file", o.scenarioPath}, {"seed", sc.seed}};
    j["grid"] = {{"nx", sc.grid.nx}, {"ny", sc.grid.ny}, {"nz", sc.grid.nz}, {"voxel_um", io::jsonNumber(sc.grid.voxelUm)}};
    j["duration_min"] = io::jsonNumber(sc.durationMin);
    j["steps"] = engine.totalSteps();
    io::Json fin = io::Json::object();
    for (std::size_t c = 1; c < ts.columns.size(); ++c) fin[ts.columns[c]] = io::jsonNumber(last[c]);
    j["final"] = fin;
    j["snapshots"] = snaps.size();
    // Timing: depends on the machine, so it is the only part of the folder that differs between
    // identical runs.
    j["timing"] = {{"threads", threads},
                   {"wall_s", io::jsonNumber(wall)},
                   {"fields_s", io::jsonNumber(times.fields)},
                   {"agents_s", io::jsonNumber(times.agents)},
                   {"phenotype_s", io::jsonNumber(times.phenotype)},
                   {"snapshots_and_checkpoints_s", io::jsonNumber(outputSeconds)},
                   {"final_output_s", io::jsonNumber(outputWrite)},
                   {"cell_updates", io::jsonNumber(engine.agentSteps())},
                   {"cell_updates_per_s", io::jsonNumber(engine.agentSteps() / std::max(wall, 1e-9))},
                   {"peak_rss_bytes", io::jsonNumber(peakRssBytes())}};
    run.add("summary.json", io::jsonText(j));
    const auto files = run.commit();
    std::filesystem::remove_all(work, ec);
    if (!o.quiet) {
        fmt::print("abm '{}': {:g} min on {}x{}x{} voxels, {} steps in {:.2f} s on {} thread{} (fields {:.2f} s, agents {:.2f} s, phenotype {:.2f} s, output {:.2f} s)\n",
                   sc.name, sc.durationMin, sc.grid.nx, sc.grid.ny, sc.grid.nz, engine.totalSteps(), wall, threads, threads == 1 ? "" : "s",
                   times.fields, times.agents, times.phenotype, outputSeconds + outputWrite);
        fmt::print("  tumour cells: {:g} -> {:g}; kills {:g}; {:.3g} cell-updates/s\n", ts.rows.front()[1], last[1],
                   last[ts.columns.size() - 3 * engine.fields().size() - 3], engine.agentSteps() / std::max(wall, 1e-9));
        fmt::print("wrote {} files to {}\n", files.size(), o.outDir);
    }
    return kExitOk;
}

}  // namespace nkscape::cli
