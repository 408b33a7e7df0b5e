// FmIndex against brute force on random corpora: counts, passages, successors and incremental
// extension equal naive substring scans within segments; serialisation round-trips byte for byte
// and rejects truncated or corrupted bytes with a DataError.
#include "core/index/fm_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/util/error.h"
#include "tests/index/fm_brute_force.h"

namespace dgr::index {
namespace {

using testing::CorpusShape;
using testing::naive_count;
using testing::naive_next;
using testing::naive_passages;
using testing::random_corpus;
using testing::random_ngrams;

std::map<TokenId, uint64_t> successors(const FmIndex& index, SaRange range) {
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  index.next_tokens(range, tokens, counts);
  EXPECT_EQ(tokens.size(), counts.size());
  EXPECT_TRUE(std::is_sorted(tokens.begin(), tokens.end()));
  EXPECT_EQ(std::adjacent_find(tokens.begin(), tokens.end()), tokens.end());
  std::map<TokenId, uint64_t> out;
  for (size_t i = 0; i < tokens.size(); ++i)
    out[tokens[i]] = counts[i];
  return out;
}

std::string saved(const FmIndex& index) {
  std::ostringstream out;
  index.save(out);
  return out.str();
}

FmIndex loaded(const std::string& bytes, const std::string& source = "index.fm") {
  std::istringstream in(bytes);
  return FmIndex::load(in, source);
}

uint64_t corpus_tokens(const std::vector<PassageSegments>& corpus) {
  uint64_t n = 0;
  for (const auto& p : corpus) {
    for (const auto& s : p)
      n += s.size();
  }
  return n;
}

// Every property of one index against the corpus it was built from.
void check_against_brute_force(const FmIndex& index, const std::vector<PassageSegments>& corpus,
                               uint32_t sigma, uint64_t seed) {
  ASSERT_EQ(index.num_passages(), corpus.size());
  ASSERT_EQ(index.num_tokens(), corpus_tokens(corpus));
  EXPECT_EQ(successors(index, index.full_range()), naive_next(corpus, {}));
  for (const auto& ngram : random_ngrams(corpus, sigma, 60, seed)) {
    SCOPED_TRACE(::testing::PrintToString(ngram));
    EXPECT_EQ(index.count(ngram), naive_count(corpus, ngram));
    EXPECT_EQ(index.find(ngram).count(), naive_count(corpus, ngram));
    for (size_t limit : {size_t{1}, size_t{3}, size_t{1000}}) {
      EXPECT_EQ(index.passages(ngram, limit), naive_passages(corpus, ngram, limit));
    }
    // Incremental extension equals a fresh search at every step, and successors match.
    SaRange range = index.full_range();
    std::vector<TokenId> prefix;
    for (TokenId t : ngram) {
      range = index.extend(range, t);
      prefix.push_back(t);
      ASSERT_EQ(range, index.find(prefix));
      EXPECT_EQ(range.count(), naive_count(corpus, prefix));
      EXPECT_EQ(successors(index, range), naive_next(corpus, prefix));
    }
  }
}

struct Alphabet {
  const char* name;
  uint32_t sigma;
  double skew;
};

void PrintTo(const Alphabet& a, std::ostream* out) {
  *out << a.name;
}

class FmIndexProperty : public ::testing::TestWithParam<Alphabet> {};

TEST_P(FmIndexProperty, AnswersEqualNaiveScansOnRandomCorpora) {
  const Alphabet alphabet = GetParam();
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    CorpusShape shape;
    shape.sigma = alphabet.sigma;
    shape.skew = alphabet.skew;
    shape.passages = seed % 7 == 0 ? seed % 3 : 10 + seed * 3;
    const auto corpus = random_corpus(shape, seed * 7919 + alphabet.sigma);
    const FmIndex index = FmIndex::build(corpus);
    check_against_brute_force(index, corpus, alphabet.sigma, seed);
  }
}

TEST_P(FmIndexProperty, SaveLoadAnswersIdenticallyAndResavesTheSameBytes) {
  const Alphabet alphabet = GetParam();
  for (uint64_t seed = 100; seed < 105; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    CorpusShape shape;
    shape.sigma = alphabet.sigma;
    shape.skew = alphabet.skew;
    const auto corpus = random_corpus(shape, seed);
    const FmIndex index = FmIndex::build(corpus);
    const std::string bytes = saved(index);
    EXPECT_EQ(saved(FmIndex::build(corpus)), bytes) << "same input, different bytes";
    const FmIndex back = loaded(bytes);
    EXPECT_EQ(saved(back), bytes);
    EXPECT_EQ(back.size_in_bytes(), index.size_in_bytes());
    check_against_brute_force(back, corpus, alphabet.sigma, seed);
    for (const auto& ngram : random_ngrams(corpus, alphabet.sigma, 30, seed + 1)) {
      EXPECT_EQ(back.find(ngram), index.find(ngram));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Alphabets, FmIndexProperty,
                         ::testing::Values(Alphabet{"Small", 3, 0.0}, Alphabet{"Large", 5000, 1.0},
                                           Alphabet{"LargeUniform", 5000, 0.0}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FmIndex, LongerCorpusWithSkewedTokens) {
  CorpusShape shape;
  shape.sigma = 200;
  shape.skew = 1.2;
  shape.passages = 2000;
  shape.max_length = 30;
  const auto corpus = random_corpus(shape, 77);
  const FmIndex index = FmIndex::build(corpus);
  check_against_brute_force(index, corpus, shape.sigma, 77);
}

TEST(FmIndex, EmptyCorpus) {
  for (const auto& corpus :
       {std::vector<PassageSegments>{}, std::vector<PassageSegments>{{}, {}, {}},
        std::vector<PassageSegments>{{{}}, {}, {{}, {}}}}) {
    const FmIndex index = FmIndex::build(corpus);
    EXPECT_EQ(index.num_passages(), corpus.size());
    EXPECT_EQ(index.num_tokens(), 0u);
    EXPECT_EQ(index.count({0}), 0u);
    EXPECT_TRUE(index.find({0}).empty());
    EXPECT_TRUE(index.extend(index.full_range(), 5).empty());
    EXPECT_TRUE(successors(index, index.full_range()).empty());
    EXPECT_TRUE(index.passages(std::vector<TokenId>{1}, 10).empty());
    const FmIndex back = loaded(saved(index));
    EXPECT_EQ(back.num_passages(), corpus.size());
    EXPECT_EQ(saved(back), saved(index));
  }
}

TEST(FmIndex, DefaultConstructedIsEmpty) {
  const FmIndex index;
  EXPECT_EQ(index.num_passages(), 0u);
  EXPECT_EQ(index.num_tokens(), 0u);
  EXPECT_EQ(index.count({3}), 0u);
  EXPECT_TRUE(successors(index, index.full_range()).empty());
  EXPECT_EQ(saved(loaded(saved(index))), saved(index));
}

TEST(FmIndex, OneTokenPassagesAndEmptySegments) {
  const std::vector<PassageSegments> corpus = {{{7}},          {},   {{}, {7}}, {{0}},
                                               {{7}, {}, {0}}, {{}}, {{5}}};
  const FmIndex index = FmIndex::build(corpus);
  EXPECT_EQ(index.count({7}), 3u);
  EXPECT_EQ(index.count({0}), 2u);
  EXPECT_EQ(index.count({7, 0}), 0u);  // would cross a segment
  EXPECT_EQ(index.passages(std::vector<TokenId>{7}, 10), (std::vector<uint32_t>{0, 2, 4}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{0}, 10), (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{5}, 10), (std::vector<uint32_t>{6}));
  EXPECT_EQ(successors(index, index.full_range()),
            (std::map<TokenId, uint64_t>{{0, 2}, {5, 1}, {7, 3}}));
  EXPECT_TRUE(successors(index, index.find({7})).empty());
  check_against_brute_force(index, corpus, 8, 3);
}

TEST(FmIndex, RepeatedPassagesAreListedOnce) {
  const std::vector<PassageSegments> corpus = {{{1, 2, 1, 2}}, {{1, 2, 1, 2}, {2, 1}}, {{3}}};
  const FmIndex index = FmIndex::build(corpus);
  EXPECT_EQ(index.count({1, 2}), 4u);
  EXPECT_EQ(index.count({2, 1}), 3u);
  EXPECT_EQ(index.passages(std::vector<TokenId>{1, 2}, 10), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{1, 2}, 1), (std::vector<uint32_t>{0}));
  EXPECT_TRUE(index.passages(std::vector<TokenId>{1, 2}, 0).empty());
  EXPECT_EQ(successors(index, index.find({1})), (std::map<TokenId, uint64_t>{{2, 4}}));
  EXPECT_EQ(successors(index, index.find({2})), (std::map<TokenId, uint64_t>{{1, 3}}));
}

TEST(FmIndex, EmptyPrefixListsEveryPassageWithText) {
  const std::vector<PassageSegments> corpus = {{{1}}, {}, {{}}, {{4, 4}}};
  const FmIndex index = FmIndex::build(corpus);
  EXPECT_EQ(index.passages(index.full_range(), 10), (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(index.passages(index.full_range(), 2), (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{}, 10), (std::vector<uint32_t>{0, 2, 3}));
}

TEST(FmIndex, ExtremeTokenIds) {
  const TokenId top = std::numeric_limits<TokenId>::max() - 2;
  const std::vector<PassageSegments> corpus = {{{top, 0, top}}, {{0, top}}};
  const FmIndex index = FmIndex::build(corpus);
  EXPECT_EQ(index.count({top}), 3u);
  EXPECT_EQ(index.count({0, top}), 2u);
  EXPECT_EQ(index.count({top, 0}), 1u);
  EXPECT_EQ(successors(index, index.find({0})), (std::map<TokenId, uint64_t>{{top, 2}}));
  EXPECT_TRUE(index.extend(index.full_range(), -1).empty());
  EXPECT_TRUE(index.extend(index.full_range(), top + 1).empty());
}

TEST(FmIndex, RejectsTokenIdsOutOfRange) {
  EXPECT_THROW(FmIndex::build({{{1, -1}}}), DataError);
  EXPECT_THROW(FmIndex::build({{{std::numeric_limits<TokenId>::max()}}}), DataError);
}

TEST(FmIndex, ExtendingAnEmptyRangeStaysEmpty) {
  const FmIndex index = FmIndex::build({{{1, 2, 3}}});
  const SaRange none = index.find({3, 3});
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(index.extend(none, 1).empty());
  EXPECT_TRUE(successors(index, none).empty());
  EXPECT_TRUE(index.passages(none, 5).empty());
}

class FmIndexCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    CorpusShape shape;
    shape.sigma = 50;
    shape.passages = 60;
    corpus_ = random_corpus(shape, 5);
    bytes_ = saved(FmIndex::build(corpus_));
  }
  void expect_data_error(const std::string& bytes, const std::string& what) {
    SCOPED_TRACE(what);
    try {
      loaded(bytes, "shards/shard-3.fm");
      ADD_FAILURE() << "loaded without an error";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("shards/shard-3.fm"), std::string::npos) << e.what();
    }
  }
  std::vector<PassageSegments> corpus_;
  std::string bytes_;
};

TEST_F(FmIndexCorruption, TruncatedStreamsThrowDataError) {
  const size_t n = bytes_.size();
  for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{39}, size_t{103}, size_t{104},
                     size_t{105}, n / 3, n / 2, n - 9, n - 1}) {
    expect_data_error(bytes_.substr(0, cut), "cut at " + std::to_string(cut));
  }
}

TEST_F(FmIndexCorruption, FlippedBytesThrowDataError) {
  std::mt19937_64 rng(11);
  std::vector<size_t> where = {0, 8, 12, 16, 24, 32, 40, 103, 104, 120, bytes_.size() - 1};
  for (int i = 0; i < 40; ++i)
    where.push_back(rng() % bytes_.size());
  for (size_t at : where) {
    std::string bad = bytes_;
    bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
    expect_data_error(bad, "byte " + std::to_string(at));
  }
}

TEST_F(FmIndexCorruption, GarbageAndHugeDeclaredSizesThrowDataError) {
  std::mt19937_64 rng(12);
  std::string garbage(4096, '\0');
  for (auto& c : garbage)
    c = static_cast<char>(rng());
  expect_data_error(garbage, "random bytes");
  std::string huge = bytes_;
  for (int i = 32; i < 40; ++i)
    huge[i] = '\xff';  // payload size 2^64 - 1
  expect_data_error(huge, "huge payload size");
}

TEST(FmIndex, ConsecutiveIndexesInOneStream) {
  const FmIndex a = FmIndex::build({{{1, 2}}, {{3}}});
  const FmIndex b = FmIndex::build({{{4}}});
  std::stringstream stream;
  a.save(stream);
  b.save(stream);
  const FmIndex a2 = FmIndex::load(stream, "two");
  const FmIndex b2 = FmIndex::load(stream, "two");
  EXPECT_EQ(a2.count({1, 2}), 1u);
  EXPECT_EQ(a2.num_passages(), 2u);
  EXPECT_EQ(b2.count({4}), 1u);
  EXPECT_EQ(b2.num_passages(), 1u);
}

TEST(FmIndex, ConcurrentQueriesAgree) {
  CorpusShape shape;
  shape.sigma = 40;
  shape.passages = 300;
  const auto corpus = random_corpus(shape, 21);
  const FmIndex index = FmIndex::build(corpus);
  const auto ngrams = random_ngrams(corpus, shape.sigma, 200, 22);
  std::vector<std::vector<uint64_t>> results(2);
  auto work = [&](std::vector<uint64_t>& out) {
    std::vector<TokenId> tokens;
    std::vector<uint64_t> counts;
    for (int rep = 0; rep < 5; ++rep) {
      for (const auto& ngram : ngrams) {
        const SaRange range = index.find(ngram);
        index.next_tokens(range, tokens, counts);
        out.push_back(range.count() + tokens.size() + index.passages(range, 50).size());
      }
    }
  };
  std::thread t0(work, std::ref(results[0]));
  std::thread t1(work, std::ref(results[1]));
  t0.join();
  t1.join();
  EXPECT_EQ(results[0], results[1]);
}

}  // namespace
}  // namespace dgr::index
