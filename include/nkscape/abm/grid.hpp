#pragma once
/// \file
/// The lattice of the spatial engine: a box of nx × ny × nz cubic voxels of edge voxelUm
/// micrometres. Every per-voxel array of the engine (field values, sources, uptake, occupancy) is
/// stored in the order of Grid::index: x fastest, then y, then z, so that a z-slab and a y-row are
/// contiguous in memory.

#include <cstddef>

namespace nkscape::abm {

/// A regular lattice of cubic voxels. nz == 1 is a 2-D lattice (one layer of voxels; fields then
/// diffuse in x and y only). Voxel (x, y, z) has its centre at ((x+½)·voxelUm, (y+½)·voxelUm,
/// (z+½)·voxelUm) µm from the box's corner.
struct Grid {
    int nx = 1;             ///< voxels along x (≥ 1)
    int ny = 1;             ///< voxels along y (≥ 1)
    int nz = 1;             ///< voxels along z (≥ 1; 1 means 2-D)
    double voxelUm = 20.0;  ///< voxel edge, µm (> 0)

    /// Number of voxels, nx·ny·nz.
    std::size_t voxels() const {
        return static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny) * static_cast<std::size_t>(nz);
    }
    /// Linear index of voxel (x, y, z): x fastest, then y, then z. No bounds check (callers check
    /// with contains() where a coordinate may be outside).
    std::size_t index(int x, int y, int z) const {
        return static_cast<std::size_t>(x) +
               static_cast<std::size_t>(nx) * (static_cast<std::size_t>(y) + static_cast<std::size_t>(ny) * static_cast<std::size_t>(z));
    }
    /// True for a 3-D lattice (nz > 1).
    bool is3d() const { return nz > 1; }
    /// True when (x, y, z) is a voxel of the lattice.
    bool contains(int x, int y, int z) const { return x >= 0 && y >= 0 && z >= 0 && x < nx && y < ny && z < nz; }
    /// Volume of one voxel, µm³ (in 2-D still voxelUm³: the layer is one voxel thick).
    double voxelVolumeUm3() const { return voxelUm * voxelUm * voxelUm; }
};

}  // namespace nkscape::abm
