#pragma once
// Shared by the validation tests that run shipped assay scenarios (scenarios/assays/): run one once
// per test program (cached), read lysis and IFN-γ per condition and E:T, compare conditions with
// paired differences over replicates.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "nkscape/assay/assay.hpp"
#include "nkscape/assay/scenario.hpp"

namespace nkscape::validation {

struct AssayRun {
    assay::LoadedAssayScenario loaded;
    assay::AssayResult result;

    const assay::ConditionResult& condition(const std::string& name) const {
        for (const auto& c : result.conditions)
            if (c.name == name) return c;
        throw std::runtime_error("no condition '" + name + "' in " + loaded.scenario.path);
    }
    std::size_t ratioIndex(double et) const {
        const auto& r = loaded.scenario.etRatios;
        for (std::size_t i = 0; i < r.size(); ++i)
            if (std::abs(r[i] - et) < 1e-12) return i;
        throw std::runtime_error("no E:T " + std::to_string(et));
    }
    /// Mean % lysis of condition `name` at E:T `et`.
    double lysis(const std::string& name, double et) const { return condition(name).ratios[ratioIndex(et)].lysisPct.mean; }
    /// Mean IFN-γ of condition `name` at E:T `et`.
    double ifng(const std::string& name, double et) const { return condition(name).ratios[ratioIndex(et)].ifng.mean; }

    /// Paired difference a − b of % lysis over replicates: mean and 95 % interval.
    assay::Interval diff(const std::string& a, const std::string& b, double et) const {
        const auto& wa = condition(a).ratios[ratioIndex(et)].wells;
        const auto& wb = condition(b).ratios[ratioIndex(et)].wells;
        std::vector<double> d;
        for (std::size_t i = 0; i < wa.size(); ++i) d.push_back(wa[i].lysisPct - wb[i].lysisPct);
        return assay::confidenceInterval95(d);
    }
};

/// The shipped assay scenario `scenario` (a file name in scenarios/assays/), run once per program.
inline const AssayRun& runAssayScenario(const std::string& scenario) {
    static std::map<std::string, AssayRun> cache;
    auto it = cache.find(scenario);
    if (it == cache.end()) {
        AssayRun r{assay::loadAssayScenario(std::filesystem::path(NKSCAPE_SOURCE_DIR "/scenarios/assays/") / scenario), {}};
        r.result = assay::runAssay(r.loaded.model, r.loaded.scenario);
        it = cache.emplace(scenario, std::move(r)).first;
    }
    return it->second;
}

/// "a is detectably above b": the paired interval is above zero and the mean at least `points`
/// percentage points of lysis.
inline void expectAbove(const AssayRun& r, const std::string& a, const std::string& b, double et, double points = 3.0) {
    const auto d = r.diff(a, b, et);
    EXPECT_GT(d.low, 0.0) << a << " vs " << b << " at E:T " << et << ": paired diff " << d.mean << " [" << d.low << ", " << d.high << "]";
    EXPECT_GE(d.mean, points) << a << " vs " << b << " at E:T " << et;
}

}  // namespace nkscape::validation
