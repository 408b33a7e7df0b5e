// The readers on the real data sets in DGR_SHARED_DATA_DIR (counts from their README files).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/text/utf8.h"
#include "data/beir.h"
#include "data/dataset.h"
#include "data/trec.h"

namespace dgr::data {
namespace {

std::string shared(const std::string& relative) {
  return std::string(DGR_SHARED_DATA_DIR) + "/" + relative;
}

class SharedData : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(shared("cranfield/corpus.jsonl")) ||
        !std::filesystem::exists(shared("msmarco-dl19/corpus.jsonl"))) {
      GTEST_SKIP() << "shared data sets not found under " << DGR_SHARED_DATA_DIR;
    }
  }
};

TEST_F(SharedData, CranfieldCorpusHas1400PassagesIncludingEmptyOnes) {
  const Corpus corpus = load_corpus(shared("cranfield/corpus.jsonl"));
  ASSERT_EQ(corpus.size(), 1400u);
  EXPECT_EQ(corpus[0].id, "1");
  EXPECT_EQ(corpus[1399].id, "1400");
  EXPECT_EQ(corpus.find("471"), 470u);
  EXPECT_EQ(corpus[470].title, "");
  EXPECT_EQ(corpus[470].text, "");
}

TEST_F(SharedData, CranfieldQueriesAndQrelsSplits) {
  EXPECT_EQ(load_queries(shared("cranfield/queries.jsonl")).size(), 225u);
  const eval::Qrels train = read_qrels(shared("cranfield/qrels/train.tsv"));
  const eval::Qrels test = read_beir_qrels(shared("cranfield/qrels/test.tsv"));
  EXPECT_EQ(train.size(), 1078u);
  EXPECT_EQ(train.by_query.size(), 150u);
  EXPECT_EQ(test.size(), 534u);
  EXPECT_EQ(test.by_query.size(), 75u);
  EXPECT_EQ(train.grade("1", "12"), 2);
}

TEST_F(SharedData, MsMarcoCorpusKeepsC1MojibakeByteFaithful) {
  const Corpus corpus = load_corpus(shared("msmarco-dl19/corpus.jsonl"), "beir");
  ASSERT_EQ(corpus.size(), 10852u);
  size_t with_c1 = 0;
  for (const Passage& passage : corpus) {
    EXPECT_EQ(passage.title, "");
    if (passage.text.find("\xC2\x80") != std::string::npos) ++with_c1;
  }
  EXPECT_GT(with_c1, 0u) << "expected some passages with U+0080 (mojibake) to be accepted";
}

TEST_F(SharedData, MsMarcoQueriesAndQrels) {
  EXPECT_EQ(load_queries(shared("msmarco-dl19/queries.jsonl")).size(), 43u);
  const eval::Qrels qrels = read_qrels(shared("msmarco-dl19/qrels/test.tsv"));
  EXPECT_EQ(qrels.size(), 9260u);
  EXPECT_EQ(qrels.by_query.size(), 43u);
}

TEST_F(SharedData, MsMarcoBm25RunInFileOrder) {
  const eval::Run run = read_trec_run(shared("msmarco-dl19/runs/bm25.trec"));
  EXPECT_EQ(run.size(), 4300u);
  EXPECT_EQ(run.by_query.size(), 43u);
  EXPECT_EQ(run.tag, "bm25");
  const auto& first = run.by_query.at("264014").front();
  EXPECT_EQ(first.passage_id, "5611210");
  EXPECT_EQ(first.rank, 1);
  EXPECT_DOUBLE_EQ(first.score, 15.780599594116211);
}

}  // namespace
}  // namespace dgr::data
