#include "nkscape/abm/field.hpp"

#include "nkscape/error.hpp"

namespace nkscape::abm {

FieldSet::FieldSet(const Grid& grid, std::vector<FieldSpec> specs) : grid_(grid), specs_(std::move(specs)) {
    throw NotImplementedError("abm::FieldSet (in progress on branch abm-fields)");
}
std::size_t FieldSet::index(std::string_view) const { throw NotImplementedError("abm::FieldSet::index"); }
void FieldSet::step(double, int) { throw NotImplementedError("abm::FieldSet::step"); }
int FieldSet::substeps(std::size_t, double) const { throw NotImplementedError("abm::FieldSet::substeps"); }
void FieldSet::setReactionStepLimit(double) { throw NotImplementedError("abm::FieldSet::setReactionStepLimit"); }
double FieldSet::total(std::size_t) const { throw NotImplementedError("abm::FieldSet::total"); }
void FieldSet::save(std::ostream&) const { throw NotImplementedError("abm::FieldSet::save"); }
void FieldSet::load(std::istream&) { throw NotImplementedError("abm::FieldSet::load"); }

}  // namespace nkscape::abm
