// The distillation trainer (distributed/distill_trainer.h) under mpirun -np 2, on a distillation
// set and a stage-1 store written here for a tiny BART: a few steps with global batch B on the
// two ranks (B/2 each) end with the same weights as the same job on one rank (in the same
// process, through a one-rank communicator), with both loss terms at work; a resumed run equals
// an uninterrupted one; a model that yields NaN has its steps skipped and counted, or aborts the
// run, as distill.on_nonfinite says; bad options are ConfigErrors naming the key.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/model/bart.h"
#include "core/model/pretrained.h"
#include "core/model/safetensors.h"
#include "core/util/error.h"
#include "data/distill_set.h"
#include "data/stage1_examples.h"
#include "distributed/communicator.h"
#include "distributed/distill_trainer.h"
#include "tests/common/train_log.h"
#include "tests/common/weights.h"
#include "tests/distributed/mpi_test_env.h"
#include "tests/distributed/solo_communicator.h"

namespace dgr::distributed {
namespace {

namespace fs = std::filesystem;
using test_env::context;

// Every rank works in its own directory (the pid differs per rank); rank 0's are compared.
std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/distill-trainer-" + name + "-" +
         std::to_string(::getpid());
}

const std::string kTokenizer = std::string(DGR_SHARED_DATA_DIR) + "/tokenizer/bart";
constexpr int kQueries = 12;
constexpr int kCandidates = 10;
constexpr int32_t kTitleStart = 2;  // </s>
const std::vector<int32_t> kTitleEnd = {1039, 1039};

std::vector<int32_t> random_tokens(std::mt19937_64& rng, size_t n) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<int32_t>(1000 + rng() % 3000));
  return out;
}

// 12 queries of 10 candidates: two positives each (one for the last queries), teacher scores
// that disagree with the stored order, and 1-3 keys per candidate of both views.
void write_set(const std::string& path) {
  std::mt19937_64 rng(5);
  std::vector<data::DistillQuery> queries;
  const std::vector<std::string> words = {"shock", "wing",  "flow",   "plate", "heat",
                                          "mach",  "layer", "vortex", "drag",  "lift"};
  for (int q = 0; q < kQueries; ++q) {
    data::DistillQuery query;
    query.query_id = "q" + std::to_string(q);
    query.query = words[q % 10] + " " + words[(q * 3 + 1) % 10] + " at high speed";
    for (int c = 0; c < kCandidates; ++c) {
      data::DistillCandidate cand;
      cand.passage = q * 100 + c;
      cand.teacher_score = static_cast<float>((c * 7 + q) % kCandidates) + 0.5f;
      cand.student_score = static_cast<float>(kCandidates - c);
      cand.label = c < (q < 9 ? 2 : 1) ? 1 : (c % 3 == 0 ? 0 : -1);
      const size_t keys = 1 + rng() % 3;
      for (size_t k = 0; k < keys; ++k) {
        data::DistillKey key;
        key.view = k == 0 && c % 2 == 0 ? search::View::kTitle : search::View::kBody;
        key.tokens = random_tokens(rng, 1 + rng() % 2);
        if (key.view == search::View::kTitle) {
          key.tokens.insert(key.tokens.end(), kTitleEnd.begin(), kTitleEnd.end());
        }
        key.count = static_cast<int64_t>(rng() % 50);
        key.log_prob = -5;
        cand.keys.push_back(key);
      }
      query.candidates.push_back(cand);
    }
    queries.push_back(query);
  }
  data::DistillSetMeta meta;
  meta.teacher = "test";
  meta.created = "2026-01-01T00:00:00Z";
  meta.candidates_per_query = kCandidates;
  data::write_distill_set(path, meta, queries);
}

// Per query: 3 title examples and 4 body examples (supervised), plus unsupervised rows.
void write_examples(const std::string& path) {
  std::mt19937_64 rng(7);
  std::vector<data::Stage1Example> examples;
  for (int q = 0; q < kQueries; ++q) {
    for (int k = 0; k < 7; ++k) {
      data::Stage1Example e;
      e.source_id = "q" + std::to_string(q);
      e.view = k < 3 ? search::View::kTitle : search::View::kBody;
      e.source = random_tokens(rng, 6);
      if (k < 3) e.prompt = {kTitleStart};
      e.target = random_tokens(rng, 3 + rng() % 4);
      examples.push_back(e);
    }
    data::Stage1Example u;
    u.source_id = "d" + std::to_string(q);
    u.supervised = false;
    u.source = random_tokens(rng, 8);
    u.target = random_tokens(rng, 4);
    examples.push_back(u);
  }
  data::write_stage1_examples(path, examples, {});
}

void write_model(const std::string& dir, bool poisoned) {
  torch::manual_seed(3);
  const model::BartConfig config = model::BartConfig::preset("tiny");
  model::BartModel bart(config);
  if (poisoned) {
    // Finite weights (a model with NaN weights is refused when it loads) whose forward pass
    // overflows: half the vocabulary gets log-probability -inf, so every loss is non-finite.
    torch::NoGradGuard no_grad;
    torch::Tensor bias = bart->final_logits_bias.view(-1);
    bias.fill_(3e38);
    bias.slice(0, 1, bias.numel(), 2).fill_(-3e38);
  }
  model::save_pretrained(bart, config, dir, kTokenizer);
}

class DistillTrainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    write_set(tmp("set.h5"));
    write_examples(tmp("examples.h5"));
    write_model(tmp("init"), false);
    write_model(tmp("nan"), true);
  }
  static void TearDownTestSuite() {
    for (const char* name :
         {"set.h5", "examples.h5", "init", "nan", "one", "two", "full", "resumed", "skip", "abort"})
      fs::remove_all(tmp(name));
  }

  // A distillation as `dgr train` assembles it.
  struct Job {
    TrainingRun run;
    TrainOptions train;
    DistillOptions distill;
    DistillInputs inputs;
  };

  static Job job(const std::string& run) {
    Job j;
    j.inputs.set_path = tmp("set.h5");
    j.inputs.examples_path = tmp("examples.h5");
    j.inputs.tokenizer_dir = kTokenizer;
    j.run.init_from = tmp("init");
    j.run.run_dir = tmp(run);
    j.inputs.corpus_tokens = uint64_t{1} << 40;  // rare keys: positive log-odds for a random model
    j.inputs.title_positions = uint64_t{1} << 40;  // T: title keys as rare
    j.inputs.title_prefix = {kTitleStart};
    j.inputs.title_end = kTitleEnd;
    j.inputs.max_query_length = 16;
    j.distill.ranking.margin = 3;
    j.distill.ranking.margin_step = 1;
    j.distill.lambda_gen = 0.5;
    j.distill.min_negatives = 4;
    j.distill.holdout = 2;
    j.distill.eval_candidates = 8;
    j.run.seed = 11;
    j.train.global_batch = 4;
    j.train.micro_batch = 1;
    j.train.max_steps = 4;  // 10 training queries: crosses into a second epoch
    j.train.lr = 1e-3;
    j.train.warmup_steps = 1;
    j.train.dropout = 0;
    j.train.bucket_mb = 0.05;  // several buckets
    j.train.checkpoint_every = 2;
    j.train.keep_last = 0;
    j.run.progress_interval_s = 1e9;
    return j;
  }

  static DistillTrainReport train(Communicator& comm, const Job& j) {
    return train_distill(comm, comm, j.run, j.train, j.distill, j.inputs);
  }

  // Of the model.safetensors of two model directories.
  static double max_difference(const std::string& a, const std::string& b) {
    return testing::max_weight_difference(a + "/model.safetensors", b + "/model.safetensors");
  }
};

TEST_F(DistillTrainer, TwoRanksWithHalfBatchesEqualOneRank) {
  SoloCommunicator solo;
  const DistillTrainReport one = train(solo, job("one"));
  auto comm = make_communicator("mpi", context());
  const DistillTrainReport two = train(*comm, job("two"));
  EXPECT_EQ(one.steps, 4);
  EXPECT_EQ(two.steps, 4);
  EXPECT_EQ(two.training_queries, kQueries - 2);
  EXPECT_EQ(two.heldout_queries, 2);
  EXPECT_EQ(two.skipped_steps, 0);
  // Both terms are at work: the lists are not all satisfied at the start.
  EXPECT_GT(one.first_rank_loss, 0);
  EXPECT_GT(one.first_loss, one.first_rank_loss);
  EXPECT_NEAR(one.first_loss, two.first_loss, 1e-5 * std::max(1.0, one.first_loss));
  EXPECT_NEAR(one.final_loss, two.final_loss, 1e-4 * std::max(1.0, one.final_loss));
  // Held-out agreement measured before and after, on both held-out queries.
  ASSERT_EQ(two.agreement.size(), 2u);
  EXPECT_EQ(two.agreement.front().step, 0);
  EXPECT_EQ(two.agreement.back().step, 4);
  EXPECT_EQ(two.agreement.back().queries, 2);
  for (const DistillAgreement& a : two.agreement) {
    EXPECT_GE(a.kendall_tau, -1);
    EXPECT_LE(a.kendall_tau, 1);
    EXPECT_GT(a.ndcg10, 0);
    EXPECT_LE(a.ndcg10, 1 + 1e-12);
  }
  // The stored scores' agreement does not depend on the model.
  EXPECT_EQ(two.agreement.front().stored_kendall_tau, two.agreement.back().stored_kendall_tau);
  if (context().is_root()) {
    // Not bit-identical (the gradient sums are added in another order): the step-1 gradient
    // agrees to rounding, the weights as tests/common/weights.h explains.
    const double norm_one = testing::first_logged(tmp("one") + "/train_log.jsonl", "grad_norm");
    const double norm_two = testing::first_logged(tmp("two") + "/train_log.jsonl", "grad_norm");
    EXPECT_NEAR(norm_one, norm_two, 1e-5 * norm_one);
    testing::expect_same_training(tmp("init") + "/model.safetensors",
                                  tmp("one") + "/model/model.safetensors",
                                  tmp("two") + "/model/model.safetensors");
    EXPECT_GT(max_difference(tmp("init"), tmp("two") + "/model"), 1e-4) << "nothing was trained";
    // The log has the loss terms separately.
    std::ifstream log(tmp("two") + "/train_log.jsonl");
    std::string line, text;
    while (std::getline(log, line))
      text += line + "\n";
    for (const char* key : {"\"rank_loss\"", "\"ce_title\"", "\"ce_body\"", "\"lists\"",
                            "\"kendall_tau\"", "\"skipped_steps\""})
      EXPECT_NE(text.find(key), std::string::npos) << key;
  }
  context().barrier();
}

TEST_F(DistillTrainer, ResumedRunEqualsUninterruptedRun) {
  auto comm = make_communicator("mpi", context());
  train(*comm, job("full"));
  train(*comm, job("resumed"));
  // "Interrupted" after step 2: only the step-2 checkpoint survives.
  if (context().is_root()) {
    const fs::path checkpoints = fs::path(tmp("resumed")) / "checkpoints";
    fs::remove_all(checkpoints / "step-0000004");
    fs::remove_all(fs::path(tmp("resumed")) / "model");
    std::ofstream(checkpoints / "latest", std::ios::trunc) << "step-0000002\n";
  }
  context().barrier();
  // Every rank reads rank 0's run directory.
  Job resumed = job("resumed");
  std::string dir = resumed.run.run_dir;
  context().broadcast_string(dir);
  resumed.run.run_dir = dir;
  const DistillTrainReport report = train(*comm, resumed);
  EXPECT_EQ(report.first_step, 2);
  EXPECT_EQ(report.steps, 4);
  if (context().is_root()) {
    EXPECT_LE(max_difference(tmp("full") + "/model", tmp("resumed") + "/model"), 1e-6);
  }
  context().barrier();
}

TEST_F(DistillTrainer, NonFiniteStepsAreSkippedAndCountedOrAbort) {
  auto comm = make_communicator("mpi", context());
  Job skip = job("skip");
  skip.run.init_from = tmp("nan");
  skip.distill.holdout = 0;
  skip.train.max_steps = 3;
  skip.distill.max_nonfinite_steps = 5;
  const DistillTrainReport report = train(*comm, skip);
  EXPECT_EQ(report.steps, 3);
  EXPECT_EQ(report.skipped_steps, 3);
  if (context().is_root()) {
    // No update was made: the weights are the initial ones.
    const model::NamedTensors init = model::read_safetensors(tmp("nan") + "/model.safetensors");
    const model::NamedTensors out =
        model::read_safetensors(tmp("skip") + "/model/model.safetensors");
    ASSERT_EQ(init.size(), out.size());
    for (size_t i = 0; i < init.size(); ++i) {
      EXPECT_TRUE(torch::equal(init[i].second, out[i].second)) << init[i].first;
    }
  }
  // Too many skipped steps end the run, naming the key (by its place in the configuration).
  const config::KeyScope keys(skip.distill, "distill");
  skip.run.run_dir = tmp("abort");
  skip.distill.max_nonfinite_steps = 2;
  try {
    train(*comm, skip);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("distill.max_nonfinite_steps"), std::string::npos)
        << e.what();
  }
  Job abort = job("abort");
  abort.run.init_from = tmp("nan");
  abort.distill.holdout = 0;
  abort.train.resume = false;
  abort.distill.on_nonfinite = "abort";
  try {
    train(*comm, abort);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("at step 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("on_nonfinite: abort"), std::string::npos) << e.what();
  }
  context().barrier();
}

// Each option is named by its key in the configuration: the test places the structs as `dgr
// train` does (config::KeyScope), and the checks name what they refuse.
TEST_F(DistillTrainer, BadOptionsNameTheirKey) {
  auto expect_key = [](Job j, const std::string& key) {
    const config::KeyScope train_keys(j.train, "train");
    const config::KeyScope distill_keys(j.distill, "distill");
    try {
      check_distill(j.train, j.distill, j.inputs, 2);
      ADD_FAILURE() << "expected a ConfigError naming " << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  Job j = job("bad");
  j.distill.loss = "pointwise";
  expect_key(j, "distill.loss");
  j = job("bad");
  j.distill.lambda_rank = 0;
  j.distill.lambda_gen = 0;
  expect_key(j, "distill.lambda_gen");
  j = job("bad");
  j.distill.lambda_gen = -1;
  expect_key(j, "distill.lambda_gen");
  j = job("bad");
  j.distill.on_nonfinite = "ignore";
  expect_key(j, "distill.on_nonfinite");
  j = job("bad");
  j.distill.sampling.top_negatives = 0;
  j.distill.sampling.random_negatives = 0;
  expect_key(j, "distill.random_negatives");
  j = job("bad");
  j.distill.ranking.sigma = 0;
  expect_key(j, "distill.sigma");
  j = job("bad");
  j.train.global_batch = 3;
  expect_key(j, "train.global_batch");
  j = job("bad");
  j.distill.min_negatives = 0;
  expect_key(j, "distill.min_negatives");
  // Without a scope the struct's own names are used.
  j = job("bad");
  j.distill.min_negatives = 0;
  try {
    check_distill(j.train, j.distill, j.inputs, 2);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("min_negatives must be at least 1", 0), 0u) << e.what();
  }
  // More queries per step than the set holds for training.
  j = job("bad");
  j.train.global_batch = 12;
  j.train.micro_batch = 0;
  SoloCommunicator solo;
  const config::KeyScope train_keys(j.train, "train");
  try {
    train(solo, j);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.global_batch (12)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dgr::distributed
