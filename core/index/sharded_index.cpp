#include "core/index/sharded_index.h"

#include <glog/logging.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "core/util/error.h"

namespace dgr::index {

uint64_t ShardedRange::count() const {
  uint64_t total = 0;
  for (const SaRange& r : ranges)
    total += r.count();
  return total;
}

ShardedIndex::ShardedIndex(std::vector<std::shared_ptr<const FmIndex>> shards,
                           std::vector<uint32_t> first_passage)
    : shards_(std::move(shards)), first_passage_(std::move(first_passage)) {
  if (shards_.size() != first_passage_.size()) {
    throw DataError("sharded index: " + std::to_string(shards_.size()) + " shards but " +
                    std::to_string(first_passage_.size()) + " first-passage entries");
  }
  uint64_t expected = 0;
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (!shards_[s]) throw DataError("sharded index: shard " + std::to_string(s) + " is missing");
    if (first_passage_[s] != expected) {
      throw DataError("sharded index: shard " + std::to_string(s) + " starts at passage " +
                      std::to_string(first_passage_[s]) + ", expected " + std::to_string(expected) +
                      " (shards must cover the passages in order)");
    }
    expected += shards_[s]->num_passages();
    if (expected > std::numeric_limits<uint32_t>::max()) {
      throw DataError("sharded index: more than 2^32 - 1 passages");
    }
  }
}

ShardedRange ShardedIndex::full_range() const {
  ShardedRange range;
  range.ranges.reserve(shards_.size());
  for (const auto& shard : shards_)
    range.ranges.push_back(shard->full_range());
  return range;
}

ShardedRange ShardedIndex::extend(const ShardedRange& range, TokenId token) const {
  CHECK_EQ(range.ranges.size(), shards_.size()) << "ShardedRange of another index";
  ShardedRange next;
  next.ranges.resize(shards_.size());
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (!range.ranges[s].empty()) next.ranges[s] = shards_[s]->extend(range.ranges[s], token);
  }
  return next;
}

ShardedRange ShardedIndex::find(const std::vector<TokenId>& ngram) const {
  ShardedRange range;
  range.ranges.reserve(shards_.size());
  for (const auto& shard : shards_)
    range.ranges.push_back(shard->find(ngram));
  return range;
}

void ShardedIndex::next_tokens(const ShardedRange& range, std::vector<TokenId>& tokens,
                               std::vector<uint64_t>& counts) const {
  CHECK_EQ(range.ranges.size(), shards_.size()) << "ShardedRange of another index";
  tokens.clear();
  counts.clear();
  // Merge each shard's ascending list into the running union; with a few shards this linear
  // merge beats a heap, and a single non-empty shard is written directly.
  thread_local std::vector<TokenId> shard_tokens, merged_tokens;
  thread_local std::vector<uint64_t> shard_counts, merged_counts;
  for (size_t s = 0; s < shards_.size(); ++s) {
    if (range.ranges[s].empty()) continue;
    if (tokens.empty()) {
      shards_[s]->next_tokens(range.ranges[s], tokens, counts);
      continue;
    }
    shards_[s]->next_tokens(range.ranges[s], shard_tokens, shard_counts);
    merged_tokens.clear();
    merged_counts.clear();
    merged_tokens.reserve(tokens.size() + shard_tokens.size());
    merged_counts.reserve(tokens.size() + shard_tokens.size());
    size_t a = 0, b = 0;
    while (a < tokens.size() || b < shard_tokens.size()) {
      if (b == shard_tokens.size() || (a < tokens.size() && tokens[a] < shard_tokens[b])) {
        merged_tokens.push_back(tokens[a]);
        merged_counts.push_back(counts[a++]);
      } else if (a == tokens.size() || shard_tokens[b] < tokens[a]) {
        merged_tokens.push_back(shard_tokens[b]);
        merged_counts.push_back(shard_counts[b++]);
      } else {
        merged_tokens.push_back(tokens[a]);
        merged_counts.push_back(counts[a++] + shard_counts[b++]);
      }
    }
    tokens.swap(merged_tokens);
    counts.swap(merged_counts);
  }
}

uint64_t ShardedIndex::count(const std::vector<TokenId>& ngram) const {
  uint64_t total = 0;
  for (const auto& shard : shards_)
    total += shard->count(ngram);
  return total;
}

std::vector<uint32_t> ShardedIndex::passages(const std::vector<TokenId>& ngram,
                                             size_t limit) const {
  return passages(find(ngram), limit);
}

std::vector<uint32_t> ShardedIndex::passages(const ShardedRange& range, size_t limit) const {
  CHECK_EQ(range.ranges.size(), shards_.size()) << "ShardedRange of another index";
  std::vector<uint32_t> out;
  for (size_t s = 0; s < shards_.size() && out.size() < limit; ++s) {
    if (range.ranges[s].empty()) continue;
    // Shards are in passage order, so the shard lists concatenate to an ascending list.
    for (uint32_t p : shards_[s]->passages(range.ranges[s], limit - out.size())) {
      out.push_back(first_passage_[s] + p);
    }
  }
  return out;
}

PassageSegments ShardedIndex::passage_segments(uint32_t global_passage) const {
  CHECK_LT(global_passage, num_passages()) << "passage of another index";
  // The last shard starting at or before the passage (empty shards share a start with the
  // next one, and upper_bound skips past them).
  const auto after = std::upper_bound(first_passage_.begin(), first_passage_.end(), global_passage);
  const size_t s = static_cast<size_t>(after - first_passage_.begin()) - 1;
  return shards_[s]->passage_segments(global_passage - first_passage_[s]);
}

uint32_t ShardedIndex::num_passages() const {
  return shards_.empty() ? 0 : first_passage_.back() + shards_.back()->num_passages();
}

uint64_t ShardedIndex::num_tokens() const {
  uint64_t total = 0;
  for (const auto& shard : shards_)
    total += shard->num_tokens();
  return total;
}

uint64_t ShardedIndex::size_in_bytes() const {
  uint64_t total = 0;
  for (const auto& shard : shards_)
    total += shard->size_in_bytes();
  return total;
}

}  // namespace dgr::index
