#pragma once
/// \file
/// Physical units, parsed and converted with udunits2. nkscape adds to udunits2's SI system:
/// `M` (molar, mol/L, with SI prefixes: nM, uM, mM), `Da` (g/mol, so kDa), and a base unit of its
/// own, `cell` (plural `cells`), so that counts per cell are checked dimensions. udunits2 already
/// defines `molecule` (= mol / Avogadro's number), so `molecule/cell` converts to `nmol/cell`.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace nkscape::model {

/// A loaded unit system. Not copyable; create one per load (loading the XML takes ~10 ms).
/// Calls into udunits2 are serialised internally because its parser is not re-entrant.
class UnitSystem {
public:
    /// Loads udunits2's XML database (UDUNITS2_XML_PATH if set, else the packaged default).
    /// \throws UnitError if the database cannot be read.
    UnitSystem();
    ~UnitSystem();
    UnitSystem(const UnitSystem&) = delete;
    UnitSystem& operator=(const UnitSystem&) = delete;
    UnitSystem(UnitSystem&&) noexcept;
    UnitSystem& operator=(UnitSystem&&) noexcept;

    /// True if `unit` parses (e.g. "pg/mL", "1/d", "molecule/cell").
    [[nodiscard]] bool parses(std::string_view unit) const;

    /// True if a quantity in `from` converts to `to` (same dimension).
    [[nodiscard]] bool convertible(std::string_view from, std::string_view to) const;

    /// Converts `value` from unit `from` to unit `to`. Returns nullopt and sets `why` (if given)
    /// when a unit does not parse or the two are not convertible.
    [[nodiscard]] std::optional<double> convert(double value, std::string_view from, std::string_view to,
                                                std::string* why = nullptr) const;

    /// Like convert() but throws UnitError with the reason.
    [[nodiscard]] double convertOrThrow(double value, std::string_view from, std::string_view to) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace nkscape::model
