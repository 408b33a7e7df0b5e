// SEAL intersective scoring on hand-computed examples: key log-odds and weights, nomination
// (max_hits, fully_score), coverage with β, non-overlapping keys, title keys matching titles
// only and weighed against the number of titles, unigram evidence, the depth cut and the
// reported keys — each expected score written out as arithmetic in the test, checked to 1e-9,
// over one index and over two shards.
#include "core/search/intersective_scoring.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "core/index/fm_index.h"
#include "core/index/sharded_index.h"
#include "core/util/error.h"

namespace dgr::search {
namespace {

using index::FmIndex;
using index::PassageSegments;
using index::ShardedIndex;

constexpr double kTolerance = 1e-9;
constexpr TokenId kTitleStart = 100;  // "</s>"
constexpr TokenId kTitleEnd = 101;    // " @@"

// One index over the corpus, or two shards split before passage `split` (0: one shard).
ShardedIndex make_index(const std::vector<PassageSegments>& corpus, size_t split = 0) {
  std::vector<std::shared_ptr<const FmIndex>> shards;
  std::vector<uint32_t> first;
  if (split == 0) {
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build(corpus)));
    first.push_back(0);
  } else {
    const auto at = corpus.begin() + static_cast<std::ptrdiff_t>(split);
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build({corpus.begin(), at})));
    shards.push_back(std::make_shared<const FmIndex>(FmIndex::build({at, corpus.end()})));
    first = {0, static_cast<uint32_t>(split)};
  }
  return ShardedIndex(std::move(shards), std::move(first));
}

ScoredKey body_key(std::vector<TokenId> tokens, double log_prob) {
  ScoredKey key;
  key.view = View::kBody;
  key.indexed = tokens;
  key.tokens = std::move(tokens);
  key.log_prob = log_prob;
  return key;
}

// A finished title key: indexed as </s> tokens @@ (prefix </s>), identifier tokens without the
// markers.
ScoredKey title_key(std::vector<TokenId> tokens, double log_prob) {
  ScoredKey key;
  key.view = View::kTitle;
  key.indexed = {kTitleStart};
  key.prefix_length = 1;
  key.indexed.insert(key.indexed.end(), tokens.begin(), tokens.end());
  key.indexed.push_back(kTitleEnd);
  key.tokens = std::move(tokens);
  key.log_prob = log_prob;
  return key;
}

// Four passages, one `</s> title @@ text` segment each: N = 7 + 7 + 7 + 6 = 27 tokens, of which
// T = 4 title starts (</s>).
const std::vector<PassageSegments> kCorpus = {
    {{kTitleStart, 1, 2, kTitleEnd, 3, 4, 5}},  // p0: title "1 2", text "3 4 5"
    {{kTitleStart, 3, 4, kTitleEnd, 1, 2, 6}},  // p1: title "3 4", text "1 2 6"
    {{kTitleStart, 7, kTitleEnd, 3, 4, 8, 9}},  // p2: title "7",   text "3 4 8 9"
    {{kTitleStart, 9, kTitleEnd, 6, 6, 5}},     // p3: title "9",   text "6 6 5"
};

// The keys of the main example, and their weights worked out by hand (s = 5, N + s = 32, α = 2):
//   lo = (sr + log(1 − P)) − (log P + log(1 − e^sr)),   w = max(0, lo)²,
//   P = (F + 5) / 32 for body keys, (F + 5) / (T + 5) = (F + 5) / 9 for the title key.
std::vector<ScoredKey> main_keys() {
  return {
      body_key({3, 4}, -1.0),    // k0
      title_key({1, 2}, -0.05),  // k1
      body_key({1, 2}, -0.7),    // k2
      body_key({9}, -1.2),       // k3
      body_key({5}, -3.0),       // k4
      body_key({2, 6}, -1.5),    // k5
  };
}
// k0 "3 4": F = 3 (p0 text, p1 title, p2 text), P = 8/32
const double lo0 =
    (-1.0 + std::log(1 - 8.0 / 32)) - (std::log(8.0 / 32) + std::log(1 - std::exp(-1.0)));
// k1 "</s> 1 2 @@": F = 1 (p0's title) among T = 4 titles, P = 6/9 (over all N tokens it would
// be 6/32): lo1 = (−0.05 + log(1/3)) − (log(2/3) + log(1 − e^−0.05)) ≈ 2.277
const double lo1 =
    (-0.05 + std::log(1 - 6.0 / 9)) - (std::log(6.0 / 9) + std::log(1 - std::exp(-0.05)));
// k2 "1 2": F = 2 (p0 title, p1 text), P = 7/32
const double lo2 =
    (-0.7 + std::log(1 - 7.0 / 32)) - (std::log(7.0 / 32) + std::log(1 - std::exp(-0.7)));
// k3 "9": F = 2 (p2 text, p3 title), P = 7/32
const double lo3 =
    (-1.2 + std::log(1 - 7.0 / 32)) - (std::log(7.0 / 32) + std::log(1 - std::exp(-1.2)));
// k4 "5": F = 2 (p0, p3), P = 7/32: lo ≈ −1.68 < 0, weight 0
const double lo4 =
    (-3.0 + std::log(1 - 7.0 / 32)) - (std::log(7.0 / 32) + std::log(1 - std::exp(-3.0)));
// k5 "2 6": F = 1 (p1 text), P = 6/32
const double lo5 =
    (-1.5 + std::log(1 - 6.0 / 32)) - (std::log(6.0 / 32) + std::log(1 - std::exp(-1.5)));
const double w0 = lo0 * lo0;  // ≈ 0.311
const double w1 = lo1 * lo1;  // ≈ 5.187
const double w2 = lo2 * lo2;  // ≈ 1.586
const double w3 = lo3 * lo3;  // ≈ 0.186
const double w5 = lo5 * lo5;  // ≈ 0.048
// Counting order by weight: k1, k2, k0, k3, k5 (k4 weighs 0).
//   p0: k1 (C = {} → cover 1), k2 skipped ("1 2" repeats the counted title key), k0 (cover 1)
//   p1: k1 does not match (its "1 2" is body text), k2 (cover 1), k0 (cover 1),
//       k5 {2, 6} with C = {1, 2, 3, 4}: 1 new of 2 → cover = 1 − 0.8 + 0.8 · 1/2 = 0.6
//   p2: k0 (cover 1), k3 (cover 1)
//   p3: k3 (cover 1)
const double score0 = w1 + w0;             // ≈ 5.498
const double score1 = w2 + w0 + 0.6 * w5;  // ≈ 1.925
const double score2 = w0 + w3;             // ≈ 0.497
const double score3 = w3;                  // ≈ 0.186

struct Expected {
  uint32_t passage;
  double score;
  std::vector<uint32_t> keys;
};

void expect_ranking(const std::vector<ScoredPassage>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("rank " + std::to_string(i));
    EXPECT_EQ(got[i].passage, want[i].passage);
    EXPECT_NEAR(got[i].score, want[i].score, kTolerance);
    EXPECT_EQ(got[i].keys, want[i].keys);
  }
}

class IntersectiveScoring : public ::testing::TestWithParam<size_t> {
 protected:
  // The parameter is the shard split: 0 = one index, 2 = shards {p0, p1} and {p2, p3}.
  ShardedIndex index_ = make_index(kCorpus, GetParam());
};

TEST(KeyLogOdds, MatchesTheFormulaAndWeightsClampAtZero) {
  EXPECT_NEAR(key_log_odds(-1.0, 3, 27, 5.0), lo0, kTolerance);
  EXPECT_NEAR(key_log_odds(-3.0, 2, 27, 5.0), lo4, kTolerance);
  EXPECT_NEAR(key_weight(lo0, 2.0), w0, kTolerance);
  EXPECT_EQ(key_weight(lo4, 2.0), 0.0);
  EXPECT_EQ(key_weight(0.0, 0.0), 0.0);  // not 0^0 = 1
  EXPECT_NEAR(key_weight(2.0, 1.5), std::pow(2.0, 1.5), kTolerance);
}

TEST(KeyLogOdds, CertainAndHopelessKeysStayFinite) {
  // sr = 0 is clamped to −1e-6: lo = (−1e-6 + log(1 − P)) − (log P + log(1 − e^−1e-6)),
  // with log(1 − e^x) = log(−expm1(x)) ≈ log(1e-6).
  const double certain = key_log_odds(0.0, 1, 27, 5.0);
  EXPECT_TRUE(std::isfinite(certain));
  EXPECT_NEAR(
      certain,
      (-1e-6 + std::log(1 - 6.0 / 32)) - (std::log(6.0 / 32) + std::log(-std::expm1(-1e-6))), 1e-6);
  EXPECT_EQ(key_log_odds(0.25, 1, 27, 5.0), certain);  // a log-prob rounded above 0
  const double hopeless = key_log_odds(-1e4, 1, 27, 5.0);
  EXPECT_TRUE(std::isfinite(hopeless));
  EXPECT_NEAR(hopeless, -1e4 + std::log(1 - 6.0 / 32) - std::log(6.0 / 32), 1e-6);
  EXPECT_EQ(key_weight(hopeless, 2.0), 0.0);
  // −∞ (not NaN) for an impossible key, a NaN log-prob and a key that is the whole corpus.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(key_log_odds(-inf, 1, 27, 5.0), -inf);
  EXPECT_EQ(key_log_odds(std::nan(""), 1, 27, 5.0), -inf);
  EXPECT_EQ(key_log_odds(-1.0, 27, 27, 5.0), -inf);
  EXPECT_EQ(key_log_odds(-1.0, 0, 0, 5.0), -inf);
  EXPECT_EQ(key_weight(-inf, 2.0), 0.0);
  EXPECT_THROW(key_log_odds(-1.0, 1, 27, 0.0), ConfigError);
}

TEST_P(IntersectiveScoring, HandComputedScoresOrderAndKeys) {
  std::vector<ScoredKey> keys = main_keys();
  ScoringOptions options;
  options.unigram_evidence = false;
  const auto ranked = intersective_score(index_, keys, {}, options);
  // Counts and weights are filled in.
  const std::vector<uint64_t> counts = {3, 1, 2, 2, 2, 1};
  const std::vector<double> weights = {w0, w1, w2, w3, 0.0, w5};
  for (size_t k = 0; k < keys.size(); ++k) {
    EXPECT_EQ(keys[k].count, counts[k]) << "key " << k;
    EXPECT_NEAR(keys[k].weight, weights[k], kTolerance) << "key " << k;
  }
  expect_ranking(
      ranked, {{0, score0, {1, 0}}, {1, score1, {2, 0, 5}}, {2, score2, {0, 3}}, {3, score3, {3}}});
}

TEST_P(IntersectiveScoring, DepthCutsTheRankingAndKeysPerPassageCutTheKeys) {
  std::vector<ScoredKey> keys = main_keys();
  ScoringOptions options;
  options.unigram_evidence = false;
  options.depth = 2;
  options.max_keys_per_passage = 1;
  // The score still counts every key; only the report is cut.
  expect_ranking(intersective_score(index_, keys, {}, options),
                 {{0, score0, {1}}, {1, score1, {2}}});
  options.depth = 0;
  EXPECT_TRUE(intersective_score(index_, keys, {}, options).empty());
}

TEST_P(IntersectiveScoring, FrequentKeysDoNotNominateButStillScore) {
  std::vector<ScoredKey> keys = main_keys();
  ScoringOptions options;
  options.unigram_evidence = false;
  options.max_hits = 1;  // only k1 (p0) and k5 (p1) nominate; k0 "3 4" (F = 3) and k2 (F = 2)
                         // nominate nothing, but score in p0 and p1; p2 and p3 are never scored
  expect_ranking(intersective_score(index_, keys, {}, options),
                 {{0, score0, {1, 0}}, {1, score1, {2, 0, 5}}});
}

TEST_P(IntersectiveScoring, OnlyTheTopNominatedCandidatesAreFullyScored) {
  // Nomination sums: p0 = w1 + w2 + w0 ≈ 7.08, p1 = w2 + w0 + w5 ≈ 1.94, p2 = w0 + w3 ≈ 0.50,
  // p3 = w3 ≈ 0.19. With unigram evidence p2 would outrank p1's nomination sum after full
  // scoring, but only the first two candidates are scored.
  std::vector<ScoredKey> keys = main_keys();
  ScoringOptions options;
  options.fully_score = 2;
  const std::vector<Unigram> unigrams = {{7, -0.2}, {6, -0.3}};
  // u7: F = 1, P = 6/32; u6: F = 3 (p1 once, p3 twice), P = 8/32; no exponent.
  const double u7 =
      (-0.2 + std::log(1 - 6.0 / 32)) - (std::log(6.0 / 32) + std::log(1 - std::exp(-0.2)));
  const double u6 =
      (-0.3 + std::log(1 - 8.0 / 32)) - (std::log(8.0 / 32) + std::log(1 - std::exp(-0.3)));
  expect_ranking(intersective_score(index_, keys, unigrams, options),
                 {{0, score0, {1, 0}}, {1, score1 + u6, {2, 0, 5}}});
  options.fully_score = 0;
  EXPECT_TRUE(intersective_score(index_, keys, unigrams, options).empty());
  // Without the limit: p2 (≈ 0.50 + 2.97) comes before p3 (≈ 0.19 + 2.15).
  options.fully_score = 1500;
  expect_ranking(intersective_score(index_, keys, unigrams, options), {{0, score0, {1, 0}},
                                                                       {1, score1 + u6, {2, 0, 5}},
                                                                       {2, score2 + u7, {0, 3}},
                                                                       {3, score3 + u6, {3}}});
}

TEST_P(IntersectiveScoring, UnigramEvidenceAddsPositiveLogOddsOncePerPassage) {
  std::vector<ScoredKey> keys = main_keys();
  // 6 (F = 3) occurs twice in p3 but counts once; the repeated 6 is ignored (its first entry
  // counts); 5 (F = 2) has negative log-odds at sr = −5 and adds nothing to p0 and p3;
  // 42 is not in the corpus.
  const std::vector<Unigram> unigrams = {{6, -0.3}, {7, -0.2}, {5, -5.0}, {6, -9.0}, {42, -0.1}};
  const double u6 =
      (-0.3 + std::log(1 - 8.0 / 32)) - (std::log(8.0 / 32) + std::log(1 - std::exp(-0.3)));
  const double u7 =
      (-0.2 + std::log(1 - 6.0 / 32)) - (std::log(6.0 / 32) + std::log(1 - std::exp(-0.2)));
  ScoringOptions options;
  // p0 = 5.498, p1 = 1.925 + 2.149 = 4.074, p2 = 0.497 + 2.974 = 3.471, p3 = 0.186 + 2.149
  expect_ranking(intersective_score(index_, keys, unigrams, options), {{0, score0, {1, 0}},
                                                                       {1, score1 + u6, {2, 0, 5}},
                                                                       {2, score2 + u7, {0, 3}},
                                                                       {3, score3 + u6, {3}}});
  options.unigram_evidence = false;
  EXPECT_NEAR(intersective_score(index_, keys, unigrams, options)[0].score, score0, kTolerance);
  // Unigrams alone nominate nothing.
  std::vector<ScoredKey> none;
  options.unigram_evidence = true;
  EXPECT_TRUE(intersective_score(index_, none, unigrams, options).empty());
}

TEST_P(IntersectiveScoring, TitleKeysMatchTitlesOnly) {
  // "3 4" is p1's title and body text of p0 and p2: the title key matches p1 alone.
  std::vector<ScoredKey> keys = {title_key({3, 4}, -0.05)};
  ScoringOptions options;
  options.unigram_evidence = false;
  const auto ranked = intersective_score(index_, keys, {}, options);
  // F = 1 of T = 4 titles, P = 6/9, same sr as k1: the weight is w1.
  EXPECT_EQ(keys[0].count, 1u);
  expect_ranking(ranked, {{1, w1, {0}}});
  // A frequent body key nominating every "3 4" passage does not let the title key match them.
  keys = {title_key({3, 4}, -0.05), body_key({3, 4}, -1.0)};
  expect_ranking(intersective_score(index_, keys, {}, options),
                 {{1, w1, {0}},  // the body key repeats the counted title's words: skipped
                  {0, w0, {1}},
                  {2, w0, {1}}});
}

TEST_P(IntersectiveScoring, TitleKeysAreWeighedAgainstTheNumberOfTitles) {
  // The same generated tokens and log-probability as a title key and as a body key. N = 27
  // corpus tokens, T = count(</s>) = 4 titles, s = 5, sr = −0.1.
  //   title "</s> 7" (unfinished, one title token): F = 1 (p2's title), P = (1 + 5) / (4 + 5)
  //     lo = (−0.1 + log(1 − 6/9)) − (log(6/9) + log(1 − e^−0.1))
  //        = (−0.1 − 1.098612) − (−0.405465 − 2.352168) = 1.559021,   w = lo² = 2.430547
  //   body "7": F = 1 (the same occurrence), P = (1 + 5) / (27 + 5)
  //     lo = (−0.1 + log(26/32)) − (log(6/32) + log(1 − e^−0.1))
  //        = (−0.1 − 0.207639) − (−1.673976 − 2.352168) = 3.718506,   w = 13.827283
  // Over all N tokens the title key would weigh as much as the body key (13.83): one title among
  // four is far less surprising than one token among 27.
  ScoredKey title;
  title.view = View::kTitle;
  title.indexed = {kTitleStart, 7};
  title.prefix_length = 1;
  title.tokens = {7};
  title.log_prob = -0.1;
  std::vector<ScoredKey> keys = {title, body_key({7}, -0.1)};
  ScoringOptions options;
  options.unigram_evidence = false;
  const auto ranked = intersective_score(index_, keys, {}, options);
  EXPECT_EQ(keys[0].count, 1u);
  EXPECT_EQ(keys[1].count, 1u);
  EXPECT_NEAR(keys[0].weight, 2.430547, 1e-6);
  EXPECT_NEAR(keys[1].weight, 13.827283, 1e-6);
  EXPECT_NEAR(keys[0].weight, std::pow(key_log_odds(-0.1, 1, 4, 5.0), 2), kTolerance);
  EXPECT_EQ(key_positions(index_, keys[0], 27), 4u);
  EXPECT_EQ(key_positions(index_, keys[1], 27), 27u);
  // p2: the body key (counted first) and the title key repeating its tokens, skipped.
  expect_ranking(ranked, {{2, keys[1].weight, {1}}});
  // Without its prefix length the key would be weighed over N, as a body key is.
  keys[0].prefix_length = 0;
  intersective_score(index_, keys, {}, options);
  EXPECT_NEAR(keys[0].weight, keys[1].weight, kTolerance);
}

TEST_P(IntersectiveScoring, ExtremeLogProbsGiveFiniteScores) {
  std::vector<ScoredKey> keys = {body_key({3, 4}, 0.0), body_key({9}, -1e4),
                                 body_key({1, 2}, -std::numeric_limits<double>::infinity())};
  ScoringOptions options;
  const auto ranked = intersective_score(index_, keys, {{6, 0.0}, {7, -1e4}}, options);
  // sr = 0 → lo ≈ 14, finite weight; the other two weigh 0.
  EXPECT_TRUE(std::isfinite(keys[0].weight));
  EXPECT_GT(keys[0].weight, 0.0);
  EXPECT_EQ(keys[1].weight, 0.0);
  EXPECT_EQ(keys[2].weight, 0.0);
  ASSERT_EQ(ranked.size(), 3u);  // the passages holding "3 4"
  for (const ScoredPassage& p : ranked)
    EXPECT_TRUE(std::isfinite(p.score)) << p.passage;
  // p1 also has unigram 6 (sr = 0 → clamped): it ranks first.
  EXPECT_EQ(ranked[0].passage, 1u);
  EXPECT_NEAR(ranked[0].score - ranked[1].score, key_log_odds(0.0, 3, 27, 5.0), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Shards, IntersectiveScoring, ::testing::Values(size_t{0}, size_t{2}),
                         [](const auto& info) {
                           return info.param == 0 ? std::string("OneIndex")
                                                  : std::string("TwoShards");
                         });

TEST(IntersectiveScoringCover, KeysCoveredBySeveralCountedKeysCountAtOneMinusBeta) {
  // q0 "4 8 9 4"; q1, q2 fill the corpus: N = 4 + 3 + 4 = 11, N + s = 16.
  const ShardedIndex index = make_index({{{4, 8, 9, 4}}, {{1, 2, 3}}, {{5, 6, 7, 1}}});
  std::vector<ScoredKey> keys = {
      body_key({4, 8}, -0.5),  // kA
      body_key({9, 4}, -0.6),  // kB
      body_key({8, 9}, -0.7),  // kC: both tokens covered by kA and kB, but repeats neither
      body_key({8}, -0.9),     // kD: inside the counted kA → skipped
  };
  // Every key has F = 1, P = 6/16.
  const double la =
      (-0.5 + std::log(1 - 6.0 / 16)) - (std::log(6.0 / 16) + std::log(1 - std::exp(-0.5)));
  const double lb =
      (-0.6 + std::log(1 - 6.0 / 16)) - (std::log(6.0 / 16) + std::log(1 - std::exp(-0.6)));
  const double lc =
      (-0.7 + std::log(1 - 6.0 / 16)) - (std::log(6.0 / 16) + std::log(1 - std::exp(-0.7)));
  const double ld =
      (-0.9 + std::log(1 - 6.0 / 16)) - (std::log(6.0 / 16) + std::log(1 - std::exp(-0.9)));
  ASSERT_GT(ld, 0);  // kD weighs > 0: skipping it is the overlap rule, not a zero weight
  // kA: cover 1; kB {9, 4} with C = {4, 8}: 1 − 0.8 + 0.8 · 1/2 = 0.6; kC {8, 9} with
  // C = {4, 8, 9}: 1 − 0.8 = 0.2.
  const double expected = la * la + 0.6 * lb * lb + 0.2 * lc * lc;
  ScoringOptions options;
  expect_ranking(intersective_score(index, keys, {}, options), {{0, expected, {0, 1, 2}}});
  // β = 0: every counted key adds its full weight.
  options.beta = 0.0;
  expect_ranking(intersective_score(index, keys, {}, options),
                 {{0, la * la + lb * lb + lc * lc, {0, 1, 2}}});
  // α = 1: the weights are the log-odds.
  options.beta = 0.8;
  options.alpha = 1.0;
  expect_ranking(intersective_score(index, keys, {}, options),
                 {{0, la + 0.6 * lb + 0.2 * lc, {0, 1, 2}}});
}

TEST(IntersectiveScoringOptions, OutOfRangeOptionsThrowConfigError) {
  const ShardedIndex index = make_index(kCorpus);
  std::vector<ScoredKey> keys = main_keys();
  auto with = [](auto change) {
    ScoringOptions options;
    change(options);
    return options;
  };
  EXPECT_THROW(intersective_score(index, keys, {}, with([](auto& o) { o.beta = 1.5; })),
               ConfigError);
  EXPECT_THROW(intersective_score(index, keys, {}, with([](auto& o) { o.alpha = -1; })),
               ConfigError);
  EXPECT_THROW(intersective_score(index, keys, {}, with([](auto& o) { o.smoothing = 0; })),
               ConfigError);
  EXPECT_THROW(intersective_score(index, keys, {}, with([](auto& o) { o.depth = -1; })),
               ConfigError);
  EXPECT_THROW(intersective_score(index, keys, {}, with([](auto& o) { o.fully_score = -1; })),
               ConfigError);
}

}  // namespace
}  // namespace dgr::search
