// The hook through which beam search asks which tokens may come next (CTranslate2's
// LogitsProcessor, reduced to what constrained decoding needs). Rows are the live hypotheses of
// all queries of a batch, numbered as the model's rows; the constraint follows them as beam search
// reorders and extends them, so an implementation can keep incremental per-row state (the
// FM-index one keeps a suffix-array range per row). `allowed` is asked for every row at once, so
// an implementation can batch, share and cache its work across all beams of all queries.
// No torch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/index/fm_index.h"

namespace dgr::search {

using index::TokenId;

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;

  // `rows` rows, every one at `prefix` (the view's forced prefix; empty for the body view).
  virtual void start(size_t rows, const std::vector<TokenId>& prefix) = 0;
  // Resizes `tokens` to the number of rows and fills row i with the tokens allowed after it,
  // ascending without repeats (an empty list ends that hypothesis). Returns false, leaving
  // `tokens` untouched, when every token is allowed for every row. Reuses the inner vectors'
  // capacity, so a caller that keeps `tokens` across steps allocates nothing in steady state.
  virtual bool allowed(std::vector<std::vector<TokenId>>& tokens) = 0;
  // New row i is old row parents[i] extended by tokens[i] (repeats in `parents` allowed; the
  // number of rows becomes parents.size()).
  virtual void advance(const std::vector<int64_t>& parents, const std::vector<TokenId>& tokens) = 0;
  // Corpus occurrences of row `row`'s prefix + generated tokens; 0 when unknown. O(1)
  virtual uint64_t count(size_t row) const { return 0; }
};

// Every token allowed: plain beam search.
class NoConstraint final : public TokenConstraint {
 public:
  void start(size_t rows, const std::vector<TokenId>& prefix) override {}
  bool allowed(std::vector<std::vector<TokenId>>& tokens) override { return false; }
  void advance(const std::vector<int64_t>& parents, const std::vector<TokenId>& tokens) override {}
};

}  // namespace dgr::search
