#include "core/search/fm_index_constraint.h"

#include <glog/logging.h>

#include <algorithm>
#include <numeric>
#include <utility>

namespace dgr::search {
namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64 finaliser over the running hash: good enough for a handful of ranges.
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

uint64_t hash_ranges(const index::SaRange* ranges, size_t n) {
  uint64_t h = n;
  for (size_t s = 0; s < n; ++s)
    h = mix(mix(h, ranges[s].begin), ranges[s].end);
  return h;
}

bool equal_ranges(const index::SaRange* a, const index::SaRange* b, size_t n) {
  for (size_t s = 0; s < n; ++s) {
    if (!(a[s] == b[s])) return false;
  }
  return true;
}

int compare_ranges(const index::SaRange* a, const index::SaRange* b, size_t n) {
  for (size_t s = 0; s < n; ++s) {
    if (a[s].begin != b[s].begin) return a[s].begin < b[s].begin ? -1 : 1;
    if (a[s].end != b[s].end) return a[s].end < b[s].end ? -1 : 1;
  }
  return 0;
}

uint64_t total_count(const index::SaRange* ranges, size_t n) {
  uint64_t total = 0;
  for (size_t s = 0; s < n; ++s)
    total += ranges[s].count();
  return total;
}

}  // namespace

FmIndexConstraint::FmIndexConstraint(const index::ShardedIndex& index,
                                     FmIndexConstraintOptions options)
    : index_(index), options_(options), shards_(index.num_shards()) {
  scratch_range_.ranges.resize(shards_);
}

void FmIndexConstraint::start(size_t rows, const std::vector<TokenId>& prefix) {
  auto it = starts_.find(prefix);
  if (it == starts_.end()) {
    RangeSuccessors entry;
    entry.ranges = index_.find(prefix).ranges;
    CHECK_EQ(entry.ranges.size(), shards_);
    scratch_range_.ranges = entry.ranges;
    index_.next_tokens(scratch_range_, entry.successors, scratch_counts_);
    it = starts_.emplace(prefix, std::move(entry)).first;
  }
  start_ = &it->second;
  rows_ = rows;
  ranges_.resize(rows * shards_);
  for (size_t r = 0; r < rows; ++r)
    std::copy(start_->ranges.begin(), start_->ranges.end(), ranges_.begin() + r * shards_);
}

void FmIndexConstraint::successors(const index::SaRange* ranges, std::vector<TokenId>& out) {
  const bool frequent = total_count(ranges, shards_) >= options_.cache_min_count;
  uint64_t hash = 0;
  if (frequent) {
    hash = hash_ranges(ranges, shards_);
    auto it = cache_index_.find(hash);
    if (it != cache_index_.end() &&
        equal_ranges(cache_[it->second].ranges.data(), ranges, shards_)) {
      const std::vector<TokenId>& cached = cache_[it->second].successors;
      out.assign(cached.begin(), cached.end());
      return;
    }
  }
  std::copy(ranges, ranges + shards_, scratch_range_.ranges.begin());
  index_.next_tokens(scratch_range_, out, scratch_counts_);
  // A hash taken by another range (never seen in practice) just leaves this one uncached.
  if (frequent && cached_tokens_ + out.size() <= options_.cache_max_tokens &&
      cache_index_.find(hash) == cache_index_.end()) {
    cache_index_.emplace(hash, cache_.size());
    cache_.push_back(RangeSuccessors{std::vector<index::SaRange>(ranges, ranges + shards_), out});
    cached_tokens_ += out.size();
  }
}

bool FmIndexConstraint::allowed(std::vector<std::vector<TokenId>>& tokens) {
  tokens.resize(rows_);
  if (start_ != nullptr) {  // every row at the start prefix: the list computed at start()
    for (auto& row : tokens)
      row.assign(start_->successors.begin(), start_->successors.end());
    return true;
  }
  // Group rows with equal ranges (sorted by range, ties by row) and compute each group once.
  order_.resize(rows_);
  std::iota(order_.begin(), order_.end(), 0u);
  std::sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) {
    const int c = compare_ranges(row_ranges(a), row_ranges(b), shards_);
    return c != 0 ? c < 0 : a < b;
  });
  for (size_t i = 0; i < order_.size();) {
    const uint32_t first = order_[i];
    const index::SaRange* ranges = row_ranges(first);
    std::vector<TokenId>& out = tokens[first];
    if (total_count(ranges, shards_) == 0) {
      out.clear();
    } else {
      successors(ranges, out);
    }
    size_t j = i + 1;
    for (; j < order_.size() && equal_ranges(row_ranges(order_[j]), ranges, shards_); ++j)
      tokens[order_[j]].assign(out.begin(), out.end());
    i = j;
  }
  return true;
}

void FmIndexConstraint::advance(const std::vector<int64_t>& parents,
                                const std::vector<TokenId>& tokens) {
  CHECK_EQ(parents.size(), tokens.size());
  next_ranges_.resize(parents.size() * shards_);
  for (size_t i = 0; i < parents.size(); ++i) {
    CHECK(parents[i] >= 0 && static_cast<size_t>(parents[i]) < rows_)
        << "parent row " << parents[i] << " of " << rows_;
    const index::SaRange* from = row_ranges(static_cast<size_t>(parents[i]));
    index::SaRange* to = next_ranges_.data() + i * shards_;
    for (size_t s = 0; s < shards_; ++s)
      to[s] = from[s].empty() ? index::SaRange{} : index_.shard(s).extend(from[s], tokens[i]);
  }
  ranges_.swap(next_ranges_);
  rows_ = parents.size();
  start_ = nullptr;
}

uint64_t FmIndexConstraint::count(size_t row) const {
  CHECK_LT(row, rows_);
  return total_count(row_ranges(row), shards_);
}

index::ShardedRange FmIndexConstraint::range(size_t row) const {
  CHECK_LT(row, rows_);
  index::ShardedRange out;
  out.ranges.assign(row_ranges(row), row_ranges(row) + shards_);
  return out;
}

}  // namespace dgr::search
