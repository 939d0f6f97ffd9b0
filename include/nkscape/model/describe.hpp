#pragma once
/// \file
/// Human-readable views of a compiled model: the summary `nkscape describe` prints, a table per
/// kind, one entity in full (its parameters with unit, internal value, range and source), and the
/// Markdown model reference committed as docs/model-reference.md.

#include <string>

#include "nkscape/model/model.hpp"

namespace nkscape::model {

/// Name, version, hash, files, entity counts per kind, and where the numbers come from.
[[nodiscard]] std::string describeSummary(const CompiledModel& m);

/// One line per entity of `kind`: name, its main attributes, description.
[[nodiscard]] std::string describeKind(const CompiledModel& m, Kind kind);

/// Everything about one entity: aliases, text, attributes, and every parameter with value as
/// written, internal value and unit, plausible range and source.
[[nodiscard]] std::string describeEntity(const CompiledModel& m, EntityRef ref);

/// The whole model as Markdown (docs/model-reference.md). Deterministic: it depends on the model
/// files' contents only, not on where they are.
[[nodiscard]] std::string describeMarkdown(const CompiledModel& m);

}  // namespace nkscape::model
