// BartGenerator as beam search sees it: step() log-probabilities equal log_softmax of the full
// forward; greedy decoding through the StepModel interface (with reorder and restart) equals
// greedy decoding by full forwards; score_sequences equals the sum of step log-probabilities
// along the same tokens, for mixed prompt and target lengths in one batch.
#include "core/model/bart_generator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/model/bart.h"
#include "core/model/bart_config.h"
#include "core/search/beam_search.h"
#include "core/search/fm_index_constraint.h"
#include "tests/common/search_results.h"

namespace dgr::model {
namespace {

constexpr int64_t kVocab = 40;

class BartGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::set_num_threads(1);
    torch::manual_seed(5);
    auto config = BartConfig::preset("tiny", kVocab);
    // A larger init spreads the distributions, so greedy paths are not ties of near-equal logits.
    config.init_std = 0.2;
    model_ = BartModel(config);
    model_->eval();
  }

  // The padded encoder batch the generator builds: <s> query </s>, pad, mask.
  std::pair<torch::Tensor, torch::Tensor> encoder_batch(
      const std::vector<std::vector<TokenId>>& queries) {
    std::vector<std::vector<int64_t>> inputs;
    size_t longest = 0;
    for (const auto& q : queries) {
      inputs.push_back(bart_encoder_input(q, model_->config()));
      longest = std::max(longest, inputs.back().size());
    }
    auto ids = torch::full({static_cast<int64_t>(queries.size()), static_cast<int64_t>(longest)},
                           model_->config().pad_token_id, torch::kLong);
    auto mask = torch::zeros_like(ids);
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (size_t t = 0; t < inputs[i].size(); ++t) {
        ids[static_cast<int64_t>(i)][static_cast<int64_t>(t)] = inputs[i][t];
        mask[static_cast<int64_t>(i)][static_cast<int64_t>(t)] = 1;
      }
    }
    return {ids, mask};
  }

  // log_softmax of the full forward: [B, T, V].
  torch::Tensor full_log_probs(const std::vector<std::vector<TokenId>>& queries,
                               const std::vector<std::vector<int64_t>>& decoder_rows) {
    torch::NoGradGuard no_grad;
    auto [ids, mask] = encoder_batch(queries);
    auto dec = torch::empty(
        {static_cast<int64_t>(decoder_rows.size()), static_cast<int64_t>(decoder_rows[0].size())},
        torch::kLong);
    for (size_t r = 0; r < decoder_rows.size(); ++r) {
      dec[static_cast<int64_t>(r)] = torch::tensor(decoder_rows[r], torch::kLong);
    }
    return torch::log_softmax(model_->forward(ids, mask, dec), -1);
  }

  BartModel model_{nullptr};
};

torch::Tensor as_tensor(const search::LogProbs& lp) {
  return torch::from_blob(const_cast<float*>(lp.data), {lp.rows, lp.vocab}, torch::kFloat32)
      .clone();
}

const std::vector<std::vector<TokenId>> kQueries = {{5, 9, 12, 7, 30}, {8}, {20, 21, 22}};

TEST_F(BartGeneratorTest, StepLogProbsEqualFullForward) {
  BartGenerator generator(model_);
  EXPECT_EQ(generator.vocab_size(), kVocab);
  EXPECT_EQ(generator.decoder_start_token(), 2);
  generator.start(kQueries);
  EXPECT_EQ(generator.rows(), 3);

  // First call: start token plus a forced 2-token prompt per row; then one token at a time.
  std::vector<std::vector<int64_t>> rows = {{2, 10, 11}, {2, 12, 13}, {2, 14, 15}};
  std::vector<TokenId> first;
  for (const auto& row : rows)
    first.insert(first.end(), row.begin(), row.end());
  std::vector<torch::Tensor> stepped = {as_tensor(generator.step(first, 3))};
  for (int t = 0; t < 3; ++t) {
    std::vector<TokenId> next = {TokenId(16 + t), TokenId(20 + t), TokenId(30 + t)};
    for (size_t r = 0; r < 3; ++r)
      rows[r].push_back(next[r]);
    auto lp = generator.step(next, 1);
    EXPECT_EQ(lp.rows, 3);
    EXPECT_EQ(lp.vocab, kVocab);
    stepped.push_back(as_tensor(lp));
  }
  auto full = full_log_probs(kQueries, rows);  // [3, 6, V]
  for (size_t k = 0; k < stepped.size(); ++k) {
    auto position = static_cast<int64_t>(2 + k);
    EXPECT_LT((stepped[k] - full.select(1, position)).abs().max().item<double>(), 1e-5)
        << "position " << position;
  }
}

// Greedy continuation of every query for `steps` tokens, through the StepModel interface, with
// a reorder that duplicates then drops rows (a beam of 2 where both beams agree).
std::vector<std::vector<int64_t>> greedy_by_steps(search::StepModel& model, int64_t queries,
                                                  int steps) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(queries),
                                        std::vector<int64_t>{model.decoder_start_token()});
  std::vector<TokenId> tokens(static_cast<size_t>(queries), model.decoder_start_token());
  for (int s = 0; s < steps; ++s) {
    auto lp = model.step(tokens, 1);
    for (int64_t r = 0; r < queries; ++r) {
      const float* row = lp.row(r);
      auto best = static_cast<TokenId>(std::max_element(row, row + lp.vocab) - row);
      tokens[static_cast<size_t>(r)] = best;
      out[static_cast<size_t>(r)].push_back(best);
    }
    // Duplicate every row, then keep the copies: the state must survive the round trip.
    std::vector<int64_t> doubled, back;
    for (int64_t r = 0; r < queries; ++r) {
      doubled.push_back(r);
      doubled.push_back(r);
      back.push_back(2 * r + 1);
    }
    model.reorder(doubled);
    model.reorder(back);
  }
  return out;
}

TEST_F(BartGeneratorTest, GreedyThroughStepModelEqualsGreedyByFullForward) {
  const int steps = 6;
  std::vector<std::vector<int64_t>> expected;
  for (const auto& query : kQueries) {
    std::vector<int64_t> row = {2};
    for (int s = 0; s < steps; ++s) {
      auto lp = full_log_probs({query}, {row});
      row.push_back(lp[0][-1].argmax().item<int64_t>());
    }
    expected.push_back(row);
  }

  BartGenerator generator(model_);
  generator.start(kQueries);
  auto greedy = greedy_by_steps(generator, 3, steps);
  EXPECT_EQ(greedy, expected);
  // restart(): same queries, empty cache, same result without re-encoding.
  generator.restart();
  EXPECT_EQ(generator.rows(), 3);
  EXPECT_EQ(greedy_by_steps(generator, 3, steps), expected);
  // A second start with other queries.
  generator.start({kQueries[2], kQueries[0]});
  auto swapped = greedy_by_steps(generator, 2, steps);
  EXPECT_EQ(swapped[0], expected[2]);
  EXPECT_EQ(swapped[1], expected[0]);
}

TEST_F(BartGeneratorTest, ScoreSequencesEqualsSumOfStepLogProbs) {
  const std::vector<TokenId> query = {11, 12, 13, 14};
  const std::vector<std::vector<TokenId>> prompts = {{}, {5, 6}, {7}, {}, {5, 6}, {9}};
  const std::vector<std::vector<TokenId>> targets = {
      {8, 9, 10, 11}, {12}, {13, 14, 15}, {}, {20, 21, 22, 23, 24, 25, 26}, {3}};

  BartGenerator generator(model_);
  std::vector<double> expected;
  for (size_t i = 0; i < prompts.size(); ++i) {
    generator.start({query});
    std::vector<TokenId> first = {generator.decoder_start_token()};
    first.insert(first.end(), prompts[i].begin(), prompts[i].end());
    auto lp = generator.step(first, static_cast<int64_t>(first.size()));
    double sum = 0;
    for (size_t t = 0; t < targets[i].size(); ++t) {
      sum += lp.row(0)[targets[i][t]];
      if (t + 1 < targets[i].size()) lp = generator.step({targets[i][t]}, 1);
    }
    expected.push_back(sum);
  }
  EXPECT_EQ(expected[3], 0.0);

  for (int64_t batch_size : {64, 4, 1}) {
    auto scores = generator.score_sequences(query, prompts, targets, batch_size);
    ASSERT_EQ(scores.size(), expected.size());
    for (size_t i = 0; i < scores.size(); ++i) {
      EXPECT_NEAR(scores[i], expected[i], 1e-4) << "pair " << i << ", batch " << batch_size;
    }
  }
  // Rescoring leaves a running search untouched.
  generator.start(kQueries);
  auto before = as_tensor(generator.step({2, 2, 2}, 1));
  generator.restart();
  generator.score_sequences(query, prompts, targets);
  auto after = as_tensor(generator.step({2, 2, 2}, 1));
  EXPECT_TRUE(torch::equal(before, after));
}

// ------------------------------------------------ choosing the beam on the model's device

// The device path (a GPU's: log-probs stay where they are computed, the top k is taken there)
// must choose exactly what the host scan chooses, scores and ties included. Run on the CPU here,
// the two paths see the same float log-probabilities, so keys, scores and unigrams are equal.
TEST_F(BartGeneratorTest, DeviceSelectionChoosesExactlyTheHostScansKeys) {
  std::mt19937_64 rng(3);
  std::vector<index::PassageSegments> corpus;
  for (int p = 0; p < 30; ++p) {
    std::vector<TokenId> body;
    const int length = 3 + static_cast<int>(rng() % 10);
    for (int t = 0; t < length; ++t)
      body.push_back(static_cast<TokenId>(4 + rng() % (kVocab - 4)));
    corpus.push_back({body});
  }
  const index::ShardedIndex index(
      {std::make_shared<const index::FmIndex>(index::FmIndex::build(corpus))}, {0});
  const std::vector<std::vector<TokenId>> queries = {{5, 9, 11}, {20, 21, 22, 23}, {7}, {30, 8}};
  search::ViewPrompt body;
  body.max_length = 4;
  for (const bool constrained : {true, false}) {
    for (const int beam : {1, 5, 12}) {
      SCOPED_TRACE(std::string(constrained ? "fm-index" : "open") + ", beam " +
                   std::to_string(beam));
      search::BeamSearchOptions options;
      options.beam_size = beam;
      options.unigram_top = 8;
      BartGenerator host(model_);
      BartGenerator device(model_);
      device.set_device_selection(true);
      ASSERT_FALSE(host.selects_on_device());
      search::FmIndexConstraint fm_a(index), fm_b(index);
      search::NoConstraint open_a, open_b;
      search::TokenConstraint& ca =
          constrained ? static_cast<search::TokenConstraint&>(fm_a) : open_a;
      search::TokenConstraint& cb =
          constrained ? static_cast<search::TokenConstraint&>(fm_b) : open_b;
      testing::expect_same_results(search::beam_search(host, ca, queries, {body}, options),
                                   search::beam_search(device, cb, queries, {body}, options));
    }
  }
}

// Hand-made log-probabilities with ties straddling the k-th place, a NaN and disallowed tokens:
// the device choice equals a brute-force sort of every allowed finite candidate in the beam
// order (score, then row, then token).
TEST(SelectTopExtensions, TiesAtTheCutFollowTheBeamOrder) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // Rows 0-1 are one group, row 2 another. Vocabulary 5.
  const torch::Tensor lp = torch::tensor({{-1.0f, -2.0f, -2.0f, -2.0f, -3.0f},
                                          {-2.0f, -0.5f, nan, -2.0f, -inf},
                                          {-4.0f, -4.0f, -4.0f, -4.0f, -4.0f}});
  const std::vector<std::vector<TokenId>> allowed = {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {1, 3, 4}};
  for (const bool restrict : {false, true}) {
    for (size_t k : {1u, 2u, 3u, 4u, 6u, 20u}) {
      search::ExtensionRequest request;
      request.begin = {0, 2, 3};
      request.base = {0.0, 0.0, -1.0};
      request.allowed = restrict ? &allowed : nullptr;
      request.k = k;
      const auto chosen = select_top_extensions(lp, request);
      ASSERT_EQ(chosen.size(), 2u);
      for (size_t g = 0; g < 2; ++g) {
        std::vector<search::Extension> all;
        for (size_t r = request.begin[g]; r < request.begin[g + 1]; ++r) {
          for (TokenId t = 0; t < 5; ++t) {
            if (restrict && std::find(allowed[r].begin(), allowed[r].end(), t) == allowed[r].end())
              continue;
            const double s =
                request.base[r] + static_cast<double>(lp[static_cast<int64_t>(r)][t].item<float>());
            if (s > -std::numeric_limits<double>::infinity())
              all.push_back({s, static_cast<int64_t>(r), t});
          }
        }
        std::sort(all.begin(), all.end(), search::better);
        if (all.size() > k) all.resize(k);
        ASSERT_EQ(chosen[g].size(), all.size()) << "group " << g << ", k " << k;
        for (size_t j = 0; j < all.size(); ++j) {
          EXPECT_EQ(chosen[g][j].score, all[j].score) << "group " << g << ", k " << k;
          EXPECT_EQ(chosen[g][j].row, all[j].row) << "group " << g << ", k " << k << ", " << j;
          EXPECT_EQ(chosen[g][j].token, all[j].token) << "group " << g << ", k " << k << ", " << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace dgr::model
