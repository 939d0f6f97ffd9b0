#include "nkscape/model/constants.hpp"

namespace nkscape::model {

const std::vector<ConstantSpec>& constantSpecs() {
    using VC = ValueConstraint;
    // Keep sorted by name; docs/model-format.md lists the same table.
    static const std::vector<ConstantSpec> specs = {
        {"assay.cd16_f158_affinity", "1", VC::Positive, "IgG1 affinity of the FcgRIIIa F158 allotype relative to V158 (assay conditions with fcgr3a = F158)"},
        {"assay.encounter_rate", "1/h", VC::Positive, "rate at which a free NK cell in a killing-assay well meets a target, all targets alive"},
        {"assay.exhaustion_per_kill", "1", VC::Fraction, "exhaustion an NK cell gains with each kill in a killing assay"},
        {"assay.fraction_nonkiller", "1", VC::Fraction, "share of NK cells that kill nothing, for cell types that give no fraction_nonkiller"},
        {"assay.granule_refill_time", "h", VC::Positive, "time to refill one kill's worth of granules, for cell types that give no granule_refill_time"},
        {"assay.ligand_cv", "1", VC::NonNegative, "cell-to-cell coefficient of variation of target ligand levels in a killing assay"},
        {"assay.receptor_cv", "1", VC::NonNegative, "cell-to-cell coefficient of variation of NK receptor levels in a killing assay"},
        {"assay.spontaneous_lysis", "1", VC::Fraction, "fraction of targets dying without NK cells over a killing assay (spontaneous release)"},
        {"qsp.antibody_tumour_partition", "1", VC::Positive, "free drug in the tumour interstitium relative to plasma (antibodies)"},
        {"qsp.blood_influx_max_gain", "1", VC::Positive, "most that an expanded blood pool raises recruitment into the tumour, relative to the resting pool"},
        {"qsp.blood_pool_max_fold", "1", VC::Positive, "blood pool size, relative to rest, at which cytokine-driven expansion stops"},
        {"qsp.blood_volume", "L", VC::Positive, "blood volume of the patient, for blood cell pools"},
        {"qsp.caf_exclusion_ratio", "1", VC::Positive, "CAFs per tumour cell at which the stromal barrier halves immune infiltration"},
        {"qsp.carrying_capacity", "cell", VC::Positive, "tumour carrying capacity when the tumour cell type gives none"},
        {"qsp.cd8_tumour_specific_fraction", "1", VC::Fraction, "share of infiltrating CD8 T cells that recognise a tumour antigen"},
        {"qsp.cell_product_tumour_fraction", "1", VC::Fraction, "share of an infused cell product's circulating cells that are in the tumour"},
        {"qsp.costimulation_expansion_rate", "1/d", VC::NonNegative, "antigen-driven expansion rate of co-stimulated CAR-NK cells at full CAR engagement"},
        {"qsp.costimulation_persistence_gain", "1", VC::Positive, "persistence of co-stimulated CAR products relative to first-generation ones"},
        {"qsp.cytokine_tumour_partition", "1", VC::Positive, "free cytokine in the tumour interstitium relative to plasma"},
        {"qsp.encounter_half_saturation", "cell", VC::Positive, "tumour cells at which an NK cell's encounter rate is half its maximum"},
        {"qsp.encounter_rate", "1/d", VC::Positive, "tumour-cell encounters per NK cell per day when targets are plentiful"},
        {"qsp.exhaustion_per_kill", "1", VC::Fraction, "exhaustion an effector cell in the tumour gains per kill (engine)"},
        {"qsp.exhaustion_recovery_time", "d", VC::Positive, "time constant of recovery from exhaustion without stimulation (engine)"},
        {"qsp.interstitial_volume_per_cell", "mL/cell", VC::Positive, "tumour interstitial volume per cell, for mediator concentrations"},
        {"qsp.margination_rate", "1/d", VC::NonNegative, "rate at which blood lymphocytes leave the circulation per unit of their margination factor above rest"},
        {"qsp.margination_return_half_life", "h", VC::Positive, "half-life of marginated lymphocytes' return to the circulation"},
        {"qsp.plasma_volume", "L", VC::Positive, "plasma volume of the patient, for the plasma levels of tumour-derived mediators"},
        {"qsp.small_molecule_tumour_partition", "1", VC::Positive, "free small-molecule drug in the tumour interstitium relative to plasma"},
        {"qsp.stochastic_clone_threshold", "cell", VC::Positive, "clone size below which the engine advances a clone outside the ODE (whole cells when stochastic)"},
        {"qsp.tam_polarisation_rate", "1/d", VC::NonNegative, "rate at which TAMs switch between M1 and M2 at a resting M2 drive (each way r/2)"},
        {"qsp.target_engagement_max", "1/d", VC::Positive, "most lethal effector engagements (kills) a tumour cell receives per day when killers are plentiful"},
        {"qsp.tumour_fluid_drainage", "1/d", VC::NonNegative, "interstitial fluid leaving the tumour per day per tissue volume, carrying its mediators to plasma"},
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
