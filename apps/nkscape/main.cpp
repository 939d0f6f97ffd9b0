// The nkscape command line: thin — parse arguments, call the library, map errors to exit codes
// (0 success, 2 bad input, 1 anything else).

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "nkscape/error.hpp"
#include "nkscape/model/describe.hpp"
#include "nkscape/model/loader.hpp"
#include "nkscape/version.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

std::string defaultModelPath() {
    if (const char* env = std::getenv("NKSCAPE_MODEL"); env && *env) return env;
    return "models/default.toml";
}

int runValidate(const std::vector<std::string>& files, bool quiet) {
    int rc = kExitOk;
    for (const auto& f : files) {
        try {
            const auto m = nkscape::model::loadModel(std::filesystem::path(f));
            if (!quiet) {
                std::size_t entities = 0;
                for (auto k : nkscape::model::kAllKinds) entities += m.count(k);
                fmt::print("{}: ok — model '{}' {}, {} entities, {} parameters, {} files (hash {})\n", f, m.info().name,
                           m.info().version, entities, m.parameters().size(), m.info().files.size(), m.info().hash);
            }
        } catch (const nkscape::model::ModelError& e) {
            std::cerr << e.what() << "\n";
            std::cerr << fmt::format("{}: {} error{}\n", f, e.diagnostics().size(), e.diagnostics().size() == 1 ? "" : "s");
            rc = kExitBadInput;
        }
    }
    return rc;
}

int runDescribe(const std::string& modelPath, const std::vector<std::string>& what, bool markdown) {
    using namespace nkscape::model;
    const CompiledModel m = loadModel(std::filesystem::path(modelPath));
    if (markdown) {
        if (!what.empty()) throw nkscape::InputError("describe --markdown describes the whole model; give no KIND or NAME");
        std::cout << describeMarkdown(m);
        return kExitOk;
    }
    if (what.empty()) {
        std::cout << describeSummary(m);
        return kExitOk;
    }
    if (what.size() > 2) throw nkscape::InputError("describe takes at most KIND and NAME");
    const auto kind = parseKind(what[0]);
    if (!kind) {
        // `nkscape describe NKG2D`: a name without its kind is fine when the name is known.
        if (what.size() == 1) {
            if (auto r = m.find(what[0])) {
                std::cout << describeEntity(m, *r);
                return kExitOk;
            }
        }
        throw nkscape::InputError("'" + what[0] +
                                  "' is neither a kind (receptor, ligand, interaction, mediator, factor, cell_type, regulation, "
                                  "pathway, therapy) nor a name in model '" + m.info().name + "'");
    }
    if (what.size() == 1) {
        std::cout << describeKind(m, *kind);
        return kExitOk;
    }
    const Index i = m.require(*kind, what[1]);
    std::cout << describeEntity(m, EntityRef{*kind, i});
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"nkscape — how breast cancer escapes NK cells, and the therapies meant to stop it."};
    app.set_version_flag("--version", std::string("nkscape ") + nkscape::kVersion);
    app.require_subcommand(1);
    app.footer(R"(Examples:
  nkscape validate models/default.toml          check a model; every error is listed (exit 2)
  nkscape describe                              summary of the default model
  nkscape describe receptor                     all receptors
  nkscape describe receptor NKG2D               one receptor: parameters, units, sources
  nkscape describe TIGIT:CD155                  any entity by name
  nkscape describe --markdown > docs/model-reference.md

Exit codes: 0 success, 2 bad input (model, scenario or arguments), 1 other failure.
The default model is models/default.toml, or $NKSCAPE_MODEL.)");

    bool quiet = false;
    auto* validate = app.add_subcommand("validate", "Check model files and report every error with file:line:column");
    std::vector<std::string> validateFiles;
    validate->add_option("FILE", validateFiles, "Root model files")->required();
    validate->add_flag("-q,--quiet", quiet, "Print nothing on success");

    auto* describe = app.add_subcommand("describe", "Describe the model: summary, a kind, or one entity");
    std::vector<std::string> what;
    std::string modelPath = defaultModelPath();
    bool markdown = false;
    describe->add_option("KIND_OR_NAME", what, "KIND [NAME], or a NAME");
    describe->add_option("-m,--model", modelPath, "Root model file")->capture_default_str();
    describe->add_flag("--markdown", markdown, "Print the whole model as the Markdown reference");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitBadInput;
    }

    try {
        if (*validate) return runValidate(validateFiles, quiet);
        if (*describe) return runDescribe(modelPath, what, markdown);
    } catch (const nkscape::model::ModelError& e) {
        std::cerr << e.what() << "\n";
        return kExitBadInput;
    } catch (const nkscape::InputError& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "nkscape: error: " << e.what() << "\n";
        return kExitFailure;
    }
    return kExitOk;
}
