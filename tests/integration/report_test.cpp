// `dgr report RUN_DIR` on a fabricated run directory: training logs in the trainers' format, a
// results.json with qrels, run files and metrics.json, and the error cases.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::run_command;
using testing::slurp;

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(DGR_TEST_TMP_DIR) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Lines as distributed/trainer.cpp writes them (stage 1).
const char* kStage1Log =
    R"({"step":1,"epoch":0,"loss":9.5,"nll":9.25,"lr":0.0001,"grad_norm":3.5,"samples_per_s":10,"tokens_per_s":900,"seconds":{"step":0.5,"forward":0.2,"backward":0.2,"communication_exposed":0,"synchronise":0.05,"optimizer":0.05},"ranks":2}
{"step":2,"epoch":0,"loss":7.5,"nll":7.0,"lr":0.0002,"grad_norm":2.5,"samples_per_s":10,"tokens_per_s":900,"seconds":{"step":0.5,"forward":0.2,"backward":0.2,"communication_exposed":0,"synchronise":0.05,"optimizer":0.05},"ranks":2}
{"step":3,"epoch":0,"loss":6.5,"nll":6.0,"lr":0.0003,"grad_norm":2.0,"samples_per_s":10,"tokens_per_s":900,"seconds":{"step":0.5,"forward":0.2,"backward":0.2,"communication_exposed":0,"synchronise":0.05,"optimizer":0.05},"ranks":2}
)";

// Lines as distributed/distill_trainer.cpp writes them: held-out evaluation lines at steps 0 and
// 2, and step 2 skipped with a non-finite loss (null).
const char* kDistillLog =
    R"({"step":0,"eval":{"queries":8,"kendall_tau":0.125,"ndcg10":0.5,"mrr10":0.25,"stored_kendall_tau":0.1,"stored_ndcg10":0.4,"stored_mrr10":0.2}}
{"step":1,"epoch":0,"loss":2.5,"rank_loss":1.5,"ce_title":4.0,"ce_body":5.0,"nll_title":3.5,"nll_body":4.5,"lists":16,"lr":5e-05,"grad_norm":1.5,"skipped":false,"skipped_steps":0,"queries_per_s":4,"seconds":{"step":1,"forward":0.5,"backward":0.4,"communication_exposed":0,"synchronise":0.05,"optimizer":0.05},"ranks":2}
{"step":2,"epoch":0,"loss":null,"rank_loss":null,"ce_title":3.75,"ce_body":4.5,"nll_title":3.25,"nll_body":4.0,"lists":16,"lr":5e-05,"grad_norm":null,"skipped":true,"skipped_steps":1,"queries_per_s":4,"seconds":{"step":1,"forward":0.5,"backward":0.4,"communication_exposed":0,"synchronise":0.05,"optimizer":0},"ranks":2}
{"step":2,"eval":{"queries":8,"kendall_tau":0.375,"ndcg10":0.625,"mrr10":0.5,"stored_kendall_tau":0.1,"stored_ndcg10":0.4,"stored_mrr10":0.2}}
{"step":3,"epoch":0,"loss":2.0,"rank_loss":1.0,"ce_title":3.5,"ce_body":4.25,"nll_title":3.0,"nll_body":3.75,"lists":16,"lr":2.5e-05,"grad_norm":1.25,"skipped":false,"skipped_steps":1,"queries_per_s":4,"seconds":{"step":1,"forward":0.5,"backward":0.4,"communication_exposed":0,"synchronise":0.05,"optimizer":0.05},"ranks":2}
)";

// q1 has two relevant passages (d1, d2) and one judged non-relevant (d3); q2 one passage of
// grade 2 (d5).
const char* kQrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\nq1\td3\t0\nq2\td5\t2\n";

// BM25 ranks q1: d3 d1 d4 d2 and q2: d6 d5, so Recall@k (threshold 1) is
//   k=1: (0 + 0) / 2 = 0; k=2: (1/2 + 1) / 2 = 0.75; k=3: 0.75; k=4: (1 + 1) / 2 = 1.
const char* kBm25Run =
    "q1 Q0 d3 1 3.0 bm25\nq1 Q0 d1 2 2.0 bm25\nq1 Q0 d4 3 1.5 bm25\nq1 Q0 d2 4 1.0 bm25\n"
    "q2 Q0 d6 1 2.0 bm25\nq2 Q0 d5 2 1.0 bm25\n";
// DGR ranks q1: d1 d3 and q2: d5 d6. Its metrics.json says relevance threshold 2, so q1 (no
// grade >= 2) is not evaluated and Recall@k is q2's alone: 1 at every k. With threshold 1 it
// would be (1/2 + 1) / 2 = 0.75 at k = 1.
const char* kDgrRun =
    "q1 Q0 d1 1 0.9 dgr\nq1 Q0 d3 2 0.8 dgr\nq2 Q0 d5 1 0.7 dgr\nq2 Q0 d6 2 0.6 dgr\n";

std::string metrics_json(double mrr, double ndcg, int threshold) {
  return R"({"aggregate": {"MRR@10": )" + std::to_string(mrr) + R"(, "nDCG@10": )" +
         std::to_string(ndcg) + R"(}, "options": {"relevance_threshold": )" +
         std::to_string(threshold) + R"(, "missing_queries_count_as_zero": true}})";
}

// A run directory as `dgr pipeline` leaves it, minus the ltrgr stage (no log, no run file).
fs::path make_run_dir(const std::string& name) {
  const fs::path run = fresh_dir(name);
  write(run / "stage1/train_log.jsonl", kStage1Log);
  write(run / "distill/train_log.jsonl", kDistillLog);
  write(run / "data/qrels/test.tsv", kQrels);
  write(run / "evaluate/bm25/bm25.trec", kBm25Run);
  write(run / "evaluate/bm25/metrics.json", metrics_json(0.25, 0.375, 1));
  write(run / "evaluate/dgr/run.trec", kDgrRun);
  write(run / "evaluate/dgr/metrics.json", metrics_json(0.75, 0.875, 2));
  // "qrels" relative to the run directory (it is not found from the test's working directory).
  write(run / "results.json", R"json({
  "name": "fabricated", "config_hash": "abc", "split": "test", "qrels": "data/qrels/test.tsv",
  "systems": [
    {"key": "bm25", "name": "BM25", "run": "evaluate/bm25/bm25.trec",
     "metrics": "evaluate/bm25/metrics.json"},
    {"key": "ltrgr", "name": "LTRGR (margin)", "run": "evaluate/ltrgr/run.trec",
     "metrics": "evaluate/ltrgr/metrics.json"},
    {"key": "dgr", "name": "DGR", "run": "evaluate/dgr/run.trec",
     "metrics": "evaluate/dgr/metrics.json"}],
  "table": "system  MRR@10\n"
})json");
  return run;
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(Report, PlotsTrainingCurvesRecallAndTable) {
  const fs::path run = make_run_dir("report-full");
  const auto result = run_command(dgr() + " report " + run.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path out = run / "report";
  EXPECT_TRUE(contains(result.output, "wrote " + (out / "training.svg").string())) << result.output;
  EXPECT_TRUE(contains(result.output, "wrote " + (out / "recall.svg").string())) << result.output;
  EXPECT_TRUE(contains(result.output, "wrote " + (out / "report.md").string())) << result.output;
  // The missing pieces are notes, not errors.
  EXPECT_TRUE(contains(result.output, "skip ltrgr")) << result.output;
  EXPECT_TRUE(contains(result.output, "skip system ltrgr")) << result.output;

  const std::string training = slurp((out / "training.svg").string());
  ASSERT_FALSE(training.empty());
  EXPECT_TRUE(contains(training, "xmlns=\"http://www.w3.org/2000/svg\""));
  for (const char* series : {"loss", "nll", "lr", "rank_loss", "ce_title", "ce_body", "nll_title",
                             "nll_body", "kendall_tau", "ndcg10", "mrr10", "stored_ndcg10"}) {
    EXPECT_TRUE(contains(training, std::string("data-series=\"") + series + "\"")) << series;
  }
  // Not loss terms: timings, throughput, norms.
  EXPECT_FALSE(contains(training, "data-series=\"grad_norm\""));
  EXPECT_FALSE(contains(training, "data-series=\"samples_per_s\""));
  EXPECT_FALSE(contains(training, "data-series=\"queries\""));
  // Stage 1's loss, and the distillation loss with a gap at the skipped step 2.
  EXPECT_TRUE(contains(training, "data-series=\"loss\" data-points=\"1,9.5 2,7.5 3,6.5\""));
  EXPECT_TRUE(contains(training, "data-series=\"loss\" data-points=\"1,2.5 3,2\""));
  EXPECT_TRUE(contains(training, "data-series=\"kendall_tau\" data-points=\"0,0.125 2,0.375\""));
  EXPECT_TRUE(contains(training, "data-series=\"lr\" data-points=\"1,0.0001 2,0.0002 3,0.0003\""));
  EXPECT_FALSE(contains(training, "nan"));
  EXPECT_FALSE(contains(training, "null"));

  const std::string recall = slurp((out / "recall.svg").string());
  ASSERT_FALSE(recall.empty());
  EXPECT_TRUE(contains(recall, "data-series=\"BM25\" data-points=\"1,0 2,0.75 3,0.75 4,1\""))
      << recall;
  EXPECT_TRUE(contains(recall, "<title>BM25: (2, 0.75)</title>"));
  // DGR's threshold 2 comes from its metrics.json.
  EXPECT_TRUE(contains(recall, "data-series=\"DGR\" data-points=\"1,1 2,1 3,1 4,1\"")) << recall;
  EXPECT_FALSE(contains(recall, "LTRGR"));

  const std::string md = slurp((out / "report.md").string());
  EXPECT_TRUE(contains(md, "(training.svg)")) << md;
  EXPECT_TRUE(contains(md, "(recall.svg)")) << md;
  EXPECT_TRUE(contains(md, "| system | MRR@10 | nDCG@10 |")) << md;
  EXPECT_TRUE(contains(md, "| BM25 | 0.2500 | 0.3750 |")) << md;
  EXPECT_TRUE(contains(md, "| DGR | 0.7500 | 0.8750 |")) << md;
  EXPECT_TRUE(contains(md, "| LTRGR (margin) | - | - |")) << md;
}

TEST(Report, OutDirAndQrelsFlagOverrideTheDefaults) {
  const fs::path run = make_run_dir("report-flags");
  // The qrels results.json names are gone; --qrels points at a copy elsewhere.
  const fs::path qrels = fs::path(DGR_TEST_TMP_DIR) / "report-flags-qrels.tsv";
  fs::rename(run / "data/qrels/test.tsv", qrels);
  const fs::path out = fresh_dir("report-flags-out");
  auto result = run_command(dgr() + " report " + run.string() + " --out " + out.string());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "data/qrels/test.tsv")) << result.output;
  EXPECT_TRUE(contains(result.output, "--qrels")) << result.output;

  result = run_command(dgr() + " report " + run.string() + " --out " + out.string() + " --qrels " +
                       qrels.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(fs::exists(out / "recall.svg"));
  EXPECT_TRUE(fs::exists(out / "training.svg"));
  EXPECT_FALSE(fs::exists(run / "report"));
}

TEST(Report, PartialRunDirectoryGetsNotes) {
  // Only the distillation has run: no results.json yet.
  const fs::path run = fresh_dir("report-partial");
  write(run / "distill/train_log.jsonl", kDistillLog);
  const auto result = run_command(dgr() + " report " + run.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "note: skip recall")) << result.output;
  EXPECT_TRUE(contains(result.output, "note: skip stage1")) << result.output;
  EXPECT_TRUE(fs::exists(run / "report/training.svg"));
  EXPECT_FALSE(fs::exists(run / "report/recall.svg"));
  const std::string md = slurp((run / "report/report.md").string());
  EXPECT_TRUE(contains(md, "(training.svg)"));
  EXPECT_FALSE(contains(md, "(recall.svg)"));
}

TEST(Report, EmptyRunDirectoryNamesWhatWasLookedFor) {
  const fs::path run = fresh_dir("report-empty");
  const auto result = run_command(dgr() + " report " + run.string());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "nothing to report")) << result.output;
  EXPECT_TRUE(contains(result.output, "stage1/train_log.jsonl")) << result.output;
  EXPECT_TRUE(contains(result.output, "distill/train_log.jsonl")) << result.output;
  EXPECT_TRUE(contains(result.output, "results.json")) << result.output;
  EXPECT_FALSE(fs::exists(run / "report"));

  const auto missing = run_command(dgr() + " report " + (run / "absent").string());
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_TRUE(contains(missing.output, "not a directory")) << missing.output;
}

TEST(Report, MalformedLogLineIsADataErrorWithFileAndLine) {
  const fs::path run = fresh_dir("report-malformed");
  write(run / "stage1/train_log.jsonl",
        std::string(R"({"step":1,"loss":2.0,"lr":0.1})") + "\n{\"step\":2,\"loss\":\n");
  auto result = run_command(dgr() + " report " + run.string());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "data error")) << result.output;
  EXPECT_TRUE(contains(result.output, "stage1/train_log.jsonl:2:")) << result.output;

  // A line without a step, and a loss of the wrong type.
  write(run / "stage1/train_log.jsonl", "{\"loss\": 1.0}\n");
  result = run_command(dgr() + " report " + run.string());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "train_log.jsonl:1:")) << result.output;
  EXPECT_TRUE(contains(result.output, "\"step\"")) << result.output;
  write(run / "stage1/train_log.jsonl", "\n{\"step\": 1, \"loss\": \"high\"}\n");
  result = run_command(dgr() + " report " + run.string());
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(contains(result.output, "train_log.jsonl:2:")) << result.output;
  EXPECT_TRUE(contains(result.output, "\"loss\"")) << result.output;
}

}  // namespace
}  // namespace dgr
