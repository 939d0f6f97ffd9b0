#pragma once
/// \file
/// The registry of model-wide constants ([[constant]] entries): numbers an engine needs that belong
/// to no receptor, ligand or cell — e.g. the synapse's activation threshold. Each has a fixed
/// internal unit, checked at load like any key. A model declares only those its engines use; an
/// engine asks CompiledModel::constant(name) and gets a clear error if the model lacks it.

#include <string_view>
#include <vector>

namespace nkscape::model {

/// Allowed values of a constant (same meaning as for keys, see docs/model-format.md).
enum class ValueConstraint : unsigned char { Any, NonNegative, Positive, Fraction };

struct ConstantSpec {
    std::string_view name;  ///< "synapse.threshold"
    std::string_view unit;  ///< internal unit
    ValueConstraint constraint = ValueConstraint::Any;
    std::string_view doc;   ///< one line: what it is
};

/// Every constant an engine of this version can use.
[[nodiscard]] const std::vector<ConstantSpec>& constantSpecs();
/// The spec of `name`, or nullptr.
[[nodiscard]] const ConstantSpec* findConstantSpec(std::string_view name);

}  // namespace nkscape::model
