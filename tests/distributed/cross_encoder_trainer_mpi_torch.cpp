// The cross-encoder trainer (distributed/cross_encoder_trainer.h) under mpirun -np 2: a tiny BERT
// trained for a few steps with global batch B on the two ranks (B/2 each) ends with the same
// weights as the same job run on one rank (computed in the same process, through a one-rank
// communicator), also with the AdamW state sharded (ZeRO-1); the weights really moved; the
// exported directory loads back as a BERT classifier; bad jobs are ConfigErrors naming the key.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/model/bert.h"
#include "core/model/safetensors.h"
#include "core/text/wordpiece_vocab.h"
#include "core/util/error.h"
#include "distributed/communicator.h"
#include "teacher/cross_encoder_trainer.h"
#include "tests/common/train_log.h"
#include "tests/common/weights.h"
#include "tests/distributed/mpi_test_env.h"
#include "tests/distributed/solo_communicator.h"

namespace dgr::teacher {
namespace {

using distributed::Communicator;
using distributed::make_communicator;
using distributed::SoloCommunicator;
using distributed::TrainingRun;

namespace fs = std::filesystem;
using distributed::test_env::context;

// Every rank works in its own directory (the pid differs per rank); rank 0's are compared.
std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/ce-trainer-" + name + "-" + std::to_string(::getpid());
}

const std::vector<std::string> kWords = {
    "wing",   "shock",   "flow",  "plate",    "heat",     "cone",     "mach",  "layer",
    "vortex", "drag",    "lift",  "nozzle",   "panel",    "flutter",  "jet",   "wake",
    "blunt",  "slender", "delta", "boundary", "pressure", "buckling", "orbit", "reentry"};

// 40 passages of 10 words each; query j asks for four words of passage j.
data::Corpus make_corpus() {
  data::Corpus corpus;
  for (size_t i = 0; i < 40; ++i) {
    std::string text;
    for (size_t k = 0; k < 10; ++k)
      text += (k ? " " : "") + kWords[(i * 7 + k * 5) % kWords.size()];
    corpus.add({"d" + std::to_string(i), i % 3 == 0 ? "" : "title " + std::to_string(i), text});
  }
  return corpus;
}

std::vector<CrossEncoderGroup> make_groups(const data::Corpus& corpus) {
  std::vector<CrossEncoderGroup> groups;
  for (uint32_t j = 0; j < 16; ++j) {
    CrossEncoderGroup group;
    group.query_id = "q" + std::to_string(j);
    const std::string& text = corpus[j].text;
    group.query = text.substr(0, text.find(' ', text.find(' ', text.find(' ') + 1) + 1));
    group.positive = j;
    group.relevant = {j};
    for (uint32_t k = 1; k <= 5; ++k)  // fewer candidates than negatives: topped up randomly
      group.candidates.push_back((j + 3 * k) % 40);
    groups.push_back(group);
  }
  return groups;
}

class CrossEncoderTrainer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    corpus_ = new data::Corpus(make_corpus());
    text::WordPieceVocabBuilder builder(text::WordPieceVocabOptions{200, 1, {}});
    for (const data::Passage& p : *corpus_)
      builder.add(p.title + ": " + p.text);
    write_initial_cross_encoder(tmp("init"), "tiny", builder.build(), true, 7);
  }
  static void TearDownTestSuite() {
    for (const char* name : {"init", "one", "two", "zero", "full", "resumed"})
      fs::remove_all(tmp(name));
    delete corpus_;
  }

  // A teacher training as `dgr teacher train` assembles it.
  struct Job {
    TrainingRun run;
    TeacherTrainOptions options;
  };

  static Job job(const std::string& run) {
    Job j;
    j.run.init_from = tmp("init");
    j.run.run_dir = tmp(run);
    j.run.seed = 11;
    j.run.progress_interval_s = 1e9;
    TeacherTrainOptions& o = j.options;
    o.negatives = 7;
    o.global_batch = 8;
    o.micro_batch = 2;
    o.max_steps = 5;  // crosses into a second epoch of 16 groups
    o.lr = 5e-4;
    o.warmup_steps = 1;
    o.dropout = 0;
    o.clip_norm = 0.5;
    o.bucket_mb = 0.01;  // several buckets
    o.eval_groups = 8;
    o.checkpoint_every = 2;
    o.resume = false;  // every test starts afresh; the resume test asks for it
    return j;
  }

  static CrossEncoderTrainReport train(Communicator& comm,
                                       const std::vector<CrossEncoderGroup>& groups, const Job& j) {
    return train_cross_encoder(comm, comm, *corpus_, groups, j.run, j.options);
  }

  // Of the model.safetensors of two model directories.
  static double max_difference(const std::string& a, const std::string& b) {
    return testing::max_weight_difference(a + "/model.safetensors", b + "/model.safetensors");
  }

  // The step-1 gradient norm (before clipping) of two runs: the same sum of squares up to the
  // order of additions, so a relative 1e-5 whatever the kernel; a wrong normalisation (e.g. a
  // missing 1/N) doubles it.
  static void expect_same_first_gradient(const std::string& a, const std::string& b) {
    const double na = testing::first_logged(tmp(a) + "/train_log.jsonl", "grad_norm");
    const double nb = testing::first_logged(tmp(b) + "/train_log.jsonl", "grad_norm");
    EXPECT_NEAR(na, nb, 1e-5 * na) << a << " vs " << b;
  }

  static inline data::Corpus* corpus_ = nullptr;
};

TEST_F(CrossEncoderTrainer, TwoRanksWithHalfBatchesEqualOneRank) {
  const std::vector<CrossEncoderGroup> groups = make_groups(*corpus_);
  SoloCommunicator solo;
  const CrossEncoderTrainReport one = train(solo, groups, job("one"));
  auto comm = make_communicator("mpi", context());
  const CrossEncoderTrainReport two = train(*comm, groups, job("two"));
  EXPECT_EQ(one.steps, 5);
  EXPECT_EQ(two.steps, 5);
  EXPECT_NEAR(one.first_loss, two.first_loss, 1e-5);
  EXPECT_NEAR(one.final_loss, two.final_loss, 1e-5);
  // ln 8 at random scores: the first loss is that of a near-uniform softmax over 1 + 7.
  EXPECT_NEAR(one.first_loss, std::log(8.0), 0.2);
  if (context().is_root()) {
    // Not bit-identical: the ranks' gradient sums are added in another order, and the BLAS
    // kernel of the host rounds differently. The gradient agrees to rounding; after AdamW the
    // weights agree as tests/common/weights.h explains.
    expect_same_first_gradient("one", "two");
    testing::expect_same_training(tmp("init") + "/model.safetensors",
                                  tmp("one") + "/model/model.safetensors",
                                  tmp("two") + "/model/model.safetensors");
    EXPECT_GT(max_difference(tmp("init"), tmp("two") + "/model"), 1e-4) << "nothing was trained";
    // The same weights score the same pairs: at most a near-tie may flip (1 of 56 pairs).
    EXPECT_NEAR(one.final_pair_accuracy, two.final_pair_accuracy, 1.0 / 56 + 1e-9);
    // The export is a complete cross-encoder directory.
    for (const char* name :
         {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"})
      EXPECT_TRUE(fs::exists(tmp("two") + "/model/" + name)) << name;
    const model::PretrainedBertClassifier loaded =
        model::load_bert_classifier(tmp("two") + "/model");
    EXPECT_EQ(loaded.config.num_labels, 1);
    EXPECT_EQ(loaded.config.hidden_dropout_prob, 0.1) << "the training dropout is not saved";
    EXPECT_TRUE(fs::exists(tmp("two") + "/train_log.jsonl"));
  }
  context().barrier();
}

TEST_F(CrossEncoderTrainer, ShardedOptimizerStateGivesTheSameWeights) {
  const std::vector<CrossEncoderGroup> groups = make_groups(*corpus_);
  SoloCommunicator solo;
  train(solo, groups, job("one"));
  auto comm = make_communicator("mpi", context());
  Job zero = job("zero");
  zero.options.zero_stage = 1;
  const CrossEncoderTrainReport report = train(*comm, groups, zero);
  if (context().is_root()) {
    expect_same_first_gradient("one", "zero");
    testing::expect_same_training(tmp("init") + "/model.safetensors",
                                  tmp("one") + "/model/model.safetensors",
                                  tmp("zero") + "/model/model.safetensors");
    if (comm->size() > 1) {
      // Each rank holds about half of the moments.
      int64_t parameters = 0;
      for (const auto& [name, tensor] : model::read_safetensors(tmp("init") + "/model.safetensors"))
        parameters += tensor.numel();
      EXPECT_LT(report.optimizer_state_bytes, 2 * parameters * 4 * 3 / 4);
    }
  }
  context().barrier();
}

// Stopped after step 2 (only its checkpoint left) and resumed, the run ends with the weights of
// the uninterrupted one: the model, AdamW, the data cursor and the negatives' draws (seeded by
// epoch and group) are restored.
TEST_F(CrossEncoderTrainer, ResumedRunEqualsUninterruptedRun) {
  const std::vector<CrossEncoderGroup> groups = make_groups(*corpus_);
  auto comm = make_communicator("mpi", context());
  train(*comm, groups, job("full"));
  train(*comm, groups, job("resumed"));
  if (context().is_root()) {
    const fs::path checkpoints = fs::path(tmp("resumed")) / "checkpoints";
    EXPECT_TRUE(fs::exists(checkpoints / "step-0000004" / "vocab.txt"));
    fs::remove_all(checkpoints / "step-0000004");
    fs::remove_all(checkpoints / "step-0000005");
    fs::remove_all(fs::path(tmp("resumed")) / "model");
    std::ofstream(checkpoints / "latest", std::ios::trunc) << "step-0000002\n";
  }
  context().barrier();
  // Every rank reads rank 0's run directory.
  Job resumed = job("resumed");
  std::string dir = resumed.run.run_dir;
  context().broadcast_string(dir);
  resumed.run.run_dir = dir;
  resumed.options.resume = true;
  const CrossEncoderTrainReport report = train(*comm, groups, resumed);
  EXPECT_EQ(report.first_step, 2);
  EXPECT_EQ(report.steps, 5);
  if (context().is_root()) {
    EXPECT_LE(max_difference(tmp("full") + "/model", tmp("resumed") + "/model"), 1e-6);
    // The export after the resumed steps is a complete cross-encoder directory again.
    EXPECT_TRUE(fs::exists(tmp("resumed") + "/model/vocab.txt"));
  }
  context().barrier();
}

// A step that is not finite stops the run before the optimizer takes it, with advice that names
// the teacher's own learning-rate key.
TEST_F(CrossEncoderTrainer, NonFiniteStepAbortsNamingTheTeachersLearningRate) {
  const std::vector<CrossEncoderGroup> groups = make_groups(*corpus_);
  SoloCommunicator solo;
  Job j = job("diverge");
  const config::KeyScope keys(j.options, "teacher.train");
  j.options.lr = 1e38;
  j.options.warmup_steps = 0;
  j.options.clip_norm = 0;
  try {
    train(solo, groups, j);
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("teacher train: the loss is"), std::string::npos) << what;
    EXPECT_NE(what.find("(lower teacher.train.lr?)"), std::string::npos) << what;
  }
  fs::remove_all(tmp("diverge"));
}

TEST_F(CrossEncoderTrainer, BadJobsNameTheirKey) {
  const std::vector<CrossEncoderGroup> groups = make_groups(*corpus_);
  SoloCommunicator solo;
  auto expect_key = [&](Job j, const std::string& key) {
    const config::KeyScope keys(j.options, "teacher.train");
    try {
      train(solo, groups, j);
      ADD_FAILURE() << "expected a ConfigError naming " << key;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  Job j = job("bad");
  j.options.micro_batch = 3;
  expect_key(j, "teacher.train.global_batch");
  j = job("bad");
  j.options.global_batch = 32;  // more than the 16 groups
  expect_key(j, "teacher.train.global_batch");
  j = job("bad");
  j.options.negatives = 0;
  expect_key(j, "teacher.train.negatives");
  j = job("bad");
  j.options.negatives = 39;  // the corpus has 40 passages, one of them relevant
  expect_key(j, "teacher.train.negatives");
  j = job("bad");
  j.options.max_length = 65;  // the tiny model has 64 positions
  expect_key(j, "teacher.train.max_length");
  j = job("bad");
  j.options.checkpoint_every = 0;
  expect_key(j, "teacher.train.checkpoint_every");
  fs::remove_all(tmp("bad"));
}

}  // namespace
}  // namespace dgr::teacher
