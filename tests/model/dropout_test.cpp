// Dropout's counter-based masks: Philox-4x32-10 against the published known-answer vectors, the
// kernels' element layout against the one-word reference, the keep rate and the scale, masks
// that depend on the generator's state only (not on the thread count, a non-contiguous input or
// the order of the ranges), the backward (and double backward) as the mask times the scale, and
// torch::dropout's edge cases.
#include "core/model/dropout.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/model/dropout_kernel.h"
#include "core/model/training.h"
#include "core/util/error.h"

namespace dgr::model {
namespace {

TEST(Philox, MatchesThePublishedKnownAnswers) {
  // Philox-4x32-10 known-answer vectors of the Random123 distribution (kat_vectors).
  struct Case {
    uint32_t counter[4], key[2], expected[4];
  };
  const Case cases[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Case& c : cases) {
    uint32_t out[4];
    philox4x32(c.counter, c.key, out);
    for (int w = 0; w < 4; ++w)
      EXPECT_EQ(out[w], c.expected[w]) << "word " << w;
  }
}

TEST(DropoutKernel, EveryElementUsesItsOwnWord) {
  // A length that ends inside a tile, filled tile range by tile range in reverse order.
  const int64_t n = 3 * kDropoutTile + 77;
  const uint64_t key = 0x0123456789abcdefull;
  const uint32_t threshold = 1u << 31;
  std::vector<float> x(n), y(n);
  std::vector<uint8_t> keep(n);
  for (int64_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(i + 1);
  for (int64_t tile = 3; tile >= 0; --tile) {
    dropout_forward_kernel(x.data(), y.data(), keep.data(), n, tile, tile + 1, key, threshold,
                           2.0f);
  }
  for (int64_t i = 0; i < n; ++i) {
    const bool kept = dropout_word(key, i) >= threshold;
    ASSERT_EQ(keep[i], kept ? 1 : 0) << "element " << i;
    ASSERT_EQ(y[i], kept ? 2.0f * x[i] : 0.0f) << "element " << i;
  }
  // Words of one tile are distinct draws: the four words of a block and neighbouring blocks.
  EXPECT_NE(dropout_word(key, 0), dropout_word(key, 64));
  EXPECT_NE(dropout_word(key, 0), dropout_word(key, 1));
  EXPECT_NE(dropout_word(key, 0), dropout_word(key + 1, 0));
}

TEST(DropoutKernel, BackwardIsTheMaskTimesTheScale) {
  const std::vector<float> dy = {1.0f, -2.0f, 3.0f, std::numeric_limits<float>::quiet_NaN()};
  const std::vector<uint8_t> keep = {1, 0, 1, 0};
  std::vector<float> dx(4);
  dropout_backward_kernel(dy.data(), keep.data(), dx.data(), 0, 4, 1.25f);
  EXPECT_EQ(dx[0], 1.25f);
  EXPECT_EQ(dx[1], -0.0f);
  EXPECT_EQ(dx[2], 3.75f);
  EXPECT_TRUE(std::isnan(dx[3]));  // as torch's grad * mask
}

TEST(Dropout, KeepsOneMinusPOfTheElementsScaledByItsInverse) {
  torch::manual_seed(5);
  const int64_t n = 1 << 20;
  const double p = 0.1;
  const torch::Tensor x = torch::rand({n}) + 0.5;  // no zeros
  const torch::Tensor y = model::dropout(x, p, true);
  const torch::Tensor kept = y.ne(0);
  const double rate = kept.to(torch::kDouble).mean().item<double>();
  // Binomial: 5 standard deviations of the kept fraction.
  EXPECT_NEAR(rate, 1.0 - p, 5.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(n)));
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  EXPECT_TRUE(torch::equal(y.masked_select(kept), x.masked_select(kept) * scale));
  // Neighbours are independent: both dropped about p² of the time.
  const torch::Tensor dropped = (~kept).to(torch::kDouble);
  const double both = (dropped.slice(0, 1) * dropped.slice(0, 0, n - 1)).mean().item<double>();
  EXPECT_NEAR(both, p * p, 5.0 * std::sqrt(p * p * (1.0 - p * p) / static_cast<double>(n)));
}

TEST(Dropout, MasksFollowTheGeneratorNotTheThreadCount) {
  const int threads = at::get_num_threads();
  const torch::Tensor x = torch::ones({37, 1031});
  at::set_num_threads(1);
  torch::manual_seed(11);
  const torch::Tensor one = model::dropout(x, 0.3, true);
  const torch::Tensor next = model::dropout(x, 0.3, true);
  at::set_num_threads(4);
  torch::manual_seed(11);
  const torch::Tensor four = model::dropout(x, 0.3, true);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, four));
  EXPECT_FALSE(torch::equal(one, next));  // each call draws a new key

  // A restored generator state (exact resume) replays the masks.
  torch::manual_seed(12);
  model::dropout(x, 0.3, true);
  const std::string state = serialize_rng_state();
  const torch::Tensor after = model::dropout(x, 0.3, true);
  restore_rng_state(state);
  EXPECT_TRUE(torch::equal(after, model::dropout(x, 0.3, true)));
}

TEST(Dropout, NonContiguousInputIsMaskedInLogicalOrder) {
  const torch::Tensor x = torch::arange(1, 1 + 40 * 30, torch::kFloat32).reshape({40, 30});
  torch::manual_seed(3);
  const torch::Tensor strided = model::dropout(x.t(), 0.5, true);
  torch::manual_seed(3);
  const torch::Tensor dense = model::dropout(x.t().contiguous(), 0.5, true);
  EXPECT_TRUE(torch::equal(strided, dense));
  EXPECT_EQ(strided.sizes(), x.t().sizes());
}

TEST(Dropout, GradientIsTheMaskTimesTheScaleAndDifferentiableAgain) {
  torch::manual_seed(8);
  const double p = 0.25;
  const torch::Tensor x = (torch::rand({6, 50}) + 1.0).requires_grad_();
  const torch::Tensor y = model::dropout(x, p, true);
  const torch::Tensor mask = y.ne(0).to(torch::kFloat32) * static_cast<float>(1.0 / (1.0 - p));
  const torch::Tensor upstream = torch::randn({6, 50});
  y.backward(upstream);
  EXPECT_TRUE(torch::equal(x.grad(), upstream * mask));

  // create_graph: d(dx)/d(upstream) is the mask again.
  const torch::Tensor v = torch::randn({6, 50}).requires_grad_();
  const torch::Tensor y2 = model::dropout(x, p, true);
  const torch::Tensor dx = torch::autograd::grad({y2}, {x}, {v}, true, true)[0];
  const torch::Tensor mask2 = y2.ne(0).to(torch::kFloat32) * static_cast<float>(1.0 / (1.0 - p));
  EXPECT_TRUE(torch::allclose(dx, v * mask2));
  const torch::Tensor dv = torch::autograd::grad({dx.sum()}, {v})[0];
  EXPECT_TRUE(torch::equal(dv, mask2));
}

TEST(Dropout, EdgeCasesAreTorchs) {
  torch::manual_seed(21);
  const torch::Tensor x = torch::randn({4, 5});
  EXPECT_TRUE(model::dropout(x, 0.5, false).is_same(x));  // eval
  EXPECT_TRUE(model::dropout(x, 0.0, true).is_same(x));
  EXPECT_TRUE(torch::equal(model::dropout(x, 1.0, true), torch::zeros_like(x)));
  // p just below 1: p·2^32 rounds to 2^32, and still nearly everything is dropped.
  const torch::Tensor many = torch::ones({1 << 16});
  EXPECT_EQ(model::dropout(many, 1.0 - 1e-12, true).count_nonzero().item<int64_t>(), 0);
  EXPECT_LT(model::dropout(many, 0.999, true).count_nonzero().item<int64_t>(), 200);
  EXPECT_EQ(model::dropout(torch::empty({0, 3}), 0.5, true).numel(), 0);
  EXPECT_THROW(model::dropout(x, 1.5, true), ConfigError);
  EXPECT_THROW(model::dropout(x, -0.1, true), ConfigError);
  EXPECT_THROW(model::dropout(x, std::nan(""), true), ConfigError);
  // Other dtypes go through torch's dropout: kept elements are scaled, the rest zero.
  const torch::Tensor d = torch::rand({1000}, torch::kDouble) + 1.0;
  const torch::Tensor yd = model::dropout(d, 0.5, true);
  EXPECT_EQ(yd.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(yd.masked_select(yd.ne(0)), d.masked_select(yd.ne(0)) * 2.0));
}

}  // namespace
}  // namespace dgr::model
