// Model overlays (src/model/overlay.cpp): a root file naming a base model and replacing some of
// its parameters, with units converted, values checked like the model file's, and every problem
// reported together with file:line:column.

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "nkscape/model/describe.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/qsp/scenario.hpp"

using namespace nkscape::model;

namespace {

const char* kBase = R"TOML([model]
name = "base"
version = "1"

[[receptor]]
name = "R"
class = "activating"
weight = { value = 1, unit = "1", source = "assumption: a test value", range = [0.5, 4] }

[[cell_type]]
name = "T"
category = "tumour"
subtype = "tnbc"
doubling_time = { value = 100, unit = "d", source = "pmid:24895040", range = [60, 146] }
)TOML";

std::vector<std::string> errorsOf(const std::map<std::string, std::string>& files, const std::string& root) {
    try {
        (void)loadModel(root, MemoryFileSource(files));
    } catch (const ModelError& e) {
        std::vector<std::string> out;
        for (const auto& d : e.diagnostics()) out.push_back(d.str());
        return out;
    }
    return {};
}

}  // namespace

TEST(Overlay, ReplacesValuesWithUnitsAndProvenance) {
    const std::map<std::string, std::string> files{
        {"m/base.toml", kBase},
        {"fits/o.toml", R"TOML([overlay]
base = "../m/base.toml"
description = "a fitted variant"

[[set]]
path = "cell_type/T/doubling_time"
value = 2880
unit = "h"
source = "fit: TA1-TNBC (nkscape calibrate, seed 1)"

[[set]]
path = "receptor/R/weight"
value = 2.5
unit = "1"
source = "doi:10.1038/ni.1810"
note = "kept"
)TOML"}};
    const MemoryFileSource src(files);
    const auto base = loadModel("m/base.toml", src);
    const auto m = loadModel("fits/o.toml", src);
    const auto dt = *m.findParameter("cell_type/T/doubling_time");
    EXPECT_DOUBLE_EQ(m.value(dt), 120.0);  // 2880 h in the internal unit, d
    EXPECT_EQ(m.parameter(dt).sourceKind, SourceKind::Fit);
    EXPECT_EQ(m.parameter(dt).writtenUnit, "h");
    EXPECT_DOUBLE_EQ(m.parameter(dt).writtenValue, 2880.0);
    EXPECT_EQ(m.parameter(dt).where.str(), "fits/o.toml:7:9");
    ASSERT_TRUE(m.parameter(dt).range);  // the base's range stays
    EXPECT_DOUBLE_EQ(m.parameter(dt).range->second, 146.0);
    const auto w = *m.findParameter("receptor/R/weight");
    EXPECT_DOUBLE_EQ(m.value(w), 2.5);
    EXPECT_EQ(m.parameter(w).sourceKind, SourceKind::Doi);
    EXPECT_EQ(m.parameter(w).note, "kept");
    EXPECT_DOUBLE_EQ(base.value(w), 1.0);
    // Identity: the overlay is the root, its bytes change the hash, its description replaces the base's.
    ASSERT_EQ(m.info().files.size(), 2u);
    EXPECT_EQ(m.info().files[0], "fits/o.toml");
    EXPECT_EQ(m.info().files[1], "m/base.toml");
    EXPECT_NE(m.info().hash, base.info().hash);
    EXPECT_EQ(m.info().name, "base");
    EXPECT_EQ(m.info().description, "a fitted variant");
    // describe counts the fitted value as fitted.
    EXPECT_NE(describeSummary(m).find("fit         1"), std::string::npos) << describeSummary(m);
}

TEST(Overlay, AnOverlayMayStackOnAnOverlayButNotLoop) {
    std::map<std::string, std::string> files{
        {"base.toml", kBase},
        {"a.toml", "[overlay]\nbase = \"base.toml\"\n[[set]]\npath = \"receptor/R/weight\"\nvalue = 2\nunit = \"1\"\nsource = \"fit: X1 (test)\"\n"},
        {"b.toml", "[overlay]\nbase = \"a.toml\"\n[[set]]\npath = \"receptor/R/weight\"\nvalue = 3\nunit = \"1\"\nsource = \"fit: X2 (test)\"\n"}};
    const auto m = loadModel("b.toml", MemoryFileSource(files));
    EXPECT_DOUBLE_EQ(m.value(*m.findParameter("receptor/R/weight")), 3.0);
    EXPECT_EQ(m.info().files.size(), 3u);
    files["c.toml"] = "[overlay]\nbase = \"d.toml\"\n";
    files["d.toml"] = "[overlay]\nbase = \"c.toml\"\n";
    const auto errs = errorsOf(files, "c.toml");
    ASSERT_FALSE(errs.empty());
    bool nest = false;
    for (const auto& e : errs) nest |= e.find("overlays nest more than 8 deep (is there a cycle of overlays naming each other?)") != std::string::npos;
    EXPECT_TRUE(nest) << ::testing::PrintToString(errs);
}

TEST(Overlay, EveryProblemIsReportedWithItsLocation) {
    const std::map<std::string, std::string> files{{"base.toml", kBase}, {"o.toml", R"TOML([overlay]
base = "base.toml"
colour = "blue"

[[set]]
path = "cell_type/T/doubling_time"
value = 200
unit = "d"
source = "fit: TA1-TNBC (test)"

[[set]]
path = "cell_type/T/doubling_tim"
value = 100
unit = "d"
source = "fit: TA1-TNBC (test)"

[[set]]
path = "receptor/R/weight"
value = 2
unit = "h"
source = "fit: TA1-TNBC (test)"

[[set]]
path = "receptor/R/weight"
value = 2
unit = "1"
source = "guess"

[[set]]
path = "receptor/R/weight"
value = nan
unit = "1"
source = "fit: X (test)"

[[set]]
path = "receptor/R/weight"
value = 2
unit = "1"
source = "fit: X (test)"
[[set]]
path = "receptor/R/weight"
value = 3
unit = "1"
source = "fit: X (test)"

[[set]]
path = "cell_type/T/doubling_time"
value = 100
unit = "d"
source = "fit: X (test)"
colour = 1
)TOML"}};
    const auto errs = errorsOf(files, "o.toml");
    const std::vector<std::string> want{
        "o.toml:3:1: error: [overlay]: key 'colour': unknown key of [overlay]; expected one of: base, description",
        "o.toml:7:9: error: set #1 ('cell_type/T/doubling_time'): key 'value': value 200 d is outside its own range [60, 146] d (the base "
        "model's value: 100 d, base.toml:14:17)",
        "o.toml:12:8: error: set #2 ('cell_type/T/doubling_tim'): key 'path': no parameter of model 'base' has this path (paths look like "
        "\"cell_type/TNBC/doubling_time\"; `nkscape describe KIND NAME` lists an entity's parameters)",
        "o.toml:20:8: error: set #3 ('receptor/R/weight'): key 'unit': unit 'h' does not convert to '1' (the unit of this parameter is '1')",
        "o.toml:27:10: error: set #4 ('receptor/R/weight'): key 'source': source 'guess' has no known form; write doi:…, pmid:…, paper: …, code: …, "
        "review: <section>, fit: <target ids> or assumption: <reason>",
        "o.toml:31:9: error: set #5 ('receptor/R/weight'): key 'value': value is not finite",
        "o.toml:41:8: error: set #7 ('receptor/R/weight'): key 'path': parameter 'receptor/R/weight' is set twice",
        "o.toml:51:1: error: set #8 ('cell_type/T/doubling_time'): key 'colour': unknown key of a [[set]]; expected one of: path, value, unit, source, note",
    };
    for (const auto& w : want) {
        bool found = false;
        for (const auto& e : errs) found |= e == w;
        EXPECT_TRUE(found) << "missing: " << w << "\n got:\n" << ::testing::PrintToString(errs);
    }
    EXPECT_EQ(errs.size(), want.size()) << ::testing::PrintToString(errs);
}

TEST(Overlay, ABaseThatDoesNotLoadIsReportedWithItsOwnErrors) {
    const std::map<std::string, std::string> files{
        {"bad.toml", "[model]\nname = \"b\"\n[[receptor]]\nname = \"R\"\nclass = \"activating\"\nweight = { value = -1, unit = \"1\", source = \"assumption: bad\" }\n"},
        {"o.toml", "[overlay]\nbase = \"bad.toml\"\n"},
        {"p.toml", "[overlay]\nbase = \"missing.toml\"\n"},
        {"q.toml", "[overlay]\n"},
        {"r.toml", "[overlay]\nbase = \"r.toml\"\n"}};
    auto errs = errorsOf(files, "o.toml");
    ASSERT_EQ(errs.size(), 2u) << ::testing::PrintToString(errs);
    EXPECT_NE(errs[0].find("bad.toml:6:"), std::string::npos) << errs[0];
    EXPECT_EQ(errs[1], "o.toml:2:8: error: [overlay]: key 'base': the base model 'bad.toml' does not load (1 error)");
    errs = errorsOf(files, "p.toml");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0], "p.toml:2:8: error: [overlay]: key 'base': cannot read the base model 'missing.toml' (resolved against the overlay's folder)");
    errs = errorsOf(files, "q.toml");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0], "q.toml:1:1: error: [overlay]: key 'base': missing required key");
    errs = errorsOf(files, "r.toml");
    ASSERT_EQ(errs.size(), 1u);
    EXPECT_EQ(errs[0], "r.toml:2:8: error: [overlay]: key 'base': an overlay cannot be its own base");
}

TEST(Overlay, AScenarioMayNameAnOverlayAsItsModel) {
    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-overlay-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string root = NKSCAPE_SOURCE_DIR;
    {
        std::ofstream o(dir / "fit.toml");
        o << "[overlay]\nbase = \"" << root << "/models/default.toml\"\n[[set]]\npath = \"cell_type/TNBC/doubling_time\"\nvalue = 90\nunit = \"d\"\n"
          << "source = \"fit: TA1-TNBC (test)\"\n";
    }
    std::ifstream in(root + "/scenarios/simulate/tnbc-untreated.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto pos = text.find("model = ");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, text.find('\n', pos) - pos, "model = \"fit.toml\"");
    {
        std::ofstream o(dir / "s.toml");
        o << text;
    }
    const auto sc = nkscape::qsp::loadSimulationScenario(dir / "s.toml");
    const auto id = *sc.model.findParameter("cell_type/TNBC/doubling_time");
    EXPECT_DOUBLE_EQ(sc.model.value(id), 90.0);
    EXPECT_EQ(sc.model.parameter(id).sourceKind, SourceKind::Fit);
    std::filesystem::remove_all(dir);
}

TEST(Provenance, SharesOverallAndAmongInfluentialParameters) {
    const std::map<std::string, std::string> files{
        {"base.toml", std::string(kBase) + "\n[[receptor]]\nname = \"S\"\nclass = \"inhibitory\"\n"
                                           "weight = { value = 1, unit = \"1\", source = \"review: NK Cell Inhibitory Receptors\", range = [0.5, 2] }\n"},
        {"o.toml", "[overlay]\nbase = \"base.toml\"\n[[set]]\npath = \"cell_type/T/doubling_time\"\nvalue = 120\nunit = \"d\"\nsource = \"fit: TA1-TNBC (test)\"\n"}};
    const auto m = loadModel("o.toml", MemoryFileSource(files));
    const auto all = provenanceShares(m);
    EXPECT_EQ(all.published, 1u);   // review
    EXPECT_EQ(all.fitted, 1u);      // the overlay's fit
    EXPECT_EQ(all.assumption, 1u);  // R's weight
    EXPECT_NE(describeSummary(m).find("provenance: published 1 (33.3 %), fitted 1 (33.3 %), assumption 1 (33.3 %)"), std::string::npos);

    const auto dir = std::filesystem::temp_directory_path() / ("nkscape-influential-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream f(dir / "influential.txt");
        f << "# Sobol total index >= 0.05\ncell_type/T/doubling_time\t0.62\n\nreceptor/R/weight\t0.08\n";
    }
    const auto list = readParameterList(m, dir / "influential.txt");
    ASSERT_EQ(list.size(), 2u);
    const auto inf = provenanceShares(m, list);
    EXPECT_EQ(inf.published, 0u);
    EXPECT_EQ(inf.fitted, 1u);
    EXPECT_EQ(inf.assumption, 1u);
    const std::string text = describeInfluential(m, list, "influential.txt");
    EXPECT_NE(text.find("influential  provenance: published 0 (0.0 %), fitted 1 (50.0 %), assumption 1 (50.0 %)"), std::string::npos) << text;
    EXPECT_NE(text.find("1 influential parameter still rests on an assumption"), std::string::npos) << text;
    EXPECT_NE(text.find("receptor/R/weight  1 1"), std::string::npos) << text;
    EXPECT_EQ(text.find("cell_type/T/doubling_time  "), std::string::npos) << text;  // fitted: not listed
    {
        std::ofstream f(dir / "bad.txt");
        f << "receptor/R/weight\nreceptor/R/wieght\n  receptor/R/weight\n";
    }
    try {
        (void)readParameterList(m, dir / "bad.txt");
        FAIL() << "bad list accepted";
    } catch (const ModelError& e) {
        ASSERT_EQ(e.diagnostics().size(), 2u);
        EXPECT_EQ(e.diagnostics()[0].str(), (dir / "bad.txt").generic_string() +
                                                ":2:1: error: 'receptor/R/wieght' is not a parameter of model 'base' (paths look like \"cell_type/TNBC/doubling_time\")");
        EXPECT_EQ(e.diagnostics()[1].str(), (dir / "bad.txt").generic_string() + ":3:3: error: parameter 'receptor/R/weight' is listed twice");
    }
    std::filesystem::remove_all(dir);
}
