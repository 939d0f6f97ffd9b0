// The agents' columns: append, compaction, exact serialisation.

#include "nkscape/abm/agents.hpp"

#include <istream>
#include <ostream>

#include "nkscape/error.hpp"

namespace nkscape::abm {

void Agents::add(std::int64_t newId, std::int32_t newKind, std::int64_t newVoxel, std::int32_t newClone, double newGranules) {
    id.push_back(newId);
    kind.push_back(newKind);
    voxel.push_back(newVoxel);
    clone.push_back(newClone);
    alive.push_back(1);
    granules.push_back(newGranules);
    contact.push_back(static_cast<std::uint8_t>(ContactState::Free));
    partner.push_back(-1);
    partnerVoxel.push_back(-1);
    contactLeftMin.push_back(0);
    contactIfng.push_back(0);
    kills.push_back(0);
    dir.push_back(-1);
}

namespace {
template <class T>
void keep(std::vector<T>& v, const std::vector<std::uint8_t>& alive) {
    std::size_t w = 0;
    for (std::size_t r = 0; r < v.size(); ++r)
        if (alive[r]) v[w++] = v[r];
    v.resize(w);
}
template <class T>
void put(std::ostream& out, const std::vector<T>& v) {
    const std::uint64_t n = v.size();
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
}
template <class T>
void get(std::istream& in, std::vector<T>& v) {
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    if (!in || n > (std::uint64_t{1} << 36)) throw IoError("checkpoint: agent columns are truncated or corrupt");
    v.resize(n);
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
    if (!in) throw IoError("checkpoint: agent columns are truncated");
}
}  // namespace

void Agents::compact() {
    const std::vector<std::uint8_t> a = alive;
    keep(id, a);
    keep(kind, a);
    keep(voxel, a);
    keep(clone, a);
    keep(alive, a);
    keep(granules, a);
    keep(contact, a);
    keep(partner, a);
    keep(partnerVoxel, a);
    keep(contactLeftMin, a);
    keep(contactIfng, a);
    keep(kills, a);
    keep(dir, a);
}

void Agents::save(std::ostream& out) const {
    put(out, id);
    put(out, kind);
    put(out, voxel);
    put(out, clone);
    put(out, alive);
    put(out, granules);
    put(out, contact);
    put(out, partner);
    put(out, partnerVoxel);
    put(out, contactLeftMin);
    put(out, contactIfng);
    put(out, kills);
    put(out, dir);
    if (!out) throw IoError("checkpoint: cannot write the agent columns");
}

void Agents::load(std::istream& in) {
    get(in, id);
    get(in, kind);
    get(in, voxel);
    get(in, clone);
    get(in, alive);
    get(in, granules);
    get(in, contact);
    get(in, partner);
    get(in, partnerVoxel);
    get(in, contactLeftMin);
    get(in, contactIfng);
    get(in, kills);
    get(in, dir);
    const std::size_t n = id.size();
    if (kind.size() != n || voxel.size() != n || clone.size() != n || alive.size() != n || granules.size() != n || contact.size() != n ||
        partner.size() != n || partnerVoxel.size() != n || contactLeftMin.size() != n || contactIfng.size() != n || kills.size() != n || dir.size() != n)
        throw IoError("checkpoint: agent columns differ in length");
}

}  // namespace nkscape::abm
