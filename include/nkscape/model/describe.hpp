#pragma once
/// \file
/// Human-readable views of a compiled model: the summary `nkscape describe` prints, a table per
/// kind, one entity in full (its parameters with unit, internal value, range and source), and the
/// Markdown model reference committed as docs/model-reference.md.

#include <filesystem>
#include <string>
#include <vector>

#include "nkscape/model/model.hpp"

namespace nkscape::model {

/// Name, version, hash, files, entity counts per kind, where the numbers come from, and the
/// provenance shares (published / fitted / assumption).
[[nodiscard]] std::string describeSummary(const CompiledModel& m);

/// How many parameters cite a publication (doi, pmid, paper, code, review: isPublished()), were
/// fitted to calibration targets (fit:) or rest on an assumption (issue 12, item 5).
struct ProvenanceShares {
    std::size_t published = 0, fitted = 0, assumption = 0;
    [[nodiscard]] std::size_t total() const noexcept { return published + fitted + assumption; }
};

/// The shares over the parameters `params`.
[[nodiscard]] ProvenanceShares provenanceShares(const CompiledModel& m, const std::vector<ParamId>& params);
/// The shares over every parameter of the model.
[[nodiscard]] ProvenanceShares provenanceShares(const CompiledModel& m);

/// Reads a list of parameter paths, one per line (the sensitivity command's influential.txt):
/// blank lines and lines starting with '#' are skipped; a tab ends the path (what follows is a
/// comment such as the Sobol index). Every unknown path and repeated path is reported together,
/// with file:line:column. \throws ModelError; IoError if the file cannot be read.
[[nodiscard]] std::vector<ParamId> readParameterList(const CompiledModel& m, const std::filesystem::path& file);

/// `nkscape describe --influential FILE`: the provenance shares among `influential` (and overall),
/// and every influential parameter that is still an assumption, with its value and source.
[[nodiscard]] std::string describeInfluential(const CompiledModel& m, const std::vector<ParamId>& influential, const std::string& listName);

/// One line per entity of `kind`: name, its main attributes, description.
[[nodiscard]] std::string describeKind(const CompiledModel& m, Kind kind);

/// Everything about one entity: aliases, text, attributes, and every parameter with value as
/// written, internal value and unit, plausible range and source.
[[nodiscard]] std::string describeEntity(const CompiledModel& m, EntityRef ref);

/// The whole model as Markdown (docs/model-reference.md). Deterministic: it depends on the model
/// files' contents only, not on where they are.
[[nodiscard]] std::string describeMarkdown(const CompiledModel& m);

}  // namespace nkscape::model
