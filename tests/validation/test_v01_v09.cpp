// Validation findings V1–V9 of shared/VALIDATION.md (synapse and killing assay), each reproduced by
// the default model with one parameter set, by running the shipped scenarios in
// scenarios/assays/ (and, where the finding is about a molecular quantity, the synapse or the
// Regulator directly).
//
// How sizes are judged. The assay draws every well's cells from streams keyed by (seed, E:T,
// replicate, cell) and not by condition, so two conditions of a scenario are paired like wells
// plated from one donor's cells: a difference between conditions is measured per replicate pair,
// and its 95 % interval is the paired one. Unless a test says otherwise a "detectable" effect is
// one whose paired 95 % interval excludes zero and whose mean is at least 3 points of specific
// lysis — the replicate noise of a chromium-release assay in the laboratory is a few points, so a
// smaller simulated effect would not be a finding anyone could have reported.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "nkscape/assay/assay.hpp"
#include "nkscape/assay/scenario.hpp"
#include "assay_run.hpp"
#include "nkscape/synapse/regulation.hpp"
#include "nkscape/synapse/synapse.hpp"

using namespace nkscape;
using namespace nkscape::model;

namespace {

using validation::AssayRun;
using validation::expectAbove;

const AssayRun& run(const std::string& scenario) { return validation::runAssayScenario(scenario); }

}  // namespace

// V1 — missing self: losing classical HLA-I with the same activating ligands raises lysis.
TEST(V01_MissingSelf, HlaILossRaisesLysis) {
    const AssayRun& r = run("v01-missing-self.toml");
    for (double et : {2.5, 10.0}) expectAbove(r, "HLA-I lost", "HLA-I high", et, et < 5 ? 5.0 : 3.0);
}

// Lysis rises with E:T and saturates below 100 %.
TEST(V01_MissingSelf, LysisRisesWithEtAndSaturates) {
    const AssayRun& r = run("v01-missing-self.toml");
    EXPECT_GT(r.lysis("HLA-I high", 10), r.lysis("HLA-I high", 2.5) + 10);
    EXPECT_LT(r.lysis("HLA-I high", 10), 100.0);
    // Saturation: quadrupling E:T less than quadruples lysis.
    EXPECT_LT(r.lysis("HLA-I high", 10), 4.0 * r.lysis("HLA-I high", 2.5));
}

// NK heterogeneity (PARAMETERS.md, Vanherberghen et al. 2013): about half of NK cells kill nothing
// and a minority of serial killers do most of the killing. Bands: "about half" is read as 40–75 %
// (the paper's imaging counts vary by donor and target); "a minority ... most" as serial killers
// (≥ 2 kills) under 30 % of the NK cells making over half of the kills.
TEST(NkHeterogeneity, HalfKillNothingAndSerialKillersDoMostOfTheKilling) {
    const AssayRun& r = run("serial-killing-heterogeneity.toml");
    for (const auto& ratio : r.condition("activated NK vs MDA-MB-231").ratios) {
        double nk = 0, without = 0, serial = 0, serialKills = 0, kills = 0;
        for (const auto& w : ratio.wells) {
            nk += w.effectors;
            without += w.nkWithoutKill;
            serial += w.serialKillers;
            serialKills += w.serialKills;
            kills += w.kills;
        }
        ASSERT_GT(kills, 0.0);
        EXPECT_GE(without / nk, 0.40) << "E:T " << ratio.etRatio;
        EXPECT_LE(without / nk, 0.75) << "E:T " << ratio.etRatio;
        EXPECT_LT(serial / nk, 0.30) << "E:T " << ratio.etRatio;
        EXPECT_GT(serialKills / kills, 0.50) << "E:T " << ratio.etRatio;
    }
}

// V2 — HLA-E with NKG2A+ NK cells lowers lysis; monalizumab restores it; on HLA-E-negative targets
// the antibody changes nothing.
TEST(V02_Nkg2aBlockade, HlaELowersLysisAndMonalizumabRestoresIt) {
    const AssayRun& r = run("v02-nkg2a-monalizumab.toml");
    for (double et : {2.5, 10.0}) {
        expectAbove(r, "HLA-E own", "HLA-E high", et);
        expectAbove(r, "HLA-E high + monalizumab", "HLA-E high", et, 10.0);
        // Restored: at least to the lysis of HLA-E-negative targets, within replicate noise.
        EXPECT_GE(r.lysis("HLA-E high + monalizumab", et), r.lysis("HLA-E negative", et) - 3.0) << et;
    }
}

TEST(V02_Nkg2aBlockade, MonalizumabDoesNothingWithoutHlaE) {
    const AssayRun& r = run("v02-nkg2a-monalizumab.toml");
    // With no HLA-E, NKG2A engages nothing whether blocked or not, and the paired wells are the
    // same cells: the lysis is identical, not merely close.
    for (double et : {2.5, 10.0}) EXPECT_EQ(r.lysis("HLA-E negative + monalizumab", et), r.lysis("HLA-E negative", et)) << et;
}

// V3 — HP-F1 restores lysis of HLA-G/HLA-I+ TNBC-like targets, more with higher CD85j, and not at
// all for HLA-I-negative targets.
TEST(V03_Lilrb1Blockade, RestoresMoreTheHigherCd85j) {
    const AssayRun& r = run("v03-lilrb1-hpf1.toml");
    for (double et : {2.5, 10.0}) {
        expectAbove(r, "CD85j high + HP-F1", "CD85j high", et);
        const double gainHigh = r.diff("CD85j high + HP-F1", "CD85j high", et).mean;
        const double gainLow = r.diff("CD85j low + HP-F1", "CD85j low", et).mean;
        EXPECT_GT(gainHigh, gainLow + 2.0) << "E:T " << et << ": restoration with high CD85j " << gainHigh << ", low " << gainLow;
    }
}

TEST(V03_Lilrb1Blockade, NothingOnHlaINegativeTargets) {
    const AssayRun& r = run("v03-lilrb1-hpf1.toml");
    for (double et : {2.5, 10.0})
        EXPECT_EQ(r.lysis("HLA-I negative, CD85j high + HP-F1", et), r.lysis("HLA-I negative, CD85j high", et)) << et;
}

// V4 — TIGIT out-competes DNAM-1 for CD155: raising TIGIT at fixed CD155 lowers DNAM-1 engagement
// and lysis; anti-TIGIT restores it.
TEST(V04_TigitDnam1, TigitLowersDnam1EngagementAtFixedCd155) {
    const AssayRun& r = run("v04-tigit-dnam1.toml");
    const auto& m = r.loaded.model;
    const synapse::Regulator reg(m);
    const synapse::Synapse syn(m);
    const auto milieu = synapse::basalMilieu(m);
    const auto contacts = synapse::Contacts::none(m);
    auto nk = reg.nkState(m.require(Kind::CellType, "CD56dim NK"), milieu, contacts);
    const auto target = reg.targetState(m.require(Kind::CellType, "MDA-MB-231"), milieu, contacts);
    const auto ctx = syn.context(milieu);
    const Index dnam = m.require(Kind::Interaction, "DNAM-1:CD155");
    const Index tigitRec = m.require(Kind::Receptor, "TIGIT");
    double previous = 1e300;
    for (double tigit : {0.0, 1e3, 5e3, 2e4, 5e4}) {
        nk.receptors[tigitRec] = tigit;
        const double e = syn.engagement(ctx, nk, target)[dnam];
        EXPECT_LT(e, previous) << "TIGIT " << tigit;
        previous = e;
    }
}

TEST(V04_TigitDnam1, TigitLowersLysisAndAntiTigitRestoresIt) {
    const AssayRun& r = run("v04-tigit-dnam1.toml");
    for (double et : {2.5, 10.0}) {
        expectAbove(r, "TIGIT low", "TIGIT high", et, 20.0);
        expectAbove(r, "TIGIT high + anti-TIGIT", "TIGIT high", et, 20.0);
        EXPECT_GE(r.lysis("TIGIT high + anti-TIGIT", et), r.lysis("TIGIT low", et) - 3.0) << et;
    }
}

// V5 — shedding (soluble MICA) lowers surface NKG2D ligand and NK NKG2D, and lysis; an ADAM10/17
// inhibitor restores it. Molecular half first, then the assay.
TEST(V05_MicaShedding, SheddingLowersSurfaceMicaAndSolubleMicaLowersNkg2d) {
    const AssayRun& r = run("v05-mica-shedding.toml");
    const auto& m = r.loaded.model;
    const synapse::Regulator reg(m);
    const auto contacts = synapse::Contacts::none(m);
    const Index line = m.require(Kind::CellType, "MDA-MB-231");
    const Index mica = m.require(Kind::Ligand, "MICA/B");
    const Index adam10 = m.require(Kind::Factor, "ADAM10"), adam17 = m.require(Kind::Factor, "ADAM17");
    auto milieu = synapse::basalMilieu(m);
    const synapse::FactorBaselines low{{adam10, 0.2}, {adam17, 0.2}}, high{{adam10, 6.0}, {adam17, 6.0}};
    const double micaLow = reg.targetState(line, milieu, contacts, low).ligands[mica];
    const double micaHigh = reg.targetState(line, milieu, contacts, high).ligands[mica];
    milieu.therapies[m.require(Kind::Therapy, "ADAM10/17 inhibitor")] = 1e4;  // 10 uM, as in the scenario
    const double micaInhibited = reg.targetState(line, milieu, contacts, high).ligands[mica];
    EXPECT_LT(micaHigh, 0.5 * micaLow);               // high ADAM10/17 sheds more than half
    EXPECT_GT(micaInhibited, micaHigh + 0.25 * (micaLow - micaHigh));  // the inhibitor wins back a quarter at least
    // Soluble MICA at high patient-serum levels (ng/mL; Holdenrieder 2006 median 161 pg/mL, tail far
    // higher) lowers the NK cells' NKG2D.
    auto serum = synapse::basalMilieu(m);
    const Index nk = m.require(Kind::CellType, "CD56dim NK"), nkg2d = m.require(Kind::Receptor, "NKG2D");
    const double before = reg.nkState(nk, serum, contacts).receptors[nkg2d];
    serum.mediators[m.require(Kind::Mediator, "sMICA")] = 2000.0;  // pg/mL
    EXPECT_LT(reg.nkState(nk, serum, contacts).receptors[nkg2d], 0.8 * before);
}

TEST(V05_MicaShedding, SheddingLowersLysisAndTheInhibitorRestoresIt) {
    const AssayRun& r = run("v05-mica-shedding.toml");
    // The effect is the NKG2D share of MDA-MB-231's activation: modest, as NKG2D-ligand loss is in
    // such lines, so it is judged at E:T 10 where it is largest (≥ 3 points, paired interval > 0),
    // and the inhibitor must win back at least half of it.
    expectAbove(r, "low shedding", "high shedding", 10.0, 3.0);
    const auto loss = r.diff("low shedding", "high shedding", 10.0).mean;
    const auto back = r.diff("high shedding + ADAM10/17 inhibitor", "high shedding", 10.0);
    EXPECT_GT(back.low, 0.0);
    EXPECT_GE(back.mean, 0.5 * loss);
}

// V6 — trastuzumab adds ADCC against HER2+ targets only; the afucosylated anti-HER2 antibody beats
// trastuzumab at equal dose; FcγRIIIa V158 beats F158.
TEST(V06_Adcc, TrastuzumabAddsAdccAgainstHer2PositiveTargetsOnly) {
    const AssayRun& r = run("v06-adcc-trastuzumab.toml");
    const double et = 2.5;  // below saturation, where differences show
    const auto her2pos = r.diff("SK-BR-3 + trastuzumab", "SK-BR-3, no antibody", et);
    const auto her2neg = r.diff("MDA-MB-231 + trastuzumab", "MDA-MB-231, no antibody", et);
    EXPECT_GE(her2pos.mean, 30.0);
    // HER2-negative (1.1e4 HER2 per cell vs 5e5, HERmark): within replicate noise, and at most a
    // tenth of the HER2-amplified gain.
    EXPECT_LT(her2neg.mean, 5.0);
    EXPECT_LT(her2neg.mean, 0.1 * her2pos.mean);
}

TEST(V06_Adcc, AfucosylatedBeatsTrastuzumabAndV158BeatsF158) {
    const AssayRun& r = run("v06-adcc-trastuzumab.toml");
    expectAbove(r, "SK-BR-3 + afucosylated anti-HER2", "SK-BR-3 + trastuzumab", 2.5);
    expectAbove(r, "SK-BR-3 + trastuzumab", "SK-BR-3 + trastuzumab, F158", 2.5);
}

// V7 — IL-2/IL-15 activation sheds CD16 through ADAM17 and lowers ADCC; blocking ADAM17 keeps it.
TEST(V07_Cd16Shedding, Il2ShedsCd16AndAdam17BlockadeKeepsIt) {
    const AssayRun& r = run("v07-cd16-shedding.toml");
    const auto& m = r.loaded.model;
    const synapse::Regulator reg(m);
    const auto contacts = synapse::Contacts::none(m);
    const Index nkType = m.require(Kind::CellType, "CD56dim NK");
    const Index cd16 = m.require(Kind::Receptor, "CD16");
    auto milieu = synapse::basalMilieu(m);
    const double resting = reg.nkState(nkType, milieu, contacts).receptors[cd16];
    milieu.mediators[m.require(Kind::Mediator, "IL-2")] = 1e4;  // pg/mL (the mediator's unit): 10 ng/mL, as in the scenario
    const double withIl2 = reg.nkState(nkType, milieu, contacts).receptors[cd16];
    milieu.therapies[m.require(Kind::Therapy, "ADAM10/17 inhibitor")] = 1000.0;  // 1 uM
    const double withInhibitor = reg.nkState(nkType, milieu, contacts).receptors[cd16];
    EXPECT_LT(withIl2, 0.8 * resting);        // a fifth of CD16 shed at least
    EXPECT_GT(withInhibitor, 0.9 * resting);  // blocking ADAM17 keeps nine tenths at least
}

TEST(V07_Cd16Shedding, Il2LowersAdccAndAdam17BlockadeKeepsIt) {
    const AssayRun& r = run("v07-cd16-shedding.toml");
    const double et = 2.5;
    auto adcc = [&](const std::string& base) {
        const auto& w = r.condition(base + " + trastuzumab").ratios[r.ratioIndex(et)].wells;
        const auto& w0 = r.condition(base).ratios[r.ratioIndex(et)].wells;
        std::vector<double> d;
        for (std::size_t i = 0; i < w.size(); ++i) d.push_back(w[i].lysisPct - w0[i].lysisPct);
        return assay::confidenceInterval95(d).mean;
    };
    const double medium = adcc("medium"), il2 = adcc("IL-2"), blocked = adcc("IL-2 + ADAM17 inhibitor");
    EXPECT_LT(il2, medium - 3.0) << "ADCC medium " << medium << ", IL-2 " << il2;
    EXPECT_GT(blocked, il2 + 3.0) << "ADCC IL-2 " << il2 << ", IL-2 + ADAM17 inhibitor " << blocked;
}

// V8 — a saturating EP2 agonist lowers NK IFN-γ by 66 %, an EP4 agonist by 86 % (±5 points, as
// VALIDATION.md states).
TEST(V08_Pge2, Ep2AndEp4AgonistsLowerIfnGammaBy66And86Percent) {
    const AssayRun& r = run("v08-pge2-ifng.toml");
    for (double et : {2.5, 10.0}) {
        const double control = r.ifng("medium", et);
        ASSERT_GT(control, 0.0);
        const double ep2 = 100.0 * (1.0 - r.ifng("EP2 agonist", et) / control);
        const double ep4 = 100.0 * (1.0 - r.ifng("EP4 agonist", et) / control);
        EXPECT_NEAR(ep2, 66.0, 5.0) << "E:T " << et;
        EXPECT_NEAR(ep4, 86.0, 5.0) << "E:T " << et;
    }
}

// V9 — a HER2 × NKG2D × CD16 TriNKET kills HER2+ targets even when MICA/B is absent or shed.
TEST(V09_TriNket, KillsHer2PositiveTargetsWithoutOrWithShedNkg2dLigands) {
    const AssayRun& r = run("v09-trinket-df1001.toml");
    const double et = 2.5;
    for (const std::string base : {"ligands", "no NKG2D ligands", "sMICA"}) {
        expectAbove(r, base + " + DF1001", base, et, 40.0);
        EXPECT_GE(r.lysis(base + " + DF1001", et), 80.0) << base;
    }
    // Without the engager, losing NKG2D ligands costs lysis; with it, hardly anything.
    expectAbove(r, "ligands", "no NKG2D ligands", 10.0);
    EXPECT_NEAR(r.lysis("no NKG2D ligands + DF1001", et), r.lysis("ligands + DF1001", et), 3.0);
}
