#pragma once
// Internal: the parsed-but-not-compiled model (ModelSpec) and the schema that drives parsing.
// Parsing checks everything that one table can tell on its own (keys, types, units, ranges,
// sources); compiling checks what needs the whole model (references, duplicates, conditional keys).

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nkscape/model/diagnostics.hpp"
#include "nkscape/model/model.hpp"

namespace nkscape::model::detail {

enum class FieldType {
    String,      // free text
    Enum,        // one of `values`
    EnumList,    // list, each one of `values`
    Bool,
    Param,       // { value, unit, source, range?, note? }
    ParamMap,    // name → Param (names are references resolved at compile)
    TraitMap,    // name → Param + cv
    Table,       // nested table with `nested` schema
    TableArray,  // array of tables with `nested` schema
    Ref,         // name of another entity
    RefList,     // list of names
    StringList,  // list of free strings
};

enum class Constraint { Any, NonNegative, Positive, Fraction };

struct TableSchema;

struct FieldSpec {
    std::string_view key;
    FieldType type = FieldType::String;
    bool required = false;
    std::string_view unit;  // internal unit of Param/ParamMap; empty = decided at compile
    Constraint constraint = Constraint::Any;
    std::vector<std::string_view> values;  // Enum / EnumList
    const TableSchema* nested = nullptr;   // Table / TableArray
};

struct TableSchema {
    std::string_view what;  // "receptor", "therapy.pk", ...
    std::vector<FieldSpec> fields;
    [[nodiscard]] const FieldSpec* find(std::string_view key) const {
        for (const auto& f : fields)
            if (f.key == key) return &f;
        return nullptr;
    }
};

/// Schema of a kind's entity table (name/aliases/description/review are common and implicit).
const TableSchema& entitySchema(Kind k);

struct ParamValue {
    double value = std::nan("");     // as written
    std::string unit;                 // as written
    double internal = std::nan("");   // converted (NaN until converted)
    std::string internalUnit;
    std::string source;
    SourceKind sourceKind = SourceKind::Assumption;
    std::optional<std::pair<double, double>> range;          // as written
    std::optional<std::pair<double, double>> rangeInternal;  // converted
    std::optional<double> cv;
    std::string note;
    SourceLocation where;
    Constraint constraint = Constraint::Any;
    bool ok = false;  // parsed without error (conversion may still be pending)
};

struct NamedParam {
    std::string name;
    SourceLocation where;  // of the key
    ParamValue param;
};

struct Table;

struct Field {
    // Special members are declared here and defaulted after Table, where Table is complete
    // (clang with libstdc++ needs that for std::vector<Table> inside a type Table contains).
    Field();
    Field(const Field&);
    Field(Field&&) noexcept;
    Field& operator=(const Field&);
    Field& operator=(Field&&) noexcept;
    ~Field();

    FieldType type = FieldType::String;
    SourceLocation where;
    std::string text;                                        // String, Enum, Ref
    std::vector<std::pair<std::string, SourceLocation>> list;  // EnumList, RefList, StringList
    bool flag = false;                                       // Bool
    ParamValue param;                                        // Param
    std::vector<NamedParam> entries;                         // ParamMap, TraitMap
    std::vector<Table> tables;                               // Table (one), TableArray
};

struct Table {
    SourceLocation where;
    std::vector<std::pair<std::string, Field>> fields;
    std::vector<std::string> invalid;  // keys that were written but failed to parse
    /// True if the key was written at all (valid or not): "missing" checks must not cascade.
    [[nodiscard]] bool has(std::string_view key) const {
        return get(key) != nullptr || std::find(invalid.begin(), invalid.end(), key) != invalid.end();
    }
    [[nodiscard]] const Field* get(std::string_view key) const {
        for (const auto& [k, f] : fields)
            if (k == key) return &f;
        return nullptr;
    }
};

inline Field::Field() = default;
inline Field::Field(const Field&) = default;
inline Field::Field(Field&&) noexcept = default;
inline Field& Field::operator=(const Field&) = default;
inline Field& Field::operator=(Field&&) noexcept = default;
inline Field::~Field() = default;

struct EntitySpec {
    Kind kind = Kind::Receptor;
    std::string name;
    std::vector<std::pair<std::string, SourceLocation>> aliases;
    std::string description;
    std::string review;
    SourceLocation where;
    Table table;
    std::size_t ordinal = 0;  // 1-based position among this kind's entities in its file
    /// "receptor 'NKG2D'", or "receptor #3" for an entity whose name is missing or invalid.
    [[nodiscard]] std::string label() const {
        return name.empty() ? std::string(kindKey(kind)) + " #" + std::to_string(ordinal) : std::string(kindKey(kind)) + " '" + name + "'";
    }
};

struct ModelSpec {
    ModelInfo info;
    std::vector<EntitySpec> entities;  // in load order
};

/// Checks a source string; returns its kind or an error message.
std::optional<SourceKind> classifySource(std::string_view source, std::string* why);

/// Checks a value against a constraint; returns an error message or empty.
std::string checkConstraint(Constraint c, double internalValue, std::string_view key);

/// Closest candidate by edit distance (for "did you mean"), or empty.
std::string closestMatch(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace nkscape::model::detail
