// Paired significance tests between two systems evaluated on the same queries: is the difference
// of their mean metric values more than the choice of queries would give by chance?
//
// - Randomization (permutation) test: under the null hypothesis the two systems are exchangeable
//   on every query, so each paired difference d_i = a_i - b_i is as likely to have the other
//   sign. The p-value is the share of sign assignments whose |mean| reaches the observed |mean|.
//   With 2^n <= trials every assignment is enumerated and the p-value is exact (count / 2^n);
//   otherwise `trials` random assignments from a fixed seed give (count + 1) / (trials + 1), the
//   usual estimate that never returns 0. Deterministic either way.
// - Paired t-test: t = mean(d) / (sd(d) / sqrt(n)) with n - 1 degrees of freedom, two-sided.
//
// Pairing (paired_metric_values): the queries carrying the metric in either report. A query that
// one report lacks counts as 0 for that system: a judged query missing from a run scores 0, as
// with trec_eval -c, whatever `missing_queries_count_as_zero` was when the report was made.
// Torch-free and MPI-free; every function is a pure function of its arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/metrics.h"

namespace dgr::eval {

struct RandomizationOptions {
  size_t trials = 10000;       // random sign assignments (Monte Carlo mode); must be >= 1
  uint64_t seed = 20240613;    // fixed, so that the p-value of the same inputs never changes
  bool exact_if_small = true;  // enumerate all 2^n assignments when 2^n <= trials
};

struct RandomizationResult {
  size_t n = 0;                // paired queries
  double mean_difference = 0;  // mean of d
  double p_value = 1.0;        // two-sided; 1 when n == 0
  size_t assignments = 0;      // sign assignments compared: 2^n when exact, else trials
  bool exact = false;          // every assignment enumerated
};

struct TTestResult {
  size_t n = 0;
  double mean_difference = 0;
  // t statistic; 0 when every difference is 0 or n < 2, +-infinity when the differences are all
  // equal and non-zero (zero variance).
  double t = 0;
  size_t degrees_of_freedom = 0;  // n - 1; 0 when n < 2
  // Two-sided. 1 when every difference is 0 and when n < 2 (one pair gives no variance to test
  // against: no evidence either way); 0 when the variance is 0 and the mean is not.
  double p_value = 1.0;
};

// Paired two-sided randomization test of the differences d. Throws ConfigError when
// options.trials == 0, DataError when a difference is not finite. O(n * trials), or O(n * 2^n)
// when exact.
RandomizationResult randomization_test(const std::vector<double>& differences,
                                       const RandomizationOptions& options = {});

// Paired two-sided t-test of the differences d. Throws DataError when a difference is not
// finite. O(n).
TTestResult paired_t_test(const std::vector<double>& differences);

// The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1, by its
// continued fraction (relative accuracy ~1e-14). Throws ConfigError outside that domain.
double regularized_incomplete_beta(double a, double b, double x);

// P(|T| >= |t|) for Student's t with `degrees_of_freedom` (> 0, may be fractional):
// I_{df / (df + t^2)}(df / 2, 1 / 2). Throws ConfigError when degrees_of_freedom <= 0.
double student_t_two_sided_p(double t, double degrees_of_freedom);

// One metric's values of two systems, paired by query (see the header comment).
struct PairedValues {
  std::vector<std::string> query_ids;  // sorted
  std::vector<double> system;
  std::vector<double> baseline;

  // system[i] - baseline[i].
  std::vector<double> differences() const;
};

// The values of `metric` per query in both reports, over the queries that carry it in either.
PairedValues paired_metric_values(const MetricReport& system, const MetricReport& baseline,
                                  const std::string& metric);

// Both tests of one metric.
struct MetricComparison {
  std::string metric;
  size_t queries = 0;      // paired queries
  double system_mean = 0;  // over the paired queries
  double baseline_mean = 0;
  RandomizationResult randomization;
  TTestResult t_test;
};

// Compares `system` with `baseline` on every metric both reports have a mean for, in
// ordered_metric_names order (report.h), or on `metrics` when given (a metric of neither report
// gets 0 queries and p = 1).
std::vector<MetricComparison> compare_reports(const MetricReport& system,
                                              const MetricReport& baseline,
                                              const RandomizationOptions& options = {},
                                              const std::vector<std::string>& metrics = {});

}  // namespace dgr::eval
