#include "nkscape/model/loader.hpp"

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"

#include "parse.hpp"

namespace nkscape::model {

std::optional<std::string> DiskFileSource::read(const std::string& path) const {
    std::error_code ec;
    // A missing file is "cannot be read" without more to say; anything else (a FIFO, a device,
    // a directory, a file over the size cap) throws with its reason, which the parser reports.
    if (!std::filesystem::exists(path, ec)) return std::nullopt;
    return io::readFile(path);
}

std::optional<std::string> MemoryFileSource::read(const std::string& path) const {
    auto it = files_.find(path);
    if (it == files_.end()) return std::nullopt;
    return it->second;
}

CompiledModel loadModel(const std::string& root, const FileSource& files) {
    const UnitSystem units;
    return loadModel(root, files, units);
}

CompiledModel loadModel(const std::string& root, const FileSource& files, const UnitSystem& units) {
    return loadModelAtDepth(root, files, units, 0);
}

CompiledModel loadModelAtDepth(const std::string& root, const FileSource& files, const UnitSystem& units, int depth) {
    if (auto overlay = loadIfOverlay(root, files, units, depth)) return std::move(*overlay);
    Diagnostics diag;
    detail::ModelSpec spec = detail::parseModel(root, files, units, diag);
    CompiledModel model = compileModel(spec, units, diag);
    diag.sort();
    diag.throwIfAny();
    return model;
}

CompiledModel loadModel(const std::filesystem::path& root) {
    DiskFileSource disk;
    return loadModel(root.lexically_normal().generic_string(), disk);
}

CompiledModel loadModelFromString(const std::string& toml, const std::string& virtualName) {
    MemoryFileSource mem(std::map<std::string, std::string>{{virtualName, toml}});
    return loadModel(virtualName, mem);
}

CompiledModel loadModelFromString(const std::string& toml, const std::string& virtualName, const UnitSystem& units) {
    MemoryFileSource mem(std::map<std::string, std::string>{{virtualName, toml}});
    return loadModel(virtualName, mem, units);
}

}  // namespace nkscape::model
