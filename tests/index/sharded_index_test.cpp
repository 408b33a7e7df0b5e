// ShardedIndex answers exactly like one FmIndex over the whole corpus (successors with summed
// counts, counts, global passage indices), for 1, 2, 3 and 7 shards over contiguous passage
// ranges, including empty shards; its constructor rejects a first-passage layout with gaps.
#include "core/index/sharded_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/index/fm_brute_force.h"

namespace dgr::index {
namespace {

using testing::CorpusShape;
using testing::random_corpus;
using testing::random_ngrams;

// Splits the corpus at `num_shards - 1` random cut points (repeats allowed: empty shards).
ShardedIndex shard(const std::vector<PassageSegments>& corpus, size_t num_shards, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> cuts = {0, corpus.size()};
  for (size_t s = 1; s < num_shards; ++s)
    cuts.push_back(rng() % (corpus.size() + 1));
  std::sort(cuts.begin(), cuts.end());
  std::vector<std::shared_ptr<const FmIndex>> shards;
  std::vector<uint32_t> first;
  for (size_t s = 0; s + 1 < cuts.size(); ++s) {
    std::vector<PassageSegments> part(corpus.begin() + static_cast<std::ptrdiff_t>(cuts[s]),
                                      corpus.begin() + static_cast<std::ptrdiff_t>(cuts[s + 1]));
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build(part)));
    first.push_back(static_cast<uint32_t>(cuts[s]));
  }
  return ShardedIndex(std::move(shards), std::move(first));
}

struct Successors {
  std::vector<TokenId> tokens;
  std::vector<uint64_t> counts;
  bool operator==(const Successors& o) const { return tokens == o.tokens && counts == o.counts; }
};

template <typename Index, typename Range>
Successors successors(const Index& index, const Range& range) {
  Successors s;
  index.next_tokens(range, s.tokens, s.counts);
  return s;
}

void check_equal(const FmIndex& single, const ShardedIndex& sharded,
                 const std::vector<PassageSegments>& corpus, uint32_t sigma, uint64_t seed) {
  ASSERT_EQ(sharded.num_passages(), single.num_passages());
  ASSERT_EQ(sharded.num_tokens(), single.num_tokens());
  EXPECT_EQ(successors(sharded, sharded.full_range()), successors(single, single.full_range()));
  EXPECT_EQ(sharded.passages(sharded.full_range(), 1000),
            single.passages(single.full_range(), 1000));
  for (const auto& ngram : random_ngrams(corpus, sigma, 50, seed)) {
    SCOPED_TRACE(::testing::PrintToString(ngram));
    EXPECT_EQ(sharded.count(ngram), single.count(ngram));
    for (size_t limit : {size_t{1}, size_t{2}, size_t{5}, size_t{1000}}) {
      EXPECT_EQ(sharded.passages(ngram, limit), single.passages(ngram, limit));
    }
    ShardedRange range = sharded.full_range();
    SaRange one = single.full_range();
    std::vector<TokenId> prefix;
    for (TokenId t : ngram) {
      range = sharded.extend(range, t);
      one = single.extend(one, t);
      prefix.push_back(t);
      const ShardedRange found = sharded.find(prefix);
      ASSERT_EQ(found.ranges.size(), range.ranges.size());
      for (size_t s = 0; s < range.ranges.size(); ++s)
        EXPECT_EQ(range.ranges[s], found.ranges[s]);
      EXPECT_EQ(range.count(), one.count());
      EXPECT_EQ(range.empty(), one.empty());
      EXPECT_EQ(successors(sharded, range), successors(single, one));
      EXPECT_EQ(sharded.passages(range, 4), single.passages(one, 4));
    }
  }
}

TEST(ShardedIndex, AnswersExactlyLikeOneIndex) {
  for (uint32_t sigma : {3u, 5000u}) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      CorpusShape shape;
      shape.sigma = sigma;
      shape.skew = sigma > 3 ? 1.0 : 0.0;
      shape.passages = 10 + seed * 15;
      const auto corpus = random_corpus(shape, seed * 31 + sigma);
      const FmIndex single = FmIndex::build(corpus);
      for (size_t num_shards : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
        SCOPED_TRACE("sigma " + std::to_string(sigma) + " seed " + std::to_string(seed) +
                     " shards " + std::to_string(num_shards));
        const ShardedIndex sharded = shard(corpus, num_shards, seed * 13 + num_shards);
        ASSERT_EQ(sharded.num_shards(), num_shards);
        EXPECT_EQ(sharded.size_in_bytes() > 0, true);
        check_equal(single, sharded, corpus, sigma, seed);
      }
    }
  }
}

TEST(ShardedIndex, EmptyShardedIndex) {
  const ShardedIndex none;
  EXPECT_EQ(none.num_shards(), 0u);
  EXPECT_EQ(none.num_passages(), 0u);
  EXPECT_EQ(none.num_tokens(), 0u);
  EXPECT_EQ(none.count({1}), 0u);
  EXPECT_TRUE(none.full_range().empty());
  EXPECT_TRUE(none.passages(std::vector<TokenId>{1}, 5).empty());
  Successors s = successors(none, none.full_range());
  EXPECT_TRUE(s.tokens.empty());
}

TEST(ShardedIndex, PassageIndicesAreGlobal) {
  auto a = std::make_shared<const FmIndex>(FmIndex::build({{{1, 2}}, {{3}}}));
  auto b = std::make_shared<const FmIndex>(FmIndex::build({{{3}}, {}, {{1, 2, 3}}}));
  const ShardedIndex index({a, b}, {0, 2});
  EXPECT_EQ(index.num_passages(), 5u);
  EXPECT_EQ(index.passages(std::vector<TokenId>{3}, 10), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{3}, 2), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(index.passages(std::vector<TokenId>{1, 2}, 10), (std::vector<uint32_t>{0, 4}));
  EXPECT_EQ(index.count({3}), 3u);
  Successors s = successors(index, index.find({2}));
  EXPECT_EQ(s.tokens, (std::vector<TokenId>{3}));
  EXPECT_EQ(s.counts, (std::vector<uint64_t>{1}));
  s = successors(index, index.full_range());
  EXPECT_EQ(s.tokens, (std::vector<TokenId>{1, 2, 3}));
  EXPECT_EQ(s.counts, (std::vector<uint64_t>{2, 2, 3}));
}

TEST(ShardedIndex, RejectsBadLayouts) {
  auto a = std::make_shared<const FmIndex>(FmIndex::build({{{1}}, {{2}}}));
  auto b = std::make_shared<const FmIndex>(FmIndex::build({{{3}}}));
  EXPECT_NO_THROW(ShardedIndex({a, b}, {0, 2}));
  EXPECT_THROW(ShardedIndex({a, b}, {0}), DataError);     // sizes differ
  EXPECT_THROW(ShardedIndex({a, b}, {0, 3}), DataError);  // gap
  EXPECT_THROW(ShardedIndex({a, b}, {0, 1}), DataError);  // overlap
  EXPECT_THROW(ShardedIndex({a, b}, {1, 3}), DataError);  // does not start at 0
  EXPECT_THROW(ShardedIndex({a, nullptr}, {0, 2}), DataError);
}

}  // namespace
}  // namespace dgr::index
