// Comparing two beam searches' results in tests: the same keys (view, tokens, finished) in the
// same order with the same log-probabilities, and the same unigrams. `tolerance` 0 asks for equal
// log-probabilities bit for bit; a positive one allows that much difference (another device's
// kernels summing in another order).
#pragma once

#include <gtest/gtest.h>

#include "core/search/beam_search.h"

namespace dgr::testing {

inline void expect_same_log_prob(double a, double b, double tolerance) {
  if (tolerance > 0) {
    EXPECT_NEAR(a, b, tolerance);
  } else {
    EXPECT_EQ(a, b);
  }
}

inline void expect_same_results(const search::SearchResult& a, const search::SearchResult& b,
                                double tolerance = 0) {
  ASSERT_EQ(a.keys.size(), b.keys.size());
  for (size_t i = 0; i < a.keys.size(); ++i) {
    SCOPED_TRACE("key " + std::to_string(i));
    EXPECT_EQ(a.keys[i].view, b.keys[i].view);
    EXPECT_EQ(a.keys[i].tokens, b.keys[i].tokens);
    expect_same_log_prob(a.keys[i].log_prob, b.keys[i].log_prob, tolerance);
    EXPECT_EQ(a.keys[i].finished, b.keys[i].finished);
  }
  ASSERT_EQ(a.unigrams.size(), b.unigrams.size());
  for (size_t i = 0; i < a.unigrams.size(); ++i) {
    SCOPED_TRACE("unigram " + std::to_string(i));
    EXPECT_EQ(a.unigrams[i].token, b.unigrams[i].token);
    expect_same_log_prob(a.unigrams[i].log_prob, b.unigrams[i].log_prob, tolerance);
  }
}

// Query by query.
inline void expect_same_results(const std::vector<search::SearchResult>& a,
                                const std::vector<search::SearchResult>& b, double tolerance = 0) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t q = 0; q < a.size(); ++q) {
    SCOPED_TRACE("query " + std::to_string(q));
    expect_same_results(a[q], b[q], tolerance);
  }
}

}  // namespace dgr::testing
