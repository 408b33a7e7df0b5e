// Comparing trained weights in tests: the largest absolute difference between the tensors of
// two safetensors files, which must hold the same names in the same order.
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

}  // namespace dgr::testing
