// The metrics table (column order, alignment, 4 decimals) and metrics.json (layout and a round
// trip through a file back to the same MetricReport).
#include "core/eval/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/util/error.h"

namespace dgr::eval {
namespace {

std::string tmp_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(DGR_TEST_TMP_DIR) / "eval";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

TEST(Report, MetricNamesFollowTheTableOrder) {
  EXPECT_EQ(
      ordered_metric_names({"MAP", "nDCG@10", "hits@100", "Recall@20", "MRR@10", "hits@5(answer)",
                            "Recall@5", "hits@5", "Recall@100", "P@5", "hits@20", "MAP"}),
      (std::vector<std::string>{"Recall@5", "Recall@20", "Recall@100", "hits@5", "hits@20",
                                "hits@100", "hits@5(answer)", "MRR@10", "nDCG@10", "MAP", "P@5"}));
}

TEST(Report, TableHasOneRowPerSystemAndAlignedColumns) {
  MetricReport bm25;
  bm25.mean = {{"MAP", 0.123456},
               {"Recall@5", 0.25},
               {"Recall@20", 0.5},
               {"MRR@10", 1.0 / 3.0},
               {"nDCG@10", 0.75}};
  MetricReport dgr;
  dgr.mean = {{"MAP", 0.2}, {"Recall@5", 1.0}, {"Recall@20", 0.99995}, {"MRR@10", 0.5}};
  const std::string table = format_metrics_table({{"bm25", bm25}, {"dgr-distilled", dgr}});
  // Columns: Recall@5 Recall@20 MRR@10 nDCG@10 MAP; widths are max(header, 6 for "0.1235").
  // 0.99995 prints as 1.0000 (%.4f rounds half to even on the binary value, here up).
  EXPECT_EQ(table,
            "system         Recall@5  Recall@20  MRR@10  nDCG@10     MAP\n"
            "-------------  --------  ---------  ------  -------  ------\n"
            "bm25             0.2500     0.5000  0.3333   0.7500  0.1235\n"
            "dgr-distilled    1.0000     1.0000  0.5000        -  0.2000\n");
}

TEST(Report, TableWithExplicitColumns) {
  MetricReport r;
  r.mean = {{"MAP", 0.5}, {"hits@5", 1.0}};
  EXPECT_EQ(format_metrics_table({{"x", r}}, {"MAP"}),
            "system     MAP\n"
            "------  ------\n"
            "x       0.5000\n");
}

MetricReport sample_report() {
  Qrels qrels;
  qrels.by_query["q1"] = {{"a", 2}, {"b", 1}};
  qrels.by_query["q2"] = {{"c", 1}};
  qrels.by_query["q4"] = {{"z", 0}};
  eval::Run run;
  run.tag = "t";
  run.by_query["q1"] = {{"b", 0.3, 1}, {"x", 0.2, 2}, {"a", 0.1, 3}};
  run.by_query["q3"] = {{"c", 1.0, 1}};
  MetricOptions options;
  options.recall_at = {1, 3};
  options.hits_at = {1};
  options.ndcg_at = {3};
  options.mrr_at = 5;
  options.relevance_threshold = 1;
  return evaluate(qrels, run, options);
}

TEST(Report, JsonHasAggregatePerQueryCountsAndOptions) {
  const MetricReport report = sample_report();
  const nlohmann::json json = metrics_to_json(report);
  // q1: b (1) at rank 1, a (2) at rank 3 -> MRR@5 = 1; q2 missing -> 0; mean = 0.5.
  EXPECT_NEAR(json["aggregate"]["MRR@5"].get<double>(), 0.5, 1e-9);
  // q1: Recall@3 = 2/2 = 1, Recall@1 = 1/2; q2: 0 -> means 0.5 and 0.25.
  EXPECT_NEAR(json["aggregate"]["Recall@3"].get<double>(), 0.5, 1e-9);
  EXPECT_NEAR(json["aggregate"]["Recall@1"].get<double>(), 0.25, 1e-9);
  EXPECT_NEAR(json["per_query"]["q1"]["Recall@1"].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(json["counts"]["queries_in_qrels"], 3);
  EXPECT_EQ(json["counts"]["queries_in_run"], 2);
  EXPECT_EQ(json["counts"]["queries_evaluated"], 2);
  EXPECT_EQ(json["counts"]["queries_without_relevant"], 1);
  EXPECT_EQ(json["counts"]["queries_missing_from_run"], 1);
  EXPECT_EQ(json["counts"]["run_queries_not_in_qrels"], 1);
  EXPECT_EQ(json["options"]["mrr_at"], 5);
  EXPECT_EQ(json["options"]["recall_at"], (std::vector<int>{1, 3}));
  EXPECT_EQ(json["options"]["answer_match"], false);
}

TEST(Report, JsonRoundTripsThroughAFile) {
  const MetricReport report = sample_report();
  const std::string path = tmp_path("metrics.json");
  write_metrics_json(path, metrics_to_json(report));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  const MetricReport back = metrics_from_json(read_metrics_json(path));

  // Doubles are written with every digit: exact equality.
  EXPECT_EQ(back.per_query, report.per_query);
  EXPECT_EQ(back.mean, report.mean);
  EXPECT_EQ(back.queries_per_metric, report.queries_per_metric);
  EXPECT_EQ(back.evaluated_queries, report.evaluated_queries);
  EXPECT_EQ(back.counts.queries_in_qrels, report.counts.queries_in_qrels);
  EXPECT_EQ(back.counts.queries_in_run, report.counts.queries_in_run);
  EXPECT_EQ(back.counts.queries_evaluated, report.counts.queries_evaluated);
  EXPECT_EQ(back.counts.queries_without_relevant, report.counts.queries_without_relevant);
  EXPECT_EQ(back.counts.queries_missing_from_run, report.counts.queries_missing_from_run);
  EXPECT_EQ(back.counts.run_queries_not_in_qrels, report.counts.run_queries_not_in_qrels);
  EXPECT_EQ(back.counts.queries_with_answers, report.counts.queries_with_answers);
  EXPECT_EQ(back.options.recall_at, report.options.recall_at);
  EXPECT_EQ(back.options.hits_at, report.options.hits_at);
  EXPECT_EQ(back.options.ndcg_at, report.options.ndcg_at);
  EXPECT_EQ(back.options.mrr_at, report.options.mrr_at);
  EXPECT_EQ(back.options.map, report.options.map);
  EXPECT_EQ(back.options.relevance_threshold, report.options.relevance_threshold);
  EXPECT_EQ(back.options.missing_queries_count_as_zero,
            report.options.missing_queries_count_as_zero);
  EXPECT_EQ(back.answer_match, report.answer_match);
  // The nDCG@3 of q1 is irrational: b (1) at rank 1, a (2) at rank 3.
  // DCG = 1 + 2/log2(4) = 2; IDCG = 2 + 1/log2(3) = 2.6309297536 -> 0.7601822...
  EXPECT_NEAR(back.per_query.at("q1").at("nDCG@3"), 2.0 / (2.0 + 1.0 / std::log2(3.0)), 1e-9);
}

TEST(Report, MalformedJsonIsADataError) {
  EXPECT_THROW(metrics_from_json(nlohmann::json{{"aggregate", 1}}), DataError);
  const std::string path = tmp_path("broken.json");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{\"aggregate\": ", f);
    std::fclose(f);
  }
  EXPECT_THROW(read_metrics_json(path), DataError);
  EXPECT_THROW(read_metrics_json(tmp_path("absent.json")), IoError);
}

}  // namespace
}  // namespace dgr::eval
