// `dgr train --stage distill` through the executable, on a small corpus written here: a tiny
// BART is trained at stage 1 on the training queries, retrieves their candidates with keys, the
// BM25 teacher ranks them into a distillation set, and distillation then runs on 1 and on 2
// ranks with the same result, logging every loss term and the held-out agreement with the
// teacher; a missing set or an unknown loss is a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/train_log.h"
#include "tests/common/weights.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::max_weight_difference;
using testing::mpirun;
using testing::run_command;
using testing::slurp;

const std::string kTokenizer = std::string(DGR_SHARED_DATA_DIR) + "/tokenizer/bart";

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/distill-" + name + "-" + std::to_string(::getpid());
}

// Six topics of five passages; each topic's query judges two of them relevant (grades 2 and 1)
// and leaves the other three, which share its words, unjudged.
void write_dataset(const fs::path& dir) {
  const std::vector<std::vector<std::string>> topics = {
      {"supersonic", "cone", "shock"},      {"laminar", "heat", "transfer"},
      {"cylindrical", "shell", "buckling"}, {"vortex", "wake", "shedding"},
      {"swept", "wing", "flutter"},         {"nozzle", "jet", "noise"}};
  const std::vector<std::string> kinds = {"experiments on", "theory of", "measurements of",
                                          "a note on", "calculations of"};
  fs::create_directories(dir / "qrels");
  std::ofstream corpus(dir / "corpus.jsonl"), queries(dir / "queries.jsonl"),
      train(dir / "qrels" / "train.tsv"), test(dir / "qrels" / "test.tsv");
  train << "query-id\tcorpus-id\tscore\n";
  test << "query-id\tcorpus-id\tscore\n";
  for (size_t t = 0; t < topics.size(); ++t) {
    const auto& w = topics[t];
    for (size_t k = 0; k < kinds.size(); ++k) {
      const std::string id = "d" + std::to_string(t * kinds.size() + k);
      const std::string title = kinds[k] + " " + w[k % 3] + " " + w[(k + 1) % 3];
      const std::string text = "the " + w[0] + " " + w[1] + " problem is studied for the " + w[2] +
                               " case with " + kinds[(k + 2) % 5] + " " + w[k % 3];
      corpus << nlohmann::json{{"_id", id}, {"title", title}, {"text", text}}.dump() << "\n";
      if (k < 2) train << "q" << t << "\t" << id << "\t" << (2 - k) << "\n";
    }
    queries << nlohmann::json{{"_id", "q" + std::to_string(t)},
                              {"text", w[0] + " " + w[1] + " " + w[2]}}
                   .dump()
            << "\n";
    test << "q" << t << "\td" << t * kinds.size() << "\t1\n";
  }
}

class Distill : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path data = tmp("data");
    write_dataset(data);
    const std::string out = tmp("out");
    const std::string common = " --dataset " + data.string() + " --set run.threads=1";
    auto run = [](const std::string& what, const std::string& command) {
      if (!error_.empty()) return;
      auto result = run_command("timeout 600 " + command);
      if (result.exit_code != 0) error_ += what + " failed:\n" + result.output;
    };
    run("index build", dgr() + " index build" + common + " --tokenizer " + kTokenizer + " --out " +
                           out + "/index");
    run("model init", dgr() + " model init --tokenizer " + kTokenizer + " --out " + out +
                          "/init --set model.arch=tiny --set run.seed=3");
    run("examples build",
        dgr() + " examples build" + common + " --tokenizer " + kTokenizer + " --out " + out +
            "/examples.h5 --set examples.unsupervised=false" +
            " --set examples.spans_per_query=3 --set examples.titles_per_query=2");
    run("stage-1 training",
        mpirun(2) + dgr() + " train --init-from " + out + "/init --examples " + out +
            "/examples.h5 --out " + out +
            "/stage1 --set run.threads=1 --set train.global_batch=8 --set train.max_steps=200"
            " --set train.lr=3e-3 --set train.warmup_steps=10 --set train.decay=constant"
            " --set train.label_smoothing=0 --set train.dropout=0 --set train.clip_norm=1"
            " --set train.checkpoint_every=1000 --set train.log_every=50");
    run("retrieve", dgr() + " retrieve" + common + " --qrels " + data.string() +
                        "/qrels/train.tsv --index " + out + "/index --init-from " + out +
                        "/stage1/model --out " + out +
                        "/candidates --set search.beam_size=5 --set retrieve.dump_keys=true" +
                        " --set retrieve.evaluate=false --set scoring.depth=20");
    run("teacher rank", dgr() + " teacher rank" + common + " --candidates " + out +
                            "/candidates --out " + out + "/distill.h5 --set run.out=" + out +
                            "/teacher --set teacher.num_candidates=20");
  }
  static void TearDownTestSuite() {
    for (const char* name : {"data", "out"})
      fs::remove_all(tmp(name));
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }

  static std::string distill_command(const std::string& run, const std::string& extra = "",
                                     std::string set = "") {
    const std::string out = tmp("out");
    if (set.empty()) set = out + "/distill.h5";
    return "timeout 600 " + dgr() + " train --stage distill --dataset " + tmp("data") +
           " --index " + out + "/index --init-from " + out + "/stage1/model --examples " + out +
           "/examples.h5 --distill-set " + set + " --out " + out + "/" + run +
           " --set run.threads=1 --set train.global_batch=2 --set train.micro_batch=1"
           " --set train.max_steps=4 --set train.lr=1e-3 --set train.warmup_steps=1"
           " --set train.dropout=0 --set train.log_every=1 --set distill.min_negatives=2"
           " --set distill.holdout=2 --set distill.lambda_gen=1 --set distill.margin=5"
           " --set distill.margin_step=1 " +
           extra;
  }

  static inline std::string error_;
};

TEST_F(Distill, OneAndTwoRanksTrainTheSameStudentAndLogEveryTerm) {
  auto one = run_command(distill_command("one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_command(mpirun(2) + distill_command("two"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("distilled steps 0 -> 4 on 2 rank(s)"), std::string::npos)
      << two.output;
  EXPECT_NE(two.output.find("held-out agreement with the teacher (2 queries)"), std::string::npos)
      << two.output;
  const std::string out = tmp("out");
  // The gradient sums are added in another order on two ranks: the step-1 gradient agrees to
  // rounding, the weights as tests/common/weights.h explains.
  const double norm_one = testing::first_logged(out + "/one/train_log.jsonl", "grad_norm");
  const double norm_two = testing::first_logged(out + "/two/train_log.jsonl", "grad_norm");
  EXPECT_NEAR(norm_one, norm_two, 1e-5 * norm_one);
  testing::expect_same_training(out + "/stage1/model/model.safetensors",
                                out + "/one/model/model.safetensors",
                                out + "/two/model/model.safetensors");
  EXPECT_GT(max_weight_difference(out + "/stage1/model/model.safetensors",
                                  out + "/two/model/model.safetensors"),
            1e-5)
      << "nothing was trained";

  std::istringstream log(slurp(out + "/two/train_log.jsonl"));
  std::string line;
  std::vector<int64_t> eval_steps;
  int64_t steps = 0;
  while (std::getline(log, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("eval")) {
      eval_steps.push_back(j["step"].get<int64_t>());
      EXPECT_EQ(j["eval"]["queries"].get<int64_t>(), 2);
      continue;
    }
    ++steps;
    for (const char* key : {"loss", "rank_loss", "ce_title", "ce_body", "lists", "grad_norm"})
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << line;
    EXPECT_GT(j["lists"].get<int64_t>(), 0) << line;
    EXPECT_GT(j["ce_title"].get<double>(), 0) << line;
    EXPECT_GT(j["ce_body"].get<double>(), 0) << line;
    EXPECT_EQ(j["ranks"].get<int>(), 2);
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{0, 4}));
}

TEST_F(Distill, MissingSetAndUnknownLossAreNamed) {
  auto missing = run_command(distill_command("missing", "", tmp("none.h5")));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find(tmp("none.h5") + ": no distillation set"), std::string::npos)
      << missing.output;
  auto loss = run_command(distill_command("loss", "--set distill.loss=pointwise"));
  EXPECT_NE(loss.exit_code, 0);
  EXPECT_NE(loss.output.find("distill.loss"), std::string::npos) << loss.output;
  EXPECT_NE(loss.output.find("lambdaloss"), std::string::npos) << loss.output;
}

}  // namespace
}  // namespace dgr
