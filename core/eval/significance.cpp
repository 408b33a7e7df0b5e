#include "core/eval/significance.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "core/eval/report.h"
#include "core/util/error.h"

namespace dgr::eval {
namespace {

void check_finite(const std::vector<double>& differences, const char* test) {
  for (size_t i = 0; i < differences.size(); ++i) {
    if (!std::isfinite(differences[i])) {
      throw DataError(std::string(test) + ": paired difference " + std::to_string(i) +
                      " is not a finite number");
    }
  }
}

// Continued fraction of I_x(a, b) (without its prefactor x^a (1-x)^b / (a B(a, b))), evaluated
// by the modified Lentz method. The terms alternate:
//   d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
//   d_{2m}   =  m (b - m) x / ((a + 2m - 1)(a + 2m)).
// It converges quickly for x < (a + 1) / (a + b + 2); the caller uses the symmetry
// I_x(a, b) = 1 - I_{1-x}(b, a) otherwise.
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-15;
  constexpr int kMaxTerms = 10000;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  // f = 1 / (1 + d_1 / (1 + d_2 / (1 + ...))); Lentz keeps C_j and D_j with f_j = f_{j-1} C_j D_j.
  double c = 1.0;
  double d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
  double f = d;
  for (int m = 1; m <= kMaxTerms; ++m) {
    const double m2 = 2.0 * m;
    const double even = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 / guard(1.0 + even * d);
    c = guard(1.0 + even / c);
    f *= c * d;
    const double odd = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 / guard(1.0 + odd * d);
    c = guard(1.0 + odd / c);
    const double step = c * d;
    f *= step;
    if (std::fabs(step - 1.0) < kEpsilon) break;
  }
  return f;
}

}  // namespace

double regularized_incomplete_beta(double a, double b, double x) {
  if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0 && x <= 1.0) || !std::isfinite(a) ||
      !std::isfinite(b)) {
    throw ConfigError("regularized_incomplete_beta: needs a > 0, b > 0 and 0 <= x <= 1; got a = " +
                      std::to_string(a) + ", b = " + std::to_string(b) +
                      ", x = " + std::to_string(x));
  }
  if (x == 0.0) return 0.0;
  if (x == 1.0) return 1.0;
  // log of x^a (1-x)^b / B(a, b), in logs so that large a, b do not overflow.
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_two_sided_p(double t, double degrees_of_freedom) {
  if (!(degrees_of_freedom > 0.0)) {
    throw ConfigError("student_t_two_sided_p: degrees of freedom must be > 0, got " +
                      std::to_string(degrees_of_freedom));
  }
  if (std::isnan(t)) throw ConfigError("student_t_two_sided_p: t is NaN");
  if (std::isinf(t)) return 0.0;
  const double p = regularized_incomplete_beta(degrees_of_freedom / 2.0, 0.5,
                                               degrees_of_freedom / (degrees_of_freedom + t * t));
  return std::clamp(p, 0.0, 1.0);
}

RandomizationResult randomization_test(const std::vector<double>& differences,
                                       const RandomizationOptions& options) {
  if (options.trials == 0) throw ConfigError("randomization test: trials must be >= 1");
  check_finite(differences, "randomization test");
  RandomizationResult result;
  const size_t n = differences.size();
  result.n = n;
  if (n == 0) return result;  // nothing to compare: p = 1

  // Sums instead of means: the same comparison, since every assignment divides by the same n.
  double observed = 0.0;
  double total_abs = 0.0;
  for (double d : differences) {
    observed += d;
    total_abs += std::fabs(d);
  }
  result.mean_difference = observed / static_cast<double>(n);
  // Summing the same numbers in another sign pattern may round differently; a sum that equals
  // the observed one in exact arithmetic must still count. (n + 1) ulps of the largest possible
  // sum bound the rounding of a sum of n terms; real differences of metric values are far larger.
  const double tolerance = static_cast<double>(n + 1) * 4.0 * DBL_EPSILON * total_abs;
  const double threshold = std::fabs(observed) - tolerance;

  // Exact: all 2^n assignments (the observed one included), when that is no more work than the
  // random trials. Bit i of `mask` flips the sign of difference i.
  if (options.exact_if_small && n < 63 && (uint64_t{1} << n) <= options.trials) {
    const uint64_t assignments = uint64_t{1} << n;
    uint64_t at_least = 0;
    for (uint64_t mask = 0; mask < assignments; ++mask) {
      double sum = 0.0;
      for (size_t i = 0; i < n; ++i)
        sum += (mask >> i) & 1U ? -differences[i] : differences[i];
      if (std::fabs(sum) >= threshold) ++at_least;
    }
    result.exact = true;
    result.assignments = assignments;
    result.p_value = static_cast<double>(at_least) / static_cast<double>(assignments);
    return result;
  }

  // Monte Carlo: each 64-bit draw gives the signs of 64 differences.
  std::mt19937_64 rng(options.seed);
  size_t at_least = 0;
  for (size_t trial = 0; trial < options.trials; ++trial) {
    double sum = 0.0;
    uint64_t bits = 0;
    for (size_t i = 0; i < n; ++i) {
      if (i % 64 == 0) bits = rng();
      sum += (bits & 1U) ? -differences[i] : differences[i];
      bits >>= 1U;
    }
    if (std::fabs(sum) >= threshold) ++at_least;
  }
  result.assignments = options.trials;
  // The observed assignment counts as one more trial, so that p is never 0.
  result.p_value = static_cast<double>(at_least + 1) / static_cast<double>(options.trials + 1);
  return result;
}

TTestResult paired_t_test(const std::vector<double>& differences) {
  check_finite(differences, "t-test");
  TTestResult result;
  const size_t n = differences.size();
  result.n = n;
  if (n == 0) return result;
  double sum = 0.0;
  for (double d : differences)
    sum += d;
  const double mean = sum / static_cast<double>(n);
  result.mean_difference = mean;
  const bool all_zero =
      std::all_of(differences.begin(), differences.end(), [](double d) { return d == 0.0; });
  if (n < 2) return result;  // t = 0, df = 0, p = 1 (see the header)
  result.degrees_of_freedom = n - 1;
  if (all_zero) return result;  // t = 0, p = 1

  double squares = 0.0;  // two passes: no cancellation from sum of squares minus square of sum
  for (double d : differences)
    squares += (d - mean) * (d - mean);
  const double variance = squares / static_cast<double>(n - 1);
  if (variance == 0.0) {
    result.t = mean > 0 ? std::numeric_limits<double>::infinity()
                        : -std::numeric_limits<double>::infinity();
    result.p_value = 0.0;
    return result;
  }
  result.t = mean / std::sqrt(variance / static_cast<double>(n));
  result.p_value = student_t_two_sided_p(result.t, static_cast<double>(n - 1));
  return result;
}

std::vector<double> PairedValues::differences() const {
  std::vector<double> d(system.size());
  for (size_t i = 0; i < d.size(); ++i)
    d[i] = system[i] - baseline[i];
  return d;
}

PairedValues paired_metric_values(const MetricReport& system, const MetricReport& baseline,
                                  const std::string& metric) {
  // A query one report lacks scores 0 for that system (a judged query missing from its run).
  auto value = [&metric](const MetricReport& report, const std::string& query_id) {
    auto q = report.per_query.find(query_id);
    if (q == report.per_query.end()) return 0.0;
    auto m = q->second.find(metric);
    return m == q->second.end() ? 0.0 : m->second;
  };
  std::set<std::string> queries;
  for (const MetricReport* report : {&system, &baseline}) {
    for (const auto& [query_id, values] : report->per_query) {
      if (values.count(metric)) queries.insert(query_id);
    }
  }
  PairedValues paired;
  paired.query_ids.assign(queries.begin(), queries.end());
  paired.system.reserve(queries.size());
  paired.baseline.reserve(queries.size());
  for (const std::string& query_id : paired.query_ids) {
    paired.system.push_back(value(system, query_id));
    paired.baseline.push_back(value(baseline, query_id));
  }
  return paired;
}

std::vector<MetricComparison> compare_reports(const MetricReport& system,
                                              const MetricReport& baseline,
                                              const RandomizationOptions& options,
                                              const std::vector<std::string>& metrics) {
  std::vector<std::string> names = metrics;
  if (names.empty()) {
    for (const auto& [name, mean] : system.mean) {
      if (baseline.mean.count(name)) names.push_back(name);
    }
    names = ordered_metric_names(std::move(names));
  }
  std::vector<MetricComparison> comparisons;
  comparisons.reserve(names.size());
  for (const std::string& name : names) {
    const PairedValues paired = paired_metric_values(system, baseline, name);
    MetricComparison c;
    c.metric = name;
    c.queries = paired.query_ids.size();
    if (c.queries > 0) {
      double a = 0.0;
      double b = 0.0;
      for (size_t i = 0; i < c.queries; ++i) {
        a += paired.system[i];
        b += paired.baseline[i];
      }
      c.system_mean = a / static_cast<double>(c.queries);
      c.baseline_mean = b / static_cast<double>(c.queries);
    }
    const std::vector<double> d = paired.differences();
    c.randomization = randomization_test(d, options);
    c.t_test = paired_t_test(d);
    comparisons.push_back(std::move(c));
  }
  return comparisons;
}

}  // namespace dgr::eval
