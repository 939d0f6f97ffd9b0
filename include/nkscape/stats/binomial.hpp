#pragma once
/// \file
/// The exact (Clopper–Pearson) confidence interval of a binomial proportion, from Boost.Math's beta
/// quantiles. Conservative: its coverage is at least the nominal level for every true proportion.

#include <cstdint>

namespace nkscape::stats {

/// A proportion with its two-sided confidence interval (all in [0, 1]).
struct ProportionCi {
    std::int64_t successes = 0;
    std::int64_t trials = 0;
    double proportion = 0.0;  ///< successes / trials
    double low = 0.0;         ///< 0 when successes = 0
    double high = 1.0;        ///< 1 when successes = trials
    double confLevel = 0.95;
};

/// The Clopper–Pearson interval of `successes` out of `trials` at `confLevel`:
/// low = Beta⁻¹(α/2; x, n−x+1), high = Beta⁻¹(1−α/2; x+1, n−x), α = 1 − confLevel; the limit
/// is 0 (x = 0) or 1 (x = n) where its beta distribution does not exist.
/// \throws InputError naming the values if trials < 1, successes < 0, successes > trials, or
///         confLevel is not in (0, 1).
[[nodiscard]] ProportionCi clopperPearson(std::int64_t successes, std::int64_t trials, double confLevel = 0.95);

}  // namespace nkscape::stats
