// Comparing trained weights in tests.
//
// max_weight_difference: the largest absolute difference between the tensors of two
// safetensors files, which must hold the same names in the same order (bit-level agreement).
//
// weight_agreement: what stays invariant when two runs compute the same update in another
// floating-point order (another number of ranks, another BLAS kernel). AdamW moves each weight
// by lr · m̂ / (√v̂ + ε): for a weight whose gradient is far above rounding the step agrees to a
// few ulps, but a weight whose gradient is itself at rounding level (sums that cancel) can take
// a step of ±lr either way, so a handful of weights may differ by up to 2·Σlr whatever the
// kernel. Runs agree when almost every weight agrees closely and the few that do not are rare;
// runs that really diverge (other data, other normalisation) differ in most of their weights.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "core/model/safetensors.h"

namespace dgr::testing {

inline double max_weight_difference(const std::string& a, const std::string& b) {
  const model::NamedTensors ta = model::read_safetensors(a);
  const model::NamedTensors tb = model::read_safetensors(b);
  EXPECT_EQ(ta.size(), tb.size()) << a << " vs " << b;
  double worst = 0;
  for (size_t i = 0; i < ta.size() && i < tb.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    worst = std::max(worst, (ta[i].second - tb[i].second).abs().max().item<double>());
  }
  return worst;
}

struct WeightAgreement {
  int64_t elements = 0;
  int64_t apart = 0;  // weights whose runs differ by more than the tolerance
  double max_difference = 0;
  double mean_difference = 0;
  double mean_movement = 0;  // mean |a − init|: how far training moved the weights
  double apart_fraction() const {
    return elements == 0 ? 0.0 : static_cast<double>(apart) / static_cast<double>(elements);
  }
};

// Weights of `a` and `b` (safetensors of the same names) apart when |a − b| exceeds
// 1e-3 · |a − init| + 1e-6 · (1 + |a|): a thousandth of what training moved the weight plus a
// few float32 ulps of its size. An empty `init` stands for zeros (optimizer moments).
inline WeightAgreement weight_agreement(const std::string& init, const std::string& a,
                                        const std::string& b) {
  const model::NamedTensors t0 =
      init.empty() ? model::NamedTensors{} : model::read_safetensors(init);
  const model::NamedTensors ta = model::read_safetensors(a);
  const model::NamedTensors tb = model::read_safetensors(b);
  EXPECT_EQ(ta.size(), tb.size()) << a << " vs " << b;
  if (!init.empty()) {
    EXPECT_EQ(ta.size(), t0.size()) << a << " vs " << init;
  }
  WeightAgreement out;
  double sum_difference = 0, sum_movement = 0;
  for (size_t i = 0; i < ta.size() && i < tb.size() && (init.empty() || i < t0.size()); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    const torch::Tensor x = ta[i].second.to(torch::kFloat64);
    const torch::Tensor y = tb[i].second.to(torch::kFloat64);
    const torch::Tensor moved =
        init.empty() ? x.abs() : (x - t0[i].second.to(torch::kFloat64)).abs();
    const torch::Tensor difference = (x - y).abs();
    const torch::Tensor tolerance = 1e-3 * moved + 1e-6 * (1 + x.abs());
    out.elements += x.numel();
    out.apart += difference.gt(tolerance).sum().item<int64_t>();
    out.max_difference = std::max(out.max_difference, difference.max().item<double>());
    sum_difference += difference.sum().item<double>();
    sum_movement += moved.sum().item<double>();
  }
  if (out.elements > 0) {
    out.mean_difference = sum_difference / static_cast<double>(out.elements);
    out.mean_movement = sum_movement / static_cast<double>(out.elements);
  }
  return out;
}

// Two trainings that should compute the same update: at most 1% of the weights apart, and the
// mean disagreement under 1% of the mean movement (a run that trained on other data or with
// another normalisation fails both by far).
inline void expect_same_training(const std::string& init, const std::string& a,
                                 const std::string& b) {
  const WeightAgreement w = weight_agreement(init, a, b);
  EXPECT_GT(w.mean_movement, 0) << "nothing was trained: " << a;
  EXPECT_LE(w.apart_fraction(), 0.01)
      << w.apart << " of " << w.elements << " weights apart (max difference " << w.max_difference
      << "): " << a << " vs " << b;
  EXPECT_LE(w.mean_difference, 0.01 * w.mean_movement)
      << "mean difference " << w.mean_difference << " vs mean movement " << w.mean_movement << ": "
      << a << " vs " << b;
}

}  // namespace dgr::testing
