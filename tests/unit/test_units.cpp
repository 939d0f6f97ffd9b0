#include <gtest/gtest.h>

#include "nkscape/error.hpp"
#include "nkscape/model/units.hpp"

using nkscape::model::UnitSystem;

class Units : public ::testing::Test {
protected:
    UnitSystem u;
};

TEST_F(Units, ConvertsTimeAndRates) {
    EXPECT_DOUBLE_EQ(*u.convert(1.0, "d", "h"), 24.0);
    EXPECT_DOUBLE_EQ(*u.convert(12.8, "min", "h"), 12.8 / 60.0);
    EXPECT_NEAR(*u.convert(0.0412, "1/d", "1/h"), 0.0412 / 24.0, 1e-15);
    EXPECT_NEAR(*u.convert(4.3, "percent/d", "1/d"), 0.043, 1e-15);
}

TEST_F(Units, MolarAndDaltonAreDefined) {
    EXPECT_NEAR(*u.convert(8.2, "uM", "nM"), 8200.0, 1e-9);
    EXPECT_NEAR(*u.convert(0.065, "mM", "nM"), 65000.0, 1e-6);
    EXPECT_NEAR(*u.convert(150000, "g/mol", "kDa"), 150.0, 1e-9);
    // Ka 2.0e6 /M (CD16a V158, Bruhns 2009) is Kd 500 nM: check the reciprocal unit.
    EXPECT_NEAR(1.0 / *u.convert(2.0e6, "1/M", "1/nM"), 500.0, 1e-9);
}

TEST_F(Units, DiffusivityAndClearance) {
    EXPECT_NEAR(*u.convert(1.26e-7, "cm2/s", "um2/s"), 12.6, 1e-9);
    EXPECT_NEAR(*u.convert(0.225, "L/d", "mL/h"), 225.0 / 24.0, 1e-12);
}

TEST_F(Units, CellIsABaseUnitAndMoleculeIsACount) {
    EXPECT_TRUE(u.parses("molecule/cell"));
    EXPECT_TRUE(u.parses("cells/uL"));
    EXPECT_FALSE(u.convertible("1", "molecule/cell"));  // a relative level is not a copy number
    EXPECT_FALSE(u.convertible("1/uL", "cell/uL"));
    EXPECT_NEAR(*u.convert(160, "cell/uL", "cell/mL"), 160000.0, 1e-6);
    // udunits2 carries CODATA 2006 Avogadro (6.02214179e23); the SI 2019 value differs by 2e-7.
    EXPECT_NEAR(*u.convert(1.0, "nmol/cell", "molecule/cell") / 6.02214076e14, 1.0, 1e-6);
    EXPECT_NEAR(*u.convert(1.0, "pg/(cell.h)", "(pg/mL).mL/(cell.d)"), 24.0, 1e-12);
}

TEST_F(Units, RejectsNonsenseWithAReason) {
    std::string why;
    EXPECT_FALSE(u.convert(1.0, "bananas/s", "m/s", &why).has_value());
    EXPECT_NE(why.find("does not parse"), std::string::npos);
    EXPECT_FALSE(u.convert(1.0, "nM", "h", &why).has_value());
    EXPECT_NE(why.find("does not convert"), std::string::npos);
    EXPECT_FALSE(u.parses(""));
    EXPECT_THROW((void)u.convertOrThrow(1.0, "kg", "s"), nkscape::UnitError);
}
