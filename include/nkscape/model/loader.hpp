#pragma once
/// \file
/// Loading a model: read the root TOML file and its includes, check everything, compile.
/// Every problem in every file is collected and thrown together as one ModelError.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "nkscape/model/model.hpp"
#include "nkscape/model/units.hpp"

namespace nkscape::model {

/// Where model files come from. The default reads the file system; tests and the fuzzer serve
/// files from memory.
class FileSource {
public:
    virtual ~FileSource() = default;
    /// Contents of `path`, or nullopt if it cannot be read.
    [[nodiscard]] virtual std::optional<std::string> read(const std::string& path) const = 0;
};

/// Reads files from disk.
class DiskFileSource final : public FileSource {
public:
    [[nodiscard]] std::optional<std::string> read(const std::string& path) const override;
};

/// Serves files from a map path → contents.
class MemoryFileSource final : public FileSource {
public:
    explicit MemoryFileSource(std::map<std::string, std::string> files) : files_(std::move(files)) {}
    [[nodiscard]] std::optional<std::string> read(const std::string& path) const override;

private:
    std::map<std::string, std::string> files_;
};

/// Loads, validates and compiles the model whose root file is `root` (includes are resolved
/// relative to the including file). A root file with an [overlay] table is a model overlay
/// (docs/model-format.md, "Model overlays"): its `base` model is loaded and each [[set]] replaces
/// one parameter's value and source — how `nkscape calibrate` writes fitted values.
/// \throws ModelError listing every problem (file:line:column, entity, key, message).
[[nodiscard]] CompiledModel loadModel(const std::filesystem::path& root);

/// Same, reading files through `files`.
[[nodiscard]] CompiledModel loadModel(const std::string& root, const FileSource& files);

/// Same, with a unit system the caller keeps: loading many models (fuzzing, virtual patients)
/// then reads udunits2's database once instead of once per load.
[[nodiscard]] CompiledModel loadModel(const std::string& root, const FileSource& files, const UnitSystem& units);

/// Loads a model from one in-memory TOML text (includes are not allowed). For tests and fuzzing.
[[nodiscard]] CompiledModel loadModelFromString(const std::string& toml, const std::string& virtualName = "<string>");

/// Same, with a unit system the caller keeps (see above).
[[nodiscard]] CompiledModel loadModelFromString(const std::string& toml, const std::string& virtualName, const UnitSystem& units);

}  // namespace nkscape::model
