// `dgr eval-run` on the TREC DL 2019 pool and its external BM25 run, on 1 and 2 ranks.
// Reference: the BM25 (k1 0.9, b 0.4) run of the DL19 passage task has nDCG@10 = 0.5058 with
// trec_eval; the run here is that run's top 100.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/util/files.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

using testing::dgr;
using testing::mpirun;
using testing::run_command;

std::string dl19(const std::string& file) {
  return std::string(DGR_SHARED_DATA_DIR) + "/msmarco-dl19/" + file;
}

nlohmann::json metrics(const std::string& out) {
  return nlohmann::json::parse(read_file(out + "/metrics.json"));
}

TEST(EvalRun, Dl19Bm25OnTwoRanksMatchesTrecEvalFigures) {
  std::string out = std::string(DGR_TEST_TMP_DIR) + "/eval-run-dl19-2";
  std::filesystem::remove_all(out);
  auto result =
      run_command("timeout 120 " + mpirun(2) + dgr() + " eval-run --qrels " +
                  dl19("qrels/test.tsv") + " --run " + dl19("runs/bm25.trec") + " --out " + out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json m = metrics(out);
  EXPECT_NEAR(m["aggregate"]["nDCG@10"].get<double>(), 0.5058, 5e-5);
  EXPECT_EQ(m["counts"]["queries_evaluated"].get<int>(), 43);
  EXPECT_EQ(m["system"], "bm25");
  EXPECT_EQ(m["config_hash"].get<std::string>().size(), 64u);
  // The table is printed once (rank 0 alone prints summaries).
  size_t first = result.output.find("nDCG@10");
  ASSERT_NE(first, std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("nDCG@10", first + 1), std::string::npos) << result.output;
  // The resolved config next to the output carries the same hash.
  std::string resolved = read_file(out + "/config.resolved.yaml");
  EXPECT_NE(resolved.find(m["config_hash"].get<std::string>()), std::string::npos);
  // Per-rank logs.
  EXPECT_TRUE(std::filesystem::exists(out + "/logs/rank-0.log"));
  EXPECT_TRUE(std::filesystem::exists(out + "/logs/rank-1.log"));
}

TEST(EvalRun, OneAndTwoRanksWriteTheSameMetrics) {
  // Same output directory, so the resolved configs (and their hashes) must be equal too.
  std::string out = std::string(DGR_TEST_TMP_DIR) + "/eval-run-dl19-ranks";
  std::string args = " eval-run --qrels " + dl19("qrels/test.tsv") + " --run " +
                     dl19("runs/bm25.trec") + " --set eval.relevance_threshold=2 --out " + out;
  ASSERT_EQ(run_command(dgr() + args).exit_code, 0);
  nlohmann::json one_rank = metrics(out);
  ASSERT_EQ(run_command("timeout 120 " + mpirun(2) + dgr() + args).exit_code, 0);
  nlohmann::json two_ranks = metrics(out);
  EXPECT_EQ(one_rank["aggregate"], two_ranks["aggregate"]);
  EXPECT_EQ(one_rank["per_query"], two_ranks["per_query"]);
  EXPECT_EQ(one_rank["config_hash"], two_ranks["config_hash"]);
  EXPECT_EQ(two_ranks["options"]["relevance_threshold"].get<int>(), 2);
}

TEST(EvalRun, ConfigFileDrivesTheRun) {
  std::string out = std::string(DGR_TEST_TMP_DIR) + "/eval-run-config";
  std::string config = std::string(DGR_TEST_TMP_DIR) + "/eval-run-config.yaml";
  std::ofstream(config) << "name: t\ndata:\n  dataset: " << DGR_SHARED_DATA_DIR
                        << "/msmarco-dl19\neval:\n  run: " << dl19("runs/bm25.trec")
                        << "\n  ndcg_at: [5, 10]\n  recall_at: [100]\n";
  auto result = run_command(dgr() + " eval-run " + config + " --out " + out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  nlohmann::json m = metrics(out);
  EXPECT_TRUE(m["aggregate"].contains("nDCG@5"));
  EXPECT_TRUE(m["aggregate"].contains("Recall@100"));
  EXPECT_FALSE(m["aggregate"].contains("Recall@5"));
  EXPECT_NEAR(m["aggregate"]["nDCG@10"].get<double>(), 0.5058, 5e-5);
}

// The DL19 BM25 run cut to each query's top 10 (in trec_eval's order: score descending, ties by
// descending passage id), tagged "bm25-top10": the same nDCG@10 on every query, a lower
// Recall@100 on 42 of the 43 judged queries.
std::string write_top10_baseline() {
  std::map<std::string, std::vector<std::pair<double, std::string>>> by_query;
  std::istringstream lines(read_file(dl19("runs/bm25.trec")));
  std::string query, q0, passage, tag;
  int rank = 0;
  double score = 0;
  while (lines >> query >> q0 >> passage >> rank >> score >> tag)
    by_query[query].emplace_back(score, passage);
  const std::string path = std::string(DGR_TEST_TMP_DIR) + "/bm25-top10.trec";
  std::ofstream out(path);
  out.precision(17);
  for (auto& [id, entries] : by_query) {
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second > b.second;
    });
    for (size_t i = 0; i < entries.size() && i < 10; ++i)
      out << id << " Q0 " << entries[i].second << " " << i + 1 << " " << entries[i].first
          << " bm25-top10\n";
  }
  return path;
}

TEST(EvalRun, BaselineComparisonAndPerQueryValues) {
  const std::string out = std::string(DGR_TEST_TMP_DIR) + "/eval-run-baseline";
  std::filesystem::remove_all(out);
  const std::string baseline = write_top10_baseline();
  auto result =
      run_command(dgr() + " eval-run --qrels " + dl19("qrels/test.tsv") + " --run " +
                  dl19("runs/bm25.trec") + " --baseline " + baseline + " --per-query --out " + out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json m = metrics(out);
  // The run's own figures are unchanged by the comparison.
  EXPECT_NEAR(m["aggregate"]["nDCG@10"].get<double>(), 0.5058, 5e-5);
  const nlohmann::json& c = m["comparison"];
  EXPECT_EQ(c["baseline"], "bm25-top10");
  EXPECT_EQ(c["randomization_trials"].get<int>(), 10000);
  EXPECT_EQ(m["inputs"]["baseline"]["path"], baseline);
  // Identical top 10 on every query: no difference at all.
  EXPECT_EQ(c["metrics"]["nDCG@10"]["queries"].get<int>(), 43);
  EXPECT_EQ(c["metrics"]["nDCG@10"]["p_randomization"].get<double>(), 1.0);
  EXPECT_EQ(c["metrics"]["nDCG@10"]["p_t_test"].get<double>(), 1.0);
  // Recall@100 lower on 42 of 43 queries: no random sign flip of 10,000 comes close.
  const nlohmann::json& recall = c["metrics"]["Recall@100"];
  EXPECT_GT(recall["mean_difference"].get<double>(), 0.0);
  EXPECT_NEAR(recall["p_randomization"].get<double>(), 1.0 / 10001.0, 1e-12);
  EXPECT_LT(recall["p_t_test"].get<double>(), 1e-4);
  EXPECT_NEAR(c["baseline_aggregate"]["Recall@100"].get<double>(),
              recall["baseline_mean"].get<double>(), 1e-12);
  // Both tables are printed.
  EXPECT_NE(result.output.find("p (randomization)"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("bm25-top10"), std::string::npos) << result.output;

  // per_query.tsv: a header, then one line per (query, metric), as in metrics.json.
  const std::string tsv = read_file(out + "/per_query.tsv");
  EXPECT_EQ(tsv.rfind("query_id\tmeasure\tvalue\n", 0), 0U);
  size_t values = 0;
  for (const auto& [metric, n] : m["queries_per_metric"].items())
    values += n.get<size_t>();
  EXPECT_EQ(static_cast<size_t>(std::count(tsv.begin(), tsv.end(), '\n')), values + 1);
  ASSERT_TRUE(m["per_query"].contains("1037798"));
  EXPECT_NE(tsv.find("\n1037798\tnDCG@10\t"), std::string::npos);
  // --per-query prints the same lines.
  EXPECT_NE(result.output.find("1037798\tnDCG@10\t"), std::string::npos) << result.output;
}

TEST(EvalRun, MissingBaselineIsNamed) {
  const std::string missing = std::string(DGR_TEST_TMP_DIR) + "/no-such-baseline.trec";
  auto result =
      run_command("timeout 60 " + mpirun(2) + dgr() + " eval-run --qrels " +
                  dl19("qrels/test.tsv") + " --run " + dl19("runs/bm25.trec") + " --baseline " +
                  missing + " --out " + DGR_TEST_TMP_DIR + "/missing-baseline-out");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.exit_code, 124) << "a rank hung";
  EXPECT_NE(result.output.find(missing), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("baseline"), std::string::npos) << result.output;
}

TEST(EvalRun, MalformedRunLineIsReportedWithFileAndLine) {
  std::string run = std::string(DGR_TEST_TMP_DIR) + "/broken.trec";
  std::ofstream(run) << "264014 Q0 5611210 1 15.7 bm25\n264014 Q0 6641238 2\n";
  auto result = run_command("timeout 60 " + mpirun(2) + dgr() + " eval-run --qrels " +
                            dl19("qrels/test.tsv") + " --run " + run + " --out " +
                            DGR_TEST_TMP_DIR + "/broken-out");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.exit_code, 124) << "a rank hung";
  EXPECT_NE(result.output.find(run + ":2"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("data error"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dgr
