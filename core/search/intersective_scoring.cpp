#include "core/search/intersective_scoring.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/util/error.h"

namespace dgr::search {
namespace {

constexpr double kMaxLogProb = -1e-6;
constexpr double kLn2 = 0.693147180559945309417;
constexpr double kMinusInfinity = -std::numeric_limits<double>::infinity();

// log(1 − e^x) for x < 0, accurate near 0 and for very negative x (Mächler's log1mexp).
double log1mexp(double x) {
  return x > -kLn2 ? std::log(-std::expm1(x)) : std::log1p(-std::exp(x));
}

void check_options(const ScoringOptions& options) {
  auto fail = [](const std::string& what) { throw ConfigError("intersective scoring: " + what); };
  if (!(options.alpha >= 0)) fail("alpha = " + std::to_string(options.alpha) + " is negative");
  if (!(options.beta >= 0 && options.beta <= 1)) {
    fail("beta = " + std::to_string(options.beta) + " is outside [0, 1]");
  }
  if (!(options.smoothing > 0)) {
    fail("smoothing = " + std::to_string(options.smoothing) + " must be positive");
  }
  if (options.fully_score < 0)
    fail("fully_score = " + std::to_string(options.fully_score) + " < 0");
  if (options.max_hits < 0) fail("max_hits = " + std::to_string(options.max_hits) + " < 0");
  if (options.depth < 0) fail("depth = " + std::to_string(options.depth) + " < 0");
  if (options.max_keys_per_passage < 0) {
    fail("max_keys_per_passage = " + std::to_string(options.max_keys_per_passage) + " < 0");
  }
}

bool contains(const std::vector<TokenId>& haystack, const std::vector<TokenId>& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// Where each token of a passage occurs: (token, segment, position) sorted, so the keys that may
// start at a token are found by binary search instead of scanning every position.
class PassageTokens {
 public:
  explicit PassageTokens(index::PassageSegments segments) : segments_(std::move(segments)) {
    for (uint32_t s = 0; s < segments_.size(); ++s) {
      for (uint32_t i = 0; i < segments_[s].size(); ++i) {
        occurrences_.push_back({segments_[s][i], s, i});
      }
    }
    std::sort(occurrences_.begin(), occurrences_.end());
  }

  // Whether `ngram` (non-empty) occurs contiguously inside one segment.
  bool holds(const std::vector<TokenId>& ngram) const {
    auto it =
        std::lower_bound(occurrences_.begin(), occurrences_.end(), Occurrence{ngram[0], 0, 0});
    for (; it != occurrences_.end() && it->token == ngram[0]; ++it) {
      const std::vector<TokenId>& segment = segments_[it->segment];
      if (segment.size() - it->position < ngram.size()) continue;
      if (std::equal(ngram.begin() + 1, ngram.end(), segment.begin() + it->position + 1)) {
        return true;
      }
    }
    return false;
  }

  // Calls f(token) once for each distinct token, ascending.
  template <typename F>
  void for_each_distinct(F&& f) const {
    for (size_t i = 0; i < occurrences_.size(); ++i) {
      if (i == 0 || occurrences_[i].token != occurrences_[i - 1].token) f(occurrences_[i].token);
    }
  }

 private:
  struct Occurrence {
    TokenId token;
    uint32_t segment;
    uint32_t position;
    bool operator<(const Occurrence& o) const {
      if (token != o.token) return token < o.token;
      if (segment != o.segment) return segment < o.segment;
      return position < o.position;
    }
  };
  index::PassageSegments segments_;
  std::vector<Occurrence> occurrences_;
};

}  // namespace

double key_log_odds(double log_prob, uint64_t count, uint64_t positions, double smoothing) {
  if (!(smoothing > 0)) {
    throw ConfigError("intersective scoring: smoothing = " + std::to_string(smoothing) +
                      " must be positive");
  }
  if (std::isnan(log_prob) || log_prob == kMinusInfinity) return kMinusInfinity;
  if (count >= positions) return kMinusInfinity;  // P ≥ 1: log(1 − P) = −∞
  const double sr = std::min(log_prob, kMaxLogProb);
  const double log_total = std::log(static_cast<double>(positions) + smoothing);
  const double log_p = std::log(static_cast<double>(count) + smoothing) - log_total;
  const double log_not_p = std::log(static_cast<double>(positions - count)) - log_total;
  return (sr + log_not_p) - (log_p + log1mexp(sr));
}

uint64_t key_positions(const index::ShardedIndex& index, const ScoredKey& key,
                       uint64_t corpus_tokens) {
  CHECK_LE(key.prefix_length, key.indexed.size()) << "key of view " << view_name(key.view);
  if (key.prefix_length == 0) return corpus_tokens;
  return index.count(
      std::vector<TokenId>(key.indexed.begin(), key.indexed.begin() + key.prefix_length));
}

double key_weight(double log_odds, double alpha) {
  return log_odds > 0 ? std::pow(log_odds, alpha) : 0.0;
}

std::vector<ScoredPassage> intersective_score(const index::ShardedIndex& index,
                                              std::vector<ScoredKey>& keys,
                                              const std::vector<Unigram>& unigrams,
                                              const ScoringOptions& options) {
  check_options(options);
  const uint64_t corpus_tokens = index.num_tokens();

  // Counts and weights; the keys that can score (w > 0, occurring somewhere). N(n) of the keys
  // with a view prefix is counted once per distinct prefix.
  std::map<std::vector<TokenId>, uint64_t> prefix_positions;
  std::vector<uint32_t> order;
  for (uint32_t k = 0; k < keys.size(); ++k) {
    ScoredKey& key = keys[k];
    CHECK_LE(key.prefix_length, key.indexed.size()) << "key " << k;
    key.count = key.indexed.empty() ? 0 : index.count(key.indexed);
    if (key.tokens.empty() || key.indexed.empty()) {
      key.weight = 0;
      continue;
    }
    uint64_t positions = corpus_tokens;
    if (key.prefix_length > 0) {
      std::vector<TokenId> prefix(key.indexed.begin(), key.indexed.begin() + key.prefix_length);
      auto it = prefix_positions.find(prefix);
      if (it == prefix_positions.end()) {
        it = prefix_positions.emplace(prefix, key_positions(index, key, corpus_tokens)).first;
      }
      positions = it->second;
    }
    key.weight = key_weight(key_log_odds(key.log_prob, key.count, positions, options.smoothing),
                            options.alpha);
    if (key.count > 0 && key.weight > 0) order.push_back(k);
  }
  // Counting order: weight descending; ties: more identifier tokens, then tokens, view, index.
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const ScoredKey& x = keys[a];
    const ScoredKey& y = keys[b];
    if (x.weight != y.weight) return x.weight > y.weight;
    if (x.tokens.size() != y.tokens.size()) return x.tokens.size() > y.tokens.size();
    if (x.tokens != y.tokens) return x.tokens < y.tokens;
    if (x.view != y.view) return x.view < y.view;
    return a < b;
  });
  // Distinct identifier tokens of each scoring key, for coverage.
  std::vector<std::vector<TokenId>> distinct(keys.size());
  for (uint32_t k : order) {
    distinct[k] = keys[k].tokens;
    std::sort(distinct[k].begin(), distinct[k].end());
    distinct[k].erase(std::unique(distinct[k].begin(), distinct[k].end()), distinct[k].end());
  }

  // Nomination, in key index order (so each candidate's sum is added in a fixed order).
  std::unordered_map<uint32_t, double> nominated;
  for (uint32_t k = 0; k < keys.size(); ++k) {
    const ScoredKey& key = keys[k];
    const auto max_hits = static_cast<uint64_t>(std::max(0, options.max_hits));
    if (key.count == 0 || key.count > max_hits || !(key.weight > 0)) continue;
    for (uint32_t p : index.passages(key.indexed, max_hits))
      nominated[p] += key.weight;
  }
  std::vector<std::pair<uint32_t, double>> candidates(nominated.begin(), nominated.end());
  std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (candidates.size() > static_cast<size_t>(options.fully_score)) {
    candidates.resize(static_cast<size_t>(options.fully_score));
  }

  // Unigram bonuses (> 0 only), the first entry of a token counting.
  std::unordered_map<TokenId, double> unigram_bonus;
  if (options.unigram_evidence) {
    std::unordered_set<TokenId> seen;
    for (const Unigram& u : unigrams) {
      if (!seen.insert(u.token).second) continue;
      const uint64_t count = index.count({u.token});
      const double bonus = key_log_odds(u.log_prob, count, corpus_tokens, options.smoothing);
      if (count > 0 && bonus > 0) unigram_bonus.emplace(u.token, bonus);
    }
  }

  // Full scoring.
  std::vector<ScoredPassage> scored;
  scored.reserve(candidates.size());
  std::vector<TokenId> covered;  // C, sorted
  std::vector<TokenId> merged;
  std::vector<uint32_t> counted;
  for (const auto& candidate : candidates) {
    const uint32_t p = candidate.first;
    const PassageTokens passage(index.passage_segments(p));
    ScoredPassage out;
    out.passage = p;
    covered.clear();
    counted.clear();
    for (uint32_t k : order) {
      const ScoredKey& key = keys[k];
      if (!passage.holds(key.indexed)) continue;
      const bool repeats = std::any_of(counted.begin(), counted.end(), [&](uint32_t c) {
        return contains(keys[c].tokens, key.tokens);
      });
      if (repeats) continue;
      const std::vector<TokenId>& tokens = distinct[k];
      size_t fresh = 0;
      for (TokenId t : tokens)
        fresh += std::binary_search(covered.begin(), covered.end(), t) ? 0 : 1;
      const double cover =
          1.0 - options.beta +
          options.beta * static_cast<double>(fresh) / static_cast<double>(tokens.size());
      out.score += key.weight * cover;
      merged.clear();
      std::set_union(covered.begin(), covered.end(), tokens.begin(), tokens.end(),
                     std::back_inserter(merged));
      covered.swap(merged);
      counted.push_back(k);
    }
    if (!unigram_bonus.empty()) {
      passage.for_each_distinct([&](TokenId t) {
        auto it = unigram_bonus.find(t);
        if (it != unigram_bonus.end()) out.score += it->second;
      });
    }
    const size_t reported =
        std::min(counted.size(), static_cast<size_t>(options.max_keys_per_passage));
    out.keys.assign(counted.begin(), counted.begin() + static_cast<std::ptrdiff_t>(reported));
    scored.push_back(std::move(out));
  }

  std::sort(scored.begin(), scored.end(), [](const ScoredPassage& a, const ScoredPassage& b) {
    return a.score != b.score ? a.score > b.score : a.passage < b.passage;
  });
  if (scored.size() > static_cast<size_t>(options.depth)) {
    scored.resize(static_cast<size_t>(options.depth));
  }
  return scored;
}

}  // namespace dgr::search
