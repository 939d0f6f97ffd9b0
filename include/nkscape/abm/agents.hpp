#pragma once
/// \file
/// The agents of the spatial engine as a structure of arrays: one entry per cell in every column,
/// in creation order (ids ascend along the arrays). Why columns: the engine's loops read one or two
/// columns of every agent (voxel, kind), and the snapshot writer takes columns as they are.

#include <cstdint>
#include <iosfwd>
#include <vector>

namespace nkscape::abm {

/// Contact state of an effector (NK or CD8 T cell) with a tumour cell.
enum class ContactState : std::uint8_t { Free = 0, Killing = 1, Failing = 2 };

/// Every agent's state. Kind k is the scenario's kind list: 0 = tumour, then one per population.
struct Agents {
    std::vector<std::int64_t> id;       ///< unique, never reused; ascending along the arrays
    std::vector<std::int32_t> kind;     ///< 0 tumour, p+1 population p
    std::vector<std::int64_t> voxel;    ///< Grid::index of the voxel it occupies
    std::vector<std::int32_t> clone;    ///< tumour clone; -1 for other kinds
    std::vector<std::uint8_t> alive;    ///< 0 after death, until compact()
    // Effector state (zero for others).
    std::vector<double> granules;       ///< kills' worth of granules in store
    std::vector<std::uint8_t> contact;  ///< ContactState
    std::vector<std::int64_t> partner;  ///< id of the engaged tumour cell; -1 when free
    std::vector<std::int64_t> partnerVoxel;  ///< its voxel (tumour cells do not move)
    std::vector<double> contactLeftMin; ///< time until the contact ends, min
    std::vector<double> contactIfng;    ///< IFN-γ secretion during the current contact, <IFN-g unit>.mL/(cell.h)
    std::vector<std::int32_t> kills;    ///< kills so far
    std::vector<std::int8_t> dir;       ///< last move direction (0..5 face neighbours; -1 none)

    [[nodiscard]] std::size_t size() const noexcept { return id.size(); }
    /// Appends one agent with free contact state and the given granules.
    void add(std::int64_t newId, std::int32_t newKind, std::int64_t newVoxel, std::int32_t newClone, double newGranules);
    /// Drops the dead agents, keeping the order of the living (so ids still ascend).
    void compact();
    /// Raw columns, exactly (bit-identical restart). \throws IoError on a failed or truncated stream.
    void save(std::ostream& out) const;
    void load(std::istream& in);
};

}  // namespace nkscape::abm
