// Random corpora and the naive answers an FM-index must reproduce: substring scans within each
// segment (n-grams never cross a segment), for the property tests of FmIndex and ShardedIndex.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "core/index/fm_index.h"

namespace dgr::index::testing {

struct CorpusShape {
  uint32_t sigma = 3;       // token ids drawn from [0, sigma)
  size_t passages = 40;     // number of passages
  size_t max_segments = 5;  // segments per passage in [0, max_segments]
  size_t max_length = 30;   // tokens per segment in [0, max_length]
  double repeat = 0.2;      // probability that a passage copies an earlier one
  double skew = 1.0;        // Zipf exponent of the token distribution (0 = uniform)
};

inline std::vector<PassageSegments> random_corpus(const CorpusShape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> cdf(shape.sigma);
  double total = 0;
  for (uint32_t r = 0; r < shape.sigma; ++r) {
    total += 1.0 / std::pow(r + 1.0, shape.skew);
    cdf[r] = total;
  }
  auto draw = [&]() -> TokenId {
    const double u = std::uniform_real_distribution<double>(0, total)(rng);
    return static_cast<TokenId>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()) %
           static_cast<TokenId>(shape.sigma);
  };
  std::vector<PassageSegments> corpus;
  for (size_t p = 0; p < shape.passages; ++p) {
    if (!corpus.empty() && std::bernoulli_distribution(shape.repeat)(rng)) {
      corpus.push_back(corpus[rng() % corpus.size()]);
      continue;
    }
    PassageSegments passage(rng() % (shape.max_segments + 1));
    for (auto& segment : passage) {
      segment.resize(rng() % (shape.max_length + 1));
      for (auto& t : segment)
        t = draw();
    }
    corpus.push_back(std::move(passage));
  }
  return corpus;
}

inline bool occurs_at(const std::vector<TokenId>& segment, size_t i,
                      const std::vector<TokenId>& ngram) {
  if (i + ngram.size() > segment.size()) return false;
  return std::equal(ngram.begin(), ngram.end(), segment.begin() + static_cast<std::ptrdiff_t>(i));
}

inline uint64_t naive_count(const std::vector<PassageSegments>& corpus,
                            const std::vector<TokenId>& ngram) {
  uint64_t n = 0;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage) {
      for (size_t i = 0; i < segment.size(); ++i)
        n += occurs_at(segment, i, ngram);
    }
  }
  return n;
}

inline std::vector<uint32_t> naive_passages(const std::vector<PassageSegments>& corpus,
                                            const std::vector<TokenId>& ngram, size_t limit) {
  std::vector<uint32_t> out;
  for (size_t p = 0; p < corpus.size() && out.size() < limit; ++p) {
    bool found = false;
    for (const auto& segment : corpus[p]) {
      for (size_t i = 0; i < segment.size() && !found; ++i)
        found = occurs_at(segment, i, ngram);
    }
    if (found) out.push_back(static_cast<uint32_t>(p));
  }
  return out;
}

// Successor token → occurrences of prefix + token (every token for the empty prefix).
inline std::map<TokenId, uint64_t> naive_next(const std::vector<PassageSegments>& corpus,
                                              const std::vector<TokenId>& prefix) {
  std::map<TokenId, uint64_t> next;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage) {
      for (size_t i = 0; i + prefix.size() < segment.size(); ++i) {
        if (occurs_at(segment, i, prefix)) ++next[segment[i + prefix.size()]];
      }
    }
  }
  return next;
}

// N-grams of length 1-6 to query: half taken from the corpus (present), the rest random tokens,
// tokens absent from the vocabulary and n-grams spanning two consecutive segments.
inline std::vector<std::vector<TokenId>> random_ngrams(const std::vector<PassageSegments>& corpus,
                                                       uint32_t sigma, size_t how_many,
                                                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<const std::vector<TokenId>*> segments;
  for (const auto& passage : corpus) {
    for (const auto& segment : passage) {
      if (!segment.empty()) segments.push_back(&segment);
    }
  }
  std::vector<std::vector<TokenId>> out;
  while (out.size() < how_many) {
    const size_t length = 1 + rng() % 6;
    const int kind = static_cast<int>(rng() % 4);
    std::vector<TokenId> ngram;
    if ((kind == 0 || kind == 1) && !segments.empty()) {  // present
      const auto& segment = *segments[rng() % segments.size()];
      const size_t len = std::min(length, segment.size());
      const size_t start = rng() % (segment.size() - len + 1);
      ngram.assign(segment.begin() + static_cast<std::ptrdiff_t>(start),
                   segment.begin() + static_cast<std::ptrdiff_t>(start + len));
    } else if (kind == 2) {  // random, with an occasional unknown or extreme id
      for (size_t i = 0; i < length; ++i) {
        const uint64_t r = rng() % 20;
        ngram.push_back(r == 0   ? static_cast<TokenId>(sigma + rng() % 3)
                        : r == 1 ? std::numeric_limits<TokenId>::max() - 2
                                 : static_cast<TokenId>(rng() % std::max<uint32_t>(sigma, 1)));
      }
    } else if (segments.size() >= 2) {  // across the end of one segment and the next
      const size_t s = rng() % (segments.size() - 1);
      const auto& a = *segments[s];
      const auto& b = *segments[s + 1];
      const size_t from_a = 1 + rng() % std::min<size_t>(3, a.size());
      const size_t from_b = 1 + rng() % std::min<size_t>(3, b.size());
      ngram.assign(a.end() - static_cast<std::ptrdiff_t>(from_a), a.end());
      ngram.insert(ngram.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(from_b));
    } else {
      ngram.push_back(static_cast<TokenId>(sigma));
    }
    out.push_back(std::move(ngram));
  }
  return out;
}

}  // namespace dgr::index::testing
