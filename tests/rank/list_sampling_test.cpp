// List sampling of DGR stage 2: teacher order with ties by index, the lists of hand-made queries
// (defaults, fewer negatives than asked, one positive, none), reproducible draws that depend on
// the seed, uniform random picks, and option / input errors.
#include "core/rank/list_sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace dgr::rank {
namespace {

using Lists = std::vector<std::vector<uint32_t>>;

// Position of each candidate in teacher order.
std::vector<size_t> ranks_of(const std::vector<float>& teacher) {
  const auto order = teacher_order(teacher);
  std::vector<size_t> rank(order.size());
  for (size_t r = 0; r < order.size(); ++r)
    rank[order[r]] = r;
  return rank;
}

// Teacher order picks the top candidates: the tests of the draws below were written for it.
ListSamplingOptions by_teacher() {
  ListSamplingOptions options;
  options.top_by = "teacher";
  return options;
}

// Ten candidates; teacher order 0, 6, 3, 8, 2, 7, 4, 5, 1, 9; positives 3, 8, 1.
const std::vector<float> kTeacher = {0.9f, 0.1f, 0.5f, 0.7f, 0.3f, 0.2f, 0.8f, 0.4f, 0.6f, 0.0f};
const std::vector<bool> kPositive = {false, true,  false, true, false,
                                     false, false, false, true, false};

TEST(ListSamplingTeacherOrder, DescendingWithTiesByIndex) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(teacher_order({1.f, 3.f, 3.f, 2.f, -inf, 3.f, inf}),
            (std::vector<uint32_t>{6, 1, 2, 5, 3, 0, 4}));
  EXPECT_EQ(teacher_order({0.f, 0.f, 0.f}), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(teacher_order({-0.f, 0.f}), (std::vector<uint32_t>{0, 1}));  // −0 == 0: a tie
  EXPECT_TRUE(teacher_order({}).empty());
  EXPECT_EQ(teacher_order(kTeacher), (std::vector<uint32_t>{0, 6, 3, 8, 2, 7, 4, 5, 1, 9}));
}

TEST(ListSamplingTeacherOrder, NanIsRejectedNamingTheCandidate) {
  try {
    teacher_order({1.f, 2.f, std::numeric_limits<float>::quiet_NaN()});
    FAIL() << "NaN accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("candidate 2"), std::string::npos) << e.what();
  }
}

TEST(ListSamplingMixSeed, DeterministicAndSensitiveToEveryInput) {
  // splitmix64(splitmix64(splitmix64(42) ^ 7) ^ 3), computed independently.
  EXPECT_EQ(mix_seed(42, 7, 3), 0xf55e4254d4655539ULL);
  std::set<uint64_t> seeds;
  for (uint64_t s = 0; s < 4; ++s) {
    for (uint64_t a = 0; a < 4; ++a) {
      for (uint64_t b = 0; b < 4; ++b)
        seeds.insert(mix_seed(s, a, b));
    }
  }
  EXPECT_EQ(seeds.size(), 64u);
  EXPECT_NE(mix_seed(1, 2, 3), mix_seed(1, 3, 2));
}

TEST(ListSamplingSampleLists, DefaultsGiveTwoListsOfFive) {
  const auto rank = ranks_of(kTeacher);
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Lists lists = sample_lists(kTeacher, kPositive, by_teacher(), mix_seed(seed, 1, 2));
    ASSERT_EQ(lists.size(), 2u);
    EXPECT_EQ(lists[0][0], 3u);  // the teacher's best positive heads the first list
    EXPECT_TRUE(lists[1][0] == 8u || lists[1][0] == 1u) << lists[1][0];
    for (const auto& list : lists) {
      ASSERT_EQ(list.size(), 5u);
      EXPECT_EQ(list[1], 0u);  // the teacher's best negative
      std::set<uint32_t> distinct(list.begin() + 1, list.end());
      EXPECT_EQ(distinct.size(), 4u);
      for (size_t i = 1; i < list.size(); ++i) {
        EXPECT_FALSE(kPositive[list[i]]) << list[i];
        if (i > 1) {
          EXPECT_LT(rank[list[i - 1]], rank[list[i]]) << "negatives in teacher order";
        }
      }
    }
    // Both lists share the sampled negatives.
    EXPECT_TRUE(std::equal(lists[0].begin() + 1, lists[0].end(), lists[1].begin() + 1));
  }
}

TEST(ListSamplingSampleLists, PinnedDraw) {
  // Computed by an independent implementation of the same SplitMix64 stream, rejection draw and
  // partial Fisher-Yates shuffle: a change of the draw would change the lists on every run.
  const Lists expected = {{3, 0, 2, 7, 4}, {8, 0, 2, 7, 4}};
  EXPECT_EQ(sample_lists(kTeacher, kPositive, by_teacher(), mix_seed(42, 7, 3)), expected);
}

TEST(ListSamplingSampleLists, FewerNegativesThanAsked) {
  // Teacher order 2, 0, 3, 1; negatives 2 and 1.
  const Lists lists = sample_lists({0.5f, 0.1f, 0.9f, 0.3f}, {true, false, false, true},
                                   by_teacher(), mix_seed(1, 2, 3));
  EXPECT_EQ(lists, (Lists{{0, 2, 1}, {3, 2, 1}}));
}

TEST(ListSamplingSampleLists, OnePositiveGivesOneList) {
  const std::vector<bool> positive = {false, false, false, false, false,
                                      false, false, false, true,  false};
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const Lists lists = sample_lists(kTeacher, positive, by_teacher(), seed);
    ASSERT_EQ(lists.size(), 1u);
    EXPECT_EQ(lists[0].size(), 5u);
    EXPECT_EQ(lists[0][0], 8u);
  }
}

TEST(ListSamplingSampleLists, NoPositiveOrNoNegativeGivesNoList) {
  EXPECT_TRUE(sample_lists(kTeacher, std::vector<bool>(10, false), by_teacher(), 1).empty());
  EXPECT_TRUE(sample_lists(kTeacher, std::vector<bool>(10, true), by_teacher(), 1).empty());
  EXPECT_TRUE(sample_lists({}, {}, by_teacher(), 1).empty());
}

TEST(ListSamplingSampleLists, SameSeedSameListsOtherSeedsOtherDraws) {
  ListSamplingOptions options = by_teacher();
  std::set<Lists> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    const Lists a = sample_lists(kTeacher, kPositive, options, mix_seed(seed, 0, 0));
    EXPECT_EQ(a, sample_lists(kTeacher, kPositive, options, mix_seed(seed, 0, 0)));
    seen.insert(a);
  }
  // 2 random positives × C(6, 3) = 20 negative sets: 40 possible results.
  EXPECT_GT(seen.size(), 30u);
}

TEST(ListSamplingSampleLists, RandomPicksAreUniformOverTheRest) {
  // Random positive: 8 or 1 (not the top one, 3); random negatives: 3 of 6, the top one (0)
  // always taken. Over n seeds each of the six is drawn with probability 1/2, each positive
  // with 1/2.
  std::map<uint32_t, int> positives, negatives;
  const int n = 4000;
  for (int seed = 0; seed < n; ++seed) {
    const Lists lists = sample_lists(kTeacher, kPositive, by_teacher(),
                                     mix_seed(7, static_cast<uint64_t>(seed), 0));
    ++positives[lists[1][0]];
    for (size_t i = 2; i < lists[1].size(); ++i)
      ++negatives[lists[1][i]];
  }
  EXPECT_EQ(positives.size(), 2u);
  for (const auto& [candidate, count] : positives)
    EXPECT_NEAR(count, n / 2, n / 20) << candidate;
  EXPECT_EQ(negatives.size(), 6u);
  EXPECT_EQ(negatives.count(0), 0u);
  for (const auto& [candidate, count] : negatives)
    EXPECT_NEAR(count, n / 2, n / 20) << candidate;
}

TEST(ListSamplingSampleLists, TopPositivesComeFirstInTeacherOrder) {
  ListSamplingOptions options = by_teacher();
  options.top_positives = 2;
  options.random_positives = 5;  // more than remain: the one left
  options.top_negatives = 0;
  options.random_negatives = 7;  // every negative
  const Lists lists = sample_lists(kTeacher, kPositive, options, 9);
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0][0], 3u);
  EXPECT_EQ(lists[1][0], 8u);
  EXPECT_EQ(lists[2][0], 1u);
  for (const auto& list : lists) {
    EXPECT_EQ(std::vector<uint32_t>(list.begin() + 1, list.end()),
              (std::vector<uint32_t>{0, 6, 2, 7, 4, 5, 9}));
  }
}

TEST(ListSamplingSampleLists, OnlyRandomPositives) {
  ListSamplingOptions options = by_teacher();
  options.top_positives = 0;
  options.random_positives = 1;
  std::set<uint32_t> heads;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const Lists lists = sample_lists(kTeacher, kPositive, options, seed);
    ASSERT_EQ(lists.size(), 1u);
    heads.insert(lists[0][0]);
  }
  EXPECT_EQ(heads, (std::set<uint32_t>{1, 3, 8}));
}

// The DGR reference takes a list's top positive and top negative in retrieval order (the
// student's hardest negative), which is the default; teacher order picks others on the same
// candidates. Six candidates, stored (retrieval) order 0..5; teacher order 1, 3, 4, 5, 0, 2;
// positives 2 and 4.
TEST(ListSamplingSampleLists, TopByRetrievalTakesTheStoredOrderTopByTeacherTheScores) {
  const std::vector<float> teacher = {0.2f, 0.9f, 0.1f, 0.8f, 0.5f, 0.3f};
  const std::vector<bool> positive = {false, false, true, false, true, false};
  ListSamplingOptions o;
  EXPECT_EQ(o.top_by, "retrieval");
  o.random_positives = 0;
  o.random_negatives = 0;
  EXPECT_EQ(sample_lists(teacher, positive, o, 1), (Lists{{2, 0}}));
  o.top_by = "teacher";
  EXPECT_EQ(sample_lists(teacher, positive, o, 1), (Lists{{4, 1}}));
  // Two top negatives: the first two retrieved (0 and 1), listed in teacher order.
  o.top_by = "retrieval";
  o.top_negatives = 2;
  EXPECT_EQ(sample_lists(teacher, positive, o, 1), (Lists{{2, 1, 0}}));
  o.top_by = "teacher";
  EXPECT_EQ(sample_lists(teacher, positive, o, 1), (Lists{{4, 1, 3}}));
  // Random picks come from the rest after the retrieval top ones: never candidate 0 again.
  o.top_by = "retrieval";
  o.top_negatives = 1;
  o.random_negatives = 1;
  o.random_positives = 1;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const Lists lists = sample_lists(teacher, positive, o, seed);
    ASSERT_EQ(lists.size(), 2u);
    EXPECT_EQ(lists[0][0], 2u);
    EXPECT_EQ(lists[1][0], 4u);
    EXPECT_TRUE(std::find(lists[0].begin() + 1, lists[0].end(), 0u) != lists[0].end());
    EXPECT_EQ(lists[0].size(), 3u);
  }
}

TEST(ListSamplingSampleLists, BadOptionsAreConfigErrors) {
  auto expect_config_error = [](const ListSamplingOptions& options, const std::string& name) {
    try {
      sample_lists(kTeacher, kPositive, options, 1);
      ADD_FAILURE() << "accepted bad " << name;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  ListSamplingOptions o;
  o.top_positives = -1;
  expect_config_error(o, "top_positives");
  o = ListSamplingOptions{};
  o.random_positives = -1;
  expect_config_error(o, "random_positives");
  o = ListSamplingOptions{};
  o.top_negatives = -2;
  expect_config_error(o, "top_negatives");
  o = ListSamplingOptions{};
  o.random_negatives = -1;
  expect_config_error(o, "random_negatives");
  o = ListSamplingOptions{};
  o.top_positives = 0;
  o.random_positives = 0;
  expect_config_error(o, "positives");
  o = ListSamplingOptions{};
  o.top_negatives = 0;
  o.random_negatives = 0;
  expect_config_error(o, "negatives");
  o = ListSamplingOptions{};
  o.top_by = "score";
  expect_config_error(o, "top_by");
  // Options are checked even when the query would give no list.
  o = ListSamplingOptions{};
  o.top_positives = -1;
  EXPECT_THROW(sample_lists({}, {}, o, 1), ConfigError);
}

TEST(ListSamplingSampleLists, MismatchedLengthsAreDataErrors) {
  EXPECT_THROW(sample_lists({1.f, 2.f}, {true}, by_teacher(), 1), DataError);
  EXPECT_THROW(sample_lists({1.f, std::nanf("")}, {true, false}, by_teacher(), 1), DataError);
}

}  // namespace
}  // namespace dgr::rank
