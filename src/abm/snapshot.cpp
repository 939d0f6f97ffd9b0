// Snapshots of the spatial engine (docs/abm.md, "Snapshot layout"): HDF5 through the C API, an
// XDMF 3 sidecar as text, a PNG section through libpng's simplified writer.

#include "nkscape/abm/snapshot.hpp"

#include <hdf5.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "nkscape/error.hpp"
#include "nkscape/io/file.hpp"

namespace nkscape::abm {

namespace {

// ---------------------------------------------------------------------------------------------
// HDF5

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
public:
    H5Id(hid_t id, herr_t (*closer)(hid_t), const std::string& what) : id_(id), closer_(closer) {
        if (id_ < 0) throw IoError("HDF5: cannot " + what);
    }
    H5Id(const H5Id&) = delete;
    H5Id& operator=(const H5Id&) = delete;
    H5Id(H5Id&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
    H5Id& operator=(H5Id&&) = delete;
    ~H5Id() {
        if (id_ >= 0) closer_(id_);
    }
    hid_t get() const { return id_; }

private:
    hid_t id_;
    herr_t (*closer_)(hid_t);
};

// HDF5 prints its error stack to stderr by default; nkscape reports errors as exceptions, so the
// automatic printing is off while a snapshot is written and restored afterwards.
class QuietHdf5 {
public:
    QuietHdf5() {
        H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    QuietHdf5(const QuietHdf5&) = delete;
    QuietHdf5& operator=(const QuietHdf5&) = delete;
    ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

private:
    H5E_auto2_t func_ = nullptr;
    void* data_ = nullptr;
};

void check(herr_t status, const std::string& what) {
    if (status < 0) throw IoError("HDF5: cannot " + what);
}

// Link creation with UTF-8 names (a field may be called "TGF-β").
H5Id utf8Links() {
    H5Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "make a property list");
    check(H5Pset_char_encoding(lcpl.get(), H5T_CSET_UTF8), "set UTF-8 names");
    return lcpl;
}

template <class T>
void scalarAttribute(hid_t owner, const char* name, hid_t type, const T& value) {
    H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a dataspace");
    H5Id attr(H5Acreate2(owner, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, fmt::format("create attribute '{}'", name));
    check(H5Awrite(attr.get(), type, &value), fmt::format("write attribute '{}'", name));
}

void stringAttribute(hid_t owner, const char* name, const std::string& value) {
    H5Id type(H5Tcopy(H5T_C_S1), H5Tclose, "make a string type");
    check(H5Tset_size(type.get(), std::max<std::size_t>(1, value.size())), "size a string type");
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "set UTF-8");
    H5Id space(H5Screate(H5S_SCALAR), H5Sclose, "make a dataspace");
    H5Id attr(H5Acreate2(owner, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, fmt::format("create attribute '{}'", name));
    const std::string padded = value.empty() ? std::string(1, '\0') : value;
    check(H5Awrite(attr.get(), type.get(), padded.data()), fmt::format("write attribute '{}'", name));
}

// An array of variable-length UTF-8 strings (h5py reads it as a list of str).
void stringListAttribute(hid_t owner, const char* name, const std::vector<std::string>& values) {
    H5Id type(H5Tcopy(H5T_C_S1), H5Tclose, "make a string type");
    check(H5Tset_size(type.get(), H5T_VARIABLE), "size a string type");
    check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "set UTF-8");
    const hsize_t n = values.size();
    H5Id space(n == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &n, nullptr), H5Sclose, "make a dataspace");
    H5Id attr(H5Acreate2(owner, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose, fmt::format("create attribute '{}'", name));
    if (n == 0) return;
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    check(H5Awrite(attr.get(), type.get(), ptrs.data()), fmt::format("write attribute '{}'", name));
}

// Object creation without modification times, so identical runs write identical bytes.
H5Id untimed(hid_t cls) {
    H5Id p(H5Pcreate(cls), H5Pclose, "make a property list");
    check(H5Pset_obj_track_times(p.get(), false), "switch off object time stamps");
    return p;
}

template <class T>
void dataset(hid_t group, const std::string& name, hid_t fileType, hid_t memType, const std::vector<hsize_t>& dims, const T* data,
             hid_t lcpl) {
    H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose, "make a dataspace");
    const H5Id dcpl = untimed(H5P_DATASET_CREATE);
    H5Id ds(H5Dcreate2(group, name.c_str(), fileType, space.get(), lcpl, dcpl.get(), H5P_DEFAULT), H5Dclose,
            fmt::format("create dataset '{}'", name));
    bool empty = false;
    for (const hsize_t d : dims) empty = empty || d == 0;
    if (!empty) check(H5Dwrite(ds.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), fmt::format("write dataset '{}'", name));
}

bool usableName(const std::string& name) {
    if (name.empty() || name.front() == '.') return false;
    for (const char ch : name) {
        const auto u = static_cast<unsigned char>(ch);
        if (ch == '/' || u < 0x20 || u == 0x7f) return false;
    }
    return true;
}

// The agent columns must be consistent before anything is written.
std::size_t checkAgents(const AgentColumns& a) {
    const std::size_t n = a.id.size();
    const auto same = [&](std::size_t m, const char* col) {
        if (m != n) throw InputError(fmt::format("snapshot: agent column '{}' has {} entries, 'id' has {}", col, m, n));
    };
    same(a.x.size(), "x");
    same(a.y.size(), "y");
    same(a.z.size(), "z");
    same(a.kind.size(), "kind");
    same(a.clone.size(), "clone");
    for (const auto& [name, col] : a.extra) {
        if (!usableName(name)) throw InputError(fmt::format("snapshot: agent column name '{}' is not usable (empty, '/', control characters or a leading '.')", name));
        for (const char* fixed : {"id", "x", "y", "z", "kind", "clone", "position"})
            if (name == fixed) throw InputError(fmt::format("snapshot: agent column '{}' clashes with a fixed column", name));
        same(col.size(), name.c_str());
    }
    for (std::size_t i = 0; i < n; ++i)
        if (a.kind[i] < 0 || static_cast<std::size_t>(a.kind[i]) >= a.kindNames.size())
            throw InputError(fmt::format("snapshot: agent {} has kind {}, but there are {} kind names", a.id[i], a.kind[i], a.kindNames.size()));
    return n;
}

void checkSnapshot(const Snapshot& s) {
    if (s.grid == nullptr) throw InternalError("snapshot without a grid");
    if (s.fields != nullptr) {
        const Grid& g = s.fields->grid();
        if (g.nx != s.grid->nx || g.ny != s.grid->ny || g.nz != s.grid->nz)
            throw InternalError("snapshot: the fields' grid differs from the snapshot's grid");
    }
    if (s.agents != nullptr) checkAgents(*s.agents);
}

}  // namespace

void writeSnapshotHdf5(const std::filesystem::path& file, const Snapshot& s) {
    checkSnapshot(s);
    const QuietHdf5 quiet;
    const Grid& g = *s.grid;
    const std::string where = file.string();
    H5Id f(H5Fcreate(where.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose, fmt::format("create '{}'", where));
    const H5Id lcpl = utf8Links();
    const H5Id gcpl = untimed(H5P_GROUP_CREATE);

    stringAttribute(f.get(), "format", "nkscape-abm-snapshot 1");
    scalarAttribute(f.get(), "time", H5T_NATIVE_DOUBLE, s.timeMin);
    stringAttribute(f.get(), "time_unit", "min");
    const std::int32_t step = s.step;
    scalarAttribute(f.get(), "step", H5T_STD_I32LE, step);

    {
        H5Id grid(H5Gcreate2(f.get(), "grid", lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "create group /grid");
        const std::int32_t nx = g.nx, ny = g.ny, nz = g.nz;
        scalarAttribute(grid.get(), "nx", H5T_STD_I32LE, nx);
        scalarAttribute(grid.get(), "ny", H5T_STD_I32LE, ny);
        scalarAttribute(grid.get(), "nz", H5T_STD_I32LE, nz);
        scalarAttribute(grid.get(), "voxel_um", H5T_IEEE_F64LE, g.voxelUm);
    }
    if (s.fields != nullptr) {
        H5Id group(H5Gcreate2(f.get(), "fields", lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "create group /fields");
        const std::vector<hsize_t> dims{static_cast<hsize_t>(g.nz), static_cast<hsize_t>(g.ny), static_cast<hsize_t>(g.nx)};
        for (std::size_t k = 0; k < s.fields->size(); ++k) {
            const FieldSpec& spec = s.fields->spec(k);
            dataset(group.get(), spec.name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, s.fields->values(k).data(), lcpl.get());
            H5Id ds(H5Dopen2(group.get(), spec.name.c_str(), H5P_DEFAULT), H5Dclose, fmt::format("open dataset '{}'", spec.name));
            stringAttribute(ds.get(), "unit", spec.unit);
            scalarAttribute(ds.get(), "diffusion_um2_per_min", H5T_IEEE_F64LE, spec.diffusionUm2PerMin);
            scalarAttribute(ds.get(), "decay_per_min", H5T_IEEE_F64LE, spec.decayPerMin);
        }
    }
    if (s.agents != nullptr) {
        const AgentColumns& a = *s.agents;
        const std::size_t n = a.id.size();
        H5Id group(H5Gcreate2(f.get(), "agents", lcpl.get(), gcpl.get(), H5P_DEFAULT), H5Gclose, "create group /agents");
        const std::int64_t count = static_cast<std::int64_t>(n);
        scalarAttribute(group.get(), "count", H5T_STD_I64LE, count);
        stringListAttribute(group.get(), "kind_names", a.kindNames);
        const std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
        dataset(group.get(), "id", H5T_STD_I64LE, H5T_NATIVE_INT64, dims, a.id.data(), lcpl.get());
        dataset(group.get(), "x", H5T_STD_I32LE, H5T_NATIVE_INT32, dims, a.x.data(), lcpl.get());
        dataset(group.get(), "y", H5T_STD_I32LE, H5T_NATIVE_INT32, dims, a.y.data(), lcpl.get());
        dataset(group.get(), "z", H5T_STD_I32LE, H5T_NATIVE_INT32, dims, a.z.data(), lcpl.get());
        dataset(group.get(), "kind", H5T_STD_I32LE, H5T_NATIVE_INT32, dims, a.kind.data(), lcpl.get());
        {
            H5Id ds(H5Dopen2(group.get(), "kind", H5P_DEFAULT), H5Dclose, "open dataset 'kind'");
            stringListAttribute(ds.get(), "kind_names", a.kindNames);
        }
        dataset(group.get(), "clone", H5T_STD_I32LE, H5T_NATIVE_INT32, dims, a.clone.data(), lcpl.get());
        // Voxel centres in µm, [n][3] as x y z: the geometry of the XDMF Polyvertex grid.
        std::vector<double> position(3 * n);
        for (std::size_t i = 0; i < n; ++i) {
            position[3 * i] = (a.x[i] + 0.5) * g.voxelUm;
            position[3 * i + 1] = (a.y[i] + 0.5) * g.voxelUm;
            position[3 * i + 2] = (a.z[i] + 0.5) * g.voxelUm;
        }
        dataset(group.get(), "position", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {static_cast<hsize_t>(n), 3}, position.data(), lcpl.get());
        {
            H5Id ds(H5Dopen2(group.get(), "position", H5P_DEFAULT), H5Dclose, "open dataset 'position'");
            stringAttribute(ds.get(), "unit", "um");
        }
        for (const auto& [name, col] : a.extra) dataset(group.get(), name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, col.data(), lcpl.get());
    }
    check(H5Fflush(f.get(), H5F_SCOPE_LOCAL), fmt::format("flush '{}'", where));
}

// ---------------------------------------------------------------------------------------------
// XDMF

namespace {

std::string xmlEscape(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += ch;
        }
    }
    return out;
}

// Shortest exact decimal of a double (fmt's default), for times and spacings.
std::string num(double v) { return fmt::format("{}", v); }

}  // namespace

void writeXdmf(const std::filesystem::path& file, const std::vector<std::pair<std::filesystem::path, Snapshot>>& series) {
    const std::filesystem::path folder = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    std::string x;
    x += "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
    x += "<Xdmf xmlns:xi=\"http://www.w3.org/2001/XInclude\" Version=\"3.0\">\n";
    x += "  <Domain>\n";
    x += "    <Grid Name=\"nkscape\" GridType=\"Collection\" CollectionType=\"Temporal\">\n";
    for (const auto& [h5, s] : series) {
        checkSnapshot(s);
        const Grid& g = *s.grid;
        // Relative to the sidecar's folder when the file lies under it, so the folder can be moved.
        std::filesystem::path rel = h5;
        std::error_code ec;
        const auto r = std::filesystem::proximate(h5, folder, ec);
        if (!ec && !r.empty() && *r.begin() != "..") rel = r;
        const std::string path = xmlEscape(rel.generic_string());
        x += fmt::format("      <Grid Name=\"step {}\" GridType=\"Collection\" CollectionType=\"Spatial\">\n", s.step);
        x += fmt::format("        <Time Value=\"{}\"/>\n", num(s.timeMin));
        if (s.fields != nullptr) {
            // 3DCoRectMesh: node counts (cells + 1) in z y x order; origin and spacing also z y x.
            x += "        <Grid Name=\"fields\" GridType=\"Uniform\">\n";
            x += fmt::format("          <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{} {} {}\"/>\n", g.nz + 1, g.ny + 1, g.nx + 1);
            x += "          <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n";
            x += "            <DataItem Name=\"Origin\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 0 0</DataItem>\n";
            x += fmt::format("            <DataItem Name=\"Spacing\" Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">{0} {0} {0}</DataItem>\n",
                             num(g.voxelUm));
            x += "          </Geometry>\n";
            for (std::size_t k = 0; k < s.fields->size(); ++k) {
                const std::string name = xmlEscape(s.fields->spec(k).name);
                x += fmt::format("          <Attribute Name=\"{}\" AttributeType=\"Scalar\" Center=\"Cell\">\n", name);
                x += fmt::format("            <DataItem Dimensions=\"{} {} {}\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">{}:/fields/{}</DataItem>\n",
                                 g.nz, g.ny, g.nx, path, name);
                x += "          </Attribute>\n";
            }
            x += "        </Grid>\n";
        }
        // ParaView rejects a Polyvertex grid of no points, so an empty population is left out.
        if (s.agents != nullptr && !s.agents->id.empty()) {
            const AgentColumns& a = *s.agents;
            const std::size_t n = a.id.size();
            x += "        <Grid Name=\"agents\" GridType=\"Uniform\">\n";
            x += fmt::format("          <Topology TopologyType=\"Polyvertex\" NumberOfElements=\"{}\" NodesPerElement=\"1\"/>\n", n);
            x += "          <Geometry GeometryType=\"XYZ\">\n";
            x += fmt::format("            <DataItem Dimensions=\"{} 3\" NumberType=\"Float\" Precision=\"8\" Format=\"HDF\">{}:/agents/position</DataItem>\n", n, path);
            x += "          </Geometry>\n";
            const auto attr = [&](const std::string& col, const char* type, int precision) {
                const std::string name = xmlEscape(col);
                x += fmt::format("          <Attribute Name=\"{}\" AttributeType=\"Scalar\" Center=\"Node\">\n", name);
                x += fmt::format("            <DataItem Dimensions=\"{}\" NumberType=\"{}\" Precision=\"{}\" Format=\"HDF\">{}:/agents/{}</DataItem>\n", n, type,
                                 precision, path, name);
                x += "          </Attribute>\n";
            };
            attr("id", "Int", 8);
            attr("kind", "Int", 4);
            attr("clone", "Int", 4);
            for (const auto& [col, values] : a.extra) attr(col, "Float", 8);
            x += "        </Grid>\n";
        }
        x += "      </Grid>\n";
    }
    x += "    </Grid>\n";
    x += "  </Domain>\n";
    x += "</Xdmf>\n";
    io::writeFileAtomic(file, x);
}

// ---------------------------------------------------------------------------------------------
// PNG

namespace {

struct Rgb {
    std::uint8_t r, g, b;
};

// Viridis (matplotlib's perceptually uniform map, CC0) by linear interpolation between its colours
// at 0, 1/8, ..., 1.
constexpr std::array<Rgb, 9> kViridis{{{0x44, 0x01, 0x54},
                                       {0x47, 0x2d, 0x7b},
                                       {0x3b, 0x52, 0x8b},
                                       {0x2c, 0x72, 0x8e},
                                       {0x21, 0x91, 0x8c},
                                       {0x28, 0xae, 0x80},
                                       {0x5e, 0xc9, 0x62},
                                       {0xad, 0xdc, 0x30},
                                       {0xfd, 0xe7, 0x25}}};

Rgb viridis(double t) {
    if (!(t > 0.0)) t = 0.0;  // NaN too
    if (t > 1.0) t = 1.0;
    const double pos = t * 8.0;
    const auto i = std::min<std::size_t>(7, static_cast<std::size_t>(pos));
    const double w = pos - static_cast<double>(i);
    const auto mix = [&](std::uint8_t a, std::uint8_t b) { return static_cast<std::uint8_t>(std::lround(a + w * (b - a))); };
    return {mix(kViridis[i].r, kViridis[i + 1].r), mix(kViridis[i].g, kViridis[i + 1].g), mix(kViridis[i].b, kViridis[i + 1].b)};
}

// Agent kinds in colours that stand out on viridis (kind k takes colour k mod 8).
constexpr std::array<Rgb, 8> kKindColours{{{0xff, 0xff, 0xff},
                                           {0xe4, 0x1a, 0x1c},
                                           {0xff, 0x7f, 0x00},
                                           {0xf7, 0x81, 0xbf},
                                           {0x00, 0x00, 0x00},
                                           {0xa6, 0x56, 0x28},
                                           {0x37, 0x7e, 0xb8},
                                           {0x99, 0x99, 0x99}}};

std::string hex(Rgb c) { return fmt::format("#{:02x}{:02x}{:02x}", c.r, c.g, c.b); }

// A PNG chunk (length, type, data, CRC over type and data).
std::string chunk(const char* type, const std::string& data) {
    std::string out;
    const auto len = static_cast<std::uint32_t>(data.size());
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((len >> s) & 0xff);
    out += type;
    out += data;
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + 4), static_cast<uInt>(4 + data.size()));
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((crc >> s) & 0xff);
    return out;
}

// tEXt is Latin-1: anything outside printable ASCII (a UTF-8 'µ' or 'β' in a unit or name) is
// written as '?' rather than mis-encoded.
std::string latin1(std::string_view s) {
    std::string out;
    for (const char ch : s) out += (static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f) ? ch : '?';
    return out;
}

}  // namespace

void writeSectionPng(const std::filesystem::path& file, const Snapshot& s, int z, std::string_view field) {
    checkSnapshot(s);
    if (s.fields == nullptr) throw InputError(fmt::format("snapshot: no fields to draw '{}' from", field));
    const std::size_t f = s.fields->index(field);
    const Grid& g = *s.grid;
    if (z < 0 || z >= g.nz) throw InputError(fmt::format("snapshot: section z = {} is outside the grid (0 to {})", z, g.nz - 1));
    const auto values = s.fields->values(f);
    double hi = 0.0;
    const std::size_t base = g.index(0, 0, z);
    for (std::size_t i = 0; i < static_cast<std::size_t>(g.nx) * static_cast<std::size_t>(g.ny); ++i)
        if (std::isfinite(values[base + i])) hi = std::max(hi, values[base + i]);
    // An empty (all-zero) layer still gets a valid scale.
    writeSectionPng(file, s, z, field, 0.0, hi > 0.0 ? hi : 1.0);
}

void writeSectionPng(const std::filesystem::path& file, const Snapshot& s, int z, std::string_view field, double lo, double hi) {
    checkSnapshot(s);
    if (s.fields == nullptr) throw InputError(fmt::format("snapshot: no fields to draw '{}' from", field));
    const std::size_t f = s.fields->index(field);
    const Grid& g = *s.grid;
    if (z < 0 || z >= g.nz) throw InputError(fmt::format("snapshot: section z = {} is outside the grid (0 to {})", z, g.nz - 1));
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo))
        throw InputError(fmt::format("snapshot: colour scale [{}, {}] of '{}' must be finite with hi > lo", lo, hi, field));
    // Pixels per voxel: sections of up to ~100 voxels are magnified so agents are visible; large
    // grids get one pixel per voxel. A colour bar 8 % of the width sits on the right.
    const int px = std::clamp(600 / std::max(g.nx, g.ny), 1, 8);
    const int mapW = g.nx * px, height = g.ny * px;
    const int gap = std::max(2, mapW / 50), barW = std::max(6, mapW / 12);
    const int width = mapW + gap + barW;
    std::vector<std::uint8_t> image(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3, 0xff);
    const auto put = [&](int x, int y, Rgb c) {
        // Image row 0 is the top: y grows upwards in the picture, as in ParaView's default view.
        const std::size_t at = (static_cast<std::size_t>(height - 1 - y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) * 3;
        image[at] = c.r;
        image[at + 1] = c.g;
        image[at + 2] = c.b;
    };
    const auto values = s.fields->values(f);
    for (int y = 0; y < g.ny; ++y)
        for (int x = 0; x < g.nx; ++x) {
            const Rgb c = viridis((values[g.index(x, y, z)] - lo) / (hi - lo));
            for (int dy = 0; dy < px; ++dy)
                for (int dx = 0; dx < px; ++dx) put(x * px + dx, y * px + dy, c);
        }
    for (int y = 0; y < height; ++y) {
        const Rgb c = viridis(height > 1 ? double(y) / (height - 1) : 1.0);
        for (int x = mapW + gap; x < width; ++x) put(x, y, c);
    }
    std::string kinds;
    if (s.agents != nullptr) {
        const AgentColumns& a = *s.agents;
        // A dot inside the voxel (a one-voxel margin when the voxel is 3 pixels or more).
        const int margin = px >= 3 ? 1 : 0;
        for (std::size_t i = 0; i < a.id.size(); ++i) {
            if (a.z[i] != z || !g.contains(a.x[i], a.y[i], a.z[i])) continue;
            const Rgb c = kKindColours[static_cast<std::size_t>(a.kind[i]) % kKindColours.size()];
            for (int dy = margin; dy < px - margin; ++dy)
                for (int dx = margin; dx < px - margin; ++dx) put(a.x[i] * px + dx, a.y[i] * px + dy, c);
        }
        for (std::size_t k = 0; k < a.kindNames.size(); ++k)
            kinds += fmt::format("{}{}={}", k ? ", " : "", a.kindNames[k], hex(kKindColours[k % kKindColours.size()]));
    }

    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = static_cast<png_uint_32>(width);
    img.height = static_cast<png_uint_32>(height);
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&img, nullptr, &size, 0, image.data(), 0, nullptr))
        throw IoError(fmt::format("{}: libpng: {}", file.string(), img.message));
    std::string bytes(size, '\0');
    if (!png_image_write_to_memory(&img, bytes.data(), &size, 0, image.data(), 0, nullptr))
        throw IoError(fmt::format("{}: libpng: {}", file.string(), img.message));
    bytes.resize(size);
    png_image_free(&img);
    // The stated scale and what the picture shows, as tEXt chunks right after IHDR (8-byte
    // signature + 25-byte IHDR chunk).
    const FieldSpec& spec = s.fields->spec(f);
    std::string text;
    const auto add = [&](const char* key, const std::string& value) { text += chunk("tEXt", std::string(key) + '\0' + latin1(value)); };
    add("Title", fmt::format("nkscape: {} at z = {}, t = {} min (step {})", spec.name, z, num(s.timeMin), s.step));
    add("Comment", fmt::format("colour: viridis, linear from {} (dark purple) to {} (yellow) {}; bar on the right; values outside are clamped. "
                               "Pixels per voxel: {}; voxel {} um; y upwards.{}",
                               num(lo), num(hi), spec.unit, px, num(g.voxelUm), kinds.empty() ? "" : " Agents: " + kinds));
    add("nkscape:field", spec.name);
    add("nkscape:unit", spec.unit);
    add("nkscape:scale", fmt::format("{} {}", num(lo), num(hi)));
    add("nkscape:time_min", num(s.timeMin));
    if (bytes.size() < 33) throw InternalError("libpng wrote less than a PNG header");
    bytes.insert(33, text);
    io::writeFileAtomic(file, bytes);
}

}  // namespace nkscape::abm
