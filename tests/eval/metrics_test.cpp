// Metrics against values computed by hand (the arithmetic is in the comments), following
// trec_eval's conventions: score order, ties by descending passage id, unjudged = non-relevant.
#include "core/eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/util/error.h"

namespace dgr::eval {
namespace {

constexpr double kEps = 1e-9;

// (query, passage, score) rows; the rank column is filled in reverse on purpose: it must be
// ignored.
eval::Run make_run(const std::vector<std::tuple<std::string, std::string, double>>& rows) {
  eval::Run run;
  int rank = 1000;
  for (const auto& [query, passage, score] : rows) {
    run.by_query[query].push_back(RunEntry{passage, score, rank--});
  }
  return run;
}

MetricOptions small_cutoffs() {
  MetricOptions options;
  options.recall_at = {1, 2, 5};
  options.hits_at = {1, 2};
  options.ndcg_at = {10};
  return options;
}

// qrels q1: p1 = 2, p2 = 0, p3 = 1, p9 = 1 (p9 never retrieved).
// run q1: x 0.9 (unjudged), p1 0.8, p2 0.7, p3 0.6 -> grades by rank: 0, 2, 0, 1.
Qrels graded_qrels() {
  Qrels qrels;
  qrels.by_query["q1"] = {{"p1", 2}, {"p2", 0}, {"p3", 1}, {"p9", 1}};
  return qrels;
}
eval::Run graded_run() {
  return make_run({{"q1", "x", 0.9}, {"q1", "p1", 0.8}, {"q1", "p2", 0.7}, {"q1", "p3", 0.6}});
}

TEST(Metrics, GradedJudgmentsWithUnjudgedPassagesAndUnretrievedRelevant) {
  const MetricReport report = evaluate(graded_qrels(), graded_run(), small_cutoffs());
  const auto& v = report.per_query.at("q1");
  // Relevant (grade >= 1): p1, p3, p9 -> R = 3; retrieved relevant at ranks 2 and 4.
  EXPECT_NEAR(v.at("Recall@1"), 0.0, kEps);        // rank 1 is x (unjudged)
  EXPECT_NEAR(v.at("Recall@2"), 1.0 / 3.0, kEps);  // p1
  EXPECT_NEAR(v.at("Recall@5"), 2.0 / 3.0, kEps);  // p1, p3; k = 5 > 4 entries
  EXPECT_NEAR(v.at("hits@1"), 0.0, kEps);
  EXPECT_NEAR(v.at("hits@2"), 1.0, kEps);
  EXPECT_NEAR(v.at("MRR@10"), 0.5, kEps);  // first relevant at rank 2
  // MAP = (P@2 + P@4) / R = (1/2 + 2/4) / 3 = 1/3.
  EXPECT_NEAR(v.at("MAP"), 1.0 / 3.0, kEps);
  // DCG@10 = 2/log2(3) + 1/log2(5) = 1.2618595071 + 0.4306765581 = 1.6925360652
  // ideal gains 2, 1, 1: 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309297536 + 0.5 = 3.1309297536
  // nDCG@10 = 1.6925360652 / 3.1309297536 = 0.5405858...
  const double dcg = 2.0 / std::log2(3.0) + 1.0 / std::log2(5.0);
  const double ideal = 2.0 + 1.0 / std::log2(3.0) + 0.5;
  EXPECT_NEAR(v.at("nDCG@10"), dcg / ideal, kEps);
  EXPECT_NEAR(v.at("nDCG@10"), 0.5405858, 1e-6);
  // One query: the means are its values.
  EXPECT_NEAR(report.mean.at("MAP"), 1.0 / 3.0, kEps);
  EXPECT_EQ(report.queries_per_metric.at("MAP"), 1u);
}

TEST(Metrics, RelevanceThresholdTwoKeepsOnlyTheHighGrades) {
  MetricOptions options = small_cutoffs();
  options.relevance_threshold = 2;
  const MetricReport report = evaluate(graded_qrels(), graded_run(), options);
  const auto& v = report.per_query.at("q1");
  // Relevant (grade >= 2): p1 only, R = 1, retrieved at rank 2.
  EXPECT_NEAR(v.at("Recall@1"), 0.0, kEps);
  EXPECT_NEAR(v.at("Recall@2"), 1.0, kEps);
  EXPECT_NEAR(v.at("Recall@5"), 1.0, kEps);
  EXPECT_NEAR(v.at("hits@2"), 1.0, kEps);
  EXPECT_NEAR(v.at("MRR@10"), 0.5, kEps);
  EXPECT_NEAR(v.at("MAP"), 0.5, kEps);  // P@2 / 1
  // nDCG ignores the threshold: same value as with threshold 1.
  const double dcg = 2.0 / std::log2(3.0) + 1.0 / std::log2(5.0);
  const double ideal = 2.0 + 1.0 / std::log2(3.0) + 0.5;
  EXPECT_NEAR(v.at("nDCG@10"), dcg / ideal, kEps);
}

TEST(Metrics, RelevanceThresholdSkipsQueriesWithoutAHighGrade) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"a", 1}};
  qrels.by_query["q2"] = {{"b", 2}};
  const eval::Run run = make_run({{"q1", "a", 1.0}, {"q2", "b", 1.0}});
  MetricOptions options;
  options.relevance_threshold = 2;
  const MetricReport report = evaluate(qrels, run, options);
  EXPECT_EQ(report.evaluated_queries, std::vector<std::string>{"q2"});
  EXPECT_EQ(report.counts.queries_without_relevant, 1u);
}

TEST(Metrics, TiedScoresAreBrokenByDescendingPassageId) {
  Qrels qrels;
  qrels.by_query["q"] = {{"b", 1}};
  // All three tie at 1.0: trec order is c, b, a (descending strcmp), whatever the file order
  // and rank column say. With ascending ids b would be at rank 2 too, so also check "a".
  const eval::Run run = make_run({{"q", "a", 1.0}, {"q", "b", 1.0}, {"q", "c", 1.0}});
  MetricReport report = evaluate(qrels, run, small_cutoffs());
  EXPECT_NEAR(report.per_query.at("q").at("MRR@10"), 0.5, kEps);  // b at rank 2

  qrels.by_query["q"] = {{"c", 1}};
  report = evaluate(qrels, run, small_cutoffs());
  EXPECT_NEAR(report.per_query.at("q").at("MRR@10"), 1.0, kEps);  // c at rank 1
  EXPECT_NEAR(report.per_query.at("q").at("hits@1"), 1.0, kEps);
}

TEST(Metrics, TrecOrderIsScoreDescendingThenByteOrderDescending) {
  std::vector<RunEntry> entries{{"a", 1.0, 1},  {"B", 1.0, 2},   {"low", 0.5, 3},
                                {"aa", 1.0, 4}, {"top", 2.0, 5}, {"b", 1.0, 6}};
  sort_in_trec_order(entries);
  // 2.0 first; the 1.0 ties by strcmp descending: "b" > "aa" > "a" > "B" ('B' = 66 < 'a' = 97).
  std::vector<std::string> ids;
  ids.reserve(entries.size());
  for (const auto& e : entries)
    ids.push_back(e.passage_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"top", "b", "aa", "a", "B", "low"}));
}

TEST(Metrics, NdcgWithGradesThreeTwoOne) {
  Qrels qrels;
  qrels.by_query["ideal"] = {{"a", 3}, {"b", 2}, {"c", 1}};
  qrels.by_query["reversed"] = {{"a", 3}, {"b", 2}, {"c", 1}};
  const eval::Run run = make_run({{"ideal", "a", 0.9},
                                  {"ideal", "b", 0.8},
                                  {"ideal", "c", 0.7},
                                  {"reversed", "c", 0.9},
                                  {"reversed", "b", 0.8},
                                  {"reversed", "a", 0.7}});
  MetricOptions options;
  options.ndcg_at = {2, 10};
  const MetricReport report = evaluate(qrels, run, options);
  EXPECT_NEAR(report.per_query.at("ideal").at("nDCG@10"), 1.0, kEps);
  EXPECT_NEAR(report.per_query.at("ideal").at("nDCG@2"), 1.0, kEps);
  // reversed, @10: DCG = 1/1 + 2/log2(3) + 3/log2(4) = 1 + 1.2618595 + 1.5 = 3.7618595
  //                IDCG = 3/1 + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5 = 4.7618595
  //                nDCG = 0.7899980...
  const double g = 2.0 / std::log2(3.0);
  EXPECT_NEAR(report.per_query.at("reversed").at("nDCG@10"), (1.0 + g + 1.5) / (3.0 + g + 0.5),
              kEps);
  EXPECT_NEAR(report.per_query.at("reversed").at("nDCG@10"), 0.7899980, 1e-6);
  // reversed, @2: DCG = 1 + 1.2618595 = 2.2618595, IDCG = 3 + 1.2618595 = 4.2618595 -> 0.5307213
  EXPECT_NEAR(report.per_query.at("reversed").at("nDCG@2"), (1.0 + g) / (3.0 + g), kEps);
  EXPECT_NEAR(report.per_query.at("reversed").at("nDCG@2"), 0.5307213, 1e-6);
  // mean over the two queries: (1 + 0.7899980) / 2
  EXPECT_NEAR(report.mean.at("nDCG@10"), (1.0 + (1.0 + g + 1.5) / (3.0 + g + 0.5)) / 2.0, kEps);
}

TEST(Metrics, NegativeAndZeroGradesGiveNoGain) {
  Qrels qrels;
  qrels.by_query["q"] = {{"neg", -1}, {"zero", 0}, {"rel", 1}};
  const eval::Run run = make_run({{"q", "neg", 0.9}, {"q", "zero", 0.8}, {"q", "rel", 0.7}});
  const MetricReport report = evaluate(qrels, run);
  // DCG = 0 + 0 + 1/log2(4) = 0.5; ideal = 1/log2(2) = 1 -> 0.5
  EXPECT_NEAR(report.per_query.at("q").at("nDCG@10"), 0.5, kEps);
  EXPECT_NEAR(report.per_query.at("q").at("MRR@10"), 1.0 / 3.0, kEps);
}

TEST(Metrics, QueryMissingFromRunCountsAsZeroByDefault) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"a", 1}};
  qrels.by_query["q2"] = {{"b", 1}};
  const eval::Run run = make_run({{"q1", "a", 1.0}});  // q2 has no entry
  const MetricReport report = evaluate(qrels, run);
  EXPECT_EQ(report.evaluated_queries, (std::vector<std::string>{"q1", "q2"}));
  for (const auto& [name, value] : report.per_query.at("q2")) {
    EXPECT_NEAR(value, 0.0, kEps) << name;
  }
  EXPECT_EQ(report.per_query.at("q2").size(), report.per_query.at("q1").size());
  // q1 is perfect (1 on every metric), q2 is 0: every mean is (1 + 0) / 2.
  for (const auto& [name, value] : report.mean)
    EXPECT_NEAR(value, 0.5, kEps) << name;
  EXPECT_EQ(report.counts.queries_missing_from_run, 1u);
  EXPECT_EQ(report.counts.queries_evaluated, 2u);
}

TEST(Metrics, QueryMissingFromRunIsSkippedWhenAsked) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"a", 1}};
  qrels.by_query["q2"] = {{"b", 1}};
  eval::Run run = make_run({{"q1", "a", 1.0}});
  run.by_query["q2"];  // an empty list is the same as no list
  MetricOptions options;
  options.missing_queries_count_as_zero = false;
  const MetricReport report = evaluate(qrels, run, options);
  EXPECT_EQ(report.evaluated_queries, std::vector<std::string>{"q1"});
  EXPECT_EQ(report.per_query.count("q2"), 0u);
  for (const auto& [name, value] : report.mean)
    EXPECT_NEAR(value, 1.0, kEps) << name;
  EXPECT_EQ(report.counts.queries_missing_from_run, 1u);
  EXPECT_EQ(report.counts.queries_in_run, 1u);
  EXPECT_EQ(report.counts.queries_evaluated, 1u);
}

TEST(Metrics, RunQueriesAbsentFromQrelsAreIgnoredAndCounted) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"a", 1}};
  qrels.by_query["q3"] = {{"c", 0}};  // judged, nothing relevant: skipped
  const eval::Run run =
      make_run({{"q1", "b", 2.0}, {"q1", "a", 1.0}, {"q2", "x", 1.0}, {"q3", "c", 1.0}});
  const MetricReport report = evaluate(qrels, run);
  EXPECT_EQ(report.evaluated_queries, std::vector<std::string>{"q1"});
  EXPECT_NEAR(report.mean.at("MRR@10"), 0.5, kEps);  // q1 alone: a at rank 2
  EXPECT_EQ(report.counts.queries_in_qrels, 2u);
  EXPECT_EQ(report.counts.queries_in_run, 3u);
  EXPECT_EQ(report.counts.queries_evaluated, 1u);
  EXPECT_EQ(report.counts.queries_without_relevant, 1u);
  EXPECT_EQ(report.counts.run_queries_not_in_qrels, 1u);
  EXPECT_EQ(report.counts.queries_missing_from_run, 0u);
}

TEST(Metrics, RecallAtKLargerThanTheList) {
  Qrels qrels;
  qrels.by_query["q"] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
  const eval::Run run = make_run({{"q", "a", 3.0}, {"q", "x", 2.0}, {"q", "b", 1.0}});
  const MetricReport report = evaluate(qrels, run);  // Recall@5/20/100 on 3 entries
  // 2 of the 4 relevant retrieved, whatever k >= 3.
  EXPECT_NEAR(report.per_query.at("q").at("Recall@5"), 0.5, kEps);
  EXPECT_NEAR(report.per_query.at("q").at("Recall@20"), 0.5, kEps);
  EXPECT_NEAR(report.per_query.at("q").at("Recall@100"), 0.5, kEps);
  EXPECT_NEAR(report.per_query.at("q").at("hits@100"), 1.0, kEps);
}

TEST(Metrics, MrrStopsAtRankTen) {
  // Ten unjudged passages n01..n10 scored 2.0 - i/100, then the relevant one(s) below them.
  std::vector<std::tuple<std::string, std::string, double>> rows;
  for (int i = 1; i <= 10; ++i) {
    rows.emplace_back("at11", "n" + std::to_string(100 + i), 2.0 - i / 100.0);
    if (i < 10) rows.emplace_back("at10", "n" + std::to_string(100 + i), 2.0 - i / 100.0);
  }
  rows.emplace_back("at11", "r", 1.0);  // rank 11
  rows.emplace_back("at10", "r", 1.0);  // rank 10
  Qrels qrels;
  qrels.by_query["at10"] = {{"r", 1}};
  qrels.by_query["at11"] = {{"r", 1}};
  const MetricReport report = evaluate(qrels, make_run(rows));
  EXPECT_NEAR(report.per_query.at("at10").at("MRR@10"), 0.1, kEps);  // 1/10
  EXPECT_NEAR(report.per_query.at("at11").at("MRR@10"), 0.0, kEps);  // beyond the cutoff
  EXPECT_NEAR(report.per_query.at("at11").at("Recall@20"), 1.0, kEps);
  EXPECT_NEAR(report.per_query.at("at11").at("MAP"), 1.0 / 11.0, kEps);  // P@11 / 1
  EXPECT_NEAR(report.mean.at("MRR@10"), 0.05, kEps);                     // (0.1 + 0) / 2
}

TEST(Metrics, MapDividesByAllRelevantIncludingUnretrieved) {
  Qrels qrels;
  qrels.by_query["q"] = {{"r1", 1}, {"r2", 1}, {"r3", 1}, {"r4", 1}};
  const eval::Run run =
      make_run({{"q", "r1", 4.0}, {"q", "n1", 3.0}, {"q", "r2", 2.0}, {"q", "n2", 1.0}});
  const MetricReport report = evaluate(qrels, run);
  // relevant at ranks 1 and 3: (1/1 + 2/3) / 4 = (5/3) / 4 = 5/12 = 0.41666...
  EXPECT_NEAR(report.per_query.at("q").at("MAP"), 5.0 / 12.0, kEps);
  EXPECT_NEAR(report.per_query.at("q").at("Recall@5"), 0.5, kEps);
}

TEST(Metrics, DefaultOptionsProduceThePaperMetrics) {
  Qrels qrels;
  qrels.by_query["q"] = {{"a", 1}};
  const MetricReport report = evaluate(qrels, make_run({{"q", "a", 1.0}}));
  std::vector<std::string> names;
  for (const auto& [name, value] : report.mean)
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"MAP", "MRR@10", "Recall@100", "Recall@20", "Recall@5",
                                             "hits@100", "hits@20", "hits@5", "nDCG@10"}));
  EXPECT_FALSE(report.answer_match);
}

TEST(Metrics, NoEvaluatedQueryGivesZeroMeans) {
  const MetricReport report = evaluate(Qrels{}, make_run({{"q", "a", 1.0}}));
  EXPECT_TRUE(report.evaluated_queries.empty());
  EXPECT_NEAR(report.mean.at("MAP"), 0.0, kEps);
  EXPECT_EQ(report.queries_per_metric.at("MAP"), 0u);
}

TEST(Metrics, InvalidOptionsAreConfigErrors) {
  MetricOptions options;
  options.recall_at = {0};
  EXPECT_THROW(evaluate(Qrels{}, eval::Run{}, options), ConfigError);
  options = MetricOptions{};
  options.relevance_threshold = 0;
  EXPECT_THROW(evaluate(Qrels{}, eval::Run{}, options), ConfigError);
  options = MetricOptions{};
  options.mrr_at = -1;
  EXPECT_THROW(evaluate(Qrels{}, eval::Run{}, options), ConfigError);
}

TEST(Metrics, NanScoreIsADataError) {
  Qrels qrels;
  qrels.by_query["q"] = {{"a", 1}};
  const eval::Run run = make_run({{"q", "a", std::nan("")}});
  EXPECT_THROW(evaluate(qrels, run), DataError);
}

}  // namespace
}  // namespace dgr::eval
