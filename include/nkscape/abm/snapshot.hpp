#pragma once
/// \file
/// Snapshots of the spatial engine: one HDF5 file per snapshot in the layout of docs/abm.md
/// ("Snapshot layout"), an XDMF 3 sidecar listing every snapshot so far as a temporal collection
/// (ParaView opens it directly), and a PNG of a 2-D section of one field with the agents drawn on it.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nkscape/abm/field.hpp"
#include "nkscape/abm/grid.hpp"

namespace nkscape::abm {

/// The agents of one snapshot, one entry per agent in every column (all columns the same length).
/// x, y, z are voxel coordinates; kind indexes kindNames; clone is the tumour clone (−1 for none).
struct AgentColumns {
    std::vector<std::int64_t> id;
    std::vector<std::int32_t> x, y, z;
    std::vector<std::int32_t> kind;
    std::vector<std::int32_t> clone;
    std::vector<std::pair<std::string, std::vector<double>>> extra;  ///< named per-agent columns (e.g. "granules")
    std::vector<std::string> kindNames;                              ///< name of each kind value
};

/// What one snapshot shows. The pointers are borrowed (not owned) and must outlive the call; fields
/// or agents may be null (nothing of that part is written).
struct Snapshot {
    double timeMin = 0.0;             ///< simulated time, min
    int step = 0;                     ///< engine step number
    const Grid* grid = nullptr;       ///< required
    const FieldSet* fields = nullptr;
    const AgentColumns* agents = nullptr;
};

/// Writes one snapshot to `file` (HDF5, created or truncated): /time and /step attributes on the
/// root; /grid (attributes nx ny nz voxel_um); /fields/<name> float64 [nz][ny][nx] with a unit
/// attribute; /agents/<column> 1-D datasets with the kind names as an attribute. Throws IoError when
/// the file cannot be written, InputError when the agent columns differ in length, a kind is outside
/// kindNames, or a name is unusable.
void writeSnapshotHdf5(const std::filesystem::path& file, const Snapshot& s);

/// Writes the XDMF 3 sidecar `file` (e.g. series.xdmf) describing every snapshot in `series`
/// (pairs of HDF5 file and the snapshot written to it, in time order) as a temporal collection:
/// each time holds the fields as cell-centred attributes on a 3DCoRectMesh and the agents as a
/// Polyvertex grid with their columns as node attributes. HDF5 paths are written relative to the
/// sidecar's folder when they lie under it. Throws IoError when the file cannot be written.
void writeXdmf(const std::filesystem::path& file,
               const std::vector<std::pair<std::filesystem::path, Snapshot>>& series);

/// Writes a PNG of layer z of field `field` as a colour map (viridis, linear from 0 to the layer's
/// maximum; the scale, field, unit and time are stored as PNG tEXt chunks) with every agent in that
/// layer drawn as a dot coloured by kind. Throws InputError for an unknown field or z outside the
/// grid, IoError when the file cannot be written.
void writeSectionPng(const std::filesystem::path& file, const Snapshot& s, int z, std::string_view field);

/// As above with a stated colour scale [lo, hi] (unit of the field; hi > lo), so a series of PNGs
/// shares one scale.
void writeSectionPng(const std::filesystem::path& file, const Snapshot& s, int z, std::string_view field,
                     double lo, double hi);

}  // namespace nkscape::abm
