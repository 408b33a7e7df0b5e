// `dgr teacher init` + `dgr teacher train` through the executable on Cranfield: init writes a
// complete cross-encoder directory with a vocabulary built from the corpus; a short training
// run on 2 ranks lowers the loss clearly, and the exported model, loaded back as a BERT
// classifier with its tokenizer, ranks training positives above sampled negatives more often
// than the untrained init did; bad input is an error naming the key.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/model/bert.h"
#include "core/text/wordpiece.h"
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
  return std::string(DGR_TEST_TMP_DIR) + "/teacher-train-" + name + "-" +
         std::to_string(::getpid());
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(slurp(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

class TeacherTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto init =
        run_command(dgr() + " teacher init --dataset " + kData + "/cranfield --out " + tmp("init") +
                    " --set teacher.train.arch=tiny --set teacher.train.vocab_size=3000"
                    " --set run.seed=5");
    init_output_ = init.output;
    if (init.exit_code != 0) error_ += "teacher init failed:\n" + init.output;
  }
  static void TearDownTestSuite() {
    for (const char* name : {"init", "run", "bad"})
      fs::remove_all(tmp(name));
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }
  static inline std::string error_;
  static inline std::string init_output_;
};

TEST_F(TeacherTrain, InitWritesACrossEncoderDirectoryWithItsOwnVocabulary) {
  for (const char* name :
       {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(tmp("init") + "/" + name)) << name << "\n" << init_output_;
  const nlohmann::json config = nlohmann::json::parse(slurp(tmp("init") + "/config.json"));
  EXPECT_EQ(config["model_type"], "bert");
  EXPECT_EQ(config["id2label"].size(), 1u);
  EXPECT_EQ(config["vocab_size"].get<int>(), 3000);
  EXPECT_EQ(config["hidden_size"].get<int>(), 32);
  const nlohmann::json tokenizer =
      nlohmann::json::parse(slurp(tmp("init") + "/tokenizer_config.json"));
  EXPECT_TRUE(tokenizer["do_lower_case"].get<bool>());
  // A Cranfield sentence tokenizes without unknown pieces.
  const text::WordPieceTokenizer vocab = text::WordPieceTokenizer::load(tmp("init") + "/vocab.txt");
  EXPECT_EQ(vocab.pad_id(), 0);
  const std::vector<std::string> pieces =
      vocab.tokenize("Experimental investigation of the aerodynamics of a wing in a slipstream.");
  EXPECT_EQ(std::count(pieces.begin(), pieces.end(), "[UNK]"), 0);
  EXPECT_NE(std::find(pieces.begin(), pieces.end(), "wing"), pieces.end());
  // The same seed gives the same weights.
  auto again =
      run_command(dgr() + " teacher init --dataset " + kData + "/cranfield --out " + tmp("bad") +
                  " --set teacher.train.arch=tiny --set teacher.train.vocab_size=3000"
                  " --set run.seed=5");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(slurp(tmp("bad") + "/model.safetensors"), slurp(tmp("init") + "/model.safetensors"));
  EXPECT_EQ(slurp(tmp("bad") + "/vocab.txt"), slurp(tmp("init") + "/vocab.txt"));
  fs::remove_all(tmp("bad"));
}

TEST_F(TeacherTrain, ShortRunOnTwoRanksLearnsToRankPositivesFirst) {
  auto run = run_command(
      "timeout 600 " + mpirun(2) + dgr() + " teacher train --dataset " + kData +
      "/cranfield --init-from " + tmp("init") + " --out " + tmp("run") +
      " --set run.threads=1 --set teacher.train.global_batch=16 --set teacher.train.micro_batch=8"
      " --set teacher.train.max_steps=160 --set teacher.train.lr=2e-3"
      " --set teacher.train.warmup_steps=10 --set teacher.train.dropout=0"
      " --set teacher.train.eval_groups=64 --set teacher.train.log_every=5");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::vector<nlohmann::json> log = read_jsonl(tmp("run") + "/train_log.jsonl");
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log.back()["ranks"].get<int>(), 2);
  // Measured on this run (tiny model, vocabulary of 3000, seed 5): the mean logged loss falls
  // from 2.07 (ln 8 = 2.08: chance over 1 + 7) in the first third of the log to 1.65 in the last
  // third, and the pairwise accuracy on 64 training groups rises from 0.51 to 0.85. The bounds
  // ask for about half of each gain. A step's loss is noisy (16 groups): compare thirds.
  const size_t third = std::max<size_t>(1, log.size() / 3);
  double first = 0, last = 0;
  for (size_t i = 0; i < third; ++i) {
    first += log[i]["loss"].get<double>() / static_cast<double>(third);
    last += log[log.size() - 1 - i]["loss"].get<double>() / static_cast<double>(third);
  }
  EXPECT_LT(last, first - 0.2) << run.output;

  const nlohmann::json report = nlohmann::json::parse(slurp(tmp("run") + "/train_report.json"));
  EXPECT_EQ(report["eval_groups"].get<int>(), 64);
  EXPECT_GT(report["final_pair_accuracy"].get<double>(),
            report["initial_pair_accuracy"].get<double>() + 0.15)
      << report.dump(2);

  // The export loads as a cross-encoder: a BERT classifier and its WordPiece tokenizer.
  const std::string model_dir = tmp("run") + "/model";
  model::PretrainedBertClassifier loaded = model::load_bert_classifier(model_dir);
  const text::WordPieceTokenizer tokenizer =
      text::WordPieceTokenizer::load(model_dir + "/vocab.txt");
  const text::PairEncoding pair = tokenizer.encode_pair(
      "what is the drag of a slender cone", "the drag of slender cones at supersonic speeds", 64);
  auto ids = torch::tensor(std::vector<int64_t>(pair.input_ids.begin(), pair.input_ids.end()))
                 .view({1, -1});
  auto types =
      torch::tensor(std::vector<int64_t>(pair.token_type_ids.begin(), pair.token_type_ids.end()))
          .view({1, -1});
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = loaded.model->forward(ids, types, torch::ones_like(ids));
  EXPECT_EQ(logits.sizes().vec(), (std::vector<int64_t>{1, 1}));
  EXPECT_TRUE(std::isfinite(logits.item<double>()));
}

TEST_F(TeacherTrain, BadInputNamesTheKey) {
  auto run = run_command(dgr() + " teacher train --dataset " + kData + "/cranfield --init-from " +
                         tmp("init") + " --out " + tmp("bad") +
                         " --set teacher.train.global_batch=5 --set teacher.train.micro_batch=2");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("teacher.train.global_batch"), std::string::npos) << run.output;
  auto missing = run_command(dgr() + " teacher train --dataset " + kData +
                             "/cranfield --init-from " + tmp("nowhere") + " --out " + tmp("bad"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.output.find(tmp("nowhere")), std::string::npos) << missing.output;
  fs::remove_all(tmp("bad"));
}

}  // namespace
}  // namespace dgr
