// DGR's differentiable passage score: key priors and weights equal the torch-free SEAL scoring
// (search::key_log_odds / key_weight) with the same N per view (corpus tokens for body keys, the
// count of the title / pseudo-query start marker for title / pseudo-query keys), stay finite with
// finite gradients as ŝ → 0 and for any α > 0, log1mexp is accurate over [−50, −1e-12]; coverage
// coefficients by hand; teacher forcing of keys of every view, for several queries in one batch,
// equals BartGenerator::score_sequences; s(q, p) composes the key weights as the search does, and
// its gradient with respect to the model parameters (a tiny BART in double precision) equals
// central finite differences.
#include "core/rank/passage_score.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "core/model/bart_generator.h"
#include "core/search/intersective_scoring.h"
#include "core/util/error.h"

namespace dgr::rank {
namespace {

using search::View;

constexpr int64_t kVocab = 40;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Title keys after marker 3 and finished by 4 5; body keys without prompt; pseudo-queries after
// marker 6, finished by 4 5.
KeyPrompts test_prompts() {
  KeyPrompts prompts;
  prompts.title = {{3}, {4, 5}};
  prompts.body = {{}, {}};
  prompts.pseudo_query = {{6}, {4, 5}};
  return prompts;
}

// N of a key as the search takes it (search::key_positions): the marker counts for the views
// with a prefix, the corpus tokens for body keys.
uint64_t search_positions(View view, const PassageScoreOptions& options) {
  switch (view) {
    case View::kTitle:
      return options.title_positions;
    case View::kPseudoQuery:
      return options.pq_positions;
    case View::kBody:
      break;
  }
  return options.corpus_tokens;
}

torch::Tensor doubles(const std::vector<double>& v) {
  return torch::tensor(v, torch::kDouble);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// ---- priors and weights -------------------------------------------------------------------

TEST(PassageScoreKeyPrior, IsLogOddsOfTheSmoothedFrequency) {
  for (const double smoothing : {5.0, 0.5}) {
    for (const int64_t count : {0, 1, 7, 999}) {
      const uint64_t n = 1000;
      const double p = (static_cast<double>(count) + smoothing) / (1000.0 + smoothing);
      EXPECT_NEAR(key_prior(count, n, smoothing), std::log1p(-p) - std::log(p), 1e-12)
          << count << " " << smoothing;
    }
  }
  EXPECT_EQ(key_prior(1000, 1000, 5.0), -kInf);  // P ≥ 1
  EXPECT_EQ(key_prior(2000, 1000, 5.0), -kInf);
  EXPECT_EQ(key_prior(0, 0, 5.0), -kInf);
  EXPECT_THROW(key_prior(1, 1000, 0.0), ConfigError);
  EXPECT_THROW(key_prior(-1, 1000, 5.0), DataError);
}

TEST(PassageScoreKeyWeights, EqualSearchKeyWeightOfKeyLogOdds) {
  const std::vector<double> log_probs = {0.0,   -1e-12, -1e-9, -1e-7, -1e-6, -1e-5, -1e-3, -0.1,
                                         -0.69, -0.7,   -1.0,  -3.0,  -10.0, -30.0, -1e4};
  // `positions` is N of the key: corpus tokens (body) or a marker count (title: T titles).
  struct Count {
    int64_t count;
    uint64_t positions;
    double smoothing;
  };
  const std::vector<Count> counts = {
      {0, 1000000, 5.0},    {3, 1000000, 5.0},      {50000, 1000000, 5.0},
      {1, 1000000000, 0.5}, {999999, 1000000, 5.0}, {1000000, 1000000, 5.0},
      {10, 100, 5.0},       {2, 20000, 5.0},        {0, 20000, 5.0}};
  for (const double alpha : {0.5, 1.0, 2.0, 3.5}) {
    for (const Count& c : counts) {
      const double prior = key_prior(c.count, c.positions, c.smoothing);
      const auto weights = to_vector(key_weights(
          doubles(log_probs),
          torch::full({static_cast<int64_t>(log_probs.size())}, prior, torch::kDouble), alpha));
      for (size_t i = 0; i < log_probs.size(); ++i) {
        const double expected =
            search::key_weight(search::key_log_odds(log_probs[i], static_cast<uint64_t>(c.count),
                                                    c.positions, c.smoothing),
                               alpha);
        ASSERT_TRUE(std::isfinite(weights[i])) << log_probs[i];
        EXPECT_NEAR(weights[i], expected, 1e-10 * std::max(1.0, expected))
            << "log-prob " << log_probs[i] << ", count " << c.count << ", alpha " << alpha;
      }
    }
  }
}

TEST(PassageScorePriorPositions, TitleAndPseudoQueryKeysUseTheirMarkerCounts) {
  const KeyPrompts prompts = test_prompts();
  PassageScoreOptions options;
  options.corpus_tokens = 1000000;  // N
  options.title_positions = 1000;   // T
  options.pq_positions = 3000;
  EXPECT_EQ(prior_positions(View::kBody, prompts, options), 1000000u);
  EXPECT_EQ(prior_positions(View::kTitle, prompts, options), 1000u);
  EXPECT_EQ(prior_positions(View::kPseudoQuery, prompts, options), 3000u);
  // A view without a prefix can start anywhere: N, as at inference.
  KeyPrompts bare = prompts;
  bare.title.prefix.clear();
  EXPECT_EQ(prior_positions(View::kTitle, bare, options), 1000000u);

  // By hand, a title key with F = 5, s = 5, ŝ = −2, α = 2, over T = 1000 titles:
  //   P     = (5 + 5) / (1000 + 5) = 10 / 1005
  //   prior = log(1 − P) − log P = log(995 / 10) = log 99.5                     = 4.6001576442
  //   log(1 − e^−2) = log 0.8646647168                                          = −0.1454134579
  //   x     = −2 + 4.6001576442 + 0.1454134579                                  = 2.7455711020
  //   w     = x² = 7.5381606763
  // (over N = 10^6 tokens the prior would be log 99999.5 = 11.5129 and w = 93.28).
  const double prior =
      key_prior(5, prior_positions(View::kTitle, prompts, options), options.smoothing);
  EXPECT_NEAR(prior, 4.6001576442, 1e-9);
  const auto w = to_vector(key_weights(doubles({-2.0}), doubles({prior}), 2.0));
  EXPECT_NEAR(w[0], 7.5381606763, 1e-9);

  // A marker count of 0 (a manifest without it, not passed on) is a ConfigError naming it.
  for (const auto& [view, name] : {std::pair<View, std::string>{View::kTitle, "title_positions"},
                                   {View::kPseudoQuery, "pq_positions"}}) {
    PassageScoreOptions missing = options;
    (view == View::kTitle ? missing.title_positions : missing.pq_positions) = 0;
    try {
      prior_positions(view, prompts, missing);
      ADD_FAILURE() << "accepted " << name << " = 0";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    EXPECT_EQ(prior_positions(View::kBody, prompts, missing), 1000000u);
  }
}

TEST(PassageScoreKeyWeights, NearCertainKeysHaveFiniteWeightsAndGradients) {
  const std::vector<double> log_probs = {0.0, -1e-12, -1e-7, -1e-3};
  for (const auto dtype : {torch::kDouble, torch::kFloat32}) {
    for (const double alpha : {0.5, 1.0, 2.0}) {
      // Positive log-odds, negative log-odds (≈ −16 at the clamp) and P ≥ 1.
      for (const double prior : {10.0, -30.0, -kInf}) {
        auto s = doubles(log_probs).to(dtype).requires_grad_(true);
        auto priors = torch::full({4}, prior, torch::TensorOptions().dtype(dtype));
        auto w = key_weights(s, priors, alpha);
        w.sum().backward();
        const auto values = to_vector(w);
        const auto grads = to_vector(s.grad());
        for (size_t i = 0; i < log_probs.size(); ++i) {
          const std::string where = "log-prob " + std::to_string(log_probs[i]) + ", alpha " +
                                    std::to_string(alpha) + ", prior " + std::to_string(prior);
          ASSERT_TRUE(std::isfinite(values[i])) << where;
          ASSERT_TRUE(std::isfinite(grads[i])) << where;
          if (prior < 0) {
            EXPECT_EQ(values[i], 0.0) << where;
            EXPECT_EQ(grads[i], 0.0) << where;
            continue;
          }
          // x = ŝ + prior − log(1 − e^ŝ) at ŝ clamped to −1e-6; dw/dŝ = α x^(α−1) / (1 − e^ŝ)
          // below the clamp, 0 above it.
          const double sr = std::min(log_probs[i], -1e-6);
          const double x = sr + prior - std::log(-std::expm1(sr));
          const double grad =
              log_probs[i] < -1e-6 ? alpha * std::pow(x, alpha - 1) / (-std::expm1(sr)) : 0.0;
          const double tolerance = dtype == torch::kDouble ? 1e-10 : 1e-5;
          EXPECT_NEAR(values[i], std::pow(x, alpha), tolerance * std::pow(x, alpha)) << where;
          EXPECT_NEAR(grads[i], grad, tolerance * std::max(1.0, std::abs(grad))) << where;
        }
      }
    }
  }
}

TEST(PassageScoreKeyWeights, WeightIsZeroWithZeroGradientAtNegativeOddsForSmallAlpha) {
  // For α < 1, x^(α−1) is infinite at 0: the masked branch must not leak 0 · ∞.
  auto s = doubles({-5.0, -2.0}).requires_grad_(true);
  auto w = key_weights(s, doubles({1.0, 2.0 + std::log(-std::expm1(-2.0)) - 1e-3}), 0.25);
  w.sum().backward();
  EXPECT_EQ(to_vector(w), (std::vector<double>{0.0, 0.0}));  // x = −4 and ≈ −1e-3
  EXPECT_EQ(to_vector(s.grad()), (std::vector<double>{0.0, 0.0}));
}

TEST(PassageScoreLog1mexp, AccurateAgainstLongDoubleFromMinus50ToMinus1e12) {
  std::vector<double> xs;
  for (int i = 0; i <= 400; ++i)  // −50 ... −1e-12, log-spaced in |x|
    xs.push_back(-std::pow(10.0, std::log10(50.0) - (std::log10(50.0) + 12.0) * i / 400.0));
  xs.push_back(-std::log(2.0));
  xs.push_back(std::nextafter(-std::log(2.0), 0.0));
  xs.push_back(std::nextafter(-std::log(2.0), -1.0));
  auto reference = [](long double x) {
    // Each form where it has no cancellation (split away from ln 2 on purpose).
    return x > -0.5L ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x));
  };
  const auto values = to_vector(log1mexp(doubles(xs)));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double expected = static_cast<double>(reference(static_cast<long double>(xs[i])));
    EXPECT_NEAR(values[i], expected, 4e-16 * std::abs(expected) + 1e-300) << "x = " << xs[i];
  }
  // float32: the same inputs rounded to float.
  const auto as_float = doubles(xs).to(torch::kFloat32);
  const auto float_values = to_vector(log1mexp(as_float));
  const auto float_xs = to_vector(as_float);
  for (size_t i = 0; i < xs.size(); ++i) {
    const double expected = static_cast<double>(reference(static_cast<long double>(float_xs[i])));
    EXPECT_NEAR(float_values[i], expected, 3e-7 * std::abs(expected) + 1e-40)
        << "x = " << float_xs[i];
  }
}

TEST(PassageScoreLog1mexp, GradientIsFiniteAndExact) {
  auto x = doubles({-1e-12, -1e-6, -0.5, -std::log(2.0), -1.0, -30.0}).requires_grad_(true);
  log1mexp(x).sum().backward();
  const auto xs = to_vector(x);
  const auto grads = to_vector(x.grad());
  for (size_t i = 0; i < xs.size(); ++i) {
    const double expected = -1.0 / std::expm1(-xs[i]);  // d/dx log(1 − e^x) = −e^x / (1 − e^x)
    EXPECT_NEAR(grads[i], expected, 1e-12 * std::abs(expected)) << xs[i];
  }
}

// ---- coverage -------------------------------------------------------------------------------

TEST(PassageScoreCoverage, HandComputed) {
  const KeyPrompts prompts = test_prompts();
  const std::vector<ScoreKey> keys = {
      {View::kTitle, {10, 11, 4, 5}, 1},    // T {10, 11} (end stripped): all new -> 1
      {View::kBody, {11, 12, 12}, 1},       // T {11, 12}: 12 new of 2 -> 1 − β + β/2
      {View::kBody, {12, 10}, 1},           // all covered -> 1 − β
      {View::kPseudoQuery, {4, 5}, 1},      // only the end marker: no tokens -> 1 − β
      {View::kBody, {4, 5, 13}, 1},         // body has no end marker: 4, 5, 13 all new -> 1
      {View::kTitle, {13, 4, 5}, 1},        // T {13}: covered -> 1 − β
      {View::kTitle, {4, 5, 14}, 1},        // end marker not at the end: T {4, 5, 14}, 1 new
      {View::kPseudoQuery, {15, 5, 4}, 1},  // 5 4 is not the end marker: T {4, 5, 15}, 1 new
  };
  auto expect = [&](double beta, const std::vector<double>& expected) {
    const auto got = coverage_coefficients(keys, prompts, beta);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], expected[i], 1e-15) << "key " << i << ", beta " << beta;
  };
  expect(0.8, {1.0, 0.6, 0.2, 0.2, 1.0, 0.2, 0.2 + 0.8 / 3, 0.2 + 0.8 / 3});
  expect(0.0, {1, 1, 1, 1, 1, 1, 1, 1});
  expect(1.0, {1.0, 0.5, 0.0, 0.0, 1.0, 0.0, 1.0 / 3, 1.0 / 3});
  EXPECT_TRUE(coverage_coefficients({}, prompts, 0.8).empty());
}

TEST(PassageScoreCoverage, DependsOnOrder) {
  const KeyPrompts prompts = test_prompts();
  const ScoreKey a{View::kBody, {10, 11}, 1};
  const ScoreKey b{View::kBody, {11}, 1};
  const auto ab = coverage_coefficients({a, b}, prompts, 0.5);
  const auto ba = coverage_coefficients({b, a}, prompts, 0.5);
  EXPECT_EQ(ab, (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(ba, (std::vector<double>{1.0, 0.75}));
}

// ---- teacher forcing and s(q, p) on a tiny BART ----------------------------------------------

class PassageScoreModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(11);
    auto config = model::BartConfig::preset("tiny", kVocab);
    config.init_std = 0.2;  // spread distributions: log-probabilities differ between keys
    model_ = model::BartModel(config);
    model_->eval();
  }

  // Encoder batch as BartGenerator builds it: <s> query </s>, right-padded.
  std::pair<torch::Tensor, torch::Tensor> encoder_batch(
      const std::vector<std::vector<int32_t>>& queries) {
    std::vector<std::vector<int64_t>> inputs;
    size_t longest = 0;
    for (const auto& q : queries) {
      inputs.push_back(model::bart_encoder_input(q, model_->config()));
      longest = std::max(longest, inputs.back().size());
    }
    const auto n = static_cast<int64_t>(queries.size());
    auto ids = torch::full({n, static_cast<int64_t>(longest)}, model_->config().pad_token_id,
                           torch::kLong);
    auto mask = torch::zeros_like(ids);
    for (int64_t i = 0; i < n; ++i) {
      const auto& input = inputs[static_cast<size_t>(i)];
      for (size_t t = 0; t < input.size(); ++t) {
        ids[i][static_cast<int64_t>(t)] = input[t];
        mask[i][static_cast<int64_t>(t)] = 1;
      }
    }
    return {ids, mask};
  }

  // score_sequences of one key: the log-probability stored at retrieval.
  double stored_log_prob(const std::vector<int32_t>& query, const ScoreKey& key) {
    model::BartGenerator generator(model_);
    return generator.score_sequences(query, {prompts_.of(key.view).prefix}, {key.tokens})[0];
  }

  model::BartModel model_{nullptr};
  const KeyPrompts prompts_ = test_prompts();
  const std::vector<std::vector<int32_t>> queries_ = {
      {5, 9, 12, 7, 30}, {8}, {20, 21, 22, 23, 24, 25, 26}};
};

TEST_F(PassageScoreModelTest, TeacherForcingEqualsScoreSequences) {
  const std::vector<std::pair<int64_t, ScoreKey>> keyed = {
      {2, {View::kPseudoQuery, {30, 31, 32, 33, 34, 35, 4, 5}, 2}},
      {0, {View::kTitle, {10, 11, 4, 5}, 1}},
      {0, {View::kBody, {12}, 9}},
      {1, {View::kBody, {7, 7}, 3}},
      {0, {View::kBody, {13, 14, 15, 16, 17, 18, 19, 20, 21, 22}, 1}},
      {2, {View::kBody, {20}, 40}},
      {1, {View::kTitle, {9, 4, 5}, 1}},
      {0, {View::kPseudoQuery, {18, 4, 5}, 1}},
      {1, {View::kTitle, {4}, 1}},
  };
  std::vector<int64_t> query_of;
  std::vector<const ScoreKey*> keys;
  for (const auto& [query, key] : keyed) {
    query_of.push_back(query);
    keys.push_back(&key);
  }
  auto [ids, mask] = encoder_batch(queries_);
  const auto encoder_out = model_->encode(ids, mask);  // [3, S, D]
  const auto log_probs =
      teacher_forced_log_probs(model_, encoder_out, mask, query_of, keys, prompts_);
  ASSERT_EQ(log_probs.scalar_type(), torch::kFloat32);
  ASSERT_EQ(log_probs.sizes(), torch::IntArrayRef({static_cast<int64_t>(keyed.size())}));
  const auto got = to_vector(log_probs);
  for (size_t k = 0; k < keyed.size(); ++k) {
    const double expected =
        stored_log_prob(queries_[static_cast<size_t>(keyed[k].first)], keyed[k].second);
    EXPECT_LT(expected, -0.5) << "key " << k;  // a real probability, not a trivial 0
    EXPECT_NEAR(got[k], expected, 1e-5) << "key " << k;
  }

  // Differentiable through the decoder and, via the selected rows, the encoder.
  log_probs.sum().backward();
  auto parameters = model_->named_parameters();
  for (const char* name :
       {"model.encoder.layers.0.fc1.weight", "model.decoder.layers.1.fc2.weight",
        "model.shared.weight", "model.decoder.layers.0.encoder_attn.k_proj.weight"}) {
    const auto& grad = parameters[name].grad();
    ASSERT_TRUE(grad.defined()) << name;
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << name;
    EXPECT_TRUE(torch::isfinite(grad).all().item<bool>()) << name;
  }
}

TEST_F(PassageScoreModelTest, TeacherForcingRejectsEmptyAndOverlongKeys) {
  auto [ids, mask] = encoder_batch({queries_[0]});
  torch::NoGradGuard no_grad;
  const auto encoder_out = model_->encode(ids, mask);
  auto run = [&](const ScoreKey& key) {
    return teacher_forced_log_probs(model_, encoder_out, mask, {0}, {&key}, prompts_);
  };
  EXPECT_THROW(run({View::kBody, {}, 1}), DataError);
  // 64 positions: start + 63 body tokens fits; a title key of 64 tokens needs 65.
  EXPECT_NO_THROW(run({View::kBody, std::vector<int32_t>(64, 7), 1}));
  EXPECT_THROW(run({View::kBody, std::vector<int32_t>(65, 7), 1}), DataError);
  EXPECT_THROW(run({View::kTitle, std::vector<int32_t>(64, 7), 1}), DataError);
  EXPECT_EQ(teacher_forced_log_probs(model_, encoder_out, mask, {}, {}, prompts_).numel(), 0);
}

// Candidates for three queries: a key-less candidate, a key with P ≥ 1, and keys whose
// log-odds are clearly positive or negative (away from the kink of max(0, x)).
std::vector<CandidateKeys> test_candidates() {
  return {
      {0,
       {{View::kTitle, {10, 11, 4, 5}, 2},
        {View::kBody, {11, 12}, 30},
        {View::kBody, {12}, 900},
        {View::kPseudoQuery, {11, 4, 5}, 0}}},
      {1, {}},
      {1, {{View::kBody, {7, 7}, 3}, {View::kTitle, {9, 4, 5}, 1}}},
      {2, {{View::kBody, {20}, 1000000}, {View::kBody, {21, 22}, 5}}},
      {0, {{View::kBody, {13, 14, 15, 16, 17, 18, 19}, 50}}},
  };
}

TEST_F(PassageScoreModelTest, ScoreCandidatesComposesWeightsAsTheSearchDoes) {
  PassageScoreOptions options;
  options.corpus_tokens = 1000000;
  options.title_positions = 900000;  // T (below N: the weights differ from a body key's)
  options.pq_positions = 800000;
  const auto candidates = test_candidates();
  auto [ids, mask] = encoder_batch(queries_);
  const auto encoder_out = model_->encode(ids, mask);
  const auto scores = score_candidates(model_, encoder_out, mask, candidates, prompts_, options);
  ASSERT_EQ(scores.scalar_type(), torch::kFloat32);
  const auto got = to_vector(scores);
  ASSERT_EQ(got.size(), candidates.size());
  int positive_keys = 0, zero_keys = 0;
  for (size_t c = 0; c < candidates.size(); ++c) {
    const auto& candidate = candidates[c];
    const auto coverage = coverage_coefficients(candidate.keys, prompts_, options.beta);
    double expected = 0;
    for (size_t k = 0; k < candidate.keys.size(); ++k) {
      const ScoreKey& key = candidate.keys[k];
      const double log_odds = search::key_log_odds(
          stored_log_prob(queries_[static_cast<size_t>(candidate.query)], key),
          static_cast<uint64_t>(key.count), search_positions(key.view, options), options.smoothing);
      const double weight = search::key_weight(log_odds, options.alpha);
      (weight > 0 ? positive_keys : zero_keys) += 1;
      expected += coverage[k] * weight;
    }
    EXPECT_NEAR(got[c], expected, 1e-4 * std::max(1.0, expected)) << "candidate " << c;
  }
  EXPECT_EQ(got[1], 0.0);  // no keys
  EXPECT_GE(positive_keys, 4);
  EXPECT_GE(zero_keys, 2);  // P ≥ 1 and the long, frequent key
  EXPECT_GT(got[0], 0.0);

  // Unrelated candidates (only key-less ones) score 0 without running the model.
  const auto none =
      score_candidates(model_, encoder_out, mask, {{0, {}}, {2, {}}}, prompts_, options);
  EXPECT_EQ(to_vector(none), (std::vector<double>{0.0, 0.0}));
}

TEST_F(PassageScoreModelTest, OptionsOutOfRangeAreConfigErrors) {
  auto [ids, mask] = encoder_batch({queries_[0]});
  torch::NoGradGuard no_grad;
  const auto encoder_out = model_->encode(ids, mask);
  const std::vector<CandidateKeys> candidates = {{0, {{View::kBody, {12}, 1}}}};
  auto expect_error = [&](const PassageScoreOptions& options, const std::string& name) {
    try {
      score_candidates(model_, encoder_out, mask, candidates, prompts_, options);
      ADD_FAILURE() << "accepted bad " << name;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  PassageScoreOptions good;
  good.corpus_tokens = 1000;
  EXPECT_NO_THROW(score_candidates(model_, encoder_out, mask, candidates, prompts_, good));
  for (const double alpha : {0.0, -1.0, std::nan("")}) {
    auto o = good;
    o.alpha = alpha;
    expect_error(o, "passage score: alpha");
  }
  for (const double beta : {-0.1, 1.5, std::nan("")}) {
    auto o = good;
    o.beta = beta;
    expect_error(o, "passage score: beta");
  }
  for (const double smoothing : {0.0, -5.0}) {
    auto o = good;
    o.smoothing = smoothing;
    expect_error(o, "passage score: smoothing");
  }
  auto o = good;
  o.corpus_tokens = 0;
  expect_error(o, "corpus_tokens");
  o = good;
  o.max_log_prob = 0;
  expect_error(o, "max_log_prob");
  // Checked even when nothing is scored.
  o = good;
  o.alpha = 0;
  EXPECT_THROW(score_candidates(model_, encoder_out, mask, {}, prompts_, o), ConfigError);
  // The marker counts are needed only by keys of their view.
  const std::vector<CandidateKeys> title = {{0, {{View::kTitle, {9, 4, 5}, 1}}}};
  const std::vector<CandidateKeys> pq = {{0, {{View::kPseudoQuery, {9, 4, 5}, 1}}}};
  EXPECT_THROW(score_candidates(model_, encoder_out, mask, title, prompts_, good), ConfigError);
  EXPECT_THROW(score_candidates(model_, encoder_out, mask, pq, prompts_, good), ConfigError);
  o = good;
  o.title_positions = 100;
  EXPECT_NO_THROW(score_candidates(model_, encoder_out, mask, title, prompts_, o));
  EXPECT_THROW(score_candidates(model_, encoder_out, mask, pq, prompts_, o), ConfigError);
}

TEST_F(PassageScoreModelTest, TitleKeyWeightUsesTheNumberOfTitles) {
  // One unfinished title key (F = 0) over N = 10^18 tokens but T = 10^9 titles: the priors,
  // log(T / 5) = 19.1 against log(N / 5) = 39.8, leave both log-odds positive and far apart.
  auto [ids, mask] = encoder_batch({queries_[1]});
  torch::NoGradGuard no_grad;
  const auto encoder_out = model_->encode(ids, mask);
  const ScoreKey key{View::kTitle, {9}, 0};
  PassageScoreOptions options;
  options.corpus_tokens = 1000000000000000000ull;
  options.title_positions = 1000000000ull;
  const double score =
      to_vector(score_candidates(model_, encoder_out, mask, {{0, {key}}}, prompts_, options))[0];
  const double sr = stored_log_prob(queries_[1], key);
  const double over_titles = search::key_weight(
      search::key_log_odds(sr, 0, options.title_positions, options.smoothing), options.alpha);
  const double over_tokens = search::key_weight(
      search::key_log_odds(sr, 0, options.corpus_tokens, options.smoothing), options.alpha);
  ASSERT_GT(over_titles, 0.0) << "log-prob " << sr;
  EXPECT_NEAR(score, over_titles, 1e-4 * over_titles);
  EXPECT_GT(over_tokens - over_titles, 100.0);  // (x + 20.7)² − x² for x > 0
}

TEST_F(PassageScoreModelTest, GradientEqualsFiniteDifferencesInDouble) {
  model_->to(torch::kDouble);
  PassageScoreOptions options;
  options.corpus_tokens = 1000000;
  // N for every view: the kink margins checked below were set with it (the views' own counts
  // are checked against the search above).
  options.title_positions = options.corpus_tokens;
  options.pq_positions = options.corpus_tokens;
  options.alpha = 1.5;  // a non-integer exponent
  const auto candidates = test_candidates();
  auto [ids, mask] = encoder_batch(queries_);
  // A fixed mix of the candidates' scores, so every candidate's gradient counts.
  const auto mix = doubles({0.7, -1.3, 0.4, 1.1, -0.6});
  auto objective = [&]() {
    const auto encoder_out = model_->encode(ids, mask);  // encoder inside: its gradient too
    const auto scores = score_candidates(model_, encoder_out, mask, candidates, prompts_, options);
    EXPECT_EQ(scores.scalar_type(), torch::kDouble);
    return (scores * mix).sum();
  };
  {
    // Finite differences need every key away from the kink of max(0, x) at 0 and most keys
    // on its positive side.
    torch::NoGradGuard no_grad;
    std::vector<int64_t> query_of;
    std::vector<const ScoreKey*> keys;
    for (const auto& candidate : candidates) {
      for (const auto& key : candidate.keys) {
        query_of.push_back(candidate.query);
        keys.push_back(&key);
      }
    }
    const auto log_probs = to_vector(teacher_forced_log_probs(model_, model_->encode(ids, mask),
                                                              mask, query_of, keys, prompts_));
    int positive = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      const double log_odds =
          search::key_log_odds(log_probs[k], static_cast<uint64_t>(keys[k]->count),
                               search_positions(keys[k]->view, options), options.smoothing);
      EXPECT_GT(std::abs(log_odds), 0.05) << "key " << k;
      positive += log_odds > 0 ? 1 : 0;
    }
    EXPECT_GE(positive, 4);
  }
  model_->zero_grad();
  objective().backward();

  struct Entry {
    const char* name;
    std::vector<int64_t> index;
  };
  const std::vector<Entry> entries = {
      {"model.shared.weight", {12, 3}},  // a key token: embedding and LM head (tied)
      {"model.shared.weight", {22, 0}},
      {"model.encoder.layers.0.self_attn.q_proj.weight", {1, 2}},
      {"model.encoder.layers.1.fc2.bias", {5}},
      {"model.decoder.layers.0.encoder_attn.v_proj.weight", {4, 9}},
      {"model.decoder.layers.1.fc1.weight", {5, 7}},
      {"model.decoder.layers.1.final_layer_norm.weight", {3}},
      {"model.decoder.embed_positions.weight", {3, 1}},
  };
  auto parameters = model_->named_parameters();
  const double h = 1e-5;
  int nonzero = 0;
  for (const Entry& entry : entries) {
    auto& parameter = parameters[entry.name];
    auto at = [&](torch::Tensor t) {
      for (int64_t i : entry.index)
        t = t.select(0, i);
      return t;
    };
    auto element = [&]() { return at(parameter); };
    const double g = parameter.grad().defined() ? at(parameter.grad()).item<double>() : 0.0;
    double plus = 0, minus = 0;
    {
      torch::NoGradGuard no_grad;
      const double original = element().item<double>();
      element().fill_(original + h);
      plus = objective().item<double>();
      element().fill_(original - h);
      minus = objective().item<double>();
      element().fill_(original);
    }
    const double numeric = (plus - minus) / (2 * h);
    EXPECT_NEAR(g, numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << entry.name;
    nonzero += std::abs(g) > 1e-3 ? 1 : 0;
  }
  EXPECT_GE(nonzero, 6);  // the check compares real gradients, not zeros
}

}  // namespace
}  // namespace dgr::rank
