// passage_segments reads every passage back exactly as it was given to the builder — segments in
// natural order, passages with no segments, empty segments, large and sparse token ids — from one
// FmIndex and from a ShardedIndex of 1, 2, 3 and 7 shards (empty shards included), before and
// after a save/load round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/sharded_index.h"
#include "core/util/error.h"
#include "tests/index/fm_brute_force.h"

namespace dgr::index {
namespace {

using testing::CorpusShape;
using testing::random_corpus;

FmIndex round_trip(const FmIndex& index) {
  std::stringstream stream;
  index.save(stream);
  return FmIndex::load(stream, "round-trip");
}

void expect_all_passages(const FmIndex& index, const std::vector<PassageSegments>& corpus) {
  ASSERT_EQ(index.num_passages(), corpus.size());
  for (uint32_t p = 0; p < corpus.size(); ++p) {
    EXPECT_EQ(index.passage_segments(p), corpus[p]) << "passage " << p;
  }
}

// Splits the corpus at `num_shards - 1` random cut points (repeats allowed: empty shards).
ShardedIndex shard(const std::vector<PassageSegments>& corpus, size_t num_shards, uint64_t seed,
                   bool reload) {
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
    FmIndex built = FmIndex::build(part);
    shards.push_back(
        std::make_shared<const FmIndex>(reload ? round_trip(built) : std::move(built)));
    first.push_back(static_cast<uint32_t>(cuts[s]));
  }
  return ShardedIndex(std::move(shards), std::move(first));
}

TEST(PassageSegments, HandWrittenPassagesComeBackInOrder) {
  const std::vector<PassageSegments> corpus = {
      {{5, 6, 7}},                // one segment
      {},                         // no segments
      {{1, 2}, {3}, {4, 4, 4}},   // three segments
      {{}},                       // one empty segment
      {{9}, {}, {}, {9, 1}, {}},  // empty segments between and at the end
      {},                         // no segments, last but one
      {{2, 1}},
  };
  const FmIndex index = FmIndex::build(corpus);
  expect_all_passages(index, corpus);
  expect_all_passages(round_trip(index), corpus);
}

TEST(PassageSegments, EmptyCorporaAndPassagesWithoutText) {
  expect_all_passages(FmIndex::build({}), {});
  expect_all_passages(FmIndex::build({{}, {}, {}}), {{}, {}, {}});
  expect_all_passages(FmIndex::build({{{}}}), {{{}}});
  expect_all_passages(round_trip(FmIndex::build({{}, {{}, {}}})), {{}, {{}, {}}});
}

TEST(PassageSegments, LargeAndSparseTokenIds) {
  // Ids above the builder's direct symbol table, and a single passage longer than the SA
  // sampling density many times over.
  std::vector<PassageSegments> corpus = {{{2147483645, 0, 1 << 24, 7}}, {{(1 << 30) + 3}}};
  PassageSegments long_passage(3);
  std::mt19937_64 rng(3);
  for (auto& segment : long_passage) {
    segment.resize(500);
    for (auto& t : segment)
      t = static_cast<TokenId>(rng() % 1000) * 1000003;
  }
  corpus.push_back(long_passage);
  const FmIndex index = FmIndex::build(corpus);
  expect_all_passages(index, corpus);
  expect_all_passages(round_trip(index), corpus);
}

TEST(PassageSegments, RandomCorporaOneIndex) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    CorpusShape shape;
    shape.sigma = seed % 3 == 0 ? 2 : 40 + static_cast<uint32_t>(seed) * 7;
    shape.passages = 50 + seed * 20;
    shape.max_segments = 1 + seed % 5;  // 0..max_segments segments per passage
    shape.max_length = seed % 4 == 0 ? 3 : 40;
    const auto corpus = random_corpus(shape, seed);
    const FmIndex index = FmIndex::build(corpus);
    expect_all_passages(index, corpus);
    expect_all_passages(round_trip(index), corpus);
  }
}

TEST(PassageSegments, RandomCorporaShardedIndex) {
  for (size_t num_shards : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      for (bool reload : {false, true}) {
        SCOPED_TRACE(std::to_string(num_shards) + " shards, seed " + std::to_string(seed) +
                     (reload ? ", reloaded" : ""));
        CorpusShape shape;
        shape.sigma = 30;
        shape.passages = 120;
        shape.max_segments = 3;
        const auto corpus = random_corpus(shape, 100 + seed);
        const ShardedIndex index = shard(corpus, num_shards, seed * 31 + num_shards, reload);
        ASSERT_EQ(index.num_passages(), corpus.size());
        for (uint32_t p = 0; p < corpus.size(); ++p) {
          EXPECT_EQ(index.passage_segments(p), corpus[p]) << "passage " << p;
        }
      }
    }
  }
}

TEST(PassageSegments, ShardedIndexWithLeadingAndTrailingEmptyShards) {
  const std::vector<PassageSegments> a = {{{1, 2}}, {}, {{3}, {}}};
  const std::vector<PassageSegments> b = {{{4, 5, 6}, {7}}};
  std::vector<std::shared_ptr<const FmIndex>> shards = {
      std::make_shared<const FmIndex>(FmIndex::build({})),
      std::make_shared<const FmIndex>(FmIndex::build(a)),
      std::make_shared<const FmIndex>(FmIndex::build({})),
      std::make_shared<const FmIndex>(FmIndex::build(b)),
      std::make_shared<const FmIndex>(FmIndex::build({}))};
  const ShardedIndex index(std::move(shards), {0, 0, 3, 3, 4});
  ASSERT_EQ(index.num_passages(), 4u);
  EXPECT_EQ(index.passage_segments(0), a[0]);
  EXPECT_EQ(index.passage_segments(1), a[1]);
  EXPECT_EQ(index.passage_segments(2), a[2]);
  EXPECT_EQ(index.passage_segments(3), b[0]);
}

TEST(PassageSegments, OtherFormatVersionsAskForARebuild) {
  std::stringstream stream;
  FmIndex::build({{{1, 2, 3}}}).save(stream);
  std::string bytes = stream.str();
  bytes[8] = 1;  // format version 1 (little-endian u32 at offset 8): no inverse-SA samples
  std::istringstream in(bytes);
  try {
    FmIndex::load(in, "old.fm");
    ADD_FAILURE() << "loaded a version-1 index";
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("old.fm"), std::string::npos) << what;
    EXPECT_NE(what.find("version 1"), std::string::npos) << what;
    EXPECT_NE(what.find("rebuild the index"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace dgr::index
