// The Clopper–Pearson interval from Boost.Math's beta quantiles.

#include "nkscape/stats/binomial.hpp"

#include <boost/math/distributions/beta.hpp>
#include <fmt/format.h>

#include "nkscape/error.hpp"

namespace nkscape::stats {

ProportionCi clopperPearson(std::int64_t successes, std::int64_t trials, double confLevel) {
    if (trials < 1) throw InputError(fmt::format("binomial interval: trials = {}; at least 1 is needed", trials));
    if (successes < 0) throw InputError(fmt::format("binomial interval: successes = {} is negative", successes));
    if (successes > trials) throw InputError(fmt::format("binomial interval: successes = {} is more than trials = {}", successes, trials));
    if (!(confLevel > 0.0 && confLevel < 1.0))
        throw InputError(fmt::format("binomial interval: confidence level {} is not between 0 and 1", confLevel));
    ProportionCi ci;
    ci.successes = successes;
    ci.trials = trials;
    ci.confLevel = confLevel;
    const auto x = static_cast<double>(successes);
    const auto n = static_cast<double>(trials);
    const double alpha = 1.0 - confLevel;
    ci.proportion = x / n;
    // Beta(0, ·) and Beta(·, 0) do not exist: the limits there are the ends of [0, 1] exactly.
    ci.low = successes == 0 ? 0.0 : boost::math::quantile(boost::math::beta_distribution<double>(x, n - x + 1.0), alpha / 2.0);
    ci.high = successes == trials ? 1.0 : boost::math::quantile(boost::math::beta_distribution<double>(x + 1.0, n - x), 1.0 - alpha / 2.0);
    return ci;
}

}  // namespace nkscape::stats
