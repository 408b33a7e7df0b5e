// Paired significance tests against values known in closed form or by exhaustive enumeration
// (the arithmetic is in the comments). Reference values without a closed form were computed with
// mpmath's betainc at 30 digits.
#include "core/eval/significance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/eval/metrics.h"
#include "core/eval/report.h"
#include "core/util/error.h"

namespace dgr::eval {
namespace {

const double kPi = std::acos(-1.0);

TEST(IncompleteBeta, MatchesClosedForms) {
  for (double x : {0.0, 0.01, 0.2, 0.5, 0.73, 0.99, 1.0}) {
    SCOPED_TRACE(x);
    EXPECT_NEAR(regularized_incomplete_beta(1.0, 1.0, x), x, 1e-13);  // uniform
    EXPECT_NEAR(regularized_incomplete_beta(3.0, 1.0, x), std::pow(x, 3.0), 1e-13);
    EXPECT_NEAR(regularized_incomplete_beta(1.0, 4.5, x), 1.0 - std::pow(1.0 - x, 4.5), 1e-13);
    // Arcsine distribution.
    EXPECT_NEAR(regularized_incomplete_beta(0.5, 0.5, x), 2.0 / kPi * std::asin(std::sqrt(x)),
                1e-13);
    // Symmetry.
    EXPECT_NEAR(regularized_incomplete_beta(2.5, 7.0, x),
                1.0 - regularized_incomplete_beta(7.0, 2.5, 1.0 - x), 1e-13);
  }
}

TEST(IncompleteBeta, MatchesReferenceValues) {
  EXPECT_NEAR(regularized_incomplete_beta(2.5, 3.5, 0.4), 0.486904191526117397801839313942, 1e-13);
  EXPECT_NEAR(regularized_incomplete_beta(10.0, 0.5, 0.9), 0.15164090963470996856355113145, 1e-13);
  EXPECT_NEAR(regularized_incomplete_beta(0.5, 20.0, 0.01), 0.471369935485015559444502693655,
              1e-13);
  // Large parameters (the lgamma prefactor, no overflow).
  EXPECT_NEAR(regularized_incomplete_beta(200.0, 300.0, 0.4), 0.502428616319931995690422894661,
              1e-12);
}

TEST(IncompleteBeta, RejectsArgumentsOutsideTheDomain) {
  EXPECT_THROW(regularized_incomplete_beta(0.0, 1.0, 0.5), ConfigError);
  EXPECT_THROW(regularized_incomplete_beta(1.0, -1.0, 0.5), ConfigError);
  EXPECT_THROW(regularized_incomplete_beta(1.0, 1.0, 1.5), ConfigError);
  EXPECT_THROW(regularized_incomplete_beta(1.0, 1.0, std::nan("")), ConfigError);
}

TEST(StudentT, TwoSidedPMatchesClosedForms) {
  for (double t : {0.0, 0.3, 1.0, 2.0, -2.0, 7.5, 40.0}) {
    SCOPED_TRACE(t);
    // df = 1: Cauchy.
    EXPECT_NEAR(student_t_two_sided_p(t, 1.0), 1.0 - 2.0 * std::atan(std::fabs(t)) / kPi, 1e-13);
    // df = 2.
    EXPECT_NEAR(student_t_two_sided_p(t, 2.0), 1.0 - std::fabs(t) / std::sqrt(2.0 + t * t), 1e-13);
  }
  // df = 1000, t = 2: close to the normal's 0.0455.
  EXPECT_NEAR(student_t_two_sided_p(2.0, 1000.0), 0.0457703464932517365076607666816, 1e-12);
  EXPECT_EQ(student_t_two_sided_p(INFINITY, 3.0), 0.0);
  EXPECT_THROW(student_t_two_sided_p(1.0, 0.0), ConfigError);
}

TEST(PairedTTest, OneToFive) {
  // d = 1..5: mean 3, sample variance 10 / 4 = 2.5, se = sqrt(2.5 / 5) = sqrt(0.5),
  // t = 3 / sqrt(0.5) = 4.2426..., df = 4; p = I_{4 / (4 + 18)}(2, 1/2).
  const TTestResult r = paired_t_test({1, 2, 3, 4, 5});
  EXPECT_EQ(r.n, 5U);
  EXPECT_EQ(r.degrees_of_freedom, 4U);
  EXPECT_DOUBLE_EQ(r.mean_difference, 3.0);
  EXPECT_NEAR(r.t, 3.0 / std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(r.p_value, 0.0132355995636826895195241444616, 1e-12);
}

TEST(PairedTTest, MixedSigns) {
  // mean 1/6, sd 0.2804, t = 1.45556, df = 5.
  const TTestResult r = paired_t_test({0.5, -0.2, 0.3, 0.1, 0.4, -0.1});
  EXPECT_NEAR(r.t, 1.45555627434895493616956367716, 1e-12);
  EXPECT_NEAR(r.p_value, 0.205281505228726257191048442491, 1e-12);
  // The sign of the differences does not change a two-sided p.
  const TTestResult flipped = paired_t_test({-0.5, 0.2, -0.3, -0.1, -0.4, 0.1});
  EXPECT_NEAR(flipped.t, -r.t, 1e-12);
  EXPECT_NEAR(flipped.p_value, r.p_value, 1e-14);
}

TEST(PairedTTest, OneAndTwoDegreesOfFreedomInClosedForm) {
  // d = {1, 3}: mean 2, variance 2, se = sqrt(2 / 2) = 1, t = 2, df = 1 (Cauchy).
  const TTestResult one = paired_t_test({1, 3});
  EXPECT_NEAR(one.t, 2.0, 1e-14);
  EXPECT_EQ(one.degrees_of_freedom, 1U);
  EXPECT_NEAR(one.p_value, 1.0 - 2.0 * std::atan(2.0) / kPi, 1e-13);
  // d = {1, 2, 6}: mean 3, variance (4 + 1 + 9) / 2 = 7, t = 3 / sqrt(7 / 3), df = 2.
  const TTestResult two = paired_t_test({1, 2, 6});
  const double t = 3.0 / std::sqrt(7.0 / 3.0);
  EXPECT_NEAR(two.t, t, 1e-13);
  EXPECT_NEAR(two.p_value, 1.0 - t / std::sqrt(2.0 + t * t), 1e-13);
}

TEST(PairedTTest, DegenerateCases) {
  // No difference at all: p = 1.
  const TTestResult zero = paired_t_test({0, 0, 0, 0});
  EXPECT_EQ(zero.p_value, 1.0);
  EXPECT_EQ(zero.t, 0.0);
  EXPECT_EQ(zero.degrees_of_freedom, 3U);
  // Fewer than two pairs: no variance, p = 1 and df = 0.
  const TTestResult single = paired_t_test({0.4});
  EXPECT_EQ(single.p_value, 1.0);
  EXPECT_EQ(single.degrees_of_freedom, 0U);
  EXPECT_DOUBLE_EQ(single.mean_difference, 0.4);
  const TTestResult empty = paired_t_test({});
  EXPECT_EQ(empty.n, 0U);
  EXPECT_EQ(empty.p_value, 1.0);
  // The same non-zero difference everywhere: zero variance, certain difference.
  const TTestResult constant = paired_t_test({0.25, 0.25, 0.25});
  EXPECT_EQ(constant.p_value, 0.0);
  EXPECT_TRUE(std::isinf(constant.t) && constant.t > 0);
  EXPECT_THROW(paired_t_test({1.0, std::nan("")}), DataError);
}

TEST(RandomizationTest, ExactEnumerationOfAllSignFlips) {
  // d = {1, 1, 1, -1}: a sign assignment's sum is 2j - 4 for j positive terms, j ~ Binomial(4);
  // |sum| >= |2| for j in {0, 1, 3, 4}: 1 + 4 + 4 + 1 = 10 of 16 assignments.
  const RandomizationResult r = randomization_test({1, 1, 1, -1});
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.assignments, 16U);
  EXPECT_DOUBLE_EQ(r.mean_difference, 0.5);
  EXPECT_DOUBLE_EQ(r.p_value, 10.0 / 16.0);
  // d = {1, 2, 3, 4}: only all-plus and all-minus reach |10|: 2 of 16.
  EXPECT_DOUBLE_EQ(randomization_test({1, 2, 3, 4}).p_value, 2.0 / 16.0);
  // 2^4 > 15 trials: no longer exact.
  RandomizationOptions few;
  few.trials = 15;
  EXPECT_FALSE(randomization_test({1, 2, 3, 4}, few).exact);
}

TEST(RandomizationTest, SumsEqualInExactArithmeticCountDespiteRounding) {
  // d = {0.1, 0.2, -0.3, 0.3}, observed sum 0.3. Flipping a subset S gives 0.3 - 2 sum(S), which
  // reaches |0.3| when sum(S) <= 0 or sum(S) >= 0.3: 12 of the 16 subsets in exact arithmetic
  // (a plain floating-point comparison finds only 10).
  EXPECT_DOUBLE_EQ(randomization_test({0.1, 0.2, -0.3, 0.3}).p_value, 12.0 / 16.0);
  // Differences that cancel exactly: every assignment is as extreme as the observed one.
  EXPECT_DOUBLE_EQ(randomization_test({0.1, 0.2, -0.3}).p_value, 1.0);
}

TEST(RandomizationTest, MonteCarloIsDeterministicAndCloseToTheExactValue) {
  // 20 differences: 2^20 > 10,000 trials, so the default samples; the exact p comes from all
  // 2^20 assignments.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uniform(-0.5, 0.7);
  std::vector<double> d(20);
  for (double& x : d)
    x = uniform(rng);
  RandomizationOptions exact;
  exact.trials = size_t{1} << 20;
  const RandomizationResult reference = randomization_test(d, exact);
  ASSERT_TRUE(reference.exact);

  const RandomizationResult sampled = randomization_test(d);
  EXPECT_FALSE(sampled.exact);
  EXPECT_EQ(sampled.assignments, 10000U);
  // Binomial standard error at 10,000 trials is at most 0.005.
  EXPECT_NEAR(sampled.p_value, reference.p_value, 0.02);
  EXPECT_GT(sampled.p_value, 0.0);
  // Same inputs, same seed: the very same p.
  EXPECT_EQ(randomization_test(d).p_value, sampled.p_value);
  // The estimate is (count + 1) / (trials + 1): a multiple of 1 / 10001.
  const double count = sampled.p_value * 10001.0;
  EXPECT_NEAR(count, std::round(count), 1e-6);
}

TEST(RandomizationTest, EnumerationCanBeTurnedOff) {
  // 30 equal differences: a random assignment is as extreme as the observed one only when all
  // 30 signs agree (probability 2^-29), so none of 999 trials is and p = (0 + 1) / (999 + 1).
  RandomizationOptions options;
  options.trials = 999;
  options.exact_if_small = false;
  const RandomizationResult r = randomization_test(std::vector<double>(30, 1.0), options);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.p_value, 1.0 / 1000.0);
  options.trials = 0;
  EXPECT_THROW(randomization_test({1.0}, options), ConfigError);
}

TEST(RandomizationTest, NoDifferenceGivesPOne) {
  EXPECT_EQ(randomization_test({0, 0, 0}).p_value, 1.0);
  EXPECT_EQ(randomization_test(std::vector<double>(500, 0.0)).p_value, 1.0);
  EXPECT_EQ(randomization_test({}).p_value, 1.0);
}

// Two systems on three judged queries (one relevant passage each, p<i> for q<i>).
Qrels three_queries() {
  Qrels qrels;
  qrels.by_query["q1"] = {{"p1", 1}};
  qrels.by_query["q2"] = {{"p2", 1}};
  qrels.by_query["q3"] = {{"p3", 1}};
  return qrels;
}

eval::Run ranked(const std::vector<std::pair<std::string, std::vector<std::string>>>& lists) {
  eval::Run run;
  for (const auto& [query, passages] : lists) {
    double score = 10.0;
    for (const std::string& passage : passages)
      run.by_query[query].push_back(RunEntry{passage, score--, 0});
  }
  return run;
}

TEST(PerQueryValues, MeanOfEveryMetricIsTheAggregate) {
  // q1: relevant at rank 1, q2 at rank 3, q3 never retrieved.
  const eval::Run run = ranked({{"q1", {"p1", "x", "y"}}, {"q2", {"x", "y", "p2"}}, {"q3", {"x"}}});
  MetricOptions options;
  options.recall_at = {1, 3};
  options.hits_at = {1};
  const MetricReport report = evaluate(three_queries(), run, options);
  EXPECT_NEAR(report.per_query.at("q2").at("MRR@10"), 1.0 / 3.0, 1e-12);
  for (const auto& [metric, mean] : report.mean) {
    SCOPED_TRACE(metric);
    const PairedValues values = paired_metric_values(report, report, metric);
    ASSERT_EQ(values.system.size(), 3U);
    double sum = 0.0;
    for (double v : values.system)
      sum += v;
    EXPECT_NEAR(sum / 3.0, mean, 1e-12);
  }
  // MRR@10 = (1 + 1/3 + 0) / 3.
  EXPECT_NEAR(report.mean.at("MRR@10"), 4.0 / 9.0, 1e-12);
}

TEST(PerQueryValues, TsvListsEveryQueryAndMetric) {
  const eval::Run run = ranked({{"q1", {"p1"}}, {"q2", {"x", "p2"}}});
  MetricOptions options;
  options.recall_at = {1};
  options.hits_at = {};
  options.ndcg_at = {};
  options.map = false;
  const MetricReport report = evaluate(three_queries(), run, options);
  EXPECT_EQ(format_per_query_tsv(report),
            "query_id\tmeasure\tvalue\n"
            "q1\tRecall@1\t1\nq1\tMRR@10\t1\n"
            "q2\tRecall@1\t0\nq2\tMRR@10\t0.5\n"
            "q3\tRecall@1\t0\nq3\tMRR@10\t0\n");
}

TEST(CompareReports, IdenticalRunsGivePOne) {
  const eval::Run run = ranked({{"q1", {"p1"}}, {"q2", {"x", "p2"}}, {"q3", {"x", "y", "p3"}}});
  const MetricReport report = evaluate(three_queries(), run);
  const std::vector<MetricComparison> comparisons = compare_reports(report, report);
  ASSERT_FALSE(comparisons.empty());
  EXPECT_EQ(comparisons.front().metric, "Recall@5");  // ordered_metric_names order
  for (const MetricComparison& c : comparisons) {
    SCOPED_TRACE(c.metric);
    EXPECT_EQ(c.queries, 3U);
    EXPECT_EQ(c.randomization.p_value, 1.0);
    EXPECT_EQ(c.t_test.p_value, 1.0);
    EXPECT_EQ(c.system_mean, c.baseline_mean);
  }
}

TEST(CompareReports, QueriesMissingFromARunCountAsZero) {
  // The baseline's run lacks q2 and q3 and is evaluated without counting them, yet pairs them
  // with 0: MRR system {1, 1/2, 1/3}, baseline {1, 0, 0}.
  MetricOptions skip_missing;
  skip_missing.missing_queries_count_as_zero = false;
  const MetricReport system = evaluate(
      three_queries(), ranked({{"q1", {"p1"}}, {"q2", {"x", "p2"}}, {"q3", {"x", "y", "p3"}}}));
  const MetricReport baseline = evaluate(three_queries(), ranked({{"q1", {"p1"}}}), skip_missing);
  ASSERT_EQ(baseline.per_query.size(), 1U);
  const PairedValues paired = paired_metric_values(system, baseline, "MRR@10");
  ASSERT_EQ(paired.query_ids, (std::vector<std::string>{"q1", "q2", "q3"}));
  EXPECT_EQ(paired.baseline, (std::vector<double>{1.0, 0.0, 0.0}));
  const std::vector<double> d = paired.differences();
  EXPECT_NEAR(d[1], 0.5, 1e-15);

  const std::vector<MetricComparison> c =
      compare_reports(system, baseline, RandomizationOptions{}, {"MRR@10"});
  ASSERT_EQ(c.size(), 1U);
  EXPECT_EQ(c[0].queries, 3U);
  EXPECT_NEAR(c[0].system_mean, (1.0 + 0.5 + 1.0 / 3.0) / 3.0, 1e-12);
  EXPECT_NEAR(c[0].baseline_mean, 1.0 / 3.0, 1e-12);
  // d = {0, 1/2, 1/3}: exact over 8 assignments; |sum| >= 5/6 only for the two with the signs
  // of 1/2 and 1/3 agreeing, each with either sign of 0: 4 of 8.
  EXPECT_TRUE(c[0].randomization.exact);
  EXPECT_DOUBLE_EQ(c[0].randomization.p_value, 0.5);
}

TEST(CompareReports, TablesAndJson) {
  const MetricReport system =
      evaluate(three_queries(), ranked({{"q1", {"p1"}}, {"q2", {"p2"}}, {"q3", {"x", "y", "p3"}}}));
  const MetricReport baseline =
      evaluate(three_queries(), ranked({{"q1", {"x", "p1"}}, {"q2", {"x", "p2"}}}));
  const RandomizationOptions options;
  const std::vector<MetricComparison> c = compare_reports(system, baseline, options);
  const std::string table = format_comparison_table("new", "old", c);
  EXPECT_NE(table.find("p (randomization)"), std::string::npos) << table;
  EXPECT_NE(table.find("MRR@10"), std::string::npos) << table;

  const nlohmann::json json = comparison_to_json("old", c, options);
  EXPECT_EQ(json["baseline"], "old");
  EXPECT_EQ(json["randomization_trials"].get<size_t>(), 10000U);
  const auto& mrr = json["metrics"]["MRR@10"];
  EXPECT_EQ(mrr["queries"].get<size_t>(), 3U);
  // d = {1/2, 1/2, 1/3} (system {1, 1, 1/3}, baseline {1/2, 1/2, 0}).
  EXPECT_NEAR(mrr["mean_difference"].get<double>(), 4.0 / 9.0, 1e-12);
  EXPECT_DOUBLE_EQ(mrr["p_randomization"].get<double>(), 2.0 / 8.0);
  EXPECT_TRUE(mrr["randomization_exact"].get<bool>());
  EXPECT_GT(mrr["p_t_test"].get<double>(), 0.0);

  const std::string p_table =
      format_p_value_table({{"new vs old", c}}, {"MRR@10", "nDCG@10", "absent"});
  EXPECT_NE(p_table.find("new vs old"), std::string::npos) << p_table;
  EXPECT_NE(p_table.find("0.2500"), std::string::npos) << p_table;
  EXPECT_NE(p_table.find('-'), std::string::npos) << p_table;
  EXPECT_EQ(format_p_value(0.00001), "<0.0001");
  EXPECT_EQ(format_p_value(0.04), "0.0400");
}

}  // namespace
}  // namespace dgr::eval
