#include "core/rank/list_sampling.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/util/error.h"
#include "core/util/hash.h"

namespace dgr::rank {
namespace {

// The first `top` of `ranked` (top_by order), then up to `random` more drawn uniformly without
// replacement from the rest, in draw order (a partial Fisher-Yates shuffle of the rest).
std::vector<uint32_t> take(const std::vector<uint32_t>& ranked, int top, int random,
                           SplitMixStream& rng) {
  const size_t n_top = std::min(ranked.size(), static_cast<size_t>(top));
  std::vector<uint32_t> taken(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n_top));
  std::vector<uint32_t> rest(ranked.begin() + static_cast<std::ptrdiff_t>(n_top), ranked.end());
  const size_t n_random = std::min(rest.size(), static_cast<size_t>(random));
  for (size_t i = 0; i < n_random; ++i) {
    const size_t j = i + static_cast<size_t>(rng.uniform(rest.size() - i));
    std::swap(rest[i], rest[j]);
    taken.push_back(rest[i]);
  }
  return taken;
}

}  // namespace

void check_list_sampling(const ListSamplingOptions& options) {
  using config::option_key;
  for (const int* count : {&options.top_positives, &options.random_positives,
                           &options.top_negatives, &options.random_negatives}) {
    if (*count < 0) {
      throw config::OptionError("{} = " + std::to_string(*count) + " is negative",
                                {option_key(options, *count)});
    }
  }
  if (int64_t{options.top_positives} + options.random_positives < 1) {
    throw config::OptionError("{} + {} = 0: no list would have a positive",
                              {option_key(options, options.top_positives),
                               option_key(options, options.random_positives)});
  }
  if (options.top_by != "retrieval" && options.top_by != "teacher") {
    throw config::OptionError("{} is \"" + options.top_by + "\": expected retrieval or teacher",
                              {option_key(options, options.top_by)});
  }
  if (int64_t{options.top_negatives} + options.random_negatives < 1) {
    throw config::OptionError("{} + {} = 0: no list would have a negative",
                              {option_key(options, options.top_negatives),
                               option_key(options, options.random_negatives)});
  }
}

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
}

std::vector<uint32_t> teacher_order(const std::vector<float>& teacher) {
  std::vector<uint32_t> order(teacher.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    if (std::isnan(teacher[i])) {
      throw DataError("teacher score of candidate " + std::to_string(i) + " is NaN");
    }
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return teacher[a] != teacher[b] ? teacher[a] > teacher[b] : a < b;
  });
  return order;
}

std::vector<std::vector<uint32_t>> sample_lists(const std::vector<float>& teacher,
                                                const std::vector<bool>& positive,
                                                const ListSamplingOptions& options, uint64_t seed) {
  check_list_sampling(options);
  if (teacher.size() != positive.size()) {
    throw DataError("list sampling: " + std::to_string(teacher.size()) + " teacher scores for " +
                    std::to_string(positive.size()) + " labels");
  }
  const std::vector<uint32_t> order = teacher_order(teacher);
  std::vector<uint32_t> rank(order.size());  // candidate -> position in teacher order
  for (uint32_t r = 0; r < order.size(); ++r)
    rank[order[r]] = r;
  // Positives and negatives in the order their top ones are taken in.
  std::vector<uint32_t> positives, negatives;
  const bool by_teacher = options.top_by == "teacher";
  for (uint32_t i = 0; i < order.size(); ++i) {
    const uint32_t candidate = by_teacher ? order[i] : i;
    (positive[candidate] ? positives : negatives).push_back(candidate);
  }
  if (positives.empty() || negatives.empty()) return {};

  SplitMixStream rng(seed);
  const std::vector<uint32_t> heads =
      take(positives, options.top_positives, options.random_positives, rng);
  std::vector<uint32_t> sampled =
      take(negatives, options.top_negatives, options.random_negatives, rng);
  std::sort(sampled.begin(), sampled.end(),
            [&](uint32_t a, uint32_t b) { return rank[a] < rank[b]; });

  std::vector<std::vector<uint32_t>> lists;
  lists.reserve(heads.size());
  for (uint32_t head : heads) {
    std::vector<uint32_t> list;
    list.reserve(1 + sampled.size());
    list.push_back(head);
    list.insert(list.end(), sampled.begin(), sampled.end());
    lists.push_back(std::move(list));
  }
  return lists;
}

}  // namespace dgr::rank
