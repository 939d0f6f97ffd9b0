// The bad-input corpus: every model file under tests/data/bad must fail to load with exactly the
// diagnostics its header lists.
//
// Convention (see tests/data/bad/README.md):
//   - every top-level `*.toml` in tests/data/bad is one case;
//   - every sub-folder is one case whose root file is `root.toml` (the other files of the folder
//     are what it includes);
//   - the case's root file starts with a block of comment lines; each `# expect: <line>` among them
//     is one diagnostic the loader must report, written as `Diagnostic::str()` prints it with every
//     path relative to tests/data/bad. The comparison is exact and ignores order.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <typeinfo>
#include <vector>

#include "nkscape/error.hpp"
#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/loader.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path& corpusDir() {
    static const fs::path dir = (fs::path(NKSCAPE_SOURCE_DIR) / "tests" / "data" / "bad").lexically_normal();
    return dir;
}

/// The cases, as paths relative to the corpus folder: top-level *.toml files, then <folder>/root.toml.
std::vector<std::string> corpusCases() {
    std::vector<std::string> files, folders;
    std::error_code ec;
    if (!fs::is_directory(corpusDir(), ec)) return {};
    for (const auto& entry : fs::directory_iterator(corpusDir(), ec)) {
        const std::string name = entry.path().filename().generic_string();
        if (entry.is_directory()) folders.push_back(name + "/root.toml");
        else if (entry.is_regular_file() && entry.path().extension() == ".toml") files.push_back(name);
    }
    std::sort(files.begin(), files.end());
    std::sort(folders.begin(), folders.end());
    files.insert(files.end(), folders.begin(), folders.end());
    return files;
}

/// The `# expect:` lines of the leading comment block of `path`.
std::vector<std::string> expectedLines(const fs::path& path) {
    static const std::string kPrefix = "# expect: ";
    std::vector<std::string> out;
    std::ifstream in(path, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || line.front() != '#') break;
        if (line.rfind(kPrefix, 0) == 0) out.push_back(line.substr(kPrefix.size()));
    }
    return out;
}

/// Replaces every occurrence of `from` in `s` by nothing.
std::string stripAll(std::string s, const std::string& from) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos)) s.erase(pos, from.size());
    return s;
}

/// A GoogleTest name for a case: letters, digits and '_' only ("07-negative-rate.toml" → "07_negative_rate").
std::string caseName(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    if (const auto slash = s.find('/'); slash != std::string::npos) s = s.substr(0, slash);  // folder name
    else if (s.size() > 5 && s.compare(s.size() - 5, 5, ".toml") == 0) s.resize(s.size() - 5);
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

std::string joinLines(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += "    " + l + "\n";
    return s.empty() ? "    (none)\n" : s;
}

class BadCorpusFile : public ::testing::TestWithParam<std::string> {};

TEST_P(BadCorpusFile, ReportsExactlyTheExpectedDiagnostics) {
    const fs::path file = corpusDir() / GetParam();
    ASSERT_TRUE(fs::is_regular_file(file)) << file << " does not exist (a sub-folder case needs a root.toml)";

    std::vector<std::string> expected = expectedLines(file);
    ASSERT_FALSE(expected.empty()) << file << " has no '# expect: ' header line";

    // Paths in diagnostics (locations, and the paths some messages quote) are absolute; make them
    // relative to the corpus folder, as the headers write them.
    const std::string base = corpusDir().generic_string() + "/";
    std::vector<std::string> actual;
    try {
        (void)nkscape::model::loadModel(file);
        FAIL() << GetParam() << " loaded without error; expected:\n" << joinLines(expected);
    } catch (const nkscape::model::ModelError& e) {
        for (const auto& d : e.diagnostics()) actual.push_back(stripAll(d.str(), base));
    } catch (const nkscape::Error& e) {
        FAIL() << GetParam() << " threw " << typeid(e).name() << " instead of ModelError: " << e.what();
    } catch (const std::exception& e) {
        FAIL() << GetParam() << " threw a non-nkscape exception: " << e.what();
    }

    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    if (expected != actual) {
        std::vector<std::string> missing, unexpected;
        std::set_difference(expected.begin(), expected.end(), actual.begin(), actual.end(), std::back_inserter(missing));
        std::set_difference(actual.begin(), actual.end(), expected.begin(), expected.end(), std::back_inserter(unexpected));
        ADD_FAILURE() << GetParam() << ": diagnostics differ from the '# expect:' header\n"
                      << "  expected but not reported:\n" << joinLines(missing)
                      << "  reported but not expected:\n" << joinLines(unexpected);
    }
}

INSTANTIATE_TEST_SUITE_P(BadCorpus, BadCorpusFile, ::testing::ValuesIn(corpusCases()), caseName);

TEST(BadCorpus, HasAtLeastFortyFiles) {
    EXPECT_GE(corpusCases().size(), 40u) << "corpus folder: " << corpusDir();
}

TEST(BadCorpus, CaseNamesAreUnique) {
    // Two files whose names differ only in punctuation would give two tests the same name.
    std::vector<std::string> names;
    const auto cases = corpusCases();
    for (std::size_t i = 0; i < cases.size(); ++i) names.push_back(caseName({cases[i], i}));
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
}

}  // namespace
