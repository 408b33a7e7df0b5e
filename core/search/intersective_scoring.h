// SEAL intersective scoring: ranks passages by the generated keys (and first-step unigrams) that
// occur in them. Deterministic for given keys, unigrams and index (every tie has a stated order).
// No torch here.
//
// Key weight. For a key n with log-probability sr (Σ log p over its generated tokens, no length
// penalty) and F(n) occurrences of its indexed sequence (view prefix + tokens) among the N(n)
// positions where it can start:
//   P(n)        = (F(n) + s) / (N(n) + s)                                 s = smoothing (5)
//   log_odds(n) = (sr + log(1 − P)) − (log P + log(1 − e^sr))
//   w(n)        = max(0, log_odds(n))^α                                   α = 2
// N(n) is the number of corpus tokens for a key without a view prefix (body), and the number of
// occurrences of its view prefix for one with a prefix: a title key (`</s> ...`) can only start at
// a title start, so its N is the number of titles T = count(title_start), not every token (over
// all tokens, a one-token title prefix such as `</s> the` would look ~N/T times rarer than it is
// and outweigh every body key). Pseudo-query keys likewise use count(pq_start).
// Keys without identifier tokens or with an empty indexed sequence weigh 0.
//
// Candidates. Every key with 0 < F(n) ≤ max_hits and w(n) > 0 nominates the passages holding
// its indexed sequence; a candidate's priority is the sum of its nominators' weights (ties: lower
// passage index), and the first `fully_score` candidates are scored fully. Frequent keys
// (F > max_hits) nominate nothing but still score in the candidates that hold them.
//
// Full score of a candidate p. Its tokens are read back from the index (passage_segments). The
// keys with w > 0 whose indexed sequence occurs contiguously inside one of p's segments (so a
// title key, prefixed with the title marker, only matches the title) are taken by weight
// descending (ties: more identifier tokens first, then tokens, view and key index ascending):
//   score(p) = Σ_n w(n) · cover(n),   cover(n) = 1 − β + β · |T(n) \ C| / |T(n)|      β = 0.8
// T(n) the distinct identifier tokens of n (no view markers), C the union of T over the keys
// counted before in p. Non-overlapping keys: a key whose identifier tokens occur contiguously
// inside those of a key already counted in p is skipped — it names the same words again
// (e.g. a body key repeating a counted title key, whose words sit in the same segment); such a
// key's tokens are all in C, so it would add w·(1 − β) for no new evidence. A key that merely has
// all its tokens covered by several counted keys is still counted, at cover 1 − β.
// With unigram evidence, each distinct token u of p that is in `unigrams` adds
// max(0, log_odds(u)) computed with F(u) = count({u}) — no exponent — once per passage (the
// first entry of a token counts when it is listed twice).
//
// Result: the `depth` best fully scored passages by score (ties: lower passage index), each with
// the keys counted in it, in counting order, at most `max_keys_per_passage`.
//
// Cost, for K keys (indexed length ≤ m), U unigrams, c = min(fully_score, candidates) passages of
// ℓ tokens: O((K·m + U) · log σ · shards) for the counts (one more per distinct view prefix),
// locate of Σ F(n) occurrences over the nominating keys (each F ≤ max_hits), then per candidate
// O(ℓ·H0) to read it back, O(ℓ log ℓ) to index its tokens, and O(K · m · r) to match keys (r
// occurrences of a key's first token in the passage) plus O(k² · m) for the overlap test among its
// k matched keys.
#pragma once

#include <cstdint>
#include <vector>

#include "core/index/sharded_index.h"
#include "core/search/beam_search.h"
#include "core/search/identifiers.h"
#include "core/search/search_options.h"

namespace dgr::search {

// A generated key as scored: `indexed` is what occurs in the index (view prefix + generated
// tokens, end marker included), `tokens` its identifier tokens (no markers) for coverage.
struct ScoredKey {
  View view = View::kBody;
  std::vector<TokenId> tokens;
  std::vector<TokenId> indexed;
  // Leading tokens of `indexed` that are the view's prefix (title_start, pq_start; 0 for body
  // keys): the key can only start where the prefix occurs, which sets N(n) (file comment).
  uint32_t prefix_length = 0;
  double log_prob = 0;
  uint64_t count = 0;  // F: occurrences of `indexed` (filled by intersective_score)
  double weight = 0;   // w (filled by intersective_score)
};

struct ScoredPassage {
  uint32_t passage = 0;  // global passage index
  double score = 0;
  std::vector<uint32_t> keys;  // indices into the key list, in counting order (weight desc)
};

// (sr + log(1 − P)) − (log P + log(1 − e^sr)), P = (count + smoothing) / (positions +
// smoothing), `positions` the N(n) of the file comment: the corpus tokens for a body key or a
// unigram, the occurrences of the view prefix (e.g. the number of titles) for a key with one.
// sr is clamped to ≤ −1e-6 (a key the model is certain of, or a log-prob rounded above 0, would
// otherwise get infinite odds) and log(1 − e^sr) computed without cancellation. −∞ when sr is −∞
// or NaN, or when P ≥ 1 (the key occurs at every position it can start at); never NaN.
// Throws ConfigError for smoothing ≤ 0.
double key_log_odds(double log_prob, uint64_t count, uint64_t positions, double smoothing);

// N(n) of `key`: `corpus_tokens` without a view prefix, otherwise count(prefix) in `index`.
// Callers that keep counts for later rescoring (distillation) need it with each key.
uint64_t key_positions(const index::ShardedIndex& index, const ScoredKey& key,
                       uint64_t corpus_tokens);

// max(0, log_odds)^alpha; 0 for log_odds ≤ 0 whatever alpha (also alpha = 0).
double key_weight(double log_odds, double alpha);

// Scores passages for one query (see the file comment). Fills every key's `count` and `weight`.
// Throws ConfigError for options out of range (alpha < 0, beta outside [0, 1], smoothing ≤ 0,
// negative fully_score, depth or max_keys_per_passage); CHECKs prefix_length ≤ |indexed|.
std::vector<ScoredPassage> intersective_score(const index::ShardedIndex& index,
                                              std::vector<ScoredKey>& keys,
                                              const std::vector<Unigram>& unigrams,
                                              const ScoringOptions& options);

}  // namespace dgr::search
