// The same calls as FmIndex over N shards, each built over a contiguous range of passages:
// successors are the union of the shards' successors (counts summed), counts are summed, and
// passages are the concatenation of the shards' passages mapped to global indices. A prefix's
// state is one suffix-array range per shard, extended shard by shard, so decoding over a sharded
// index keeps the incremental O(N log σ) step of a single index.
#pragma once

#include <memory>
#include <vector>

#include "core/index/fm_index.h"

namespace dgr::index {

// One range per shard.
struct ShardedRange {
  std::vector<SaRange> ranges;
  uint64_t count() const;
  bool empty() const { return count() == 0; }
};

class ShardedIndex {
 public:
  ShardedIndex() = default;
  // `first_passage[s]` is the global index of shard s's local passage 0; shards are in passage
  // order and cover [0, num_passages()) without gaps (checked: DataError otherwise).
  ShardedIndex(std::vector<std::shared_ptr<const FmIndex>> shards,
               std::vector<uint32_t> first_passage);

  ShardedRange full_range() const;                                      // O(N)
  ShardedRange extend(const ShardedRange& range, TokenId token) const;  // O(N log σ)
  ShardedRange find(const std::vector<TokenId>& ngram) const;
  // Union over shards, ascending, counts summed. O(Σ k_s log σ)
  void next_tokens(const ShardedRange& range, std::vector<TokenId>& tokens,
                   std::vector<uint64_t>& counts) const;
  uint64_t count(const std::vector<TokenId>& ngram) const;
  // Global passage indices, ascending, at most `limit`.
  std::vector<uint32_t> passages(const std::vector<TokenId>& ngram, size_t limit) const;
  std::vector<uint32_t> passages(const ShardedRange& range, size_t limit) const;
  // The segments of a global passage, as given to its shard's build: FmIndex::passage_segments
  // after an O(log N) search for the shard. `global_passage` must be < num_passages() (CHECK).
  PassageSegments passage_segments(uint32_t global_passage) const;

  size_t num_shards() const { return shards_.size(); }
  const FmIndex& shard(size_t s) const { return *shards_[s]; }
  uint32_t num_passages() const;
  uint64_t num_tokens() const;
  uint64_t size_in_bytes() const;

 private:
  std::vector<std::shared_ptr<const FmIndex>> shards_;
  std::vector<uint32_t> first_passage_;
};

}  // namespace dgr::index
