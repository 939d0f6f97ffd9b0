#include "nkscape/abm/snapshot.hpp"

#include "nkscape/error.hpp"

namespace nkscape::abm {

void writeSnapshotHdf5(const std::filesystem::path&, const Snapshot&) { throw NotImplementedError("abm::writeSnapshotHdf5"); }
void writeXdmf(const std::filesystem::path&, const std::vector<std::pair<std::filesystem::path, Snapshot>>&) {
    throw NotImplementedError("abm::writeXdmf");
}
void writeSectionPng(const std::filesystem::path&, const Snapshot&, int, std::string_view) {
    throw NotImplementedError("abm::writeSectionPng");
}
void writeSectionPng(const std::filesystem::path&, const Snapshot&, int, std::string_view, double, double) {
    throw NotImplementedError("abm::writeSectionPng");
}

}  // namespace nkscape::abm
