// FmIndexConstraint lists exactly the brute-force successor sets of every row's prefix +
// generated tokens, after any sequence of advances (rows growing and shrinking, repeated parents,
// tokens absent from the corpus), on 1, 2 and 3 shards, with its range cache on, off and full;
// start prefixes are cached per object and reused across starts; NoConstraint allows everything.
#include "core/search/fm_index_constraint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/search/token_constraint.h"
#include "tests/index/fm_brute_force.h"

namespace dgr::search {
namespace {

using index::FmIndex;
using index::PassageSegments;
using index::ShardedIndex;
using Tokens = std::vector<TokenId>;
using Corpus = std::vector<PassageSegments>;

ShardedIndex shard_corpus(const Corpus& corpus, size_t num_shards) {
  std::vector<std::shared_ptr<const FmIndex>> shards;
  std::vector<uint32_t> first;
  for (size_t s = 0; s < num_shards; ++s) {
    const size_t begin = corpus.size() * s / num_shards;
    const size_t end = corpus.size() * (s + 1) / num_shards;
    Corpus part(corpus.begin() + static_cast<long>(begin), corpus.begin() + static_cast<long>(end));
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build(part)));
    first.push_back(static_cast<uint32_t>(begin));
  }
  return ShardedIndex(std::move(shards), std::move(first));
}

Tokens naive_successors(const Corpus& corpus, const Tokens& prefix) {
  Tokens out;
  for (const auto& [token, count] : index::testing::naive_next(corpus, prefix))
    out.push_back(token);
  return out;
}

// Checks every row of `constraint` against brute force over the rows' full sequences.
void expect_rows_match(FmIndexConstraint& constraint, const ShardedIndex& index,
                       const Corpus& corpus, const std::vector<Tokens>& sequences,
                       std::vector<std::vector<TokenId>>& allowed) {
  ASSERT_EQ(constraint.rows(), sequences.size());
  ASSERT_TRUE(constraint.allowed(allowed));
  ASSERT_EQ(allowed.size(), sequences.size());
  for (size_t r = 0; r < sequences.size(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r) + " " + ::testing::PrintToString(sequences[r]));
    EXPECT_EQ(allowed[r], naive_successors(corpus, sequences[r]));
    // The empty prefix's range holds every suffix, separators included (FmIndex's convention).
    EXPECT_EQ(constraint.count(r), sequences[r].empty()
                                       ? index.find({}).count()
                                       : index::testing::naive_count(corpus, sequences[r]));
    const index::ShardedRange found = index.find(sequences[r]);
    const index::ShardedRange kept = constraint.range(r);
    ASSERT_EQ(kept.ranges.size(), found.ranges.size());
    for (size_t s = 0; s < kept.ranges.size(); ++s) {
      // Empty ranges may differ in position; non-empty ones are the same interval.
      EXPECT_EQ(kept.ranges[s].count(), found.ranges[s].count());
      if (!found.ranges[s].empty()) {
        EXPECT_EQ(kept.ranges[s], found.ranges[s]);
      }
    }
  }
}

TEST(FmIndexConstraint, AllowedEqualsBruteForceAfterRandomAdvances) {
  std::vector<FmIndexConstraintOptions> option_sets(3);
  option_sets[1].cache_min_count = 1;  // cache every range
  option_sets[2].cache_min_count = 1;  // ... until a tiny cache is full
  option_sets[2].cache_max_tokens = 6;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    index::testing::CorpusShape shape;
    shape.sigma = 3 + static_cast<uint32_t>(seed % 4) * 3;
    shape.passages = 30;
    shape.max_length = 20;
    const Corpus corpus = index::testing::random_corpus(shape, seed);
    for (size_t num_shards : {size_t{1}, size_t{2}, size_t{3}}) {
      const ShardedIndex index = shard_corpus(corpus, num_shards);
      for (const FmIndexConstraintOptions& options : option_sets) {
        SCOPED_TRACE("seed " + std::to_string(seed) + " shards " + std::to_string(num_shards) +
                     " cache_min_count " + std::to_string(options.cache_min_count));
        FmIndexConstraint constraint(index, options);
        std::mt19937_64 rng(seed * 31 + num_shards);
        std::vector<std::vector<TokenId>> allowed;
        for (int trial = 0; trial < 4; ++trial) {
          // A start prefix: empty, a random corpus n-gram, or random tokens (maybe absent).
          Tokens prefix;
          const auto ngrams = index::testing::random_ngrams(corpus, shape.sigma, 1, rng());
          if (trial % 3 == 1) prefix = ngrams[0];
          if (trial % 3 == 2) prefix = {static_cast<TokenId>(rng() % shape.sigma)};
          const size_t rows = 1 + rng() % 4;
          constraint.start(rows, prefix);
          std::vector<Tokens> sequences(rows, prefix);
          expect_rows_match(constraint, index, corpus, sequences, allowed);
          for (int step = 0; step < 7; ++step) {
            const size_t next_rows = rng() % 7;  // 0 rows is allowed too
            std::vector<int64_t> parents;
            Tokens tokens;
            std::vector<Tokens> next;
            for (size_t i = 0; i < next_rows; ++i) {
              const size_t parent = rng() % sequences.size();
              // Mostly an allowed token; sometimes any token, absent ones included.
              TokenId token = static_cast<TokenId>(rng() % (shape.sigma + 2));
              if (!allowed[parent].empty() && rng() % 5 != 0) {
                token = allowed[parent][rng() % allowed[parent].size()];
              }
              parents.push_back(static_cast<int64_t>(parent));
              tokens.push_back(token);
              next.push_back(sequences[parent]);
              next.back().push_back(token);
            }
            if (next_rows == 0) break;
            constraint.advance(parents, tokens);
            sequences = std::move(next);
            expect_rows_match(constraint, index, corpus, sequences, allowed);
          }
        }
        if (options.cache_max_tokens == 6) {
          EXPECT_LE(constraint.cached_tokens(), 6u);
        }
      }
    }
  }
}

TEST(FmIndexConstraint, RowsSharingARangeGetEqualLists) {
  const Corpus corpus = {{{1, 2, 3, 1, 2, 4}}, {{2, 3, 2, 1}}};
  const ShardedIndex index = shard_corpus(corpus, 2);
  FmIndexConstraint constraint(index);
  constraint.start(2, {});
  std::vector<std::vector<TokenId>> allowed;
  ASSERT_TRUE(constraint.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{1, 2, 3, 4}, {1, 2, 3, 4}}));
  // Rows 0, 2 and 4 are "2"; row 1 "1"; row 3 "5" (absent, no successors).
  constraint.advance({0, 1, 1, 0, 0}, {2, 1, 2, 5, 2});
  ASSERT_TRUE(constraint.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{1, 3, 4}, {2}, {1, 3, 4}, {}, {1, 3, 4}}));
  EXPECT_EQ(constraint.count(0), 4u);
  EXPECT_EQ(constraint.count(3), 0u);
  // Shrinking to one row, then extending past the corpus.
  constraint.advance({1}, {2});
  ASSERT_TRUE(constraint.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{3, 4}}));
  constraint.advance({0, 0}, {4, 3});
  ASSERT_TRUE(constraint.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{}, {1}}));
}

TEST(FmIndexConstraint, StartPrefixesAreComputedOncePerObject) {
  index::testing::CorpusShape shape;
  shape.sigma = 9;
  const Corpus corpus = index::testing::random_corpus(shape, 7);
  const ShardedIndex index = shard_corpus(corpus, 2);
  FmIndexConstraint constraint(index);
  std::vector<std::vector<TokenId>> allowed;
  std::set<TokenId> vocabulary;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage)
      vocabulary.insert(segment.begin(), segment.end());
  }
  for (int round = 0; round < 3; ++round) {
    for (const Tokens& prefix : {Tokens{}, Tokens{1}, Tokens{1, 2}, Tokens{42}}) {
      constraint.start(3, prefix);
      ASSERT_TRUE(constraint.allowed(allowed));
      ASSERT_EQ(allowed.size(), 3u);
      for (const auto& row : allowed)
        EXPECT_EQ(row, naive_successors(corpus, prefix));
      if (prefix.empty()) {
        EXPECT_EQ(allowed[0], Tokens(vocabulary.begin(), vocabulary.end()));
      }
      // Advancing after a fresh start begins from the prefix again.
      if (!allowed[0].empty()) {
        constraint.advance({2}, {allowed[0].front()});
        Tokens extended = prefix;
        extended.push_back(allowed[0].front());
        ASSERT_TRUE(constraint.allowed(allowed));
        EXPECT_EQ(allowed[0], naive_successors(corpus, extended));
      }
    }
  }
}

TEST(FmIndexConstraint, EmptyIndexAllowsNothing) {
  const ShardedIndex index = shard_corpus({{}, {{}}}, 1);
  FmIndexConstraint constraint(index);
  constraint.start(2, {});
  std::vector<std::vector<TokenId>> allowed = {{7}, {8}, {9}};
  ASSERT_TRUE(constraint.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{}, {}}));
}

TEST(NoConstraint, AllowsEveryTokenAndLeavesTheListsUntouched) {
  NoConstraint none;
  none.start(3, {1, 2});
  std::vector<std::vector<TokenId>> allowed = {{5}};
  EXPECT_FALSE(none.allowed(allowed));
  EXPECT_EQ(allowed, (std::vector<Tokens>{{5}}));
  none.advance({0, 0}, {1, 2});
  EXPECT_EQ(none.count(0), 0u);
}

}  // namespace
}  // namespace dgr::search
