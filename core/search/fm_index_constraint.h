// Constrained decoding over an FM-index (SEAL): a hypothesis may only be extended by a token that
// follows its prefix + generated tokens somewhere in the corpus, so every key beam search returns
// occurs in some passage (within one segment, after the view's prefix).
//
// Guarantees: each row keeps one ShardedRange, extended by one backward-search step per generated
// token (never a search of the whole prefix again); `allowed` lists exactly
// ShardedIndex::next_tokens of each row's range. Work is shared: rows with the same range (all rows
// right after start, or two queries generating the same n-gram) are computed once per step; the
// successors of each start prefix are computed once per object (the empty prefix lists every
// corpus token, ~27k for BART ids) and those of frequent ranges (at least `cache_min_count`
// occurrences, the expensive ones: k successors cost O(k log σ)) are cached across steps, views
// and batches up to `cache_max_tokens` tokens. The index must outlive the constraint. One object
// serves one search at a time (not thread-safe); the index itself is shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/search/token_constraint.h"

namespace dgr::search {

struct FmIndexConstraintOptions {
  uint64_t cache_min_count = 1024;            // cache successors of ranges this frequent or more
  size_t cache_max_tokens = size_t{1} << 23;  // bound on cached successor tokens (32 MiB)
};

class FmIndexConstraint final : public TokenConstraint {
 public:
  explicit FmIndexConstraint(const index::ShardedIndex& index,
                             FmIndexConstraintOptions options = {});

  // O(|prefix| N log σ) the first time a prefix is seen, then O(rows).
  void start(size_t rows, const std::vector<TokenId>& prefix) override;
  // O(R log R) to group equal ranges, plus O(k log σ) per distinct uncached range with k
  // successors, plus the copy of each row's list.
  bool allowed(std::vector<std::vector<TokenId>>& tokens) override;
  // O(rows · N log σ)
  void advance(const std::vector<int64_t>& parents, const std::vector<TokenId>& tokens) override;
  uint64_t count(size_t row) const override;  // O(N)

  size_t rows() const { return rows_; }
  index::ShardedRange range(size_t row) const;  // O(N)
  size_t cached_ranges() const { return cache_.size(); }
  size_t cached_tokens() const { return cached_tokens_; }

 private:
  // A range (one SaRange per shard) and the tokens that follow it.
  struct RangeSuccessors {
    std::vector<index::SaRange> ranges;  // [N]
    std::vector<TokenId> successors;
  };

  const index::SaRange* row_ranges(size_t row) const { return ranges_.data() + row * shards_; }
  // Successors of the range at `ranges` ([N]) into `out`, through the range cache when frequent.
  void successors(const index::SaRange* ranges, std::vector<TokenId>& out);

  const index::ShardedIndex& index_;
  FmIndexConstraintOptions options_;
  size_t shards_;
  size_t rows_ = 0;
  std::vector<index::SaRange> ranges_;  // [rows × N]
  std::vector<index::SaRange> next_ranges_;
  const RangeSuccessors* start_ = nullptr;  // set while every row is still at the start prefix
  std::map<std::vector<TokenId>, RangeSuccessors>
      starts_;                                        // per start prefix, not in the step loop
  std::unordered_map<uint64_t, size_t> cache_index_;  // hash of ranges -> cache_ entry
  std::vector<RangeSuccessors> cache_;
  size_t cached_tokens_ = 0;
  // Scratch, kept to avoid allocations per step.
  std::vector<uint32_t> order_;
  index::ShardedRange scratch_range_;
  std::vector<TokenId> scratch_tokens_;
  std::vector<uint64_t> scratch_counts_;
};

}  // namespace dgr::search
