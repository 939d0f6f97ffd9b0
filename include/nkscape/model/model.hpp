#pragma once
/// \file
/// The compiled model: what engines read. Built once by the loader (see loader.hpp) from the TOML
/// description, immutable afterwards. Entities are plain structs in vectors; references between
/// them are indices; every number is a ParamId into one parameter vector in internal units (see
/// docs/model-format.md for each key's internal unit). Engines never look names up in hot loops:
/// they resolve what they need once, through find()/indexOf(), and keep the indices.

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nkscape/model/constants.hpp"
#include "nkscape/model/diagnostics.hpp"

namespace nkscape::model {

/// Index of an entity within its kind's vector.
using Index = std::uint32_t;
inline constexpr Index kNoIndex = std::numeric_limits<Index>::max();

/// Index into CompiledModel::values() / parameters().
using ParamId = std::uint32_t;
inline constexpr ParamId kNoParam = std::numeric_limits<ParamId>::max();

/// The kinds of entity a model declares (the TOML array names in brackets).
enum class Kind : std::uint8_t {
    Receptor,     ///< [[receptor]]
    Ligand,       ///< [[ligand]]
    Interaction,  ///< [[interaction]]
    Mediator,     ///< [[mediator]]
    Factor,       ///< [[factor]]
    CellType,     ///< [[cell_type]]
    Regulation,   ///< [[regulation]]
    Pathway,      ///< [[pathway]]
    Therapy,      ///< [[therapy]]
    Constant,     ///< [[constant]]: a named model-wide number an engine needs (see constants.hpp)
};
inline constexpr std::size_t kKindCount = 10;
inline constexpr std::array<Kind, kKindCount> kAllKinds = {
    Kind::Receptor, Kind::Ligand,     Kind::Interaction, Kind::Mediator, Kind::Factor,
    Kind::CellType, Kind::Regulation, Kind::Pathway,     Kind::Therapy,  Kind::Constant};

/// "receptor", "cell_type", ... (the TOML key).
[[nodiscard]] std::string_view kindKey(Kind k) noexcept;
/// Parses a TOML kind key; also accepts plurals ("receptors") and "cell-type".
[[nodiscard]] std::optional<Kind> parseKind(std::string_view s) noexcept;

/// A reference to any entity.
struct EntityRef {
    Kind kind = Kind::Receptor;
    Index index = kNoIndex;
    [[nodiscard]] bool valid() const noexcept { return index != kNoIndex; }
    friend bool operator==(const EntityRef&, const EntityRef&) = default;
};

/// How a source string cites its number. Doi … Review are published; Fit is a value fitted to
/// calibration targets (`fit: <target ids> (...)`, written by `nkscape calibrate`); Assumption
/// has no measurement behind it.
enum class SourceKind : std::uint8_t { Doi, Pmid, Paper, Code, Review, Fit, Assumption };
inline constexpr std::size_t kSourceKindCount = 7;
/// True for the forms that cite a publication (doi, pmid, paper, code, review).
[[nodiscard]] constexpr bool isPublished(SourceKind k) noexcept { return k != SourceKind::Fit && k != SourceKind::Assumption; }
[[nodiscard]] std::string_view sourceKindName(SourceKind k) noexcept;

/// One number of the model, with its provenance.
struct ParameterInfo {
    std::string path;           ///< "receptor/NKG2D/weight", "cell_type/TNBC/expression/HLA-E"
    double value = 0;           ///< in internalUnit
    std::string internalUnit;   ///< e.g. "nM", "1/d", "molecule/cell"
    double writtenValue = 0;    ///< as written in the file
    std::string writtenUnit;    ///< as written in the file
    std::string source;         ///< the source string as written
    SourceKind sourceKind = SourceKind::Assumption;
    std::optional<std::pair<double, double>> range;  ///< plausible range, internal unit
    ValueConstraint constraint = ValueConstraint::Any;  ///< sign or fraction rule of its key
    std::optional<double> cv;   ///< heritable variation (traits only)
    std::string note;
    SourceLocation where;
};

// ---- entity payloads -------------------------------------------------------------------------

enum class ReceptorClass : std::uint8_t { Activating, Inhibitory, Mixed, Adaptor };
enum class LigandForm : std::uint8_t { Membrane, Soluble };
enum class LigandCategory : std::uint8_t { Activating, Inhibitory, Dual, Antigen, SelfHla, Opsonin };
enum class MediatorKind : std::uint8_t {
    Cytokine, Chemokine, Lipid, Metabolite, Gas, SolubleLigand, GrowthFactor, Enzyme, Drug
};
/// Feedback: a negative-feedback signalling node (CIS/SOCS) whose level the engines keep as a state
/// relaxing toward its set-point with its regulations' tau, so that what it regulates lags the
/// signal that induces it (desensitisation; docs/qsp.md).
enum class FactorRole : std::uint8_t { Enzyme, Signalling, Effector, State, Epigenetic, MicroRna, ReceptorIntracellular, Feedback };
enum class CellCategory : std::uint8_t { Nk, Tumour, Caf, Mdsc, Tam, Treg, Cd8T, Dc };
inline constexpr std::size_t kCellCategoryCount = 8;
enum class TumourSubtype : std::uint8_t { None, LuminalA, LuminalB, Her2Enriched, Tnbc };
enum class Polarisation : std::uint8_t { None, M1, M2 };
enum class RegulationMode : std::uint8_t { Concentration, Contact, State };
enum class Direction : std::uint8_t { Down, Up };
enum class Trigger : std::uint8_t { High, Low };

[[nodiscard]] std::string_view cellCategoryKey(CellCategory c) noexcept;

struct Receptor {
    ReceptorClass cls = ReceptorClass::Activating;
    std::vector<Index> adaptors;             ///< receptors of class Adaptor
    ParamId weight = kNoParam;               ///< dimensionless signal per engaged complex (docs/synapse.md)
    ParamId activatingFraction = kNoParam;   ///< Mixed only
};

struct Ligand {
    LigandForm form = LigandForm::Membrane;
    LigandCategory category = LigandCategory::Activating;
    Index solubleMediator = kNoIndex;        ///< mediator that is its shed form
};

struct Interaction {
    Index receptor = kNoIndex;
    EntityRef ligand;                        ///< Ligand, or Mediator of kind SolubleLigand (decoy)
    ParamId kd = kNoParam;                   ///< nM
    ParamId kon = kNoParam;                  ///< 1/(nM.h), optional
    std::vector<Index> competesWith;         ///< receptors
};

struct Mediator {
    MediatorKind kind = MediatorKind::Cytokine;
    std::string unit;                        ///< concentration unit of this mediator
    Index ligandOf = kNoIndex;               ///< SolubleLigand only
    ParamId diffusivity = kNoParam;          ///< um2/s
    ParamId decayRate = kNoParam;            ///< 1/h (derived from half_life if that was given)
    ParamId halfLife = kNoParam;             ///< h
    ParamId molecularWeight = kNoParam;      ///< kDa
    ParamId basalLevel = kNoParam;           ///< in `unit`
    /// Plasma compartment (all kNoParam when the mediator has none): the serum/plasma half-life
    /// of the form the clinical assay measures (h), its healthy plasma level (in `unit`) and that
    /// form per unit of the modelled interstitial one (1; total/active for TGF-β1, 1 by default).
    ParamId plasmaHalfLife = kNoParam;
    ParamId plasmaBaseline = kNoParam;
    ParamId plasmaFormRatio = kNoParam;
    /// `unit` per nM when `unit` is an amount concentration (mM, nM…), else 0.
    double unitPerNanomolar = 0;
    /// `unit` per ng/mL when `unit` is a mass concentration (pg/mL…), else 0. With the molecular
    /// weight (1 nM × 1 kDa = 1 ng/mL) this turns a drug's molar concentration into this unit.
    double unitPerNgPerMl = 0;
    /// 1 `unit` in nM when `unit` is an amount concentration (nM, pmol/L …); NaN otherwise.
    /// Precomputed at load so that engines (soluble decoys in the synapse) need no unit system.
    double nanomolarPerUnit = std::numeric_limits<double>::quiet_NaN();
    /// 1 `unit` in g/L when `unit` is a mass concentration (pg/mL …); NaN otherwise.
    double gramsPerLitrePerUnit = std::numeric_limits<double>::quiet_NaN();
};

struct Factor {
    FactorRole role = FactorRole::State;
    std::vector<CellCategory> cells;
    ParamId baseline = kNoParam;             ///< 1
};

/// Scalar parameters of a cell type; the array in CellType is indexed by this enum.
enum class CellParam : std::uint8_t {
    DoublingTime, GrowthRate, DeathRate, ProliferationRate, Lifespan, CarryingCapacity, Diameter,
    Speed, BloodCount, Density, KillTime, GranuleCapacity, GranuleRefillTime, FractionNonkiller,
    Count_
};
inline constexpr std::size_t kCellParamCount = static_cast<std::size_t>(CellParam::Count_);
[[nodiscard]] std::string_view cellParamKey(CellParam p) noexcept;

/// A level of something (receptor, ligand, factor, mediator secretion) on a cell type.
struct LevelEntry {
    EntityRef target;
    ParamId param = kNoParam;
};

struct CellType {
    CellCategory category = CellCategory::Nk;
    TumourSubtype subtype = TumourSubtype::None;
    Polarisation polarisation = Polarisation::None;
    std::optional<bool> er, pr, her2;
    Index basedOn = kNoIndex;
    std::vector<LevelEntry> expression;  ///< receptors/ligands, molecule/cell
    std::vector<LevelEntry> secretion;   ///< mediators, <mediator unit>.mL/(cell.h)
    std::vector<LevelEntry> uptake;      ///< mediators, mL/(cell.h): volume each cell clears of the mediator per hour
    std::vector<LevelEntry> factors;     ///< factors, relative (1)
    std::vector<LevelEntry> traits;      ///< heritable traits; ParameterInfo::cv is set
    std::array<ParamId, kCellParamCount> params{};  ///< kNoParam where not given

    CellType() { params.fill(kNoParam); }
    [[nodiscard]] ParamId param(CellParam p) const noexcept { return params[static_cast<std::size_t>(p)]; }
};

struct Regulation {
    EntityRef by;
    RegulationMode mode = RegulationMode::Concentration;
    std::vector<CellCategory> on;
    EntityRef target;
    Direction direction = Direction::Down;
    Trigger trigger = Trigger::High;
    ParamId ec50 = kNoParam;  ///< in the unit of `by` (mediator unit, cell/mL, or 1)
    ParamId emax = kNoParam;  ///< 1
    ParamId hill = kNoParam;  ///< 1
    ParamId tau = kNoParam;   ///< h
    /// Optional factor whose level in the cell, relative to the factor's healthy reference
    /// (`baseline`), multiplies emax: a responsiveness (PD-L1 inducibility); invalid if absent.
    EntityRef scaledBy;
};

struct PathwayEdge {
    EntityRef from;
    EntityRef to;
    int sign = +1;
    ParamId weight = kNoParam;
};

struct Pathway {
    std::vector<CellCategory> cells;
    std::vector<PathwayEdge> edges;
};

enum class TherapyKind : std::uint8_t {
    BlockingAntibody, OpsonisingAntibody, BispecificAntibody, Engager, Cytokine, CellTherapy,
    SmallMolecule, FusionProtein, Virus, Procedure, Chemotherapy
};
enum class PkModel : std::uint8_t { None, OneCompartment, TwoCompartment, ThreeCompartment, CellKinetics };
enum class MechanismAction : std::uint8_t {
    Block, Opsonise, Engage, Car, Supply, Inhibit, Neutralise, Lyse, Recruit, Deplete, Restore
};
[[nodiscard]] std::string_view mechanismActionKey(MechanismAction a) noexcept;

/// Pharmacokinetic parameters; the array is indexed by PkParam.
enum class PkParam : std::uint8_t {
    Clearance, V1, V2, V3, Q, Q2, Ka, Bioavailability, HalfLife, ExpansionRate, ContractionRate,
    Persistence, TmddKd, TmddKint, ClearanceCv, Ke0, TmddSites, Count_
};
inline constexpr std::size_t kPkParamCount = static_cast<std::size_t>(PkParam::Count_);
[[nodiscard]] std::string_view pkParamKey(PkParam p) noexcept;

struct Pk {
    PkModel model = PkModel::None;
    std::string route;  ///< iv_bolus, iv_infusion, subcutaneous, intratumoural, local
    std::array<ParamId, kPkParamCount> params{};
    Pk() { params.fill(kNoParam); }
    [[nodiscard]] ParamId param(PkParam p) const noexcept { return params[static_cast<std::size_t>(p)]; }
};

struct Mechanism {
    MechanismAction action = MechanismAction::Block;
    EntityRef target;                  ///< invalid when the target is a cell category
    std::optional<CellCategory> targetCategory;  ///< lyse/recruit/deplete on a category
    std::vector<Index> receptors;      ///< engage: NK receptors bridged
    std::string costimulation;         ///< car only
    EntityRef spares;                  ///< lyse only: an antigen whose high level protects a cell (invalid: none)
    std::vector<std::pair<std::string, ParamId>> params;  ///< kd, ic50, emax, gain, fc_gain, potency, rate, spare_half
    [[nodiscard]] ParamId param(std::string_view key) const noexcept;
};

struct Therapy {
    TherapyKind kind = TherapyKind::SmallMolecule;
    std::string isotype;
    std::string doseUnit;
    ParamId molecularWeight = kNoParam;  ///< kDa
    Index product = kNoIndex;            ///< cell_therapy: cell type
    std::vector<std::string> trials;
    Pk pk;
    std::vector<Mechanism> mechanisms;
};

/// What every entity has, whatever its kind: names, text, where it was written, and a readable
/// list of its attributes and parameters (used by `describe` and the generated reference).
struct EntityInfo {
    Kind kind = Kind::Receptor;
    Index index = kNoIndex;
    std::string name;
    std::vector<std::string> aliases;
    std::string description;
    std::string review;
    SourceLocation where;
    std::vector<std::pair<std::string, std::string>> attributes;  ///< key → display text
    std::vector<ParamId> params;                                   ///< every parameter it owns
};

/// Identity of a loaded model.
struct ModelInfo {
    std::string name;
    std::string version;
    std::string description;
    std::vector<std::string> files;  ///< root first, in load order
    std::string hash;                ///< FNV-1a 64 of the files' paths and bytes, hex
};

/// Why `value` (in `unit`) is not acceptable for a parameter of key `key` with rule `constraint`
/// and plausible `range` (same unit), or "" if it is. CompiledModel::valueProblem and the loader
/// call this; its messages are the loader's.
[[nodiscard]] std::string valueProblem(ValueConstraint constraint, const std::optional<std::pair<double, double>>& range, double value,
                                       std::string_view unit, std::string_view key);

/// The immutable, validated model. Copyable (value type); construct through loadModel().
class CompiledModel {
public:
    [[nodiscard]] const ModelInfo& info() const noexcept { return info_; }

    [[nodiscard]] const std::vector<Receptor>& receptors() const noexcept { return receptors_; }
    [[nodiscard]] const std::vector<Ligand>& ligands() const noexcept { return ligands_; }
    [[nodiscard]] const std::vector<Interaction>& interactions() const noexcept { return interactions_; }
    [[nodiscard]] const std::vector<Mediator>& mediators() const noexcept { return mediators_; }
    [[nodiscard]] const std::vector<Factor>& factors() const noexcept { return factors_; }
    [[nodiscard]] const std::vector<CellType>& cellTypes() const noexcept { return cellTypes_; }
    [[nodiscard]] const std::vector<Regulation>& regulations() const noexcept { return regulations_; }
    [[nodiscard]] const std::vector<Pathway>& pathways() const noexcept { return pathways_; }
    [[nodiscard]] const std::vector<Therapy>& therapies() const noexcept { return therapies_; }
    /// Parameter of each [[constant]], in declaration order (index = constant's Index).
    [[nodiscard]] const std::vector<ParamId>& constants() const noexcept { return constants_; }
    /// The value (internal unit, see constants.hpp) of the constant `name`.
    /// \throws InputError naming the constant and the model if the model does not declare it.
    [[nodiscard]] double constant(std::string_view name) const;

    /// Number of entities of a kind.
    [[nodiscard]] std::size_t count(Kind k) const noexcept { return entities_[static_cast<std::size_t>(k)].size(); }
    /// Names, text and parameters of the entities of a kind, in declaration order.
    [[nodiscard]] const std::vector<EntityInfo>& entities(Kind k) const noexcept {
        return entities_[static_cast<std::size_t>(k)];
    }
    [[nodiscard]] const EntityInfo& entity(EntityRef r) const { return entities(r.kind).at(r.index); }
    [[nodiscard]] const std::string& name(EntityRef r) const { return entity(r).name; }

    /// Looks a name or alias up across all kinds.
    [[nodiscard]] std::optional<EntityRef> find(std::string_view nameOrAlias) const;
    /// Index of an entity of a given kind, by name or alias.
    [[nodiscard]] std::optional<Index> indexOf(Kind k, std::string_view nameOrAlias) const;
    /// Like indexOf but throws InputError naming the kind and the name.
    [[nodiscard]] Index require(Kind k, std::string_view nameOrAlias) const;

    /// All parameter values, internal units, indexed by ParamId.
    [[nodiscard]] std::span<const double> values() const noexcept { return values_; }
    [[nodiscard]] double value(ParamId p) const { return values_.at(p); }
    /// Value, or `fallback` when the parameter was not given (p == kNoParam).
    [[nodiscard]] double valueOr(ParamId p, double fallback) const { return p == kNoParam ? fallback : values_.at(p); }
    [[nodiscard]] const std::vector<ParameterInfo>& parameters() const noexcept { return parameters_; }
    [[nodiscard]] const ParameterInfo& parameter(ParamId p) const { return parameters_.at(p); }
    /// Looks a parameter up by path ("receptor/NKG2D/weight").
    [[nodiscard]] std::optional<ParamId> findParameter(std::string_view path) const;
    /// Why `value` (internal unit) is not an acceptable value of parameter `p`, or "" if it is.
    /// The one check every number a user gives a parameter goes through — the model file (at
    /// load), a scenario's [overrides], setValue(): finite, the sign or fraction rule of its key,
    /// and inside its own plausible `range`. Messages match the loader's.
    [[nodiscard]] std::string valueProblem(ParamId p, double value) const;
    /// Replaces parameter `p`'s value (internal unit) — a scenario's override. Engines built
    /// from the model afterwards (Regulator, Synapse, qsp::simulate) see the new value.
    /// \throws InputError if `p` is not a parameter or valueProblem(p, value) is not empty.
    void setValue(ParamId p, double value);
    /// Replaces parameter `p`'s value (internal unit) in a counterfactual: a mechanism switched
    /// off for mechanism attribution (docs/attribution.md), e.g. an inhibitory receptor's weight
    /// set to 0. Such a value is deliberately outside the plausible `range` (which describes
    /// patients), so only the value's finiteness and its key's sign or fraction rule are checked.
    /// \throws InputError if `p` is not a parameter, the value is not finite or breaks that rule.
    void setCounterfactualValue(ParamId p, double value);

private:
    friend class ModelCompiler;
    friend class OverlayLoader;  // a model overlay replaces values with their provenance (src/model/overlay.cpp)
    CompiledModel() = default;

    ModelInfo info_;
    std::vector<Receptor> receptors_;
    std::vector<Ligand> ligands_;
    std::vector<Interaction> interactions_;
    std::vector<Mediator> mediators_;
    std::vector<Factor> factors_;
    std::vector<CellType> cellTypes_;
    std::vector<Regulation> regulations_;
    std::vector<Pathway> pathways_;
    std::vector<Therapy> therapies_;
    std::vector<ParamId> constants_;
    std::array<std::vector<EntityInfo>, kKindCount> entities_;
    std::unordered_map<std::string, EntityRef> byName_;  ///< names and aliases
    std::vector<ParameterInfo> parameters_;
    std::vector<double> values_;
    std::unordered_map<std::string, ParamId> paramByPath_;
};

}  // namespace nkscape::model
