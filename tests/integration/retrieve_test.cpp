// `dgr model init` + `dgr retrieve` on Cranfield with BART's tokenizer and a tiny freshly
// initialised model: the run is the same on 1 and 2 ranks, in query-file order, every dumped
// key occurs in the passage it is listed for, metrics are written, and bad inputs end all ranks
// with a message naming the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/index/manifest.h"
#include "core/text/bpe_tokenizer.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::mpirun;
using testing::run_command;
using testing::slurp;

std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/retrieve-" + name + "-" + std::to_string(::getpid());
}

const std::string kData = DGR_SHARED_DATA_DIR;

std::string retrieve_command(const std::string& out, const std::string& extra = "") {
  return dgr() + " retrieve --dataset " + kData + "/cranfield --index " + tmp("index") +
         " --init-from " + tmp("model") + " --out " + out +
         " --set search.beam_size=4 --set search.body_max_length=4"
         " --set search.title_max_length=6 --set scoring.depth=20 --set retrieve.dump_keys=true"
         // Results are bit-identical for any number of ranks at the same threads per rank
         // (BLAS sums are split differently across threads).
         " --set run.threads=1 " +
         extra;
}

class Retrieve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string tokenizer = kData + "/tokenizer/bart";
    auto index =
        run_command("timeout 300 " + mpirun(2) + dgr() + " index build --corpus " + kData +
                    "/cranfield/corpus.jsonl --tokenizer " + tokenizer + " --out " + tmp("index"));
    if (index.exit_code != 0) error_ += "index build failed:\n" + index.output;
    auto model = run_command(dgr() + " model init --tokenizer " + tokenizer + " --out " +
                             tmp("model") + " --set model.arch=tiny --set run.seed=5");
    if (model.exit_code != 0) error_ += "model init failed:\n" + model.output;
    if (!error_.empty()) return;
    auto one = run_command("timeout 600 " + retrieve_command(tmp("out-1")));
    if (one.exit_code != 0) error_ += "1-rank retrieve failed:\n" + one.output;
    one_output_ = one.output;
    auto two = run_command("timeout 600 " + mpirun(2) + retrieve_command(tmp("out-2")));
    if (two.exit_code != 0) error_ += "2-rank retrieve failed:\n" + two.output;
  }
  static void TearDownTestSuite() {
    for (const char* dir : {"index", "model", "out-1", "out-2", "out-bad", "model-bad"})
      fs::remove_all(tmp(dir));
  }
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }
  static inline std::string error_;
  static inline std::string one_output_;
};

TEST_F(Retrieve, RunIsTheSameOnOneAndTwoRanks) {
  const std::string one = slurp(tmp("out-1") + "/run.trec");
  ASSERT_FALSE(one.empty());
  EXPECT_EQ(one, slurp(tmp("out-2") + "/run.trec"));
  EXPECT_EQ(slurp(tmp("out-1") + "/keys.jsonl"), slurp(tmp("out-2") + "/keys.jsonl"));
}

TEST_F(Retrieve, RunListsJudgedQueriesInQueryFileOrderWithDecreasingScores) {
  // The judged test queries, in queries.jsonl order.
  std::set<std::string> judged;
  {
    std::ifstream qrels(kData + "/cranfield/qrels/test.tsv");
    std::string line;
    std::getline(qrels, line);  // header
    while (std::getline(qrels, line))
      judged.insert(line.substr(0, line.find('\t')));
  }
  std::vector<std::string> expected;
  {
    std::ifstream queries(kData + "/cranfield/queries.jsonl");
    std::string line;
    while (std::getline(queries, line)) {
      const std::string id = nlohmann::json::parse(line)["_id"].get<std::string>();
      if (judged.count(id)) expected.push_back(id);
    }
  }
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> scores;
  std::istringstream run(slurp(tmp("out-1") + "/run.trec"));
  std::string qid, q0, pid, tag;
  int rank = 0;
  double score = 0;
  while (run >> qid >> q0 >> pid >> rank >> score >> tag) {
    if (order.empty() || order.back() != qid) order.push_back(qid);
    auto& list = scores[qid];
    EXPECT_EQ(rank, static_cast<int>(list.size()) + 1);
    if (!list.empty()) {
      EXPECT_LE(score, list.back());
    }
    EXPECT_GT(score, 0.0);
    EXPECT_EQ(tag, "dgr");
    list.push_back(score);
    EXPECT_LE(list.size(), 20u);
  }
  // Queries that retrieved nothing are absent; the rest keep the file's order.
  std::vector<std::string> expected_present;
  for (const auto& id : expected)
    if (scores.count(id)) expected_present.push_back(id);
  EXPECT_EQ(order, expected_present);
  EXPECT_GT(order.size(), expected.size() / 2);
}

TEST_F(Retrieve, EveryDumpedKeyOccursInItsPassage) {
  index::IndexDirectory index = index::load_index_directory(tmp("index"));
  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(index.tokenizer_dir());
  const index::ViewMarkers markers = index::encode_markers(tokenizer, index.manifest.views);
  std::map<std::string, uint32_t> passage_of;
  for (uint32_t p = 0; p < index.passage_ids.size(); ++p)
    passage_of[index.passage_ids[p]] = p;

  std::ifstream keys(tmp("out-1") + "/keys.jsonl");
  std::string line;
  size_t checked = 0;
  std::set<std::string> views;
  while (std::getline(keys, line)) {
    const nlohmann::json q = nlohmann::json::parse(line);
    for (const auto& passage : q["passages"]) {
      const uint32_t p = passage_of.at(passage["id"].get<std::string>());
      EXPECT_EQ(passage["passage"].get<uint32_t>(), p);
      EXPECT_LE(passage["keys"].size(), 40u);
      for (const auto& k : passage["keys"]) {
        const nlohmann::json& key = q["keys"][k.get<size_t>()];
        std::vector<index::TokenId> ngram;
        const std::string view = key["view"].get<std::string>();
        views.insert(view);
        if (view == "title") ngram = markers.title_start;
        for (const auto& t : key["tokens"])
          ngram.push_back(t.get<index::TokenId>());
        const index::ShardedRange range = index.index.find(ngram);
        EXPECT_EQ(range.count(), key["count"].get<uint64_t>()) << key.dump();
        const std::vector<uint32_t> hits = index.index.passages(range, 1u << 20);
        EXPECT_TRUE(std::binary_search(hits.begin(), hits.end(), p))
            << "key " << key.dump() << " is not in passage " << passage["id"];
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100u);
  EXPECT_TRUE(views.count("body"));
}

TEST_F(Retrieve, WritesMetricsAndReportsThroughput) {
  const nlohmann::json metrics = nlohmann::json::parse(slurp(tmp("out-1") + "/metrics.json"));
  EXPECT_TRUE(metrics["aggregate"].contains("nDCG@10")) << metrics.dump();
  EXPECT_EQ(metrics["retrieval"]["ranks"].get<int>(), 1);
  EXPECT_NE(one_output_.find("queries/s"), std::string::npos) << one_output_;
  EXPECT_TRUE(fs::exists(tmp("out-1") + "/config.resolved.yaml"));
}

// Teacher-forced rescoring gives every key the log-probability beam search summed (up to float
// rounding): both are Σ log p(token | query, prompt, earlier tokens) without length penalty.
TEST_F(Retrieve, RescoringByTeacherForcingAgreesWithBeamSums) {
  {
    std::ifstream in(kData + "/cranfield/queries.jsonl");
    std::ofstream out(tmp("few-queries") + ".jsonl");
    std::string line;
    for (int i = 0; i < 12 && std::getline(in, line); ++i)
      out << line << "\n";
  }
  auto plain = run_command("timeout 600 " + retrieve_command(tmp("out-plain")) +
                           " --set retrieve.queries=all --set search.batch_size=4 --queries " +
                           tmp("few-queries") + ".jsonl");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  auto rescored =
      run_command("timeout 600 " + retrieve_command(tmp("out-rescored")) +
                  " --set search.rescore=true --set retrieve.queries=all" +
                  " --set search.batch_size=4 --queries " + tmp("few-queries") + ".jsonl");
  ASSERT_EQ(rescored.exit_code, 0) << rescored.output;
  std::ifstream a(tmp("out-plain") + "/keys.jsonl"), b(tmp("out-rescored") + "/keys.jsonl");
  std::string la, lb;
  size_t compared = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    const nlohmann::json ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
    std::map<std::string, double> by_key;
    for (const auto& k : ja["keys"])
      by_key[k["view"].dump() + k["tokens"].dump()] = k["log_prob"];
    for (const auto& k : jb["keys"]) {
      auto it = by_key.find(k["view"].dump() + k["tokens"].dump());
      if (it == by_key.end()) continue;
      EXPECT_NEAR(it->second, k["log_prob"].get<double>(), 1e-3) << k.dump();
      ++compared;
    }
  }
  EXPECT_GT(compared, 20u);
  fs::remove_all(tmp("out-plain"));
  fs::remove_all(tmp("out-rescored"));
  fs::remove(tmp("few-queries") + ".jsonl");
}

TEST_F(Retrieve, MissingModelEndsEveryRankNamingTheDirectory) {
  auto result = run_command("timeout 120 " + mpirun(2) + dgr() + " retrieve --dataset " + kData +
                            "/cranfield --index " + tmp("index") + " --init-from " +
                            tmp("no-model-here") + " --out " + tmp("out-bad"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.exit_code, 124) << "a rank hung\n" << result.output;
  EXPECT_NE(result.output.find("no-model-here"), std::string::npos) << result.output;
}

TEST_F(Retrieve, ModelWithAnotherVocabularyIsRejected) {
  // A copy of the model whose tokenizer files differ from the index's.
  fs::remove_all(tmp("model-bad"));
  fs::copy(tmp("model"), tmp("model-bad"), fs::copy_options::recursive);
  {
    // Drop the last merge: a smaller, different vocabulary.
    std::string merges = slurp(tmp("model-bad") + "/merges.txt");
    merges.pop_back();
    merges.erase(merges.rfind('\n') + 1);
    fs::permissions(tmp("model-bad") + "/merges.txt", fs::perms::owner_all, fs::perm_options::add);
    std::ofstream(tmp("model-bad") + "/merges.txt", std::ios::trunc) << merges;
  }
  auto result =
      run_command("timeout 120 " + dgr() + " retrieve --dataset " + kData + "/cranfield --index " +
                  tmp("index") + " --init-from " + tmp("model-bad") + " --out " + tmp("out-bad"));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("different vocabulary"), std::string::npos) << result.output;
}

TEST_F(Retrieve, ModelInspectDescribesTheCheckpoint) {
  auto result = run_command(dgr() + " model inspect " + tmp("model") + " --tensors");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("model.shared.weight"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("final_logits_bias"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("vocab.json + merges.txt present"), std::string::npos);
}

}  // namespace
}  // namespace dgr
