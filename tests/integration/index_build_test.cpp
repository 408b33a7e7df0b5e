// `dgr index build` on Cranfield with BART's tokenizer: the index built on 2 ranks (2 shards)
// answers every query exactly like the one built on 1 rank, the shards do not depend on the
// number of ranks, and rebuilding gives byte-identical shards.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/index/manifest.h"
#include "core/text/bpe_tokenizer.h"
#include "tests/integration/command.h"

namespace dgr {
namespace {

namespace fs = std::filesystem;
using testing::dgr;
using testing::mpirun;
using testing::run_command;

// ctest runs each test in its own process, possibly in parallel: every process gets its own
// directories.
std::string tmp(const std::string& name) {
  return std::string(DGR_TEST_TMP_DIR) + "/" + name + "-" + std::to_string(::getpid());
}

std::string build_command(const std::string& out, const std::string& extra = "") {
  return dgr() + " index build --corpus " + DGR_SHARED_DATA_DIR + "/cranfield/corpus.jsonl" +
         " --tokenizer " + DGR_SHARED_DATA_DIR + "/tokenizer/bart --out " + out + " " + extra;
}

class IndexBuild : public ::testing::Test {
 protected:
  // Built once for the suite: 1 rank / 1 shard and 2 ranks / 2 shards.
  // A failed build fails every test (an assertion in SetUpTestSuite would only skip them).
  static void SetUpTestSuite() {
    fs::remove_all(tmp("index-1"));
    fs::remove_all(tmp("index-2"));
    auto one = run_command(build_command(tmp("index-1")));
    if (one.exit_code != 0) build_error_ = "1-rank build failed:\n" + one.output;
    auto two = run_command("timeout 300 " + mpirun(2) + build_command(tmp("index-2")));
    if (two.exit_code != 0) build_error_ += "2-rank build failed:\n" + two.output;
  }
  static void TearDownTestSuite() {
    for (const char* dir :
         {"index-1", "index-2", "index-3a", "index-3b", "index-bad", "index-dup"}) {
      fs::remove_all(tmp(dir));
    }
  }
  void SetUp() override { ASSERT_TRUE(build_error_.empty()) << build_error_; }
  static inline std::string build_error_;
};

TEST_F(IndexBuild, TwoRanksAnswerEveryQueryLikeOneRank) {
  index::IndexDirectory one = index::load_index_directory(tmp("index-1"));
  index::IndexDirectory two = index::load_index_directory(tmp("index-2"));
  ASSERT_EQ(one.manifest.shards.size(), 1u);
  ASSERT_EQ(two.manifest.shards.size(), 2u);
  EXPECT_EQ(one.passage_ids, two.passage_ids);
  EXPECT_EQ(one.manifest.num_tokens, two.manifest.num_tokens);
  EXPECT_EQ(one.passage_ids.size(), 1400u);
  // Title keys are weighed over the title starts: one per Cranfield passage with a title, the
  // same count however the corpus is sharded.
  EXPECT_TRUE(one.manifest.view_starts_known);
  EXPECT_EQ(one.manifest.title_starts, two.manifest.title_starts);
  EXPECT_GT(one.manifest.title_starts, 1300u);
  EXPECT_LE(one.manifest.title_starts, 1400u);

  text::BpeTokenizer tokenizer = text::BpeTokenizer::load(one.tokenizer_dir());
  std::mt19937 rng(7);
  // N-grams cut from the indexed sequences of random passages (present), plus random token
  // sequences (mostly absent), plus title prefixes; compared call by call.
  std::vector<std::vector<index::TokenId>> queries;
  std::vector<index::TokenId> all_tokens;
  {
    std::vector<index::TokenId> tokens;
    std::vector<uint64_t> counts;
    one.index.next_tokens(one.index.full_range(), tokens, counts);
    all_tokens = tokens;
  }
  ASSERT_GT(all_tokens.size(), 1000u);
  for (int q = 0; q < 400; ++q) {
    std::vector<index::TokenId> ngram;
    index::ShardedRange range = one.index.full_range();
    int length = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < length; ++i) {
      std::vector<index::TokenId> tokens;
      std::vector<uint64_t> counts;
      one.index.next_tokens(range, tokens, counts);
      if (tokens.empty()) break;
      index::TokenId t = tokens[rng() % tokens.size()];
      ngram.push_back(t);
      range = one.index.extend(range, t);
    }
    queries.push_back(ngram);
    std::vector<index::TokenId> random;
    for (int i = 0; i < length; ++i)
      random.push_back(all_tokens[rng() % all_tokens.size()]);
    queries.push_back(random);
  }
  queries.push_back({tokenizer.eos_id()});
  // The empty prefix: the same successors (its count includes the separators, one per shard).
  {
    std::vector<index::TokenId> t1, t2;
    std::vector<uint64_t> c1, c2;
    one.index.next_tokens(one.index.full_range(), t1, c1);
    two.index.next_tokens(two.index.full_range(), t2, c2);
    ASSERT_EQ(t1, t2);
    ASSERT_EQ(c1, c2);
  }
  size_t present = 0;
  for (const auto& ngram : queries) {
    index::ShardedRange r1 = one.index.find(ngram);
    index::ShardedRange r2 = two.index.find(ngram);
    ASSERT_EQ(r1.count(), r2.count());
    present += r1.count() > 0;
    std::vector<index::TokenId> t1, t2;
    std::vector<uint64_t> c1, c2;
    one.index.next_tokens(r1, t1, c1);
    two.index.next_tokens(r2, t2, c2);
    ASSERT_EQ(t1, t2);
    ASSERT_EQ(c1, c2);
    if (r1.count() < 2000) {
      ASSERT_EQ(one.index.passages(r1, 100), two.index.passages(r2, 100));
    }
  }
  EXPECT_GT(present, 400u);  // the sampled n-grams occur
}

TEST_F(IndexBuild, ShardsDoNotDependOnTheNumberOfRanks) {
  fs::remove_all(tmp("index-3a"));
  fs::remove_all(tmp("index-3b"));
  ASSERT_EQ(run_command(build_command(tmp("index-3a"), "--set index.shards=3")).exit_code, 0);
  auto two = run_command("timeout 300 " + mpirun(2) +
                         build_command(tmp("index-3b"), "--set index.shards=3"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  index::Manifest a = index::Manifest::read(tmp("index-3a") + "/manifest.yaml");
  index::Manifest b = index::Manifest::read(tmp("index-3b") + "/manifest.yaml");
  ASSERT_EQ(a.shards.size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(a.shards[s].sha256, b.shards[s].sha256) << "shard " << s;
    EXPECT_EQ(a.shards[s].first_passage, b.shards[s].first_passage);
  }
}

TEST_F(IndexBuild, RebuildingGivesByteIdenticalShards) {
  index::Manifest before = index::Manifest::read(tmp("index-1") + "/manifest.yaml");
  ASSERT_EQ(run_command(build_command(tmp("index-1"))).exit_code, 0);
  index::Manifest after = index::Manifest::read(tmp("index-1") + "/manifest.yaml");
  EXPECT_EQ(before.shards[0].sha256, after.shards[0].sha256);
  EXPECT_EQ(before.corpus_hash, after.corpus_hash);
}

TEST_F(IndexBuild, StatsAndQueryInspectTheIndex) {
  auto stats = run_command(dgr() + " index stats " + tmp("index-2"));
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_NE(stats.output.find("passages     1400"), std::string::npos) << stats.output;
  EXPECT_NE(stats.output.find("shard-00001.fmi"), std::string::npos) << stats.output;

  auto query = run_command(dgr() + " index query " + tmp("index-2") + " \"boundary layer\"");
  ASSERT_EQ(query.exit_code, 0) << query.output;
  EXPECT_NE(query.output.find("count"), std::string::npos);
  EXPECT_EQ(query.output.find("count      0\n"), std::string::npos) << query.output;

  // The title view: Cranfield doc 1's title starts "experimental investigation of the aero...".
  auto title = run_command(dgr() + " index query " + tmp("index-2") +
                           " --title \"experimental investigation of the aerodynamics of a wing\"");
  ASSERT_EQ(title.exit_code, 0) << title.output;
  EXPECT_NE(title.output.find("passages   first 1: 1\n"), std::string::npos) << title.output;
}

TEST_F(IndexBuild, MissingTokenizerEndsEveryRankWithItsPath) {
  auto result = run_command("timeout 120 " + mpirun(2) + dgr() + " index build --corpus " +
                            DGR_SHARED_DATA_DIR + "/cranfield/corpus.jsonl --tokenizer " +
                            tmp("no-tokenizer-here") + " --out " + tmp("index-bad"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.exit_code, 124) << "a rank hung\n" << result.output;
  EXPECT_NE(result.output.find("no-tokenizer-here"), std::string::npos) << result.output;
}

TEST_F(IndexBuild, CorpusWithDuplicateIdsIsRejected) {
  std::string corpus = tmp("dup-corpus") + ".jsonl";
  {
    std::ofstream out(corpus);
    out << "{\"_id\": \"a\", \"title\": \"x\", \"text\": \"y\"}\n"
        << "{\"_id\": \"b\", \"title\": \"x\", \"text\": \"y\"}\n"
        << "{\"_id\": \"a\", \"title\": \"x\", \"text\": \"z\"}\n";
  }
  auto result = run_command("timeout 120 " + mpirun(2) + dgr() + " index build --corpus " + corpus +
                            " --tokenizer " + DGR_SHARED_DATA_DIR + "/tokenizer/bart --out " +
                            tmp("index-dup"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find(corpus + ":3"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("duplicate passage id 'a'"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dgr
