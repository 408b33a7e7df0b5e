// `dgr pipeline` end to end on Cranfield under mpirun -np 2, every stage made tiny: the results
// table of the four systems, a rerun that skips every stage, an edit that reruns only the stages
// it touches, an interrupted stage that resumes, partial runs with --stages, and the errors for
// missing data and unfinished inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/integration/command.h"

namespace dgr::testing {
namespace {

namespace fs = std::filesystem;

// The quick start with every stage cut to seconds.
const char* kTiny =
    " --set model.arch=tiny --set tokenizer.vocab_size=600 --set train.max_steps=4"
    " --set train.copy.steps=2"
    " --set train.global_batch=4 --set train.micro_batch=2 --set train.warmup_steps=0"
    " --set train.checkpoint_every=2 --set train.log_every=1 --set search.beam_size=2"
    " --set scoring.depth=10 --set teacher.num_candidates=10 --set distill.min_negatives=2"
    " --set distill.holdout=2 --set distill.eval_candidates=5";

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(DGR_TEST_TMP_DIR) /
           ("pipeline-it-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  CommandResult pipeline(const std::string& args, const std::string& data = DGR_SHARED_DATA_DIR,
                         int ranks = 2) {
    const std::string command =
        "cd " + std::string(DGR_SOURCE_DIR) + " && DGR_DATA=" + data + " " + mpirun(ranks) + dgr() +
        " pipeline configs/quickstart.yaml --set run.out=" + run_dir().string() + kTiny + " " +
        args;
    return run_command(command);
  }

  fs::path run_dir() const { return dir_ / "run"; }

  nlohmann::json marker(const std::string& stage) const {
    return nlohmann::json::parse(slurp((run_dir() / "stages" / (stage + ".json")).string()));
  }

  fs::path dir_;
};

bool ran(const std::string& output, const std::string& stage) {
  return output.find("== stage " + stage + " (") != std::string::npos;
}
bool skipped(const std::string& output, const std::string& stage) {
  return output.find("== skip " + stage + ":") != std::string::npos;
}

TEST_F(PipelineTest, RunsEveryStageThenSkipsResumesAndRerunsWhatAnEditTouches) {
  if (!fs::exists(std::string(DGR_SHARED_DATA_DIR) + "/cranfield/corpus.jsonl")) {
    GTEST_SKIP() << "no Cranfield under " << DGR_SHARED_DATA_DIR;
  }
  const std::vector<std::string> stages = {"tokenizer", "index",   "stage1", "candidates",
                                           "teacher",   "distill", "ltrgr",  "evaluate"};
  CommandResult first = pipeline("");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  for (const std::string& stage : stages) {
    EXPECT_TRUE(ran(first.output, stage)) << stage;
    EXPECT_EQ(marker(stage)["state"], "done") << stage;
  }
  // The table: four systems, the configured columns.
  const nlohmann::json results =
      nlohmann::json::parse(slurp((run_dir() / "results.json").string()));
  ASSERT_EQ(results["systems"].size(), 4U);
  for (const auto& system : results["systems"]) {
    const std::string key = system["key"];
    EXPECT_TRUE(fs::exists(run_dir() / system["run"].get<std::string>())) << key;
    const auto& aggregate = results["aggregate"][key];
    for (const char* metric : {"Recall@5", "Recall@20", "Recall@100", "MRR@10", "nDCG@10"}) {
      ASSERT_TRUE(aggregate.contains(metric)) << key << " " << metric;
      const double value = aggregate[metric];
      EXPECT_GE(value, 0.0);
      EXPECT_LE(value, 1.0);
    }
  }
  // BM25 on Cranfield's test queries is far from zero; its row is the real evaluation.
  EXPECT_GT(results["aggregate"]["bm25"]["Recall@100"].get<double>(), 0.3);
  for (const char* name : {"BM25", "stage 1 (MINDER-style)", "LTRGR (margin loss)", "DGR"}) {
    EXPECT_NE(first.output.find(name), std::string::npos) << name;
  }
  EXPECT_NE(first.output.find("Recall@100"), std::string::npos);
  // The p-values: each model against BM25, the distilled students against stage 1, printed
  // and stored with both tests over the 75 test queries.
  EXPECT_NE(first.output.find("p-values (paired randomization test"), std::string::npos);
  const auto& comparisons = results["significance"]["comparisons"];
  ASSERT_EQ(comparisons.size(), 5U);
  for (const auto& c : comparisons) {
    for (const char* metric : {"Recall@100", "nDCG@10"}) {
      const auto& m = c["metrics"][metric];
      EXPECT_EQ(m["queries"].get<int>(), 75) << c["label"];
      EXPECT_GT(m["p_randomization"].get<double>(), 0.0) << c["label"];
      EXPECT_LE(m["p_randomization"].get<double>(), 1.0) << c["label"];
      EXPECT_LE(m["p_t_test"].get<double>(), 1.0) << c["label"];
    }
  }
  EXPECT_EQ(comparisons[0]["label"], "stage 1 vs BM25");
  EXPECT_TRUE(fs::exists(run_dir() / "results.md"));
  EXPECT_TRUE(fs::exists(run_dir() / "distill/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(run_dir() / "ltrgr/model/model.safetensors"));
  // The LTRGR stage trained with the margin loss, DGR with the distilled RankNet loss.
  EXPECT_NE(slurp((run_dir() / "ltrgr/config.resolved.yaml").string()).find("loss: margin"),
            std::string::npos);
  EXPECT_NE(
      slurp((run_dir() / "distill/config.resolved.yaml").string()).find("loss: distilled_ranknet"),
      std::string::npos);

  // A rerun skips every stage and prints the same table.
  CommandResult second = pipeline("");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  for (const std::string& stage : stages)
    EXPECT_TRUE(skipped(second.output, stage)) << stage << "\n" << second.output;
  EXPECT_NE(second.output.find(results["table"].get<std::string>()), std::string::npos);

  // An evaluation setting reruns the evaluation only.
  CommandResult edited = pipeline("--set eval.ndcg_at=[5,10]");
  ASSERT_EQ(edited.exit_code, 0) << edited.output;
  EXPECT_TRUE(skipped(edited.output, "ltrgr"));
  EXPECT_TRUE(ran(edited.output, "evaluate"));
  EXPECT_NE(edited.output.find("nDCG@5"), std::string::npos);

  // An interrupted stage (marker still "running") resumes in place, from its checkpoint.
  nlohmann::json m = marker("distill");
  m["state"] = "running";
  std::ofstream((run_dir() / "stages/distill.json").string()) << m.dump();
  CommandResult resumed = pipeline("--set eval.ndcg_at=[5,10]");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(
      std::regex_search(resumed.output, std::regex("== stage distill \\([^)]*, resuming\\)")))
      << resumed.output;
  EXPECT_TRUE(skipped(resumed.output, "ltrgr"));
  EXPECT_TRUE(skipped(resumed.output, "evaluate"));
  EXPECT_EQ(marker("distill")["state"], "done");

  // --stages: the named stage only; --force reruns it although it is done.
  CommandResult only = pipeline("--set eval.ndcg_at=[5,10] --stages teacher --force");
  ASSERT_EQ(only.exit_code, 0) << only.output;
  EXPECT_TRUE(ran(only.output, "teacher"));
  EXPECT_FALSE(ran(only.output, "distill"));
  EXPECT_FALSE(skipped(only.output, "distill"));

  // --list shows what is done and what a changed key would rerun.
  CommandResult list = run_command(
      "cd " + std::string(DGR_SOURCE_DIR) + " && DGR_DATA=" + DGR_SHARED_DATA_DIR + " " + dgr() +
      " pipeline configs/quickstart.yaml --set run.out=" + run_dir().string() + kTiny +
      " --set distill.lambda_gen=7 --list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(std::regex_search(list.output, std::regex("teacher +done"))) << list.output;
  EXPECT_TRUE(std::regex_search(list.output, std::regex("distill +changed"))) << list.output;
  EXPECT_NE(list.output.find("distill reruns: its configuration changed"), std::string::npos)
      << list.output;
  EXPECT_NE(list.output.find("evaluate reruns: its input stage "), std::string::npos)
      << list.output;

  // A stage whose input changed refuses to run alone.
  CommandResult refused = pipeline("--set distill.lambda_gen=7 --stages evaluate");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("needs the outputs of distill, ltrgr"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("--stages distill,ltrgr"), std::string::npos) << refused.output;

  // The report of the run: training curves and Recall@k of the four systems.
  CommandResult report = run_command(dgr() + " report " + run_dir().string());
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const std::string recall = slurp((run_dir() / "report/recall.svg").string());
  EXPECT_NE(recall.find("DGR"), std::string::npos);
  EXPECT_NE(slurp((run_dir() / "report/training.svg").string()).find("</svg>"), std::string::npos);
}

TEST_F(PipelineTest, MissingDataSaysWhereToPutIt) {
  CommandResult result = pipeline("", (dir_ / "nowhere").string(), 1);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("nowhere/cranfield/corpus.jsonl"), std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("DGR_DATA"), std::string::npos) << result.output;
  EXPECT_FALSE(fs::exists(run_dir() / "stages"));
}

TEST_F(PipelineTest, UnknownStagesAndUnfinishedInputsAreRefused) {
  if (!fs::exists(std::string(DGR_SHARED_DATA_DIR) + "/cranfield/corpus.jsonl")) {
    GTEST_SKIP() << "no Cranfield under " << DGR_SHARED_DATA_DIR;
  }
  CommandResult unknown = pipeline("--stages index,bogus", DGR_SHARED_DATA_DIR, 1);
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("no stage 'bogus'"), std::string::npos) << unknown.output;
  CommandResult early = pipeline("--stages distill", DGR_SHARED_DATA_DIR, 1);
  EXPECT_NE(early.exit_code, 0);
  EXPECT_NE(early.output.find("--stages tokenizer,index,stage1,candidates,teacher"),
            std::string::npos)
      << early.output;
}

}  // namespace
}  // namespace dgr::testing
