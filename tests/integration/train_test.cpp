// `dgr examples build` + `dgr train` through the executable: the update does not depend on the
// number of ranks (1 rank x batch B equals 2 ranks x B/2), a resumed run equals an uninterrupted
// one (also when resumed on another number of ranks), and a tiny model overfits a handful of
// examples and then generates their identifiers under the FM-index constraint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "tests/common/train_log.h"
#include "tests/common/weights.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::mpirun;
using testing::run_command;
using testing::slurp;

const std::string kData = DGR_SHARED_DATA_DIR;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/train-" + name + "-" + std::to_string(::getpid());
}

std::string train_command(const std::string& out, const std::string& extra = "") {
  return dgr() + " train --init-from " + tmp("model") + " --examples " + tmp("examples.h5") +
         " --out " + out +
         " --set run.threads=1 --set train.global_batch=8 --set train.lr=1e-3"
         " --set train.warmup_steps=5 --set train.dropout=0 --set train.checkpoint_every=10"
         " --set train.keep_last=0 --set train.bucket_mb=0.5 --set train.micro_batch=4 " +
         extra;
}

class Train : public ::testing::Test {
 protected:
  // One rank and two (or a resumed run) add the gradient sums in another order, and the host's
  // BLAS kernel rounds its own way: the step-1 gradient norm agrees to rounding, the weights as
  // tests/common/weights.h explains.
  static void expect_same_update(const std::string& a, const std::string& b) {
    const double na = testing::first_logged(tmp(a) + "/train_log.jsonl", "grad_norm");
    const double nb = testing::first_logged(tmp(b) + "/train_log.jsonl", "grad_norm");
    EXPECT_NEAR(na, nb, 1e-5 * na) << a << " vs " << b;
    testing::expect_same_training(tmp("model") + "/model.safetensors",
                                  tmp(a) + "/model/model.safetensors",
                                  tmp(b) + "/model/model.safetensors");
  }

  static void SetUpTestSuite() {
    const std::string tokenizer = kData + "/tokenizer/bart";
    auto model = run_command(dgr() + " model init --tokenizer " + tokenizer + " --out " +
                             tmp("model") + " --set model.arch=tiny --set run.seed=3");
    if (model.exit_code != 0) error_ += "model init failed:\n" + model.output;
    auto examples = run_command(dgr() + " examples build --dataset " + kData +
                                "/cranfield --tokenizer " + tokenizer + " --out " +
                                tmp("examples.h5") + " --set examples.unsupervised=false");
    if (examples.exit_code != 0) error_ += "examples build failed:\n" + examples.output;
  }
  static void TearDownTestSuite() {
    for (const char* name : {"model", "examples.h5", "one", "two", "zero", "full", "resumed",
                             "corrupt", "fp32", "bf16", "tiny", "tiny-out"})
      fs::remove_all(tmp(name));
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }
  static inline std::string error_;
};

TEST_F(Train, TwoRanksWithHalfBatchesEqualOneRank) {
  auto one = run_command("timeout 600 " + train_command(tmp("one"), "--set train.max_steps=20"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_command("timeout 600 " + mpirun(2) +
                         train_command(tmp("two"), "--set train.max_steps=20"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  expect_same_update("one", "two");
  // The log has a line per logged step with the loss terms and timings.
  std::istringstream log(slurp(tmp("two") + "/train_log.jsonl"));
  std::string line, last;
  while (std::getline(log, line))
    last = line;
  const nlohmann::json j = nlohmann::json::parse(last);
  EXPECT_EQ(j["step"].get<int>(), 20);
  EXPECT_EQ(j["ranks"].get<int>(), 2);
  EXPECT_TRUE(j["seconds"].contains("communication_exposed"));
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
}

TEST_F(Train, ResumedRunEqualsUninterruptedRun) {
  auto full = run_command("timeout 600 " + train_command(tmp("full"), "--set train.max_steps=20"));
  ASSERT_EQ(full.exit_code, 0) << full.output;
  // The same run, "interrupted" after step 10: only the step-10 checkpoint survives.
  auto first =
      run_command("timeout 600 " + train_command(tmp("resumed"), "--set train.max_steps=20"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const fs::path checkpoints = fs::path(tmp("resumed")) / "checkpoints";
  fs::remove_all(checkpoints / "step-0000020");
  fs::remove_all(fs::path(tmp("resumed")) / "model");
  std::ofstream(checkpoints / "latest", std::ios::trunc) << "step-0000010\n";
  // Resumed on 2 ranks: the data cursor and the schedule are global.
  auto resumed = run_command("timeout 600 " + mpirun(2) +
                             train_command(tmp("resumed"), "--set train.max_steps=20"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  expect_same_update("full", "resumed");
}

TEST_F(Train, ShardedOptimizerStateOnTwoRanksEqualsOneRankAndResumesWithout) {
  auto one = run_command("timeout 600 " + train_command(tmp("one"), "--set train.max_steps=20"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto zero =
      run_command("timeout 600 " + mpirun(2) +
                  train_command(tmp("zero"), "--set train.max_steps=20 --set train.zero_stage=1"));
  ASSERT_EQ(zero.exit_code, 0) << zero.output;
  EXPECT_NE(zero.output.find("(sharded)"), std::string::npos) << zero.output;
  expect_same_update("one", "zero");
  // The sharded run's step-10 checkpoint holds the whole AdamW state: one rank without ZeRO
  // resumes from it and ends where the uninterrupted run ended.
  const fs::path checkpoints = fs::path(tmp("zero")) / "checkpoints";
  {
    const testing::WeightAgreement moments = testing::weight_agreement(
        "", tmp("one") + "/checkpoints/step-0000010/optimizer.safetensors",
        (checkpoints / "step-0000010" / "optimizer.safetensors").string());
    EXPECT_LE(moments.apart_fraction(), 0.01) << moments.apart << " of " << moments.elements;
  }
  fs::remove_all(checkpoints / "step-0000020");
  fs::remove_all(fs::path(tmp("zero")) / "model");
  std::ofstream(checkpoints / "latest", std::ios::trunc) << "step-0000010\n";
  auto resumed =
      run_command("timeout 600 " + train_command(tmp("zero"), "--set train.max_steps=20"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resuming from"), std::string::npos) << resumed.output;
  expect_same_update("one", "zero");
}

// bf16 autocast through the whole loop (stage 1's objective, the reducer, AdamW, checkpoints):
// the products round to 8 significant bits while the weights, gradients and AdamW stay fp32, so
// the first step's gradient norm agrees with the fp32 run's to about a percent (2^-9 per operand,
// independent roundings) and the twentieth step's loss is finite and within a few percent of it.
TEST_F(Train, Bf16AutocastTracksTheFp32Run) {
  auto fp32 = run_command("timeout 600 " + train_command(tmp("fp32"), "--set train.max_steps=20"));
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  auto bf16 = run_command(
      "timeout 600 " +
      train_command(tmp("bf16"), "--set train.max_steps=20 --set train.precision=bf16"));
  ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  const double na = testing::first_logged(tmp("fp32") + "/train_log.jsonl", "grad_norm");
  const double nb = testing::first_logged(tmp("bf16") + "/train_log.jsonl", "grad_norm");
  EXPECT_NEAR(nb, na, 0.02 * na);
  const double la = testing::last_logged(tmp("fp32") + "/train_log.jsonl", "loss");
  const double lb = testing::last_logged(tmp("bf16") + "/train_log.jsonl", "loss");
  ASSERT_TRUE(std::isfinite(lb));
  EXPECT_NEAR(lb, la, 0.05 * la);
}

TEST_F(Train, CorruptCheckpointIsNamed) {
  auto run =
      run_command("timeout 600 " + train_command(tmp("corrupt"), "--set train.max_steps=10"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string weights = tmp("corrupt") + "/checkpoints/step-0000010/model.safetensors";
  ASSERT_TRUE(fs::exists(weights));
  fs::resize_file(weights, fs::file_size(weights) / 2);
  auto resumed = run_command("timeout 600 " + mpirun(2) +
                             train_command(tmp("corrupt"), "--set train.max_steps=12"));
  EXPECT_EQ(resumed.exit_code, 2) << resumed.output;
  EXPECT_NE(resumed.output.find("step-0000010/model.safetensors"), std::string::npos)
      << resumed.output;
}

// Five passages, one query each: after training, constrained beam search generates each query's
// positive title and ranks that passage first.
TEST_F(Train, TinyModelOverfitsAndGeneratesItsTargets) {
  const fs::path dir = tmp("tiny");
  fs::create_directories(dir / "qrels");
  const std::vector<std::pair<std::string, std::string>> passages = {
      {"supersonic flow over a cone", "pressure distributions on cones at mach three"},
      {"heat transfer in laminar boundary layers", "a study of wall heating"},
      {"buckling of thin cylindrical shells", "axial compression experiments"},
      {"vortex shedding behind bluff bodies", "wind tunnel observations of wakes"},
      {"flutter of swept wings", "aeroelastic stability analysis"}};
  const std::vector<std::string> queries = {"cone supersonic", "laminar heat transfer",
                                            "shell buckling", "vortex wake", "wing flutter"};
  {
    std::ofstream corpus(dir / "corpus.jsonl"), q(dir / "queries.jsonl"),
        qrels(dir / "qrels" / "train.tsv"), test(dir / "qrels" / "test.tsv");
    qrels << "query-id\tcorpus-id\tscore\n";
    test << "query-id\tcorpus-id\tscore\n";
    for (size_t i = 0; i < passages.size(); ++i) {
      corpus << nlohmann::json{{"_id", "d" + std::to_string(i)},
                               {"title", passages[i].first},
                               {"text", passages[i].second}}
                    .dump()
             << "\n";
      q << nlohmann::json{{"_id", "q" + std::to_string(i)}, {"text", queries[i]}}.dump() << "\n";
      qrels << "q" << i << "\td" << i << "\t1\n";
      test << "q" << i << "\td" << i << "\t1\n";
    }
  }
  const std::string tokenizer = kData + "/tokenizer/bart";
  const std::string out = tmp("tiny-out");
  ASSERT_EQ(run_command(dgr() + " index build --corpus " + (dir / "corpus.jsonl").string() +
                        " --tokenizer " + tokenizer + " --out " + out + "/index")
                .exit_code,
            0);
  auto examples = run_command(dgr() + " examples build --dataset " + dir.string() +
                              " --tokenizer " + tokenizer + " --out " + out + "/examples.h5" +
                              " --set examples.unsupervised=false --set examples.spans_per_query=2"
                              " --set examples.titles_per_query=2");
  ASSERT_EQ(examples.exit_code, 0) << examples.output;
  auto trained =
      run_command("timeout 600 " + mpirun(2) + dgr() + " train --init-from " + tmp("model") +
                  " --examples " + out + "/examples.h5 --out " + out +
                  "/run --set run.threads=1 --set train.global_batch=4 --set train.max_steps=300"
                  " --set train.lr=3e-3 --set train.warmup_steps=10 --set train.decay=constant"
                  " --set train.label_smoothing=0 --set train.dropout=0 --set train.clip_norm=1"
                  " --set train.checkpoint_every=1000 --set train.log_every=50");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  // Stated bound: the mean target-token cross-entropy falls below 0.2 nats.
  std::istringstream log(slurp(out + "/run/train_log.jsonl"));
  std::string line, last;
  while (std::getline(log, line))
    last = line;
  EXPECT_LT(nlohmann::json::parse(last)["loss"].get<double>(), 0.2) << last;

  auto retrieved = run_command(dgr() + " retrieve --dataset " + dir.string() + " --index " + out +
                               "/index --init-from " + out + "/run/model --out " + out +
                               "/retrieve --set search.beam_size=5 --set retrieve.dump_keys=true"
                               " --set run.threads=1");
  ASSERT_EQ(retrieved.exit_code, 0) << retrieved.output;
  std::istringstream keys(slurp(out + "/retrieve/keys.jsonl"));
  size_t top1 = 0, titles = 0;
  while (std::getline(keys, line)) {
    const nlohmann::json q = nlohmann::json::parse(line);
    const std::string want = "d" + q["query_id"].get<std::string>().substr(1);
    ASSERT_FALSE(q["passages"].empty()) << line;
    top1 += q["passages"][0]["id"] == want;
    const size_t i = std::stoul(want.substr(1));
    for (const auto& key : q["keys"]) {
      // The whole title was generated: as a title-view key or as a body n-gram that starts
      // with it (the two overlap and scoring keeps the heavier one; in a corpus of five titles
      // a title key's probability over the five title starts is high, so its weight is low).
      const std::string title = " " + passages[i].first;
      if (key["text"].get<std::string>().rfind(title, 0) == 0) {
        ++titles;
        break;
      }
    }
  }
  EXPECT_EQ(titles, passages.size()) << slurp(out + "/retrieve/keys.jsonl");
  EXPECT_EQ(top1, passages.size());
}

}  // namespace
}  // namespace dgr

namespace dgr {
namespace {

// The input probe is logged before the first step, every train.probe.every steps and at the
// last, and a run whose gap stays below train.probe.min_gap after train.probe.check_after steps
// ends on every rank with the error that says the model ignores its input. (A gap of 100 nats
// per token is beyond any model: the check must fire.)
TEST_F(Train, ModelThatIgnoresItsInputIsStoppedOnEveryRank) {
  const std::string out = tmp("probe");
  auto run = run_command("timeout 600 " + mpirun(2) +
                         train_command(out,
                                       "--set train.max_steps=20 --set train.probe.every=5"
                                       " --set train.probe.check_after=10"
                                       " --set train.probe.min_gap=100"));
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("the model ignores its input at step 10"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("train.copy.steps"), std::string::npos) << run.output;
  EXPECT_FALSE(fs::exists(out + "/model")) << "a stopped run exports no model";
  // Steps 0 and 5 were probed and logged before the check began.
  std::istringstream log(slurp(out + "/train_log.jsonl"));
  std::vector<int> probed;
  for (std::string line; std::getline(log, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("probe_gap")) {
      probed.push_back(j["step"].get<int>());
      EXPECT_GT(j["encoder_spread"].get<double>(), 0);
      EXPECT_NEAR(j["probe_gap"].get<double>(),
                  j["probe_nll_shuffled"].get<double>() - j["probe_nll_true"].get<double>(), 1e-9);
    }
  }
  EXPECT_EQ(probed, (std::vector<int>{0, 5}));
  fs::remove_all(out);
}

}  // namespace
}  // namespace dgr

namespace dgr {
namespace {

// The collapse the probe guards against, for real: a BART trained from scratch at lr 1e-3 with
// no copy warm start learns the targets as a language model and its encoder emits one vector
// for every source (on the tiny preset within 50 steps: gap 0.000, spread 0.05 where it was
// 0.97 at init). The run is stopped at the first check with the error that says so.
TEST(Stage1Collapse, OldRecipeIsStoppedByTheInputProbe) {
  const std::string out = std::string(DGR_TEST_TMP_DIR) + "/collapse-" + std::to_string(::getpid());
  const std::string data = std::string(DGR_SHARED_DATA_DIR) + "/cranfield";
  ASSERT_EQ(run_command(dgr() + " tokenizer train --dataset " + data + " --out " + out +
                        "/tokenizer --set tokenizer.vocab_size=4000")
                .exit_code,
            0);
  ASSERT_EQ(run_command(dgr() + " model init --tokenizer " + out + "/tokenizer --out " + out +
                        "/init --set model.arch=tiny --set run.seed=3")
                .exit_code,
            0);
  ASSERT_EQ(run_command(dgr() + " examples build --dataset " + data + " --tokenizer " + out +
                        "/tokenizer --out " + out + "/examples.h5 --set examples.source_length=32")
                .exit_code,
            0);
  auto run =
      run_command("timeout 600 " + mpirun(2) + dgr() + " train --init-from " + out +
                  "/init --examples " + out + "/examples.h5 --out " + out +
                  "/run --set run.threads=1 --set train.global_batch=32 --set train.micro_batch=16"
                  " --set train.lr=1e-3 --set train.warmup_steps=20 --set train.clip_norm=1"
                  " --set train.max_steps=300 --set train.checkpoint_every=1000"
                  " --set train.probe.every=50 --set train.probe.check_after=100");
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("the model ignores its input at step 100"), std::string::npos)
      << run.output;
  // What the log showed before the stop: a spread far below its value at init.
  const auto probed = testing::probe_log(out + "/run/train_log.jsonl");
  ASSERT_TRUE(probed.count(0)) << run.output;
  const double first_spread = probed.at(0).second;
  EXPECT_GT(first_spread, 0.5);
  EXPECT_LT(probed.rbegin()->second.second, 0.5 * first_spread);
  EXPECT_LT(probed.rbegin()->second.first, 0.1);
  fs::remove_all(out);
}

}  // namespace
}  // namespace dgr
