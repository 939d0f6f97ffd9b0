#include "nkscape/model/constants.hpp"

namespace nkscape::model {

const std::vector<ConstantSpec>& constantSpecs() {
    using VC = ValueConstraint;
    // Keep sorted by name; docs/model-format.md lists the same table.
    static const std::vector<ConstantSpec> specs = {
        {"synapse.adaptor_half", "molecule/cell", VC::Positive, "adaptor level at which a receptor signals at half its full strength"},
        {"synapse.car_half_antigen", "molecule/cell", VC::Positive, "antigen density giving half-maximal CAR engagement"},
        {"synapse.car_level", "molecule/cell", VC::Positive, "CAR molecules on a CAR-NK cell"},
        {"synapse.confinement", "nM.cell/molecule", VC::Positive,
         "effective concentration in the contact zone per molecule per cell (turns copy numbers into a 2-D binding term)"},
        {"synapse.death_receptor_efficacy", "1", VC::Fraction, "killing through FasL/TRAIL relative to granules, when granules are spent"},
        {"synapse.hill", "1", VC::Positive, "steepness of kill probability against the activation signal"},
        {"synapse.inhibition_scale", "1", VC::Positive, "inhibitory signal that doubles the activation threshold"},
        {"synapse.kill_time", "min", VC::Positive, "contact-to-detachment per kill of a fresh NK cell whose cell type gives no kill_time"},
        {"synapse.kill_time_no_granzyme", "min", VC::Positive, "contact-to-detachment per kill without granzymes A/B"},
        {"synapse.kill_time_no_perforin", "min", VC::Positive, "contact-to-detachment per kill without perforin"},
        {"synapse.max_kill_probability", "1", VC::Fraction, "kill probability per contact of a fully armed, fully activated NK cell"},
        {"synapse.reference_complexes", "molecule/cell", VC::Positive, "receptor-ligand complexes that make one unit of signal"},
        {"synapse.scan_time", "min", VC::Positive, "contact duration of an NK cell that does not kill"},
        {"synapse.threshold", "1", VC::Positive, "activation signal giving half the maximal kill probability without inhibition"},
    };
    return specs;
}

const ConstantSpec* findConstantSpec(std::string_view name) {
    for (const auto& s : constantSpecs())
        if (s.name == name) return &s;
    return nullptr;
}

}  // namespace nkscape::model
