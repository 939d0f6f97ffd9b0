#include "nkscape/model/units.hpp"

#include <udunits2.h>

#include <cmath>
#include <mutex>

#include "nkscape/error.hpp"

namespace nkscape::model {
namespace {

// udunits2's parser and its error-message handler are process-wide state; serialise every call.
std::mutex& udunitsMutex() {
    static std::mutex m;
    return m;
}

struct UnitDeleter {
    void operator()(ut_unit* u) const noexcept { ut_free(u); }
};
using UnitPtr = std::unique_ptr<ut_unit, UnitDeleter>;

struct SystemDeleter {
    void operator()(ut_system* s) const noexcept { ut_free_system(s); }
};

}  // namespace

struct UnitSystem::Impl {
    std::unique_ptr<ut_system, SystemDeleter> system;

    UnitPtr parse(std::string_view text) const {
        const std::string s(text);
        // udunits2 accepts an empty string as "1"; nkscape demands an explicit unit.
        if (s.find_first_not_of(" \t") == std::string::npos) return nullptr;
        return UnitPtr(ut_parse(system.get(), s.c_str(), UT_UTF8));
    }
};

UnitSystem::UnitSystem() : impl_(std::make_unique<Impl>()) {
    std::lock_guard lock(udunitsMutex());
    ut_set_error_message_handler(ut_ignore);
    impl_->system.reset(ut_read_xml(nullptr));
    if (!impl_->system) {
        throw UnitError("cannot read the udunits2 unit database (set UDUNITS2_XML_PATH or install libudunits2-data)");
    }
    ut_system* sys = impl_->system.get();
    auto check = [](ut_status st, const char* what) {
        if (st != UT_SUCCESS && st != UT_EXISTS) throw UnitError(std::string("cannot define unit ") + what);
    };
    // Molar concentration: M = mol/L; prefixes (nM, uM, mM) then work through udunits2's parser.
    UnitPtr mole(ut_parse(sys, "mol", UT_ASCII));
    UnitPtr litre(ut_parse(sys, "L", UT_ASCII));
    UnitPtr gram(ut_parse(sys, "g", UT_ASCII));
    if (!mole || !litre || !gram) throw UnitError("udunits2 database lacks mol, L or g");
    UnitPtr molar(ut_divide(mole.get(), litre.get()));
    check(ut_map_symbol_to_unit("M", UT_ASCII, molar.get()), "M");
    UnitPtr dalton(ut_divide(gram.get(), mole.get()));
    check(ut_map_symbol_to_unit("Da", UT_ASCII, dalton.get()), "Da");
    // A count of cells is a base unit of its own, so that "molecule/cell" (udunits2 already has
    // molecule = mol/N_A) and "1" are different dimensions: a relative level cannot pass for a
    // copy number, nor cells/uL for a plain per-volume number.
    for (const char* name : {"cell"}) {
        UnitPtr base(ut_new_base_unit(sys));
        if (!base) throw UnitError(std::string("cannot create base unit ") + name);
        check(ut_map_name_to_unit(name, UT_ASCII, base.get()), name);
        check(ut_map_unit_to_name(base.get(), name, UT_ASCII), name);
        const std::string plural = std::string(name) + "s";
        check(ut_map_name_to_unit(plural.c_str(), UT_ASCII, base.get()), name);
    }
}

UnitSystem::~UnitSystem() {
    if (impl_) {
        std::lock_guard lock(udunitsMutex());
        impl_.reset();
    }
}
UnitSystem::UnitSystem(UnitSystem&&) noexcept = default;
UnitSystem& UnitSystem::operator=(UnitSystem&&) noexcept = default;

bool UnitSystem::parses(std::string_view unit) const {
    std::lock_guard lock(udunitsMutex());
    return impl_->parse(unit) != nullptr;
}

bool UnitSystem::convertible(std::string_view from, std::string_view to) const {
    std::lock_guard lock(udunitsMutex());
    UnitPtr a = impl_->parse(from);
    UnitPtr b = impl_->parse(to);
    return a && b && ut_are_convertible(a.get(), b.get()) != 0;
}

std::optional<double> UnitSystem::convert(double value, std::string_view from, std::string_view to,
                                          std::string* why) const {
    std::lock_guard lock(udunitsMutex());
    UnitPtr a = impl_->parse(from);
    if (!a) {
        if (why) *why = "unit '" + std::string(from) + "' does not parse";
        return std::nullopt;
    }
    UnitPtr b = impl_->parse(to);
    if (!b) {
        if (why) *why = "unit '" + std::string(to) + "' does not parse";
        return std::nullopt;
    }
    if (!ut_are_convertible(a.get(), b.get())) {
        if (why) *why = "unit '" + std::string(from) + "' does not convert to '" + std::string(to) + "'";
        return std::nullopt;
    }
    cv_converter* c = ut_get_converter(a.get(), b.get());
    if (!c) {
        if (why) *why = "no converter from '" + std::string(from) + "' to '" + std::string(to) + "'";
        return std::nullopt;
    }
    const double out = cv_convert_double(c, value);
    cv_free(c);
    return out;
}

double UnitSystem::convertOrThrow(double value, std::string_view from, std::string_view to) const {
    std::string why;
    auto v = convert(value, from, to, &why);
    if (!v) throw UnitError(why);
    return *v;
}

}  // namespace nkscape::model
